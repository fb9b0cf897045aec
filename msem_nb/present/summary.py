"""Text and HTML summaries of a fit result, laid out like lavaan's ``summary()``.

Pure functions of a FitResult; user-supplied names are escaped in HTML.
Estimates are shown per block, lowest level first, with per-level fit
measures (SRMR) found from the model's block keys.
"""

from __future__ import annotations

import html
import math
import textwrap

import numpy as np

from msem_nb.format import num
from msem_nb.inference.fitmeasures import srmr_key
from msem_nb.inference.improper import KINDS
from msem_nb.likelihood.slopes_missing import MissingSlopeObjective
from msem_nb.present.groups import group_facts, group_rows, group_title, weight_facts
from msem_nb.present.levelfit import level_fit_html, level_fit_lines
from msem_nb.present.levelfit import level_fit_labels as level_specific_labels
from msem_nb.present.random_loadings import loading_notes, with_average_loadings
from msem_nb.version import __version__

__all__ = ["summary_text", "summary_html", "section_rows", "level_fit_labels",
           "with_level_fit_labels", "flagged_rows", "FLAG_NOTE", "r2_rows", "r2_lines"]

# how flagged rows are explained under the tables
FLAG_NOTE = ("! marks estimates named in the improper-solution warnings (a negative "
             "variance, a correlation or std.all beyond +/-1, a latent covariance matrix that "
             "is not positive definite, an estimate at a boundary)")

_SECTIONS = [("=~", "Latent Variables"), ("~", "Regressions"), ("~~", "Covariances"),
             ("~1", "Intercepts"), ("var", "Variances")]


def _fmt(x, width=9, digits=3) -> str:
    # right-aligned columns; a missing value leaves its column blank
    return num(x, f"{width}.{digits}f", missing=" " * width)

def section_rows(est, level, sections=None):
    """Rows of one level grouped into sections: [(title, op, rows), ...].

    ``sections`` is a list of (op, title); the pseudo-op "var" selects
    variances, "~~" then means covariances only. Default: lavaan's sections.
    Shared by the text summary, the report and the panel's tables.
    """
    rows = est[est["level"] == level]
    out = []
    for op, title in (sections or _SECTIONS):
        if op == "var":
            part = rows[(rows["op"] == "~~") & (rows["lhs"] == rows["rhs"])]
        elif op == "~~":
            part = rows[(rows["op"] == "~~") & (rows["lhs"] != rows["rhs"])]
        else:
            part = rows[rows["op"] == op]
        if len(part):
            out.append((title, op, part))
    return out


def level_fit_labels(fit, label: str = "SRMR ({})") -> list[tuple[str, str]]:
    """(fit-measure key, label) of the per-level SRMRs of a multilevel fit, in
    block order (``("srmr_within", "SRMR (within)")``, ...); empty for one level."""
    pt = fit.partable
    if not pt.multilevel:
        return []
    # several groups: the levels once (their SRMR is the groups' weighted average)
    return [(srmr_key(k), label.format(f"level {k.name}" if k.name.isdigit() else k.name))
            for k in pt.block_keys if k.group == 1]


def with_level_fit_labels(labels, fit) -> list[tuple[str, str]]:
    """`labels` ((key, label) pairs) with the per-level SRMRs inserted after "srmr"
    and the level-specific fit (:mod:`msem_nb.present.levelfit`) at the end."""
    out = []
    for key, label in labels:
        out.append((key, label))
        if key == "srmr":
            out += level_fit_labels(fit)
    if fit.partable.multilevel:
        try:
            out += level_specific_labels(fit.fit_measures)
        except Exception:  # fit measures are extra; the caller reports their failure
            pass
    return out


def flagged_rows(fit) -> dict[int, str]:
    """Rows of ``fit.estimates`` named by ``fit.improper``: row -> what is wrong
    ("negative variance", "std.all beyond +/-1", ...; several joined by ", ")."""
    out: dict[int, list[str]] = {}
    for f in getattr(fit, "improper", ()):
        for i in f.rows:
            what = out.setdefault(int(i), [])
            if KINDS[f.kind] not in what:
                what.append(KINDS[f.kind])
    return {i: ", ".join(w) for i, w in out.items()}


def _improper_lines(fit) -> list[str]:
    findings = getattr(fit, "improper", ())
    if not findings:
        return []
    lines = ["", "  WARNING: improper solution; inspect the estimates marked ! below"]
    for f in findings:
        lines += textwrap.wrap(f.short, 76, initial_indent="    - ",
                               subsequent_indent="      ")
    return lines


