"""The parameter table: one row per parameter, the single source of truth.

Rows come from the user's statements, then from lavaan's default rules, each
a small named function applied per block (a block is one level of one group,
keyed by :class:`~msem_nb.model.blocks.BlockKey`; a single-level model has
one block with level ""):

* ``_default_variances``: (residual) variances of non-exogenous observed
  variables and of latent variables;
* ``_default_lv_covariances``: covariances among exogenous latent variables;
* ``_default_y_covariances``: residual covariances among pure outcomes;
* ``_default_exogenous``: variances, covariances (and means) of observed
  exogenous covariates, fixed at their sample values (fixed.x);
* ``_default_intercepts``: intercepts of observed variables (free) and means
  of latent variables (zero); in a multilevel model the intercept of a
  variable that also lives at a higher level is fixed at zero, so that its
  mean is the intercept of the highest level it has a part at.

Then markers (first loading fixed at 1), single-indicator residual
variances, shared labels and ``==`` between labels are resolved into the
``free`` column (0 for fixed, otherwise the 1-based index into the free
parameter vector, shared by rows constrained equal).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import cast

import numpy as np
import pandas as pd

from msem_nb.errors import ModelSpecificationError
from msem_nb.messages import notify
from msem_nb.model.blocks import BlockKey, BlockQueries, default_key, level_keys, ov_positions
from msem_nb.model.numbering import check_labels, make_table, simple_equalities
from msem_nb.model.rows import (
    LazyFrame,
    ParRow,
    RowAccumulator,
    TableColumns,
    records_column,
)
from msem_nb.model.slope_rules import check_same_effect, check_slopes, slope_block
from msem_nb.syntax.parser import ParsedModel, Statement
from msem_nb.syntax.statements import Term

__all__ = ["ParTable", "ParRow", "build_partable", "BlockVars", "make_table",
           "simple_equalities", "baseline_partable"]


@dataclass(frozen=True)
class BlockVars:
    """Variable roles within one block, in lavaan's order.

    ``key`` says which group and level the block is; when not given it is
    derived from ``level`` (the level's name, ``""`` for a single level) in
    group 1.
    """

    level: str
    lv: tuple[str, ...]
    ov: tuple[str, ...]          # indicators, outcomes, covariates, others
    ov_x: tuple[str, ...]        # fixed exogenous observed covariates
    lv_x: tuple[str, ...]        # exogenous latent variables
    ov_ind: tuple[str, ...]
    key: BlockKey = None  # type: ignore[assignment]  # filled in by __post_init__

    def __post_init__(self) -> None:
        if self.key is None:
            object.__setattr__(self, "key", default_key(self.level))
        elif self.key.name != self.level:
            raise ValueError(f"block key {self.key} does not match level {self.level!r}")

    @property
    def ov_nox(self) -> tuple[str, ...]:
        return tuple(v for v in self.ov if v not in self.ov_x)

    @property
    def all(self) -> tuple[str, ...]:
        return self.ov + self.lv


@dataclass(frozen=True, eq=False)
class ParTable(BlockQueries):
    """The parameter table with the variable roles it implies.

    ``table`` columns: id, lhs, op, rhs, block (0-based index into
    ``blocks``), group (1-based), level (the level's name), user, free,
    label, ustart (user fixed value or start), start, exo, plabel.
    ``blocks`` are ordered by their keys (group, then level, lowest first);
    the block queries (``block_keys``, ``level_names``, ``block_of``,
    ``blocks_of_level``, ``is_lowest``) come from
    :class:`~msem_nb.model.blocks.BlockQueries`.
    """

    table: pd.DataFrame
    blocks: tuple[BlockVars, ...]
    meanstructure: bool
    nlevels: int                 # number of levels: that of the blocks' keys
    defined: tuple[Statement, ...] = field(default=())
    constraints: tuple[Statement, ...] = field(default=())

    def __post_init__(self) -> None:
        levels = len({bv.key.level for bv in self.blocks})
        if levels != self.nlevels:
            raise ValueError(f"nlevels={self.nlevels} but the blocks have {levels} level(s): "
                             f"{', '.join(str(bv.key) for bv in self.blocks)}")

    @classmethod
    def from_records(cls, records: list[ParRow], blocks: tuple[BlockVars, ...],
                     meanstructure: bool, nlevels: int, defined: tuple[Statement, ...] = (),
                     constraints: tuple[Statement, ...] = ()) -> ParTable:
        """The table of final `records` (:func:`make_table`); its DataFrame ``table``
        is built from them when first asked for (a fit reads the records and columns)."""
        pt = cls.__new__(cls)
        pt.__dict__["records"] = records
        cls.__init__(pt, cast(pd.DataFrame, None), blocks, meanstructure, nlevels, defined,
                     constraints)
        return pt

    @cached_property
    def records(self) -> list[ParRow]:
        """The rows as dicts (fast to loop over, unlike DataFrame.at)."""
        # the table's columns are those of ParRow (made by msem_nb.model.numbering.make_table)
        return cast("list[ParRow]", self.table.to_dict("records"))

    def column(self, name: str) -> np.ndarray:
        """One column of ``table`` as an array (``table[name].to_numpy()``), without
        building the DataFrame when the table was made from records."""
        cache: dict[str, np.ndarray] = self.__dict__.setdefault("_columns", {})
        out = cache.get(name)
        if out is None:
            frame = self.__dict__.get("_frame")
            out = (records_column(self.records, name) if frame is None
                   else frame[name].to_numpy(copy=True))
            out.flags.writeable = False     # shared by every caller
            cache[name] = out
        return out

    @property
    def columns(self) -> TableColumns:
        """The columns by name (:meth:`column`), for functions that take a table's columns."""
        return TableColumns(self.column)

    @property
    def nrows(self) -> int:
        """Number of rows of the table."""
        return len(self.records)

    @property
    def npar(self) -> int:
        f = self.column("free")
        return int(f.max()) if len(f) and f.max() > 0 else 0

    @property
    def slopes(self) -> dict[str, tuple[str, str]]:
        """Random slopes: name -> (outcome, covariate)."""
        return {r["slope"]: (r["lhs"], r["rhs"]) for r in self.records if r["op"] == "|~"}

    @property
    def random_loadings(self) -> dict[str, tuple[str, str]]:
        """Random loadings (``f =~ rv("l")*y``): name -> (factor, indicator). Each is
        also in :attr:`slopes`, as the slope of the indicator on the factor."""
        return {r["slope"]: (r["rhs"], r["lhs"]) for r in self.records
                if r["op"] == "|~" and r.get("loading", False)}

    @property
    def ov_names(self) -> tuple[str, ...]:
        seen: list[str] = []
        for b in self.blocks:
            seen += [v for v in b.ov if v not in seen]
        return tuple(seen)

    @property
    def lv_names(self) -> tuple[str, ...]:
        seen: list[str] = []
        for b in self.blocks:
            seen += [v for v in b.lv if v not in seen]
        return tuple(seen)

    @property
    def block_keys(self) -> tuple[BlockKey, ...]:
        """(group, level) key of every block, in block order."""
        return tuple(bv.key for bv in self.blocks)

    def block_ov(self, b: int) -> tuple[str, ...]:
        """The observed variables of block `b`."""
        return self.blocks[b].ov

    def ov_positions(self, b: int, names: Sequence[str]) -> np.ndarray:
        """Positions of block `b`'s observed variables in the data vector `names`."""
        return ov_positions(self.blocks[b].ov, names)

    def level_ov(self, group: int = 1) -> tuple[tuple[str, ...], ...]:
        """The observed variables of each level of `group`, lowest level first."""
        return tuple(bv.ov for bv in sorted(self.blocks, key=lambda bv: bv.key)
                     if bv.key.group == group)

    def roles(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """(within, between_only, both) observed variables of a two-level model.

        ``within``: those of the lowest level (the data's within variables,
        in block order); ``between_only``: those only at higher levels;
        ``both``: those of the lowest level that also have a higher-level part.
        """
        low = self.block_of(1)
        w = self.blocks[low].ov
        if not self.multilevel:
            return w, (), ()
        higher: list[str] = []
        for bv in self.blocks:
            if bv.key.group == 1 and not bv.key.is_lowest:
                higher += [v for v in bv.ov if v not in higher]
        both = tuple(v for v in w if v in higher)
        between_only = tuple(v for v in higher if v not in w)
        return w, between_only, both

    @property
    def exogenous(self) -> tuple[str, ...]:
        """Covariates whose moments are fixed (fixed.x): those with exogenous rows."""
        fixed = {r["lhs"] for r in self.records if r["exo"]}
        seen: list[str] = []
        for b in self.blocks:
            seen += [v for v in b.ov_x if v not in seen and v in fixed]
        return tuple(seen)


# ``table`` may be left to be built from the records (ParTable.from_records); set after the
# dataclass is made, so that the field stays a required argument of the constructor
setattr(ParTable, "table", LazyFrame())


def _uniq(seq: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in seq:
        if v not in out:
            out.append(v)
    return out


def _block_statements(
        parsed: ParsedModel) -> tuple[tuple[BlockKey, ...], list[list[Statement]]]:
    """The block keys (lowest level first) and the statements of each block."""
    model_stmts = [s for s in parsed.statements if s.op in ("=~", "~", "~~", "~1", "|~")]
    keys = level_keys(parsed.levels)
    if not parsed.levels:
        return keys, [model_stmts]
    blocks = [[s for s in model_stmts if s.level == k.name] for k in keys]
    for s, k in zip(blocks, keys):
        if not s:
            raise ModelSpecificationError(f"the '{k.name}' block has no statements")
    return keys, blocks


def _higher_ov(bvars: Sequence[BlockVars], key: BlockKey) -> set[str]:
    """Observed variables of the blocks above `key`'s level in its group."""
    return {v for bv in bvars if bv.key.group == key.group and bv.key.level > key.level
            for v in bv.ov}


def _block_vars(stmts: Sequence[Statement], level: str, eqs_y_all: set[str], lv_all: set[str],
                ind_all: set[str], slopes: Sequence[str] = (), *, key: BlockKey) -> BlockVars:
    # random slopes are latent variables of the between block, with or
    # without statements there
    lv = _uniq([s.lhs for s in stmts if s.op == "=~"] + list(slopes))
    v_ind = _uniq(t.name for s in stmts if s.op == "=~" for t in s.rhs)
    eqs_y = _uniq(s.lhs for s in stmts if s.op == "~")
    eqs_x = _uniq([t.name for s in stmts if s.op == "~" for t in s.rhs if t.name != "1"]
                  + [t.name for s in stmts if s.op == "|~" for t in s.rhs])
    eqs_y = _uniq(eqs_y + [s.lhs for s in stmts if s.op == "|~"])
    ov_ind = [v for v in v_ind if v not in lv]
    ov_y = [v for v in eqs_y if v not in lv and v not in ov_ind]
    ov_x = [v for v in eqs_x if v not in lv and v not in ov_ind and v not in ov_y]
    # A covariate that is an outcome in another block is endogenous everywhere
    # (lavaan 0.6-8 rule), and one that the user gives a (co)variance or
    # intercept is treated as random.
    ov_x = [v for v in ov_x if v not in eqs_y_all and v not in ind_all]
    extra = _uniq(
        [s.lhs for s in stmts if s.op in ("~~", "~1") and s.lhs not in lv]
        + [t.name for s in stmts if s.op == "~~" for t in s.rhs if t.name not in lv])
    user_mentioned = set(extra)
    random_x = [v for v in ov_x if v in user_mentioned]
    if random_x:
        notify(
            f"the syntax gives (co)variances or intercepts of exogenous covariate(s) "
            f"{', '.join(random_x)} ({level or 'single level'}); they are treated as random "
            "variables with free parameters", UserWarning, stacklevel=5)
        ov_x = [v for v in ov_x if v not in user_mentioned]
    ov = _uniq(ov_ind + ov_y + ov_x + [v for v in eqs_x if v not in lv] + extra)
    ov = [v for v in ov if v not in lv_all]
    lv_x = [v for v in lv if v not in v_ind and v not in eqs_y]
    return BlockVars(level, tuple(lv), tuple(ov), tuple(ov_x), tuple(lv_x), tuple(ov_ind), key)


def _user_rows(rows: RowAccumulator, stmts: Sequence[Statement], b: int, level: str) -> None:
    for s in stmts:
        check_same_effect(rows, s, b)
        if s.op == "|~":
            row = rows.add(s.lhs, "|~", s.rhs[0].name, b, level, user=True, free=False,
                           line=s.line)
            assert row is not None and s.slope is not None  # new (checked above); '|~' has one
            row["slope"] = s.slope
            row["loading"] = s.loading
            continue
        pairs: list[tuple[str, str, str, Term]]
        if s.op == "~1":
            terms = s.rhs
            pairs = [(s.lhs, "~1", "", t) for t in terms]
        elif s.op == "=~":
            pairs = [(s.lhs, "=~", t.name, t) for t in s.rhs]
        else:
            pairs = [(s.lhs, s.op, t.name, t) for t in s.rhs]
        for lhs, op, rhs, t in pairs:
            fixed = t.fixed is not None
            row = rows.add(lhs, op, rhs, b, level, user=True, free=not fixed,
                           value=t.fixed, label=t.label or "", start=t.start, line=s.line)
            if row is not None:
                row["na"] = bool(t.free)


def _defaults(rows: RowAccumulator, bv: BlockVars, b: int, level: str, meanstructure: bool,
              fixed_x: bool, higher: set[str], below_another: bool,
              slopes: Sequence[str] = ()) -> None:
    ov_x = bv.ov_x if fixed_x else ()
    ov_nox = [v for v in bv.ov if v not in ov_x]
    # (residual) variances
    for v in ov_nox + list(bv.lv):
        rows.add(v, "~~", v, b, level, user=False)
    # covariances among exogenous latent variables
    for i, a in enumerate(bv.lv_x):
        for c in bv.lv_x[i + 1:]:
            rows.add(a, "~~", c, b, level, user=False)
    # random intercepts and slopes of the outcomes with random slopes covary,
    # as in lme4's (1 + x | g)
    if slopes:
        outcomes = {r["lhs"] for r in rows.rows if r["op"] == "|~"}
        effects = [v for v in bv.ov if v in outcomes] + list(slopes)
        for i, a in enumerate(effects):
            for c in effects[i + 1:]:
                rows.add(a, "~~", c, b, level, user=False)
    # residual covariances among pure outcomes (lavaan's auto.cov.y)
    pure_y = _pure_outcomes(rows, b, bv)
    for i, a in enumerate(pure_y):
        for c in pure_y[i + 1:]:
            rows.add(a, "~~", c, b, level, user=False)
    # exogenous covariates: fixed at sample values later (fixed.x), or free
    # variances and covariances when they are treated as random
    for i, a in enumerate(ov_x):
        for c in ov_x[i:]:
            rows.add(a, "~~", c, b, level, user=False, free=False, exo=True)
    if not fixed_x:
        for i, a in enumerate(bv.ov_x):
            for c in bv.ov_x[i + 1:]:
                rows.add(a, "~~", c, b, level, user=False)
    if meanstructure:
        for v in bv.ov:
            if v in ov_x:
                rows.add(v, "~1", "", b, level, user=False, free=False, exo=True)
            else:
                rows.add(v, "~1", "", b, level, user=False)
        for v in bv.lv:
            if v in slopes:
                rows.add(v, "~1", "", b, level, user=False)  # the average slope
            else:
                rows.add(v, "~1", "", b, level, user=False, free=False, value=0.0)
    if below_another and meanstructure:
        # The mean of a variable with a part at a higher level lives there.
        for v in bv.ov:
            if v in higher:
                r = rows.get(v, "~1", "", b)
                if r is not None:
                    r["free"], r["ustart"], r["exo"] = False, 0.0, False


def _pure_outcomes(rows: RowAccumulator, b: int, bv: BlockVars) -> list[str]:
    eqs_y: list[str] = []
    eqs_x: set[str] = set()
    ind: set[str] = set()
    for r in rows.rows:
        if r["block"] != b:
            continue
        if r["op"] == "~":
            eqs_y.append(r["lhs"])
            eqs_x.add(r["rhs"])
        elif r["op"] == "=~":
            ind.add(r["rhs"])
    eqs_y = _uniq(eqs_y)
    lv_y = [v for v in eqs_y if v in bv.lv and v not in ind and v not in eqs_x]
    ov_y = [v for v in eqs_y if v not in bv.lv and v not in ind and v not in eqs_x]
    return lv_y + ov_y


def _markers(rows: RowAccumulator, bv: BlockVars, b: int) -> None:
    for f in bv.lv:
        loads = [r for r in rows.rows if r["block"] == b and r["op"] == "=~" and r["lhs"] == f]
        if not loads:
            continue
        first = loads[0]
        if first["user"] and (first.get("na") or first["ustart"] is not None and not first["free"]):
            continue
        if first["free"]:
            first["free"], first["ustart"] = False, 1.0
        # single indicator: its residual variance goes to zero
        if len(loads) == 1 and first["rhs"] not in bv.lv:
            r = rows.get(first["rhs"], "~~", first["rhs"], b)
            if r is not None and not r["user"]:
                r["free"], r["ustart"] = False, 0.0


def build_partable(parsed: ParsedModel, *, meanstructure: bool | None = None,
                   fixed_x: bool = True) -> ParTable:
    """Build the parameter table of a parsed model.

    Parameters
    ----------
    parsed : ParsedModel
        Output of :func:`msem_nb.syntax.parser.parse`.
    meanstructure : bool, optional
        Include intercepts and means. Two-level models always have them; for
        a single-level model the default is to include them only when the
        syntax mentions an intercept (as lavaan does).
    fixed_x : bool
        Treat observed exogenous covariates as fixed (lavaan's fixed.x).

    Returns
    -------
    ParTable
    """
    keys, blocks_stmts = _block_statements(parsed)
    nlevels = len({k.level for k in keys})
    if nlevels > 1:
        meanstructure = True
    elif meanstructure is None:
        meanstructure = any(s.op == "~1" for s in blocks_stmts[0])

    slopes = check_slopes(blocks_stmts, keys)
    slopes_at = slope_block(keys)
    eqs_y_all = {s.lhs for stmts in blocks_stmts for s in stmts if s.op in ("~", "|~")}
    eqs_y_all |= {s.lhs for stmts in blocks_stmts for s in stmts if s.op == "~"
                  and s.lhs in slopes}
    lv_all = {s.lhs for stmts in blocks_stmts for s in stmts if s.op == "=~"} | set(slopes)
    ind_all = {t.name for stmts in blocks_stmts for s in stmts if s.op == "=~" for t in s.rhs}
    levels = [k.name for k in keys]
    bvars = [_block_vars(st, k.name, eqs_y_all, lv_all, ind_all,
                         slopes if b == slopes_at else (), key=k)
             for b, (st, k) in enumerate(zip(blocks_stmts, keys))]
    for bv, lvl in zip(bvars, levels):
        for v in bv.lv:
            if v in bv.ov:
                raise ModelSpecificationError(f"'{v}' is used both as a latent and an observed variable")
    # A latent variable must be defined in the block it is used in.
    for stmts, bv, lvl, key in zip(blocks_stmts, bvars, levels, keys):
        for s in stmts:
            names = [s.lhs] + [t.name for t in s.rhs if t.name != "1"]
            for v in names:
                if v in slopes and key.is_lowest:
                    raise ModelSpecificationError(
                        f"line {s.line}: random slope '{v}' is a variable of the between level; "
                        "use it in the between block (e.g. "
                        f"'{v} ~ w', '{v} ~~ y') and declare it as '{v} | y ~ x' within")
                if v in lv_all and v not in bv.lv:
                    raise ModelSpecificationError(
                        f"line {s.line}: latent variable '{v}' is defined in another level; "
                        f"define it with '=~' in the {lvl} block too or use a different name")

    rows = RowAccumulator()
    for b, (stmts, bv, lvl) in enumerate(zip(blocks_stmts, bvars, levels)):
        _user_rows(rows, stmts, b, lvl)
    for b, (bv, lvl, key) in enumerate(zip(bvars, levels, keys)):
        # a variable's mean lives at the highest level it has a part at
        higher = _higher_ov(bvars, key)
        _defaults(rows, bv, b, lvl, meanstructure, fixed_x, higher,
                  bool(higher), slopes if b == slopes_at else ())
        _markers(rows, bv, b)

    defined = tuple(s for s in parsed.statements if s.op == ":=")
    constraints = tuple(s for s in parsed.statements if s.op in ("==", "<", ">"))

    recs = make_table(rows.rows, constraints, keys)
    check_labels(recs, defined, constraints)
    return ParTable.from_records(recs, tuple(bvars), bool(meanstructure), nlevels, defined,
                                 constraints)



def baseline_partable(pt: ParTable) -> ParTable:
    """The independence (baseline) model of `pt`: variances and means only.

    Exogenous covariates keep their fixed saturated moments, as in lavaan, so
    the baseline differs from the saturated model only in the covariances of
    the modelled variables at each level.
    """
    rows = RowAccumulator()
    blocks: list[BlockVars] = []
    for b, bv in enumerate(pt.blocks):
        lvl = bv.level
        higher = _higher_ov(pt.blocks, bv.key)
        for v in bv.ov_nox:
            rows.add(v, "~~", v, b, lvl, user=False)
        for i, a in enumerate(bv.ov_x):
            for c in bv.ov_x[i:]:
                rows.add(a, "~~", c, b, lvl, user=False, free=False, exo=True)
        if pt.meanstructure:
            for v in bv.ov:
                if v in bv.ov_x:
                    rows.add(v, "~1", "", b, lvl, user=False, free=False, exo=True)
                elif v in higher:
                    rows.add(v, "~1", "", b, lvl, user=False, free=False, value=0.0)
                else:
                    rows.add(v, "~1", "", b, lvl, user=False)
        blocks.append(BlockVars(lvl, (), bv.ov, bv.ov_x, (), (), bv.key))
    return ParTable.from_records(make_table(rows.rows, (), pt.block_keys), tuple(blocks),
                                 pt.meanstructure, pt.nlevels)
