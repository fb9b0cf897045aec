"""A power study as a proposal appendix (Markdown or one offline HTML file), and as code.

The appendix states the method (Monte Carlo study after Muthen & Muthen,
2002), the population and analysis models, the grid, a table of power,
relative bias, SE/SD ratio and coverage for the parameters of interest, the
cheapest design that reaches the target power, and the quality criteria of
Muthen & Muthen: |relative bias| of estimates and standard errors below
10% (5% for the parameter of interest) and coverage between .91 and .98.
User-supplied text (model syntax, names) is escaped in HTML.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from msem_nb.errors import ModelSpecificationError
from msem_nb.format import num
from msem_nb.present.notebook_output import figure_html
from msem_nb.version import __version__

# a PowerPlan (msem_nb.planning.plan, which imports this module)
PowerPlan = Any

__all__ = ["PowerReport", "study_code"]

REFERENCE = ("Muthen, L. K., & Muthen, B. O. (2002). How to use a Monte Carlo study to decide "
             "on sample size and determine power. Structural Equation Modeling, 9(4), 599-620.")


def _e(s: object) -> str:
    return html.escape(str(s))


class PowerReport:
    """The appendix of a :class:`~msem_nb.planning.plan.PowerPlan`.

    ``markdown()`` and ``html()`` give the text; ``save(path)`` writes
    ``.md`` or ``.html`` (one offline file with the power curves).
    """

    def __init__(self, plan: PowerPlan, parameter: str | None = None, power: float = 0.8,
                 cost_cluster: float = 1.0, cost_unit: float = 0.0) -> None:
        self.plan = plan
        self.parameters = [plan.parameter(parameter)] if parameter else \
            plan.default_parameters()
        self.power = power
        self.costs = {"cost_cluster": cost_cluster, "cost_unit": cost_unit}
        # validated now, so a bad target fails when the report is made
        self._required = [(p, plan.required(p, power, **self.costs)) for p in self.parameters]

    # -- pieces ----------------------------------------------------------
    def _results(self) -> pd.DataFrame:
        plan = self.plan
        tab = plan.table[plan.table["parameter"].isin(self.parameters)]
        cols = ["parameter", "n_clusters", "cluster_size", *plan.vary, "true", "power",
                "rel_bias", "se_sd_ratio", "coverage", "converged"]
        return tab[cols]

    def _required_sentences(self) -> list[str]:
        out = []
        cost = self.costs
        model = ("clusters" if cost["cost_unit"] == 0 and cost["cost_cluster"] == 1 else
                 f"{num(cost['cost_cluster'], 'g')} per cluster and "
                 f"{num(cost['cost_unit'], 'g')} per unit")
        for p, req in self._required:
            if req is None:
                out.append(f"No design of the grid reaches a power of {self.power:g} for {p}; "
                           "add larger designs.")
            elif isinstance(req, pd.Series):
                out.append(f"For {p}, the cheapest design that reaches a power of "
                           f"{self.power:g} (cost: {model}) is J = {int(req['n_clusters'])} "
                           f"clusters of {req['cluster_size']} units (N = "
                           f"{num(req['n_units'], '.0f')}), with power {req['power']:.3f}.")
            else:
                for _, r in req.iterrows():
                    scen = ", ".join(f"{k} = {num(r[k], 'g')}" for k in self.plan.vary)
                    if r["power"] != r["power"]:  # noqa: PLR0124 - NaN: no design reaches it
                        out.append(f"For {p} with {scen}, no design of the grid reaches a "
                                   f"power of {self.power:g}.")
                    else:
                        out.append(f"For {p} with {scen}: J = {int(r['n_clusters'])} clusters "
                                   f"of {r['cluster_size']} (power {r['power']:.3f}).")
        return out

    def _quality(self) -> list[str]:
        tab = self.plan.table
        notes = []
        bad = tab[(tab["rel_bias"].abs() > 0.10)]
        if len(bad):
            notes.append(f"{len(bad)} design-parameter cell(s) have |relative bias| above 10% "
                         f"(largest {bad['rel_bias'].abs().max():.1%}).")
        se = tab[((tab["se_sd_ratio"] - 1).abs() > 0.10)]
        if len(se):
            notes.append(f"{len(se)} cell(s) have standard errors off by more than 10% "
                         "(SE/SD ratio outside 0.9-1.1).")
        cov = tab[(tab["coverage"] < 0.91) | (tab["coverage"] > 0.98)]
        if len(cov):
            notes.append(f"{len(cov)} cell(s) have 95% coverage outside .91-.98.")
        conv = tab.drop_duplicates("design")
        low = conv[conv["converged"] < 0.95]
        if len(low):
            notes.append(f"{len(low)} design(s) converged in fewer than 95% of replications.")
        return notes or ["All cells meet the criteria of Muthen & Muthen (2002): |relative "
                         "bias| of estimates and standard errors within 10% and coverage "
                         "between .91 and .98."]

    def _method(self) -> str:
        plan = self.plan
        js = sorted({d.n_clusters for d in plan.designs})
        sizes = list(dict.fromkeys(plan.table["cluster_size"]))
        text = (f"Power was estimated by a Monte Carlo study (Muthen & Muthen, 2002) with "
                f"msem_nb {__version__}: {plan.reps} data sets were drawn from the population "
                f"model for each of {len(plan.designs)} designs (J = "
                f"{', '.join(map(str, js))} clusters; cluster size {', '.join(sizes)}")
        if plan.vary:
            text += "; varied: " + "; ".join(
                f"{k} in {', '.join(num(v, 'g') for v in sorted(plan.table[k].unique()))}"
                for k in plan.vary)
        miss = plan.settings.get("missing") or {}
        if miss:
            text += "; MCAR missing shares " + ", ".join(f"{k}: {v:g}"
                                                        for k, v in dict(miss).items())
        text += (f") and the analysis model was fitted to each by maximum likelihood "
                 f"(estimator {plan.settings.get('estimator', 'ML')}). Power is the share of "
                 f"replications with a two-sided Wald p-value below {plan.alpha:g}; coverage "
                 "the share of 95% Wald intervals holding the population value; relative "
                 "bias (mean estimate - true) / true. Seed "
                 f"{plan.seed} reproduces every data set.")
        return text

    # -- formats -----------------------------------------------------------
    def markdown(self) -> str:
        """The appendix as Markdown."""
        plan = self.plan
        res = self._results()
        lines = ["# Sample-size planning: Monte Carlo power analysis", "", self._method(), "",
                 "## Population model", "", "```", plan.population.strip(), "```", "",
                 "## Analysis model", "", "```", plan.analysis.strip(), "```", "",
                 "## Results", "",
                 "| " + " | ".join(res.columns) + " |",
                 "|" + "---|" * len(res.columns)]
        for _, r in res.iterrows():
            lines.append("| " + " | ".join(num(v, ".3f", "") for v in r.to_numpy()) + " |")
        lines += ["", "## Required design", ""] + [f"- {s}" for s in self._required_sentences()]
        lines += ["", "## Quality of the estimates", ""] + [f"- {s}" for s in self._quality()]
        lines += ["", "## Reference", "", REFERENCE, ""]
        return "\n".join(lines)

    def html(self, figure: bool = True) -> str:
        """The appendix as one HTML page (power curves embedded, offline)."""
        plan = self.plan
        res = self._results()
        head = "".join(f"<th>{_e(c)}</th>" for c in res.columns)
        body = "".join("<tr>" + "".join(f"<td>{_e(num(v, '.3f', ''))}</td>"
                                        for v in r.to_numpy()) + "</tr>"
                       for _, r in res.iterrows())
        fig = ""
        if figure:
            try:
                fig = figure_html(plan.figure(self.parameters, target=self.power),
                                  include_plotlyjs=True)
            except ImportError:
                fig = "<p>(The power curves need plotly: pip install 'msem_nb[plot]'.)</p>"
        items = lambda xs: "<ul>" + "".join(f"<li>{_e(x)}</li>" for x in xs) + "</ul>"  # noqa: E731
        return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Power analysis"
                "</title><style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
                "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
                "text-align:right}pre{background:#f6f6f6;padding:.5em}</style></head><body>"
                "<h1>Sample-size planning: Monte Carlo power analysis</h1>"
                f"<p>{_e(self._method())}</p>"
                f"<h2>Population model</h2><pre>{_e(plan.population.strip())}</pre>"
                f"<h2>Analysis model</h2><pre>{_e(plan.analysis.strip())}</pre>"
                f"<h2>Results</h2>{fig}<table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>"
                f"<h2>Required design</h2>{items(self._required_sentences())}"
                f"<h2>Quality of the estimates</h2>{items(self._quality())}"
                f"<h2>Reference</h2><p>{_e(REFERENCE)}</p></body></html>")

    def _repr_html_(self) -> str:
        return self.html(figure=False)

    def save(self, path: str | Path) -> Path:
        """Write the appendix: ``.html``/``.htm`` or ``.md``."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm"):
            path.write_text(self.html(), encoding="utf-8")
        elif suffix == ".md":
            path.write_text(self.markdown(), encoding="utf-8")
        else:
            raise ModelSpecificationError(
                f"cannot write a power report as '{path.name}': use .html or .md")
        return path


def _literal(v: object) -> str:
    return repr(v)


def study_code(plan: PowerPlan) -> str:
    """Python that runs `plan`'s study again."""
    s = dict(plan.settings)
    lines = ["import msem_nb as ms", "", f'population = """\n{plan.population.strip()}\n"""']
    args = ["population"]
    if s.get("analysis_given"):
        lines.append(f'analysis = """\n{plan.analysis.strip()}\n"""')
        args.append("analysis=analysis")
    args += [f"n_clusters={_literal(s.get('n_clusters'))}",
             f"cluster_size={_literal(s.get('cluster_size'))}",
             f"reps={plan.reps}", f"alpha={plan.alpha!r}", f"seed={plan.seed}"]
    for k in ("vary", "missing", "truth", "center"):
        if s.get(k):
            args.append(f"{k}={_literal(s[k])}")
    if s.get("estimator", "ML") != "ML":
        args.append(f"estimator={s['estimator']!r}")
    lines.append("")
    if s.get("transform"):
        lines.append(f"# transform={s['transform']}: define this function again and pass it")
    lines.append("plan = ms.power(" + ",\n                ".join(args) + ")")
    lines += ["plan.table", ""]
    return "\n".join(lines)
