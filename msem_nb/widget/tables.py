"""HTML fragments of the panel: data summary, roles, fit measures, estimates.

Numbers go through the package's one formatter (:mod:`msem_nb.format`).

Every string that comes from the user or the data (column names, cluster
ids, labels, error messages) is escaped here; the fragments go into
``ipywidgets.HTML``, which renders HTML as is.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from msem_nb.format import num, pvalue
from msem_nb.present.groups import report_blocks
from msem_nb.present.summary import section_rows
from msem_nb.widget.describe import describe_error
from msem_nb.widget.effects import indirect_effects
from msem_nb.widget.levels import NOT_FOR_THREE_LEVELS

__all__ = ["esc", "cell", "pvalue_cell", "table_html", "wrap", "data_summary_html", "roles_html",
           "fit_measures_html", "fit_line_html", "estimates_html", "indirect_html", "note_html",
           "results_parts", "CSS"]

CSS = """<style>
.msem-tab table{border-collapse:collapse;margin:4px 0 10px;font-size:12px}
.msem-tab th,.msem-tab td{padding:2px 8px;border-bottom:1px solid #eee}
.msem-tab th{text-align:left;background:#f6f6f6}
.msem-tab td.num{text-align:right;font-variant-numeric:tabular-nums}
.msem-tab tr.grp td{background:#fbfbfb;font-weight:bold;padding-top:6px}
.msem-tab .note{color:#555;margin:2px 0}
.msem-tab .bad{color:#b00}
.msem-tab .msem-levels{display:flex;flex-wrap:wrap;gap:0 28px;align-items:flex-start}
.msem-tab .msem-levels>div{flex:0 1 auto;min-width:0;max-width:100%;overflow-x:auto}
.msem-tab .msem-fitline{margin:2px 0 6px;line-height:1.5}
.msem-tab .msem-fitline b{font-weight:600}
.msem-tab details summary{cursor:pointer;color:#333;margin:4px 0}
</style>"""


def esc(s) -> str:
    """HTML-escape anything (quotes too, so it is safe inside attributes)."""
    return html.escape(str(s), quote=True)


def cell(v, digits: int = 3) -> str:
    """A number for a table cell, through :func:`msem_nb.format.num`.

    `digits` decimals; a whole number of 1,000 or more with thousands
    separators and no decimals; "" when missing (None, NaN, inf); anything
    that is not a number as escaped text.
    """
    try:
        f = float(v)
    except (TypeError, ValueError):
        return esc(v)
    whole = math.isfinite(f) and f.is_integer() and abs(f) >= 1000
    return num(f, ",.0f" if whole else f".{digits}f", missing="")


def pvalue_cell(v) -> str:
    """A p-value for a table cell (``&lt;.001`` below 0.001; "" when missing)."""
    return esc(pvalue(v, missing=""))


def table_html(header, rows, numeric=()) -> str:
    """An HTML table; a row that is a string is a group heading; `numeric` columns align right."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for r in rows:
        if isinstance(r, str):      # a group heading spanning the row
            body.append(f"<tr class='grp'><td colspan='{len(header)}'>{esc(r)}</td></tr>")
            continue
        body.append("<tr>" + "".join(
            f"<td class='num'>{c}</td>" if k in numeric else f"<td>{c}</td>"
            for k, c in enumerate(r)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def wrap(inner: str) -> str:
    """`inner` in the panel's table styles (:data:`CSS`)."""
    return f"{CSS}<div class='msem-tab'>{inner}</div>"


def note_html(text: str, bad: bool = False) -> str:
    """A paragraph of escaped text."""
    cls = "note bad" if bad else "note"
    return wrap(f"<p class='{cls}'>{esc(text)}</p>")


def data_summary_html(nrows: int, cluster, variables, sizes: dict | None,
                      missing: pd.DataFrame | None) -> str:
    """N, J, cluster sizes and missing values of the chosen variables.

    Parameters
    ----------
    nrows : int
    cluster : str or None
    variables : list of str
    sizes : dict, optional
        ``Decomposition.cluster_sizes`` (J, N, min, median, mean, max).
    missing : pandas.DataFrame, optional
        Index: variables; columns n_missing, share_missing.
    """
    facts = [("Rows (N)", f"{nrows:,}")]
    if cluster is None:
        facts.append(("Cluster column", "none: single-level model"))
    elif isinstance(cluster, tuple):
        # three levels: clusters (classes) in higher clusters (schools)
        facts += [("Cluster column", esc(cluster[0])), ("Higher cluster column", esc(cluster[1]))]
        if sizes:
            r, c = sizes["rows_per_class"], sizes["classes_per_school"]
            facts += [("Clusters (J)", f"{int(sizes['J']):,}"),
                      ("Higher clusters (K)", f"{int(sizes['K']):,}"),
                      ("Rows used (complete cases)", f"{int(sizes['N']):,}"),
                      ("Cluster size", f"{r['min']} to {r['max']} (median {r['median']:g}, "
                                       f"mean {r['mean']:.1f})"),
                      ("Clusters per higher cluster",
                       f"{c['min']} to {c['max']} (median {c['median']:g}, mean {c['mean']:.1f})")]
    else:
        facts.append(("Cluster column", esc(cluster)))
        if sizes:
            facts += [("Clusters (J)", f"{int(sizes['J']):,}"),
                      ("Rows used (complete cases)", f"{int(sizes['N']):,}"),
                      ("Cluster size", f"{sizes['min']} to {sizes['max']} "
                                       f"(median {sizes['median']:g}, mean {sizes['mean']:.1f})")]
    facts.append(("Variables", f"{len(variables)}"))
    out = table_html(["", ""], [(esc(k), v) for k, v in facts])
    if missing is not None and len(missing):
        rows = [(esc(v), f"{int(r['n_missing']):,}", f"{100 * float(r['share_missing']):.1f}%")
                for v, r in missing.iterrows()]
        out += "<p><b>Missing values</b></p>" + table_html(
            ["variable", "missing", "share"], rows, numeric=(1, 2))
    return wrap(out)


def roles_html(dec) -> str:
    """ICCs, design effects and suggested roles of a decomposition, with its notes."""
    if getattr(dec, "nlevels", 2) == 3:
        return threelevel_roles_html(dec)
    t = dec.table()
    rows = [(esc(v), cell(r["icc"]), cell(r["icc_anova"]), cell(r["design_effect"], 2),
             esc(r["role"]), esc(r["reason"])) for v, r in t.iterrows()]
    out = table_html(["variable", "ICC", "ICC(1)", "design effect", "suggested role", "why"],
                     rows, numeric=(1, 2, 3))
    if dec.notes:
        out += "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in dec.notes) + "</ul>"
    return wrap(out)


def threelevel_roles_html(dec) -> str:
    """Shares at levels 1, 2 and 3, ICCs, design effects and suggested roles of a
    three-level decomposition (``ms.decompose(df, cluster=[class, school])``), with its notes."""
    t = dec.table()
    rows = [(esc(v), cell(r["level1"]), cell(r["level2"]), cell(r["level3"]),
             cell(dec.icc2[v]), cell(dec.icc3[v]), cell(r["design_effect"], 2),
             esc(r["role"]), esc(r["reason"])) for v, r in t.iterrows()]
    c, h = (esc(x) for x in dec.cluster)
    out = (f"<p><b>Three-level decomposition</b>: rows in clusters '{c}' in higher clusters "
           f"'{h}'. Shares of each variable's variance at each level; the level-2 ICC is the "
           "level-2 share, the level-3 ICC the level-3 share.</p>")
    out += table_html(["variable", "level 1", "level 2", "level 3", "ICC level 2",
                       "ICC level 3", "design effect", "suggested role", "why"],
                      rows, numeric=(1, 2, 3, 4, 5, 6))
    if dec.notes:
        out += "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in dec.notes) + "</ul>"
    return wrap(out)


_FIT_ROWS = [("chisq", "Chi-square"), ("df", "Degrees of freedom"), ("pvalue", "p-value"),
             ("cfi", "CFI"), ("tli", "TLI"), ("rmsea", "RMSEA"), ("srmr", "SRMR"),
             ("srmr_within", "SRMR within"), ("srmr_between", "SRMR between"),
             ("srmr_3", "SRMR level 3"),
             ("chisq_scaled", "Chi-square (scaled)"), ("cfi_scaled", "CFI (scaled)"),
             ("rmsea_scaled", "RMSEA (scaled)"), ("loglik", "Log-likelihood"),
             ("npar", "Free parameters"), ("aic", "AIC"), ("bic", "BIC")]


def fit_measures_html(fit, fm: dict | None, error: str | None = None) -> str:
    """Convergence and fit measures."""
    rows = [("Estimator", esc(fit.estimator)),
            ("Converged", "yes" if fit.converged else "<span class='bad'>NO</span>"),
            ("Iterations", str(fit.iterations)), ("Observations", f"{fit.nobs:,}")]
    if fit.nclusters is not None:
        rows.append(("Clusters", f"{fit.nclusters:,}"))
    if fit.n_dropped:
        rows.append(("Rows dropped (missing values)", f"{fit.n_dropped:,}"))
    for key, label in _FIT_ROWS:
        if fm and key in fm:
            v = fm[key]
            rows.append((esc(label), pvalue_cell(v) if key == "pvalue" else
                         str(int(v)) if key in ("df", "npar") and np.isfinite(v) else cell(v)))
    out = table_html(["", ""], rows, numeric=(1,))
    if fm and fm.get("note"):
        out += f"<p class='note'>{esc(fm['note'])}</p>"
    if error:
        out += f"<p class='note bad'>Fit measures not available: {esc(error)}</p>"
    return wrap(out)


def _fm(fm: dict | None, key: str):
    v = (fm or {}).get(key)
    try:
        return v if v is not None and np.isfinite(float(v)) else None
    except (TypeError, ValueError):
        return None


def fit_line_html(fit, fm: dict | None) -> str:
    """One compact line: estimator, convergence, N and J, the test and the main indices."""
    bits = [esc(fit.estimator),
            (f"converged ({fit.iterations} iterations)" if fit.converged
             else "<span class='bad'>NOT converged</span>"),
            f"N = {fit.nobs:,}" + (f" in {fit.nclusters:,} clusters"
                                   if fit.nclusters is not None else "")
            + (f" in {fit.nschools:,} higher clusters" if _nschools(fit) else "")]
    chisq, df = _fm(fm, "chisq_scaled") or _fm(fm, "chisq"), _fm(fm, "df")
    if chisq is not None and df is not None:
        scaled = " (scaled)" if _fm(fm, "chisq_scaled") is not None else ""
        bits.append(f"<b>\u03c7\u00b2</b>({int(df)}) = {cell(chisq, 2)}{scaled}, "
                    f"p {_p_text(_fm(fm, 'pvalue_scaled') or _fm(fm, 'pvalue'))}")
    for key, label in (("cfi", "CFI"), ("tli", "TLI"), ("rmsea", "RMSEA")):
        v = _fm(fm, key + "_scaled") or _fm(fm, key)
        if v is not None:
            bits.append(f"<b>{label}</b> {cell(v)}")
    srmr = [(lv, _fm(fm, f"srmr_{lv}")) for lv in ("within", "between", "3")]
    if any(v is not None for _, v in srmr):
        bits.append("<b>SRMR</b> " + ", ".join(f"{'level 3' if lv == '3' else lv} {cell(v)}"
                                               for lv, v in srmr if v is not None))
    elif _fm(fm, "srmr") is not None:
        bits.append(f"<b>SRMR</b> {cell(_fm(fm, 'srmr'))}")
    for key, label in (("loglik", "log-likelihood"), ("aic", "AIC"), ("bic", "BIC")):
        if _fm(fm, key) is not None:
            bits.append(f"{label} {cell(_fm(fm, key), 1)}")
    line = "<p class='msem-fitline'>" + " \u00b7 ".join(bits) + "</p>"
    if _nschools(fit):
        # what the panel cannot show for this fit, said rather than left blank
        line += f"<p class='note msem-threelevel-note'>{esc(NOT_FOR_THREE_LEVELS)}</p>"
    return wrap(line)


def _nschools(fit) -> int | None:
    return getattr(fit, "nschools", None)


def _p_text(p) -> str:
    if p is None:
        return "NA"
    text = pvalue_cell(p)
    return text if text.startswith("&lt;") else "= " + text


_OP_GROUPS = [("=~", "Loadings"), ("|~", "Random slopes"), ("~", "Regressions"),
              ("~~", "Covariances"), ("var", "Variances"), ("~1", "Intercepts and means")]
_EST_HEADER = ["parameter", "label", "estimate", "SE", "z", "p", "CI lower", "CI upper",
               "std.all"]


def _param_name(r, slopes) -> str:
    if r["op"] == "|~":
        return f"{slopes.get((r['lhs'], r['rhs']), '?')} | {r['lhs']} ~ {r['rhs']}"
    if r["op"] == "~1":
        return f"{r['lhs']} ~ 1"
    return f"{r['lhs']} {r['op']} {r['rhs']}"


def estimates_html(fit) -> str:
    """Estimates by level, grouped by kind; fixed covariate moments left out."""
    est = fit.estimates
    tab = fit.partable.table
    slopes = {(y, x): s for s, (y, x) in fit.partable.slopes.items()}
    keep = ~est["exo"].to_numpy(dtype=bool)
    fit_rows = est[keep & (est["op"] != ":=")]
    parts = []
    # one section per level; several groups: per (group, level) (msem_nb.present.groups)
    for level, est, _, head in report_blocks(fit, list(dict.fromkeys(tab["level"].tolist()))):
        est = est[est.index.isin(fit_rows.index)]
        rows = []
        for title, op, part in section_rows(est, level, _OP_GROUPS):
            rows.append(title)
            for r in part.to_dict("records"):
                free = bool(r["free"])
                rows.append((esc(_param_name(r, slopes)), esc(r["label"] or ""),
                             cell(r["est"]), cell(r["se"]) if free else "",
                             cell(r["z"], 2) if free else "",
                             pvalue_cell(r["pvalue"]) if free else "",
                             cell(r["ci_lower"]) if free else "",
                             cell(r["ci_upper"]) if free else "", cell(r["std_all"])))
        head = f"<h4>{esc(head)}</h4>" if head else ""
        parts.append(f"<div class='msem-level'>{head}"
                     f"{table_html(_EST_HEADER, rows, numeric=(2, 3, 4, 5, 6, 7, 8))}</div>")
    note = ("<p class='note'>A random slope's average and variance are the mean and variance "
            "of its variable at the between level.</p>") if slopes else ""
    # the levels side by side where the page is wide enough
    return wrap(f"<div class='msem-levels'>{''.join(parts)}</div>{note}")


def indirect_html(effects: pd.DataFrame, defined: pd.DataFrame | None = None) -> str:
    """Indirect effects (products along regression chains) and defined parameters."""
    parts = []
    if defined is not None and len(defined):
        rows = [(esc(r["lhs"]), esc(r["rhs"]), cell(r["est"]), cell(r["se"]),
                 pvalue_cell(r["pvalue"]), cell(r["ci_lower"]), cell(r["ci_upper"]))
                for r in defined.to_dict("records")]
        parts.append("<p><b>Defined parameters</b></p>" + table_html(
            ["name", "definition", "estimate", "SE", "p", "CI lower", "CI upper"], rows,
            numeric=(2, 3, 4, 5, 6)))
    if len(effects):
        rows = [(esc(r["level"] or "-"), esc(r["path"].replace(" -> ", " \u2192 ")),
                 cell(r["est"]), cell(r["se"]), pvalue_cell(r["pvalue"]), cell(r["ci_lower"]),
                 cell(r["ci_upper"])) for r in effects.to_dict("records")]
        parts.append("<p><b>Indirect effects</b> (products of the paths along each chain; "
                     "delta-method SE and Wald CI)</p>" + table_html(
                         ["level", "chain", "estimate", "SE", "p", "CI lower", "CI upper"],
                         rows, numeric=(2, 3, 4, 5, 6)))
    if not parts:
        parts.append("<p class='note'>No indirect effects: the model has no chain of two or "
                     "more regression paths.</p>")
    return wrap("".join(parts))


def results_parts(fit) -> dict:
    """HTML of the Results screen: the fit line, fit measures, estimates, indirect effects."""
    try:
        fm, fm_error = fit.fit_measures, None
    except Exception as exc:  # noqa: BLE001 - estimates stay useful without fit measures
        fm, fm_error = None, describe_error(exc)[0]
    out = {"line": fit_line_html(fit, fm), "fit": fit_measures_html(fit, fm, fm_error)}
    try:
        out["estimates"] = estimates_html(fit)
    except Exception as exc:  # noqa: BLE001
        out["estimates"] = note_html("Estimates not available: " + describe_error(exc)[0],
                                     bad=True)
    try:
        est = fit.estimates
        out["indirect"] = indirect_html(indirect_effects(fit), est[est["op"] == ":="])
    except Exception as exc:  # noqa: BLE001
        out["indirect"] = note_html(
            "Indirect effects not available: " + describe_error(exc)[0], bad=True)
    return out
