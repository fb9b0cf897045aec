"""The Results screen's modification indices, as the page gets them (no widgets here).

:func:`modindex_spec` turns ``fit.modindices()`` into what the page draws:
the largest indices at or above a threshold (3.84, the 5% point of
chi-square with one degree of freedom), formatted with :mod:`msem_nb.format`,
each with the switch that frees its parameter in the panel's model
(:class:`~msem_nb.widget.switches.Switchboard` keys: ``("cov", level, a,
b)``, ``("path", level, y, x)``, ``("load", level, f, y)``) or a sentence
saying why it cannot be freed here. Freeing goes through the switches, so
freeing it again (the page's "Undo") takes it back out exactly.

What cannot be freed from the list, and why:

* a parameter the model text fixes (``0*x``, a marker written with ``1*``):
  the fixed value is the user's, to be removed in the syntax box;
* a default fixed parameter (a marker loading, a latent mean, an intercept
  the two-level model leaves out): freeing it needs another constraint;
* an intercept or mean (``~1``): not a switch; typed in the syntax box;
* anything while the fit on the screen is not the model in the syntax box.

:func:`unavailable` says when the score tests (and a comparison) mean
nothing: a fit that did not converge, an improper solution (negative
variances, correlations beyond +/-1, covariance matrices that are not
positive definite) or one without standard errors. No statistics are
computed here; every number comes from the fit.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from msem_nb.format import num
from msem_nb.results import FitResult
from msem_nb.widget.model import ModelState, syntax_number
from msem_nb.widget.status import se_missing
from msem_nb.widget.switches import switch_is_on

__all__ = ["modindex_spec", "free_key", "key_id", "key_of", "unavailable", "param_text",
           "MI_MINIMUM", "MI_TOP", "IMPROPER_KINDS", "MI_HEADER"]

#: Indices below this are not listed: chi-square(1) at the 5% level.
MI_MINIMUM = 3.84
#: How many indices are listed at most.
MI_TOP = 10
#: Findings of ``FitResult.improper`` that make score tests and comparisons meaningless
#: (a boundary estimate or a std.all beyond 1 alone does not).
IMPROPER_KINDS = frozenset({"ov_variance", "lv_variance", "correlation", "lv_not_pd",
                            "theta_not_pd"})
#: The table's columns (the last one holds the button or the reason).
MI_HEADER = ["parameter", "level", "MI", "EPC", "std. EPC", ""]

_OPS = {"~~": "cov", "~": "path", "=~": "load"}


def unavailable(fit: FitResult) -> str | None:
    """Why score tests and likelihood-ratio tests at this fit mean nothing, or None."""
    if not fit.converged:
        return ("the fit did not converge, so its estimates (and any test at them) are not "
                "reliable; fix the model first")
    bad = [f for f in fit.improper if f.kind in IMPROPER_KINDS]
    if bad:
        return (f"the solution is improper ({bad[0].short}); fix the model (or the "
                "identification of its factors) first")
    if se_missing(fit):
        return ("the information matrix of the solution is not positive definite (no "
                "standard errors), so the model is not identified at these estimates")
    return None


def param_text(lhs: str, op: str, rhs: str, level: str = "") -> str:
    """``y1 ~~ y2 (between level)``: a parameter as the page names it."""
    text = f"{lhs} ~ 1" if op == "~1" else f"{lhs} {op} {rhs}"
    return f"{text} ({level} level)" if level else text


def key_id(key: tuple) -> str:
    """The page's id of a switch key (JSON: no name can break it)."""
    return json.dumps(list(key))


def key_of(ident: str) -> tuple | None:
    """The switch key of a page id, or None for anything that is not one."""
    try:
        key = json.loads(ident)
    except (TypeError, ValueError):
        return None
    if (not isinstance(key, list) or len(key) != 4 or key[0] not in _OPS.values()
            or not all(isinstance(k, str) for k in key)):
        return None
    return tuple(key)


def _fixed_rows(fit: FitResult) -> dict:
    """(lhs, op, rhs, level) -> fixed row of the table (both orders for ``~~``)."""
    out = {}
    for r in fit.partable.table.to_dict("records"):
        if r["free"] == 0 and not r["exo"]:
            out[(r["lhs"], r["op"], r["rhs"], r["level"])] = r
            if r["op"] == "~~":
                out[(r["rhs"], r["op"], r["lhs"], r["level"])] = r
    return out


def _written(model: ModelState, key: tuple):
    """The term of the model text behind switch `key`, or None."""
    kind, lv, a, b = key
    blk = model.blocks.get(lv)
    if blk is None:
        return None
    if kind == "cov":
        stored = blk.cov_key(a, b)
        return None if stored is None else blk.covs[stored]
    if kind == "path":
        return blk.paths.get((a, b))
    return next((t for t in blk.latents.get(a, ()) if t.name == b), None)