def _header_lines(fit) -> list[str]:
    fm_status = "ended normally" if fit.converged else "did NOT end normally"
    lines = [f"msem_nb {__version__} {fm_status} after {fit.iterations} iterations",
             *_improper_lines(fit), ""]
    kv = [("Estimator", fit.estimator), ("Optimization method", "BFGS + Newton"),
          ("Number of model parameters", str(fit.npar)), ("", ""),
          ("Number of observations", str(fit.nobs))]
    if fit.n_dropped:
        kv.append(("Rows dropped (missing values)", str(fit.n_dropped)))
    if fit.data.incomplete:
        kv.append(("Missing patterns (FIML)", str(fit.data.npatterns)))
        obj = getattr(fit.estimation, "objective", None)
        if isinstance(obj, MissingSlopeObjective):
            # random slopes condition on complete covariates: the outcomes are what is missing
            kv.append(("Rows with missing outcomes", str(obj.mdata.n_missing)))
    if getattr(fit, "nschools", None) is not None:
        # three levels: cluster is the (class, school) pair of columns
        kv.append((f"Number of clusters [{fit.cluster[0]}]", str(fit.nclusters)))
        kv.append((f"Number of clusters [{fit.cluster[1]}]", str(fit.nschools)))
    elif fit.nclusters is not None:
        kv.append((f"Number of clusters [{fit.cluster}]", str(fit.nclusters)))
    kv += group_facts(fit) + weight_facts(fit)
    for col, how in getattr(fit, "centering", {}).items():
        kv.append((f"Centred {col}", "within clusters" if how == "cluster" else "grand mean"))
    for k, v in kv:
        lines.append(f"  {k:<42}{v:>12}" if k else "")
    for note in getattr(fit.estimation, "notes", ()):
        lines += ["", f"  Note: {note}"]
    return lines


def _test_lines(fm, level_labels=()) -> list[str]:
    if "chisq" not in fm:
        lines = ["", "Model Fit:", ""]
        for key, label in [("loglik", "Loglikelihood"), ("aic", "Akaike (AIC)"),
                           ("bic", "Bayesian (BIC)")]:
            lines.append(f"  {label:<42}{fm[key]:>12.3f}")
        if fm.get("note"):
            lines += [""] + ["  " + ln for ln in textwrap.wrap(fm["note"], 76)]
        return lines
    # MLR: a second column with the scaled test and the robust indices, as lavaan
    scaled = "chisq_scaled" in fm

    def second(key, fmt=".3f"):
        v = fm.get(key)
        return f"{v:>12{fmt}}" if scaled and v is not None and math.isfinite(v) else ""

    lines = ["", "Model Test User Model:", ""]
    if scaled:
        lines.append(f"  {'':<42}{'Standard':>12}{'Scaled':>12}")
    lines.append(f"  {'Test statistic':<42}{fm['chisq']:>12.3f}{second('chisq_scaled')}")
    lines.append(f"  {'Degrees of freedom':<42}{fm['df']:>12d}{second('df_scaled', 'd')}")
    if math.isfinite(fm["pvalue"]):
        lines.append(f"  {'P-value (Chi-square)':<42}{fm['pvalue']:>12.3f}{second('pvalue_scaled')}")
    if scaled:
        lines.append(f"  {'Scaling correction factor':<42}{'':>12}{second('chisq_scaling_factor')}")
        lines.append("    Yuan-Bentler correction (Mplus variant)")
    lines += ["", "Model Fit:", ""]
    if scaled:
        lines.append(f"  {'':<42}{'Standard':>12}{'Robust':>12}")
    for key, label in [("cfi", "Comparative Fit Index (CFI)"), ("tli", "Tucker-Lewis Index (TLI)"),
                       ("rmsea", "RMSEA"), ("srmr", "SRMR"), *level_labels,
                       ("loglik", "Loglikelihood"), ("aic", "Akaike (AIC)"),
                       ("bic", "Bayesian (BIC)")]:
        if key in fm:
            lines.append(f"  {label:<42}{fm[key]:>12.3f}{second(key + '_robust')}")
    return lines


