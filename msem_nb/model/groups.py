"""Multiple groups: the parameter table of a multigroup model and its per-group views.

A multigroup model is the same model in every group: one block per (group,
level), as lavaan's ``block`` column, the groups numbered 1..G in the order
the caller gives (the order of first appearance in the data, as lavaan).
The table is built group by group with the single-group rules
(:func:`msem_nb.model.partable.build_partable`), each group with its own
modifiers from ``c(...)`` (``c(a1, a2)*x`` labels, ``c(1, NA)*x`` fixes or
frees per group), then joined. What ties groups together is labels, as in
lavaan:

* a plain label (``a*x``) is the same label in every group: equal across groups;
* ``group_equal`` gives every free parameter of the named kinds one shared
  label across groups (lavaan's ``group.equal``: "loadings", "intercepts",
  "means", "residuals", "residual.covariances", "lv.variances",
  "lv.covariances", "regressions"), except those listed in ``group_partial``
  (``"f =~ y3"``, ``"y1 ~ 1"``, ``"y1 ~~ y1"``) and those the user labelled;
* with "intercepts" equal and "means" not, the latent means are freed in
  every group but the first (lavaan's rule: the first group fixes the scale
  of the means), where the latent variable has an indicator with a free
  intercept in that block (in a two-level model the within intercepts of
  variables with a between part are fixed at zero, so the within latent
  means stay at zero).

For the likelihood every group is a model of its own over the shared
parameter vector: :func:`group_subtable` and :func:`group_spec` give group
g's blocks renumbered from 0 with group-1 keys (so the single-group code,
which looks blocks up by level, applies unchanged) and the global free
parameter indices.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from msem_nb.errors import ModelSpecificationError
from msem_nb.messages import collecting
from msem_nb.model.blocks import BlockKey
from msem_nb.model.partable import BlockVars, ParTable, build_partable, make_table
from msem_nb.model.rows import BuildRow, ParRow
from msem_nb.model.spec import ModelSpec
from msem_nb.syntax.parser import ParsedModel, Statement
from msem_nb.syntax.statements import Term

__all__ = ["GROUP_EQUAL", "build_group_partable", "group_subtable", "group_spec",
           "check_group_modifiers", "parse_partial", "build_row"]

#: the kinds of parameters ``group_equal`` can hold equal across groups (lavaan's names)
GROUP_EQUAL = ("loadings", "intercepts", "means", "residuals", "residual.covariances",
               "lv.variances", "lv.covariances", "regressions")
_MODEL_OPS = ("=~", "~", "~~", "~1", "|~")


def check_group_modifiers(parsed: ParsedModel, ngroups: int) -> None:
    """ModelSpecificationError when a ``c(...)`` modifier does not have one value per group."""
    for s in parsed.statements:
        for t in s.rhs:
            if t.groups and len(t.groups) != ngroups:
                where = f"line {s.line}: " if s.line else ""
                if ngroups == 1:
                    raise ModelSpecificationError(
                        f"{where}'c(...)' on '{s.lhs} {s.op} {t.name}' gives values per group, "
                        "but the fit has one group; pass group='column' to fit several "
                        "groups, or write a single modifier (a*x, 0.5*x)")
                raise ModelSpecificationError(
                    f"{where}'c(...)' on '{s.lhs} {s.op} {t.name}' has {len(t.groups)} values "
                    f"but the data have {ngroups} groups; give one value per group")


def _term_for(t: Term, g: int) -> Term:
    """Term `t` with group g's modifiers from ``c(...)`` (g 0-based) in its plain fields."""
    if not t.groups:
        return t
    fixed, free, label = t.groups[g]
    return dataclasses.replace(
        t, fixed=fixed if fixed is not None else t.fixed,
        free=free or (t.free and fixed is None), label=label if label is not None else t.label,
        groups=())


def _statements_for(parsed: ParsedModel, g: int) -> ParsedModel:
    stmts = tuple(dataclasses.replace(s, rhs=tuple(_term_for(t, g) for t in s.rhs))
                  for s in parsed.statements if s.op in _MODEL_OPS)
    return ParsedModel(stmts, parsed.levels, parsed.source)


