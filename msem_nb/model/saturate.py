"""Partially saturated tables: one level of a model replaced by its saturated model.

Ryu & West (2009) judge each level of a two-level model separately: the
model of one level is fitted with every other level saturated, and the
chi-square of that partially saturated model against the saturated model of
all variables (H1) is the misfit of the one level alone.

A block is saturated here by keeping its observed variables and giving every
pair of them a free (co)variance; its latent variables, loadings and
regressions go. What stays as it was:

* the block's means are free (no labels), except that in a two-level model
  the within intercept of a variable with a between part stays fixed at
  zero: its mean lives at the between level;
* fixed covariates (fixed.x): their moments keep their fixed rows, so the
  covariates are treated alike in the model, the partially saturated models
  and H1 (a saturated level has free covariances between the covariates and
  the other variables; with the covariates' own moments at their ML values
  this is the same likelihood as freeing those moments too);
* the other blocks, row for row, labels included. A label left only in a
  saturated block no longer ties anything; constraints (``==``, ``<``,
  ``>``) that name a label no longer in the table are dropped, and so are
  defined parameters (``:=``): a partially saturated model is for a test
  statistic, not for reporting.

The variables of every block, and so the data a table needs, are those of
the model: the same prepared data fit all of these tables.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from msem_nb.model.partable import BlockVars, ParTable, make_table
from msem_nb.model.rows import BuildRow, ParRow, RowAccumulator
from msem_nb.syntax.parser import Statement

__all__ = ["saturate_levels", "saturated_npar"]


def _opt(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _copy(rows: RowAccumulator, r: ParRow) -> None:
    new = rows.add(r["lhs"], r["op"], r["rhs"], r["block"], r["level"], user=r["user"],
                   free=r["free"] > 0, value=_opt(r["ustart"]), label=r["label"] or "",
                   start=_opt(r["start"]), exo=r["exo"], line=r["line"])
    if new is not None and r["slope"]:
        new["slope"] = r["slope"]
        new["loading"] = bool(r.get("loading", False))


def _saturated_rows(rows: RowAccumulator, pt: ParTable, b: int) -> BlockVars:
    """The rows of block `b` saturated; returns the block's new variable roles."""
    bv = pt.blocks[b]
    recs = [r for r in pt.records if r["block"] == b]
    fixed_x = {r["lhs"] for r in recs if r["exo"] and r["op"] == "~~"}
    exo = [r for r in recs if r["exo"]]
    for r in exo:
        if r["op"] == "~~":
            _copy(rows, r)
    ov = bv.ov
    for i, a in enumerate(ov):
        for c in ov[i:]:
            if a in fixed_x and c in fixed_x:
                continue
            rows.add(a, "~~", c, b, bv.level, user=False)
    if pt.meanstructure:
        both = set(pt.roles()[2]) if pt.multilevel and bv.key.is_lowest else set()
        means = {r["lhs"]: r for r in exo if r["op"] == "~1"}
        for v in ov:
            if v in means:
                _copy(rows, means[v])
            elif v in both:
                rows.add(v, "~1", "", b, bv.level, user=False, free=False, value=0.0)
            else:
                rows.add(v, "~1", "", b, bv.level, user=False)
    return BlockVars(bv.level, (), ov, bv.ov_x, (), (), bv.key)


def _constraints_kept(pt: ParTable, labels: Collection[str]) -> tuple[Statement, ...]:
    kept = []
    for c in pt.constraints:
        names = [n for e in (c.lhs_expr, c.expr) if e is not None for n in e.names]
        if all(n in labels for n in names):
            kept.append(c)
    return tuple(kept)


def saturate_levels(pt: ParTable, levels: Collection[int]) -> ParTable:
    """`pt` with every block of the given level numbers saturated (module docstring).

    Parameters
    ----------
    pt : ParTable
        A model without random slopes.
    levels : collection of int
        Level numbers (1 = within) whose blocks are saturated, in every group.

    Returns
    -------
    ParTable
        Blocks in the same order and with the same observed variables as `pt`.
    """
    if pt.slopes:
        raise ValueError("a model with random slopes has no saturated level")
    rows = RowAccumulator()
    blocks: list[BlockVars] = []
    for b, bv in enumerate(pt.blocks):
        if bv.key.level in levels:
            blocks.append(_saturated_rows(rows, pt, b))
            continue
        for r in pt.records:
            if r["block"] == b:
                _copy(rows, r)
        blocks.append(bv)
    labels = {r["label"] for r in rows.rows if r["label"]}
    constraints = _constraints_kept(pt, labels)
    built: list[BuildRow] = rows.rows
    return ParTable.from_records(make_table(built, constraints, pt.block_keys), tuple(blocks),
                                 pt.meanstructure, pt.nlevels, (), constraints)


def saturated_npar(pt: ParTable, levels: Collection[int]) -> int:
    """``saturate_levels(pt, levels).npar`` without building the table.

    The kept blocks' distinct free parameters (a label shared with a saturated
    block still counts once), plus per saturated block one (co)variance per pair
    of its observed variables (not between two fixed covariates) and, with a
    mean structure, a mean for each variable that is neither a fixed covariate
    nor the within part of a variable with a between part (module docstring).
    A fit sizes its level-specific fit by this on every call, so it is cheap.
    """
    if pt.slopes:
        raise ValueError("a model with random slopes has no saturated level")
    both = set(pt.roles()[2]) if pt.multilevel else set()
    kept: set[int] = set()
    count = 0
    by_block: dict[int, list[ParRow]] = {}
    for r in pt.records:
        by_block.setdefault(r["block"], []).append(r)
    for b, bv in enumerate(pt.blocks):
        recs = by_block.get(b, [])
        if bv.key.level not in levels:
            kept.update(int(r["free"]) for r in recs if r["free"] > 0)
            continue
        fixed_x = {r["lhs"] for r in recs if r["exo"] and r["op"] == "~~"}
        exo_means = {r["lhs"] for r in recs if r["exo"] and r["op"] == "~1"}
        ov = bv.ov
        k = len(ov)
        nx = sum(1 for v in ov if v in fixed_x)
        count += k * (k + 1) // 2 - nx * (nx + 1) // 2
        if pt.meanstructure:
            lowest_both = both if bv.key.is_lowest else set()
            count += sum(1 for v in ov if v not in exo_means and v not in lowest_both)
    return len(kept) + count
