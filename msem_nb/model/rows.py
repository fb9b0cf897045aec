"""Rows of the parameter table: the final records and the accumulator the rules fill.

:mod:`msem_nb.model.partable` adds a row per user statement, then per default
rule, to a :class:`RowAccumulator`; an element already given is skipped, so
the user's rows win over defaults. The rows are then numbered into
:class:`ParRow` records, one per row of ``ParTable.table``.
"""

from __future__ import annotations

from typing import TypedDict

from msem_nb.messages import notify

__all__ = ["ParRow", "BuildRow", "RowKey", "RowAccumulator"]


class ParRow(TypedDict):
    """One row of the parameter table as a dict (:attr:`ParTable.records`)."""

    id: int
    lhs: str
    op: str
    rhs: str
    block: int                   # 0-based index into ParTable.blocks
    group: int
    level: str
    user: bool
    free: int                    # 0 fixed, else the 1-based free parameter index
    label: str
    ustart: float                # NaN when not given
    start: float                 # NaN when not given
    exo: bool
    plabel: str
    line: int
    slope: str
    loading: bool                # '|~' rows written as a random loading (f =~ rv("l")*y)


class _RowFields(TypedDict):
    """The fields every row being built has."""

    lhs: str
    op: str
    rhs: str
    block: int
    level: str
    user: bool
    free: bool
    ustart: float | None
    label: str
    start: float | None
    exo: bool
    line: int


class BuildRow(_RowFields, total=False):
    """A row while the table is being built (free is still a flag)."""

    slope: str                   # '|~' rows: the random slope's name
    loading: bool                # '|~' rows written as a random loading (f =~ rv("l")*y)
    na: bool                     # user rows: NA* frees the parameter (a marker loading)


#: what makes a row unique: (lhs, op, rhs, block), a covariance's names sorted
RowKey = tuple[str, str, str, int]


class RowAccumulator:
    """Accumulates rows; defaults are skipped when the user gave the element."""

    def __init__(self) -> None:
        self.rows: list[BuildRow] = []
        self.keys: dict[RowKey, int] = {}

    @staticmethod
    def key(lhs: str, op: str, rhs: str, block: int) -> RowKey:
        if op == "~~" and rhs < lhs:
            lhs, rhs = rhs, lhs
        return (lhs, op, rhs, block)

    def add(self, lhs: str, op: str, rhs: str, block: int, level: str, *, user: bool,
            free: bool = True, value: float | None = None, label: str = "",
            start: float | None = None, exo: bool = False, line: int = 0) -> BuildRow | None:
        """The new row, or None when the element is already in the table."""
        k = self.key(lhs, op, rhs, block)
        if k in self.keys:
            if user:
                notify(f"'{lhs} {op} {rhs}' is given twice; the later one is ignored",
                       UserWarning, stacklevel=5)
            return None
        self.keys[k] = len(self.rows)
        self.rows.append(BuildRow(lhs=lhs, op=op, rhs=rhs, block=block, level=level,
                                  user=user, free=free, ustart=value, label=label,
                                  start=start, exo=exo, line=line))
        return self.rows[-1]

    def get(self, lhs: str, op: str, rhs: str, block: int) -> BuildRow | None:
        """The row of the element, or None when it is not in the table yet."""
        i = self.keys.get(self.key(lhs, op, rhs, block))
        return None if i is None else self.rows[i]