def parse_partial(spec: str) -> tuple[str, str, str]:
    """``"f =~ y3"`` -> ("f", "=~", "y3"); ``"y1 ~ 1"`` -> ("y1", "~1", "")."""
    text = re.sub(r"\s+", "", str(spec))
    m = re.fullmatch(r"([^=~]+)(=~|~~|~)(.+)", text)
    if m is None:
        raise ModelSpecificationError(
            f"group_partial entry {spec!r} is not a parameter; write it as 'f =~ y3', "
            "'y1 ~ x1', 'y1 ~~ y2' or 'y1 ~ 1'")
    lhs, op, rhs = m.groups()
    if op == "~" and rhs == "1":
        return lhs, "~1", ""
    if op == "~~" and rhs < lhs:
        lhs, rhs = rhs, lhs
    return lhs, op, rhs


def _kind(r: BuildRow, lv: set[str]) -> str | None:
    op, lhs, rhs = r["op"], r["lhs"], r["rhs"]
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "~1":
        return "means" if lhs in lv else "intercepts"
    if op == "~~":
        latent = lhs in lv and rhs in lv
        if lhs == rhs:
            return "lv.variances" if latent else "residuals"
        return "lv.covariances" if latent else "residual.covariances"
    return None


def _check_equal(group_equal: Sequence[str]) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(str(k) for k in group_equal))
    bad = [k for k in kinds if k not in GROUP_EQUAL]
    if bad:
        raise ModelSpecificationError(
            f"group_equal: unknown kind(s) {', '.join(map(repr, bad))}; the kinds are "
            f"{', '.join(GROUP_EQUAL)}")
    return kinds


def build_group_partable(parsed: ParsedModel, ngroups: int, *,
                         group_equal: Sequence[str] = (), group_partial: Sequence[str] = (),
                         meanstructure: bool | None = None, fixed_x: bool = True) -> ParTable:
    """The parameter table of `parsed` fitted in `ngroups` groups (module docstring).

    Parameters
    ----------
    parsed : ParsedModel
    ngroups : int
        Number of groups (at least 1).
    group_equal : sequence of str
        Kinds of parameters equal across groups (:data:`GROUP_EQUAL`).
    group_partial : sequence of str
        Parameters exempt from `group_equal` (``"f =~ y3"``).
    meanstructure : bool, optional
        Default: True, as lavaan for multiple groups.
    fixed_x : bool

    Returns
    -------
    ParTable
        Blocks ordered by (group, level); the ``group`` column is 1..G.
    """
    check_group_modifiers(parsed, ngroups)
    kinds = _check_equal(group_equal)
    partial = {parse_partial(p) for p in group_partial}
    meanstructure = True if meanstructure is None else meanstructure
    tables = []
    for g in range(ngroups):
        # the single-group rules' warnings are the same in every group: give them once
        with collecting(quiet=g > 0):
            tables.append(build_partable(_statements_for(parsed, g), meanstructure=meanstructure,
                                         fixed_x=fixed_x))
    nb = len(tables[0].blocks)
    rows: list[BuildRow] = []
    blocks: list[BlockVars] = []
    keys: list[BlockKey] = []
    free_means = "intercepts" in kinds and "means" not in kinds
    for g, t in enumerate(tables):
        for bv in t.blocks:
            key = BlockKey(g + 1, bv.key.level, bv.key.name)
            blocks.append(dataclasses.replace(bv, key=key))
            keys.append(key)
        lv = set(t.lv_names)
        # a latent mean is identified by equal intercepts of its indicators in that block
        # (in a two-level model not at the within level, where they are fixed at zero)
        free_int = {(r["block"], r["lhs"]) for r in t.records if r["op"] == "~1" and r["free"]}
        scaled = {(r["block"], r["lhs"]) for r in t.records
                  if r["op"] == "=~" and (r["block"], r["rhs"]) in free_int}
        for r in t.records:
            row = build_row(r, g * nb)
            kind = _kind(row, lv)
            if (free_means and g > 0 and kind == "means" and not row["free"]
                    and not row["user"] and (r["block"], r["lhs"]) in scaled):
                row["free"], row["ustart"] = True, None
            elif (row["free"] and kind in kinds and not row["label"]
                  and _partial_key(r) not in partial):
                row["label"] = f".p{r['id']}."   # lavaan's name: the first group's row
            rows.append(row)
    defined = tuple(s for s in parsed.statements if s.op == ":=")
    constraints = tuple(s for s in parsed.statements if s.op in ("==", "<", ">"))
    out = ParTable.from_records(make_table(rows, constraints, keys), tuple(blocks),
                                meanstructure, tables[0].nlevels, defined, constraints)
    _check_names(out.table, defined, constraints)
    return out