def free_key(model: ModelState, fit: FitResult, lhs: str, op: str, rhs: str,
             level: str) -> tuple[tuple | None, str]:
    """The switch that frees parameter ``lhs op rhs`` at `level` in `model`, or why none does.

    Parameters
    ----------
    model : ModelState
        The panel's model (the one `fit` is a fit of).
    fit : FitResult
    lhs, op, rhs, level : str
        A row of ``fit.modindices()``.

    Returns
    -------
    (key, reason)
        `key` is a switch key and `reason` "" when the parameter can be
        freed; otherwise `key` is None and `reason` a sentence.
    """
    what = param_text(lhs, op, rhs, level)
    if op == "~1":
        return None, (f"Intercepts and means are not switches: type '{lhs} ~ 1' in the "
                      + (f"{level} block of the " if level else "") + "syntax box to free it.")
    if op not in _OPS:
        return None, f"{what} is not a parameter the panel can free."
    lv = level if model.multilevel else ""
    if lv not in model.blocks:
        return None, f"The model has no level '{level}'."
    key = (_OPS[op], lv, lhs, rhs)
    if op == "=~" and lhs not in model.blocks[lv].latents:
        return None, f"'{lhs}' is not a latent variable of this level in the model text."
    fixed = _fixed_rows(fit).get((lhs, op, rhs, level))
    term = _written(model, key)
    if term is not None and term.fixed is not None and math.isfinite(term.fixed):
        return None, (f"The model text fixes {what} at {syntax_number(term.fixed)}: remove "
                      "the fixed value in the syntax box to free it.")
    if op == "=~" and term is not None:
        return None, (f"{rhs} is the marker of {lhs} (its loading is fixed at 1 to set the "
                      f"scale): free it in the syntax box, with another scale for {lhs} "
                      f"(e.g. {lhs} ~~ 1*{lhs}).")
    if fixed is not None or switch_is_on(model, key):
        return None, (f"{what} is fixed by the model's defaults; freeing it needs another "
                      "constraint, written in the syntax box.")
    return key, ""


def modindex_spec(fit: FitResult, table: pd.DataFrame | None, model: ModelState, *,
                  current: bool, freed=(), error: str | None = None,
                  top: int = MI_TOP, minimum: float = MI_MINIMUM) -> dict:
    """What the page draws: the largest indices, each with its switch or a reason.

    Parameters
    ----------
    fit : FitResult
    table : pandas.DataFrame or None
        ``fit.modindices(sort=True)`` (every row; None when not available).
    model : ModelState
        The panel's model now.
    current : bool
        Whether `fit` is the fit of the model in the syntax box (else nothing
        can be freed until the refit).
    freed : iterable of (key, text)
        Parameters freed from this list (switch key, their name); those still
        free in `model` are listed with an Undo.
    error : str, optional
        Why the indices are not available (shown instead of the table).
    top, minimum : int, float

    Returns
    -------
    dict
        ``state`` ("ok", "none", "unavailable"), ``message``, ``header``,
        ``rows`` (``id``, ``cells``, ``name``, ``why``: the id of the switch
        key, or "" with the reason in ``why``) and ``freed`` (``id``,
        ``name``). Every string is plain text for the page.
    """
    freed_rows = [{"id": key_id(k), "name": text} for k, text in freed
                  if k[1] in model.blocks and switch_is_on(model, k)]
    out = {"state": "unavailable", "message": "", "header": MI_HEADER, "rows": [],
           "freed": freed_rows}
    if error is not None or table is None:
        text = str(error).rstrip()
        out["message"] = f"Modification indices are not available: {text}" + (
            "" if text.endswith((".", "!", "?")) else ".")
        return out
    big = table[table["mi"] >= minimum]
    shown = big.head(top)
    if not len(shown):
        out.update(state="none", message=(
            f"No modification index reaches {num(minimum, '.2f')} (chi-square with 1 df at "
            "5%): freeing any one fixed parameter would not improve the fit significantly."))
        return out
    rows = []
    for r in shown.to_dict("records"):
        name = param_text(r["lhs"], r["op"], r["rhs"], r["level"])
        if current:
            key, why = free_key(model, fit, r["lhs"], r["op"], r["rhs"], r["level"])
        else:
            key, why = None, ("The fit shown is not of the model in the syntax box; the list "
                              "is updated after the refit.")
        rows.append({"id": key_id(key) if key is not None else "", "name": name, "why": why,
                     "cells": [param_text(r["lhs"], r["op"], r["rhs"]), r["level"],
                               num(r["mi"], ".2f"), num(r["epc"], ".3f", missing=""),
                               num(r["sepc.all"], ".3f", missing="")]})
    n = len(big)
    lead = (f"The {len(shown)} largest of {n} modification indices" if n > len(shown) else
            f"The {n} modification indices" if n > 1 else "One modification index")
    out.update(state="ok", rows=rows, message=(
        f"{lead} of at least {num(minimum, '.2f')}: each is the drop in chi-square "
        "expected if that one parameter were freed (EPC: its expected value; std. EPC: "
        "standardized). Free one only if it makes sense for your theory."))
    return out