def summary_text(fit, standardized: bool = True) -> str:
    """lavaan-style summary text of a fit result."""
    lines = _header_lines(fit)
    try:
        lines += _test_lines(fit.fit_measures, level_fit_labels(fit))
        lines += level_fit_lines(fit.fit_measures)
    except Exception as exc:  # fit measures are extra; never lose the estimates
        lines += ["", f"Model test not available: {exc}"]
    est = fit.estimates
    lines += ["", "Parameter Estimates:"]
    head = f"{'':<20}{'Estimate':>9}{'Std.Err':>9}{'z-value':>9}{'P(>|z|)':>9}"
    if standardized:
        head += f"{'Std.all':>9}"
    pt = fit.partable
    flags = flagged_rows(fit)
    all_est = est
    for key in pt.block_keys:
        level = key.name
        est = group_rows(fit, all_est, key)
        if key.level == 1 and len(pt.groups) > 1:
            lines += ["", group_title(fit, key)]
        if pt.multilevel:
            lines += ["", f"Level {key.level}:" if level.isdigit()
                      else f"Level {key.level} [{level}]:"]
        rows = est[est["level"] == level]
        endogenous = set(rows.loc[rows["op"].isin(["~", "|~"]), "lhs"]) | set(rows.loc[rows["op"] == "=~", "rhs"])
        slopes = rows[rows["op"] == "|~"]
        loads = [i for i in slopes.index if fit.partable.records[i].get("loading", False)]
        slopes = slopes.drop(index=loads)
        if len(slopes):
            lines += ["", "Random Slopes (mean and variance at the between level):"]
            for _, r in slopes.iterrows():
                lines.append(f"  {fit.partable.records[_]['slope']} | {r['lhs']} ~ {r['rhs']}")
        if loads:
            lines += ["", "Random Loadings (average: the mean of the named variable at the "
                      "between level,", "shown among the loadings as 'y [random name]'; "
                      "variance: that variable's variance):"]
            for i in loads:
                r = fit.partable.records[i]
                lines.append(f"  {r['rhs']} =~ rv(\"{r['slope']}\")*{r['lhs']}")
        for title, op, part in section_rows(with_average_loadings(fit, est, level), level):
            lines += ["", f"{title}:", head]
            last = None
            for _, r in part.iterrows():
                if op in ("=~", "~", "~~") and not (op == "~~" and r["lhs"] == r["rhs"]):
                    if r["lhs"] != last:
                        lines.append(f"  {r['lhs']} {op}")
                        last = r["lhs"]
                    name = "    " + r["rhs"]
                else:
                    dot = "." if op == "var" and r["lhs"] in endogenous else " "
                    name = "   " + dot + r["lhs"]
                if r["label"]:
                    name += f" ({r['label']})"
                lines.append(_row_line(name, r, standardized, _ in flags))
        lines += r2_lines(fit, level, key)
    est = all_est
    defined = est[est["op"] == ":="]
    if len(defined):
        lines += ["", "Defined Parameters:", head]
        for _, r in defined.iterrows():
            lines.append(_row_line(f"    {r['lhs']}", r, standardized))
        if not np.isfinite(defined["est"].to_numpy(float)).all():
            lines += ["", "  NA: cannot be evaluated at the estimates (see fit.messages)"]
    for note in loading_notes(fit):
        lines += [""] + textwrap.wrap(note, 78, initial_indent="  ", subsequent_indent="  ")
    if flags:
        lines += [""] + textwrap.wrap(FLAG_NOTE, 78, initial_indent="  ",
                                      subsequent_indent="  ")
    return "\n".join(lines) + "\n"


def r2_rows(fit, level: str, key=None) -> list[tuple[str, float]]:
    """(variable, R-square) of the endogenous variables of one level that have one
    (random slopes have none); empty when not available. Several groups: those of
    the group of block `key`."""
    try:
        r2 = group_rows(fit, fit.r2, key)
    except Exception:  # R-square is extra; never lose the summary
        return []
    part = r2[(r2["level"] == level) & np.isfinite(r2["r2"].to_numpy(dtype=float))]
    return list(zip(part["variable"], part["r2"]))


def r2_lines(fit, level: str, key=None) -> list[str]:
    """The "R-Square:" block of one level, as lavaan's ``summary(rsquare = TRUE)``."""
    rows = r2_rows(fit, level, key)
    if not rows:
        return []
    return ["", "R-Square:", f"{'':<20}{'Estimate':>9}"] + \
        [f"    {v:<16}{_fmt(x)}".rstrip() for v, x in rows]


def _row_line(name, r, standardized, flag=False) -> str:
    free = bool(r["free"])
    est = _fmt(r["est"])
    if r["op"] == ":=" and not np.isfinite(r["est"]):
        est = f"{'NA':>9}"
    s = f"{name:<20}{est}"
    s += (_fmt(r["se"]) + _fmt(r["z"], digits=3) + _fmt(r["pvalue"])) if free else " " * 27
    if standardized:
        s += _fmt(r["std_all"])
    if flag:
        s = f"{s:<{20 + 9 * (5 if standardized else 4)}}  !"
    return s.rstrip()