def _partial_key(r: ParRow) -> tuple[str, str, str]:
    lhs, op, rhs = r["lhs"], r["op"], r["rhs"]
    if op == "~~" and rhs < lhs:
        lhs, rhs = rhs, lhs
    return lhs, op, rhs


def build_row(r: ParRow, offset: int = 0) -> BuildRow:
    """Record `r` of a table as a row to build a new table from (block moved by `offset`)."""
    ustart, start = r["ustart"], r["start"]
    row = BuildRow(lhs=r["lhs"], op=r["op"], rhs=r["rhs"], block=int(r["block"]) + offset,
                   level=r["level"], user=bool(r["user"]), free=int(r["free"]) > 0,
                   ustart=None if ustart != ustart else float(ustart),
                   label=r["label"] or "", start=None if start != start else float(start),
                   exo=bool(r["exo"]), line=int(r["line"]))
    if r["slope"]:
        row["slope"] = r["slope"]
    if r.get("loading", False):
        row["loading"] = True
    return row


def _check_names(df: pd.DataFrame, defined: Sequence[Statement],
                 constraints: Sequence[Statement]) -> None:
    """Defined parameters and constraints may use any group's labels."""
    labels = {str(x) for x in df["label"] if x}
    known = set(labels)
    for d in defined:
        missing = [n for n in (d.expr.names if d.expr is not None else ()) if n not in known]
        if missing:
            raise ModelSpecificationError(
                f"line {d.line}: '{d.lhs} := ...' uses unknown label(s) {', '.join(missing)}")
        known.add(d.lhs)
    for c in constraints:
        for e in (c.lhs_expr, c.expr):
            missing = [n for n in (e.names if e is not None else ()) if n not in known]
            if missing:
                raise ModelSpecificationError(
                    f"line {c.line}: constraint uses unknown label(s) {', '.join(missing)}")


def group_subtable(pt: ParTable, group: int) -> tuple[ParTable, np.ndarray]:
    """Group `group`'s rows as a one-group table, and their row positions in `pt`.

    Blocks are renumbered from 0 and keyed as group 1; ``free`` keeps the
    global parameter indices. Constraints and defined parameters are left
    out (they belong to the whole model).
    """
    tab = pt.table
    rows = np.flatnonzero(tab["group"].to_numpy() == group)
    first = [b for b, k in enumerate(pt.block_keys) if k.group == group]
    remap = {b: i for i, b in enumerate(first)}
    sub = tab.iloc[rows].copy()
    sub["block"] = [remap[int(b)] for b in sub["block"]]
    sub["group"] = 1
    sub = sub.reset_index(drop=True)
    blocks = tuple(dataclasses.replace(pt.blocks[b], key=BlockKey(1, pt.block_keys[b].level,
                                                                   pt.block_keys[b].name))
                   for b in first)
    return ParTable(sub, blocks, pt.meanstructure, pt.nlevels), rows


def group_spec(spec: ModelSpec, group: int) -> ModelSpec:
    """Group `group`'s blocks of `spec` keyed as group 1, over the global parameter vector.

    ``cells`` is left empty: a group's specification serves its likelihood,
    and estimates are written back through the whole model's.
    """
    blocks = tuple(dataclasses.replace(bs, key=BlockKey(1, bs.key.level, bs.key.name))
                   for bs in spec.blocks if bs.key.group == group)
    return ModelSpec(blocks, spec.npar, ())
