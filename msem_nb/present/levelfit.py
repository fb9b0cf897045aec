"""The level-specific fit of a two-level model in the summary, its HTML and the report.

The measures come from :mod:`msem_nb.inference.levelfit` (Ryu & West 2009):
each level is tested by the model with every other level saturated, CFI
against the level-specific baseline, RMSEA with N rows for the within level
and J clusters for the between level. Nothing here computes; a fit without
them (one level, random slopes, MUML) shows nothing.
"""

from __future__ import annotations

import html
import math
import textwrap

from msem_nb.format import num

__all__ = ["level_fit_names", "level_fit_lines", "level_fit_html", "level_fit_labels",
           "LEVEL_FIT_TITLE"]

LEVEL_FIT_TITLE = "Level-specific fit (Ryu & West 2009)"
_NOTE = ("Each level is tested by the model with the other level saturated; CFI and TLI "
         "against the independence model of that level (the other level saturated); RMSEA "
         "divides by N rows (within) and by J clusters (between), where lavaan 0.6 uses N.")
_ROWS = [("chisq", "Test statistic", "d3"), ("df", "Degrees of freedom", "d"),
         ("pvalue", "P-value (Chi-square)", "d3"),
         ("chisq_scaled", "Scaled test statistic (MLR)", "d3"),
         ("chisq_scaling_factor", "Scaling correction factor", "d3"),
         ("pvalue_scaled", "P-value (scaled)", "d3"),
         ("cfi", "CFI", "d3"), ("tli", "TLI", "d3"), ("rmsea", "RMSEA", "d3"),
         ("cfi_scaled", "CFI (scaled)", "d3"), ("rmsea_scaled", "RMSEA (scaled)", "d3"),
         ("cfi_robust", "CFI (robust)", "d3"), ("rmsea_robust", "RMSEA (robust)", "d3")]


def level_fit_names(fm: dict) -> list[str]:
    """The level names with level-specific measures in `fm`, in its order (lowest
    level first, as :func:`msem_nb.inference.levelfit.level_specific_fit` adds them)."""
    return [k[len("rmsea_n_"):] for k in fm if k.startswith("rmsea_n_")]


def _cell(v: object, kind: str, width: int = 12) -> str:
    if v is None:
        return " " * width
    if kind == "d":
        return f"{int(v):>{width}d}" if isinstance(v, (int, float)) and math.isfinite(v) \
            else f"{'NA':>{width}}"
    return num(v, f"{width}.3f", missing=f"{'NA':>{width}}")


def level_fit_lines(fm: dict) -> list[str]:
    """Text lines of the level-specific fit (empty when `fm` has none)."""
    names = level_fit_names(fm)
    if not names:
        return []
    lines = ["", f"{LEVEL_FIT_TITLE}:", "",
             f"  {'':<42}" + "".join(f"{n.capitalize():>12}" for n in names)]
    for key, label, kind in _ROWS:
        if all(f"{key}_{n}" not in fm for n in names):
            continue
        lines.append(f"  {label:<42}" + "".join(_cell(fm.get(f"{key}_{n}"), kind)
                                                 for n in names))
    lines.append(f"  {'RMSEA divides by n =':<42}" + "".join(
        f"{int(fm[f'rmsea_n_{n}']):>12d}" for n in names))
    lines += [""] + ["  " + ln for ln in textwrap.wrap(_NOTE, 76)]
    return lines


def level_fit_html(fm: dict) -> str:
    """An HTML table of the level-specific fit ("" when `fm` has none)."""
    names = level_fit_names(fm)
    if not names:
        return ""
    e = html.escape
    head = "".join(f"<th style='padding:2px 8px'>{e(n)}</th>" for n in names)
    rows = []
    for key, label, kind in _ROWS:
        if all(f"{key}_{n}" not in fm for n in names):
            continue
        cells = "".join(f"<td style='padding:2px 8px;text-align:right'>"
                        f"{e(_cell(fm.get(f'{key}_{n}'), kind, 0).strip())}</td>"
                        for n in names)
        rows.append(f"<tr><td style='padding:2px 8px'>{e(label)}</td>{cells}</tr>")
    return (f"<div class='msem-levelfit'><b>{e(LEVEL_FIT_TITLE)}</b>"
            f"<table style='border-collapse:collapse;margin:4px 0'><tr><th></th>{head}</tr>"
            + "".join(rows) + f"</table><p style='color:#555;margin:2px 0'>{e(_NOTE)}</p></div>")


def level_fit_labels(fm: dict) -> list[tuple[str, str]]:
    """(key, label) pairs of the level-specific measures in `fm`, for the report's table."""
    out = []
    for n in level_fit_names(fm):
        for key, label, _ in _ROWS:
            if f"{key}_{n}" in fm:
                out.append((f"{key}_{n}", f"{label} ({n}, level-specific)"))
    return out
