"""The parameters a modification index may free, by lavaan 0.6-14's rules.

``modindices()`` in lavaan scores every fixed parameter of the model and
every parameter of the "full" table (``lav_partable_full`` with
``strict.exo = FALSE``) that the model does not have. Per block, with
``ov_nox`` the observed variables that are not fixed covariates, ``ov_ind``
the indicators, ``eqs`` the variables of the block's regressions (outcomes
and predictors) and ``lv`` the latent variables:

* loadings ``f =~ y`` for f in lv, y in ov_nox and not in eqs;
* covariances ``a ~~ b`` among ov_nox (lower triangle), leaving out pairs
  with a variable that is not an indicator;
* covariances among lv;
* regressions ``y ~ x`` for y, x in eqs, y != x, leaving out
  ``indicator ~ latent``;
* intercepts of every observed and latent variable (with a mean structure).

One exclusion differs from lavaan's list: the moments of fixed covariates
(fixed.x), which equal their sample values; lavaan drops them as undefined
in a single-level model and lists them with mi of order 1e-25 in a
two-level one. A parameter the model has free is never a candidate;
one the model fixes is, at its fixed value (markers, fixed intercepts,
zero means; most of them are not identified when freed, and their index is
then undefined and dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from msem_nb.model.partable import ParTable
from msem_nb.model.spec import ModelSpec

__all__ = ["Candidate", "candidates"]


@dataclass(frozen=True)
class Candidate:
    """One parameter a score test frees.

    Attributes
    ----------
    block : int
        Block index (as the parameter table's ``block``).
    lhs, op, rhs : str
        The parameter in lavaan's notation.
    mat : {"A", "S", "alpha"}
        The RAM matrix holding it, and ``r``, ``c`` its cell (block positions).
    value : float
        Its current value: the fixed value of a table row, else 0.
    row : int or None
        The fixed row of the parameter table it frees; None for a new parameter.
    """

    block: int
    lhs: str
    op: str
    rhs: str
    mat: str
    r: int
    c: int
    value: float
    row: int | None = None


def _uniq(seq) -> list[str]:
    return list(dict.fromkeys(seq))


def _full_rows(pt: ParTable, b: int) -> list[tuple[str, str, str]]:
    """lavaan's full-table rows of block `b` (strict.exo = FALSE, fixed-x moments left out)."""
    bv = pt.blocks[b]
    recs = [r for r in pt.records if r["block"] == b]
    eqs = _uniq([r["lhs"] for r in recs if r["op"] == "~"]
                + [r["rhs"] for r in recs if r["op"] == "~"])
    lv, ov_nox = list(bv.lv), list(bv.ov_nox)
    exo = set(pt.exogenous)
    rows = [(f, "=~", y) for f in lv for y in ov_nox if y not in eqs]
    other = {v for v in bv.ov if v not in bv.ov_ind}
    for i, a in enumerate(ov_nox):
        rows += [(a, "~~", c) for c in ov_nox[i:] if a not in other and c not in other]
    for i, a in enumerate(lv):
        rows += [(a, "~~", c) for c in lv[i:]]
    rows += [(y, "~", x) for y in eqs for x in eqs
             if x != y and not (y in bv.ov_ind and x in lv)]
    if pt.meanstructure:
        rows += [(v, "~1", "") for v in list(bv.ov) + lv if v not in exo]
    return rows


def _cell(pos: dict[str, int], lhs: str, op: str, rhs: str) -> tuple[str, int, int]:
    if op == "=~":
        return "A", pos[rhs], pos[lhs]
    if op == "~":
        return "A", pos[lhs], pos[rhs]
    if op == "~~":
        return "S", pos[lhs], pos[rhs]
    return "alpha", pos[lhs], 0


def candidates(pt: ParTable, spec: ModelSpec, fixed_values: dict) -> list[Candidate]:
    """Fixed parameters of the table, then new ones, in lavaan's order.

    Parameters
    ----------
    pt : ParTable
    spec : ModelSpec
        The fitted model's specification (``Estimation.spec``).
    fixed_values : dict
        Values of fixed rows without a user value, by row (``Estimation.fixed_values``).

    Returns
    -------
    list of Candidate
        Each RAM cell at most once; never a free parameter, a fixed covariate's
        moment or a random-slope row.
    """
    out: list[Candidate] = []
    taken: set[tuple[int, str, int, int]] = set()
    for b, bs in enumerate(spec.blocks):
        for k in range(len(bs.A_free[0])):
            taken.add((b, "A", int(bs.A_free[0][k]), int(bs.A_free[1][k])))
        for k in range(len(bs.S_free[0])):
            taken.add((b, "S", int(bs.S_free[0][k]), int(bs.S_free[1][k])))
        for k in range(len(bs.alpha_free[0])):
            taken.add((b, "alpha", int(bs.alpha_free[0][k]), 0))
    slopes = set(pt.slopes)

    def add(cand: Candidate) -> None:
        key = (cand.block, cand.mat, cand.r, cand.c)
        if key in taken or (cand.block, cand.mat, cand.c, cand.r) in taken and cand.mat == "S":
            return
        taken.add(key)
        out.append(cand)

    for i, rec in enumerate(pt.records):
        if rec["free"] > 0 or rec["exo"] or rec["op"] not in ("=~", "~", "~~", "~1"):
            continue
        if rec["lhs"] in slopes or rec["rhs"] in slopes:
            continue
        b, mat, r, c = spec.cells[i]
        value = fixed_values.get(i, rec["ustart"])
        value = float(value) if value is not None and np.isfinite(value) else 0.0
        add(Candidate(b, rec["lhs"], rec["op"], rec["rhs"], mat, r, c, value, i))
    for b, bs in enumerate(spec.blocks):
        pos = {v: i for i, v in enumerate(bs.names)}
        for lhs, op, rhs in _full_rows(pt, b):
            mat, r, c = _cell(pos, lhs, op, rhs)
            add(Candidate(b, lhs, op, rhs, mat, r, c, 0.0))
    return out