def summary_html(fit) -> str:
    """Static HTML of a fit result (fit measures and estimates by level)."""
    e = html.escape
    status = "converged" if fit.converged else "did NOT converge"
    parts = ['<div class="msem-fit" style="font-family:sans-serif;font-size:13px">',
             f"<b>msem_nb fit</b>: {e(fit.estimator)}, {status} after {fit.iterations} "
             f"iterations; {fit.nobs} observations"]
    if getattr(fit, "nschools", None) is not None:
        parts.append(f" in {fit.nclusters} clusters ({e(str(fit.cluster[0]))}) in "
                     f"{fit.nschools} clusters ({e(str(fit.cluster[1]))})")
    elif fit.nclusters is not None:
        parts.append(f" in {fit.nclusters} clusters ({e(str(fit.cluster))})")
    if fit.n_dropped:
        parts.append(f"; {fit.n_dropped} rows with missing values dropped")
    parts.append("<br>")
    findings = getattr(fit, "improper", ())
    if findings:
        parts.append('<div class="msem-improper" style="background:#fff3cd;border:1px solid '
                     '#e0b000;padding:4px 8px;margin:6px 0"><b>Warning: improper solution</b> '
                     '(rows marked ! below)<ul style="margin:2px 0">'
                     + "".join(f"<li>{e(f.short)}</li>" for f in findings) + "</ul></div>")
    try:
        fm = fit.fit_measures
        keys = [k for k in ("chisq", "df", "pvalue", "chisq_scaled", "chisq_scaling_factor",
                            "pvalue_scaled", "cfi", "tli", "rmsea", "cfi_robust", "tli_robust",
                            "rmsea_robust", "srmr", *(k for k, _ in level_fit_labels(fit)),
                            "loglik", "aic", "bic") if k in fm]
        parts.append('<table style="border-collapse:collapse;margin:6px 0"><tr>' +
                     "".join(f"<th style='padding:2px 8px'>{k}</th>" for k in keys) + "</tr><tr>" +
                     "".join(f"<td style='padding:2px 8px;text-align:right'>{_num(fm[k])}</td>"
                             for k in keys) + "</tr></table>")
        parts.append(level_fit_html(fm))
    except Exception as exc:
        parts.append(f"<p>Fit measures not available: {e(str(exc))}</p>")
    est = fit.estimates
    cols = ["lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci_lower", "ci_upper",
            "std_all"]
    flags = flagged_rows(fit)
    if flags:
        cols = cols + ["flag"]
    multi = fit.partable.multilevel
    # one table per level, then (multilevel) the defined parameters, whose level is ""
    levels = [k.name for k in fit.partable.block_keys] + ([""] if multi else [])
    for level in levels:
        rows = with_average_loadings(fit, est, level)
        rows = rows[rows["level"] == level]
        if level == "" and multi:
            rows = rows[rows["op"] == ":="]
        if not len(rows):
            continue
        title = (f"Level: {level}" if level else
                 ("Defined parameters" if multi else "Estimates"))
        if level.isdigit():
            title = f"Level {level}"
        parts.append(f"<h4 style='margin:8px 0 2px'>{e(title)}</h4>")
        parts.append('<table style="border-collapse:collapse"><tr>' +
                     "".join(f"<th style='padding:1px 6px;text-align:left'>{c}</th>" for c in cols) +
                     "</tr>")
        for i, r in rows.iterrows():
            cells = []
            for c in cols:
                v = ("! " + flags[i] if i in flags else "") if c == "flag" else r[c]
                if c == "est" and r["op"] == ":=" and not np.isfinite(v):
                    cells.append("<td style='padding:1px 6px;text-align:right' title='cannot be "
                                 "evaluated at the estimates (see fit.messages)'>NA</td>")
                elif isinstance(v, (float, np.floating)):
                    txt = _num(v) if (r["free"] or c in ("est", "std_all")) else ""
                    cells.append(f"<td style='padding:1px 6px;text-align:right'>{txt}</td>")
                else:
                    cells.append(f"<td style='padding:1px 6px'>{e(str(v))}</td>")
            mark = (f" class='msem-flagged' style='background:#fff3cd' title='{e(flags[i])}'"
                    if i in flags else "")
            parts.append(f"<tr{mark}>" + "".join(cells) + "</tr>")
        parts.append("</table>")
        r2 = r2_rows(fit, level) if (level or not multi) else []
        if r2:
            parts.append("<p style='margin:4px 0'>R-square: " + ", ".join(
                f"{e(str(v))} {_num(x)}" for v, x in r2) + "</p>")
    for note in loading_notes(fit):
        parts.append(f"<p class='msem-random-loading' style='color:#555'>{e(note)}</p>")
    if flags:
        parts.append(f"<p style='color:#555'>{e(FLAG_NOTE)}</p>")
    parts.append("</div>")
    return "".join(parts)


def _num(v) -> str:
    return num(v, missing="")
