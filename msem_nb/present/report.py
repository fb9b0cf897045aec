"""A report of a fit: data and clustering, model, fit, estimates, effects, diagram.

``fit.report()`` returns a :class:`Report`. It renders itself in a notebook
(static HTML; the diagram survives nbconvert with no network) and writes
self-contained HTML, Markdown or a Jupyter notebook::

    rep = fit.report(data=df)
    rep                       # in a notebook
    rep.save("report.html")   # one offline file, plotly.js embedded once
    rep.save("report.md")
    rep.save("report.ipynb")  # a notebook that reproduces the report

Every name that comes from the user (variables, cluster column, labels,
model text) is escaped. Plotly is optional: without it the diagram section
says how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from msem_nb.errors import MsemError
from msem_nb.present.groups import report_blocks
from msem_nb.present.notebook_output import plotlyjs_script
from msem_nb.present.notebook_run import execute_notebook
from msem_nb.present.random_loadings import loading_notes, random_loadings_of, with_average_loadings
from msem_nb.present.report_data import data_section
from msem_nb.present.report_parts import REPORT_CSS as _CSS
from msem_nb.present.report_parts import Section
from msem_nb.present.report_parts import esc as _e
from msem_nb.present.report_parts import fmt_num as _num
from msem_nb.present.report_parts import fmt_p as _p
from msem_nb.present.report_parts import html_table as _html_table
from msem_nb.present.report_parts import md_table as _md_table
from msem_nb.present.report_parts import md_text as _md_text
from msem_nb.present.summary import (
    FLAG_NOTE,
    flagged_rows,
    r2_rows,
    section_rows,
    with_level_fit_labels,
)
from msem_nb.version import __version__

__all__ = ["Report", "Section", "make_report"]

_OPS = [("=~", "Factor loadings"), ("~", "Regressions"), ("|~", "Random slopes"),
        ("~~", "Covariances"), ("var", "Variances"), ("~1", "Intercepts and means")]
_FIT_LABELS = [("chisq", "Chi-square"), ("df", "Degrees of freedom"), ("pvalue", "p-value"),
               ("cfi", "CFI"), ("tli", "TLI"), ("rmsea", "RMSEA"), ("srmr", "SRMR"),
               ("chisq_scaled", "Chi-square (scaled)"), ("cfi_scaled", "CFI (scaled)"),
               ("rmsea_scaled", "RMSEA (scaled)"), ("loglik", "Log-likelihood"),
               ("aic", "AIC"), ("bic", "BIC")]
@dataclass(eq=False)
class Report:
    """Report of a fitted model (see :func:`make_report`).

    Attributes
    ----------
    fit : FitResult
    data : pandas.DataFrame or None
        The data the model was fitted to (for the ICCs); rebuilt from the
        fit when not given.
    title : str
    standardized : bool
        Label the diagram with standardized estimates.
    """

    fit: object
    data: pd.DataFrame | None = None
    title: str = "Multilevel SEM report"
    standardized: bool = False
    data_name: str | None = None

    # -- sections ------------------------------------------------------
    @cached_property
    def sections(self) -> list[Section]:
        """The sections, in order; the defined-parameter one only when there are any."""
        out = [self._data_section(), self._model_section(), self._fit_section(),
               self._estimates_section()]
        est = self.fit.estimates
        if (est["op"] == ":=").any():
            out.append(self._defined_section())
        out.append(self._diagram_section())
        return out

    def __getitem__(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(f"no section {key!r}; sections: {', '.join(s.key for s in self.sections)}")

    def _data_section(self) -> Section:
        return data_section(self.fit, self.data, self.data_name)

    def _model_section(self) -> Section:
        text = str(self.fit.model).strip("\n")
        fence = "```"
        while fence in text:
            fence += "`"
        html_ = f"<pre>{_e(text)}</pre>"
        md = f"{fence}text\n{text}\n{fence}"
        return Section("model", "Model", html_, md)

    def _fit_section(self) -> Section:
        fit = self.fit
        facts = [("Estimator", fit.estimator),
                 ("Converged", "yes" if fit.converged else "NO"),
                 ("Iterations", fit.iterations), ("Free parameters", fit.npar)]
        note = ""
        try:
            fm = fit.fit_measures
        except Exception as exc:  # fit measures are extra; never lose the estimates
            fm = {}
            note = f"Fit measures not available: {exc}"
        for key, label in with_level_fit_labels(_FIT_LABELS, fit):
            if key in fm:
                facts.append((label, _p(fm[key]) if key == "pvalue" else fm[key]))
        rows = [(k, v if isinstance(v, str) else _num(v)) for k, v in facts]
        html_ = _html_table(["Measure", "Value"], rows, numeric=(1,))
        md = _md_table(["Measure", "Value"], rows)
        if note:
            html_ += f"<p class='note'>{_e(note)}</p>"
            md += f"\n\n{_md_text(note)}"
        messages = [str(m) for m in getattr(fit, "messages", ())]
        if messages:
            html_ += ("<p><b>Warnings of this fit</b></p><ul class='warn'>"
                      + "".join(f"<li>{_e(m)}</li>" for m in messages) + "</ul>")
            md += "\n\n**Warnings of this fit**\n\n" + "\n".join(
                f"- {_md_text(m)}" for m in messages)
        return Section("fit", "Estimation and model fit", html_, md)

    @staticmethod
    def _param_rows(part: pd.DataFrame, op: str, slopes: dict, flags=None, loadings=None):
        rows = []
        loadings = loadings or {}
        for i, r in zip(part.index, part.to_dict("records")):
            if op == "|~" and (r["lhs"], r["rhs"]) in loadings:
                name = f"{r['rhs']} =~ rv(\"{loadings[(r['lhs'], r['rhs'])]}\")*{r['lhs']}"
            elif op == "|~":
                name = f"{slopes.get((r['lhs'], r['rhs']), '?')} | {r['lhs']} ~ {r['rhs']}"
            elif op == "~1":
                name = f"{r['lhs']} ~1"
            elif op == "var":
                name = f"{r['lhs']} ~~ {r['lhs']}"
            else:
                name = f"{r['lhs']} {r['op']} {r['rhs']}"
            free = bool(r.get("free", True))
            rows.append((name, r.get("label") or "", _num(r["est"]),
                         _num(r["se"]) if free else "", _num(r["z"], 2) if free else "",
                         _p(r["pvalue"]) if free else "",
                         _num(r["ci_lower"]) if free else "", _num(r["ci_upper"]) if free else "",
                         _num(r.get("std_all"))))
            if flags:
                rows[-1] += (("! " + flags[i]) if i in flags else "",)
        return rows

    _EST_HEADER = ["Parameter", "Label", "Estimate", "SE", "z", "p", "CI lower", "CI upper",
                   "Std.all"]

    def _estimates_section(self) -> Section:
        fit = self.fit
        tab = fit.partable.table
        slopes = {}
        if "slope" in tab:
            for r in tab[tab["op"] == "|~"].to_dict("records"):
                slopes[(r["lhs"], r["rhs"])] = r["slope"]
        loadings = {(y, f): name for name, (f, y) in random_loadings_of(fit).items()}
        flags = flagged_rows(fit)
        header = self._EST_HEADER + (["Flag"] if flags else [])
        html_parts, md_parts = [], []
        for level, est, key, head in report_blocks(fit, fit.partable.level_names):
            if head:  # "Level: within"; several groups: "Group 1 [value], level: within"
                html_parts.append(f"<h4>{_e(head)}</h4>")
                md_parts.append(f"#### {head}")
            for title, op, part in section_rows(with_average_loadings(fit, est, level), level,
                                                _OPS):
                prow = self._param_rows(part, op, slopes, flags, loadings)
                html_parts.append(f"<p><b>{_e(title)}</b></p>"
                                  + _html_table(header, prow, numeric=(2, 3, 4, 5, 6, 7, 8)))
                md_parts.append(f"**{title}**\n\n" + _md_table(header, prow, code=(0, 1)))
            r2 = [(v, _num(x)) for v, x in r2_rows(fit, level, key)]
            if r2:
                html_parts.append("<p><b>R-square</b></p>"
                                  + _html_table(["Variable", "R-square"], r2, numeric=(1,)))
                md_parts.append("**R-square**\n\n" + _md_table(["Variable", "R-square"], r2,
                                                                 code=(0,)))
        level_pct = f"{100 * getattr(fit, 'ci_level', 0.95):g}"
        note = (f"Wald confidence intervals ({level_pct}%); Std.all: completely standardized "
                "estimates; fixed parameters have no standard error.")
        if slopes:
            note += (" A random slope's average and variance are the mean and variance of its "
                     "latent variable at the between level.")
        for sentence in loading_notes(fit):
            note += " " + sentence
        if flags:
            note += " " + FLAG_NOTE.replace("! marks", "Flag marks") + "."
        html_parts.append(f"<p class='note'>{_e(note)}</p>")
        md_parts.append(note)
        return Section("estimates", "Parameter estimates", "".join(html_parts),
                       "\n\n".join(md_parts))

    def _defined_section(self) -> Section:
        est = self.fit.estimates
        part = est[est["op"] == ":="]
        rows = []
        for r in part.to_dict("records"):
            rows.append((r["lhs"], r["rhs"], _num(r["est"]) or "NA", _num(r["se"]), _num(r["z"], 2),
                         _p(r["pvalue"]), _num(r["ci_lower"]), _num(r["ci_upper"]),
                         _num(r.get("std_all"))))
        header = ["Name", "Definition", "Estimate", "SE", "z", "p", "CI lower", "CI upper",
                  "Std.all"]
        note = ("Defined parameters (such as indirect effects a*b) with delta-method "
                "standard errors.")
        if not np.isfinite(part["est"].to_numpy(float)).all():
            note += " NA: cannot be evaluated at the estimates (see the fit's warnings)."
        html_ = _html_table(header, rows, numeric=(2, 3, 4, 5, 6, 7, 8)) + \
            f"<p class='note'>{_e(note)}</p>"
        md = _md_table(header, rows, code=(0, 1)) + "\n\n" + note
        return Section("defined", "Defined parameters and indirect effects", html_, md)

    def _diagram_section(self) -> Section:
        try:
            fig = self.fit.diagram(standardized=self.standardized)
        except ImportError:
            msg = "The path diagram needs plotly: pip install 'msem_nb[plot]'."
            return Section("diagram", "Path diagram", f"<p class='note'>{_e(msg)}</p>",
                           _md_text(msg))
        what = "standardized (std.all)" if self.standardized else "unstandardized"
        note = (f"Arrows carry {what} estimates; hover over a label for SE, z, p and CI. "
                "Dashed grey paths have p >= .05.")
        return Section("diagram", "Path diagram", f"<p class='note'>{_e(note)}</p>",
                       _md_text(note), figure=fig)

    # -- output --------------------------------------------------------
    def _header_html(self) -> str:
        fit = self.fit
        lv = f" in {fit.nclusters} clusters" if fit.nclusters is not None else ""
        return (f"<h2>{_e(self.title)}</h2><p class='note'>msem_nb {_e(__version__)}: "
                f"{_e(fit.estimator)} estimation, {fit.nobs} observations{lv}, "
                f"{'converged' if fit.converged else 'did NOT converge'}.</p>"
                + (f"<p class='warn'>{_e(self._improper_line())}</p>"
                   if self._improper_line() else ""))

    def _improper_line(self) -> str:
        findings = getattr(self.fit, "improper", ())
        if not findings:
            return ""
        return ("Warning: improper solution: " + "; ".join(f.short for f in findings)
                + ". See the flagged estimates and the warnings of the fit.")

    def _repr_html_(self) -> str:
        body = "".join(f"<h3>{_e(s.title)}</h3>{s.body_html()}" for s in self.sections)
        return f"<div class='msem-report'><style>{_CSS}</style>{self._header_html()}{body}</div>"

    def to_html(self) -> str:
        """A complete, self-contained HTML document (works offline).

        Returns
        -------
        str
            plotly.js is embedded once, in the head, when there is a diagram.
        """
        figs = [s for s in self.sections if s.figure is not None]
        head_js = ""
        if figs:
            head_js = plotlyjs_script()
        body = "".join(f"<h3>{_e(s.title)}</h3>"
                       f"{s.body_html(include_plotlyjs=False, div_id=f'msem-{s.key}')}"
                       for s in self.sections)
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{_e(self.title)}</title>\n<style>{_CSS}</style>\n{head_js}</head>\n"
                f"<body>\n<div class='msem-report'>{self._header_html()}{body}</div>\n"
                "</body>\n</html>\n")

    def to_markdown(self, svg_path: str | Path | None = None) -> str:
        """The report as Markdown.

        Parameters
        ----------
        svg_path : str or Path, optional
            Where to write the diagram as a static SVG (needs kaleido); the
            Markdown links to it by file name. Without it, or without
            kaleido, the diagram section says where to find the diagram.

        Returns
        -------
        str
        """
        fit = self.fit
        lv = f" in {fit.nclusters} clusters" if fit.nclusters is not None else ""
        parts = [f"# {_md_text(self.title)}",
                 f"msem_nb {__version__}: {fit.estimator} estimation, {fit.nobs} observations{lv}, "
                 f"{'converged' if fit.converged else 'did NOT converge'}."]
        if self._improper_line():
            parts.append(f"**{_md_text(self._improper_line())}**")
        for s in self.sections:
            parts.append(f"## {s.title}")
            parts.append(s.markdown)
            if s.figure is not None:
                parts.append(self._markdown_figure(s.figure, svg_path))
        return "\n\n".join(parts) + "\n"

    @staticmethod
    def _markdown_figure(fig, svg_path) -> str:
        if svg_path is not None:
            try:
                import kaleido  # noqa: F401
                Path(svg_path).write_bytes(fig.to_image(format="svg"))
                return f"![Path diagram]({Path(svg_path).name})"
            except Exception:  # kaleido missing or without a browser: a note instead
                pass
        return ("*The interactive diagram is in the HTML report "
                "(`msem-nb report ... -o report.html`) or the notebook.*")

    def to_notebook(self, data_path: str | None = None, data_code: str | None = None):
        """A Jupyter notebook that reproduces the report.

        Markdown headings and the section outputs carry the tag
        ``msem-report``, so ``jupyter nbconvert --to msem_report`` turns the
        notebook into a clean report. Outputs are filled in already.

        Parameters
        ----------
        data_path : str, optional
            CSV file the setup cell reads (made absolute).
        data_code : str, optional
            Python expression that loads the data instead (e.g.
            ``'ms.load_example("classrooms")'``).

        Returns
        -------
        nbformat.NotebookNode
        """
        import nbformat
        from nbformat import v4

        tag = {"tags": ["msem-report"]}
        if data_code is None:
            if data_path is not None:
                data_code = f"pd.read_csv({str(Path(data_path).resolve())!r})"
            else:
                data_code = 'pd.read_csv("DATA.csv")  # the data the model was fitted to'
        fit = self.fit
        model = str(fit.model)
        model_src = (f'"""\\\n{model}"""' if '"""' not in model and "\\" not in model
                     and not model.endswith('"') else repr(model))
        args = f", cluster={fit.cluster!r}" if fit.cluster is not None else ""
        if getattr(fit, "estimator", "ML") != "ML":
            args += f", estimator={fit.estimator!r}"
        setup = "\n".join([
            "import pandas as pd", "import msem_nb as ms", "",
            f"data = {data_code}", f"model = {model_src}",
            f"fit = ms.fit(model, data{args})",
            f"report = fit.report(data=data, title={self.title!r}, "
            f"standardized={self.standardized!r}"
            + (f", data_name={self.data_name!r})" if self.data_name else ")")])
        cells = [v4.new_markdown_cell(f"# {_md_text(self.title)}", metadata=tag),
                 v4.new_code_cell(setup, metadata={"tags": ["msem-setup"]})]
        plotlyjs_done = False
        for s in self.sections:
            cells.append(v4.new_markdown_cell(f"## {s.title}", metadata=tag))
            body = s.body_html(include_plotlyjs=not plotlyjs_done)
            data = {"text/plain": s.title,
                    "text/html": f"<div class='msem-report'><style>{_CSS}</style>{body}</div>"}
            if s.figure is not None:
                plotlyjs_done = True
            cells.append(v4.new_code_cell(f"report[{s.key!r}]", metadata=tag, outputs=[
                v4.new_output("display_data", data=data)]))
        nb = v4.new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        nbformat.validate(nb)
        return nb

    def save(self, path, *, data_path: str | None = None, data_code: str | None = None,
             execute: bool = False, timeout: int = 300) -> Path:
        """Write the report; the format follows the suffix.

        Parameters
        ----------
        path : str or Path
            ``.html`` (self-contained, offline), ``.md`` (diagram as a
            static SVG beside it when kaleido is installed) or ``.ipynb``.
        data_path, data_code : str, optional
            For ``.ipynb``: how the notebook loads the data (see
            :meth:`to_notebook`).
        execute : bool
            For ``.ipynb``: run the notebook (nbclient, kernel ``python3``)
            so that it opens with fresh outputs.
        timeout : int
            Seconds per cell when executing.

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm"):
            path.write_text(self.to_html(), encoding="utf-8")
        elif suffix == ".md":
            svg = path.with_name(path.stem + "_diagram.svg")
            path.write_text(self.to_markdown(svg_path=svg), encoding="utf-8")
        elif suffix == ".ipynb":
            import nbformat
            nb = self.to_notebook(data_path=data_path, data_code=data_code)
            if execute:
                execute_notebook(nb, path.parent, timeout=timeout)
            nbformat.write(nb, str(path))
        else:
            raise MsemError(f"cannot write a report as '{path.suffix or path.name}'; "
                            "use a file name ending in .html, .md or .ipynb")
        return path


def make_report(fit, data: pd.DataFrame | None = None, *, title: str = "Multilevel SEM report",
                standardized: bool = False, data_name: str | None = None) -> Report:
    """Build the report of a fitted model.

    Parameters
    ----------
    fit : FitResult
    data : pandas.DataFrame, optional
        The data the model was fitted to, for the ICC table (rebuilt from
        the fit when omitted).
    title : str
    standardized : bool
        Label the diagram with standardized estimates.
    data_name : str, optional
        Where the data came from (a file name), shown in the data section.

    Returns
    -------
    Report
    """
    return Report(fit, data=data, title=title, standardized=standardized, data_name=data_name)
