"""Rows of the parameter table: the final records and the accumulator the rules fill.

:mod:`msem_nb.model.partable` adds a row per user statement, then per default
rule, to a :class:`RowAccumulator`; an element already given is skipped, so
the user's rows win over defaults. The rows are then numbered into
:class:`ParRow` records, one per row of ``ParTable.table``.

A fit reads the records and columns as arrays (:func:`records_column`); the
DataFrame ``ParTable.table`` is built from the records only when something
asks for it (:class:`LazyFrame`, :func:`records_frame`): building it costs
about a tenth of a small model's fit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Callable, TypedDict

import numpy as np
import pandas as pd

from msem_nb.messages import notify

__all__ = ["ParRow", "BuildRow", "RowKey", "RowAccumulator", "COLUMNS", "records_frame",
           "records_column", "LazyFrame", "TableColumns"]


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


#: the columns of ``ParTable.table``, in order: the keys of :class:`ParRow`
COLUMNS = ("id", "lhs", "op", "rhs", "block", "group", "level", "user", "free", "label",
           "ustart", "start", "exo", "plabel", "line", "slope", "loading")

# the dtypes pandas gives these columns from the records' values (the others: object)
_DTYPES: dict[str, type] = {"id": np.int64, "block": np.int64, "group": np.int64,
                            "free": np.int64, "line": np.int64, "ustart": np.float64,
                            "start": np.float64, "user": np.bool_, "exo": np.bool_,
                            "loading": np.bool_}


def records_frame(records: Sequence[ParRow]) -> pd.DataFrame:
    """The parameter table's DataFrame: one row per record, the columns :data:`COLUMNS`."""
    by_name: Sequence[Mapping[str, object]] = records
    return pd.DataFrame({c: [r[c] for r in by_name] for c in COLUMNS})


def records_column(records: Sequence[ParRow], name: str) -> np.ndarray:
    """One column of the records as the array ``records_frame(records)[name].to_numpy()``
    holds (same values and dtype), without building the DataFrame."""
    by_name: Sequence[Mapping[str, object]] = records
    return np.array([r[name] for r in by_name], dtype=_DTYPES.get(name, object))


class LazyFrame:
    """The ``table`` field of :class:`~msem_nb.model.partable.ParTable`: the DataFrame
    given to the constructor, or, when None was given
    (``ParTable.from_records``), the one :func:`records_frame` builds from the
    table's ``records`` on first access. The instance keeps it in ``_frame``."""

    def __get__(self, obj: Any, owner: type | None = None) -> pd.DataFrame:
        if obj is None:
            # no class-level value: the dataclass field stays a required argument
            raise AttributeError("table")
        frame: pd.DataFrame | None = obj.__dict__.get("_frame")
        if frame is None:
            frame = obj.__dict__["_frame"] = records_frame(obj.records)
        return frame

    def __set__(self, obj: Any, value: pd.DataFrame | None) -> None:
        obj.__dict__["_frame"] = value


class TableColumns(Mapping[str, np.ndarray]):
    """The table's columns as arrays by name (``table[name]`` for functions that take
    a parameter table's columns: a DataFrame or this). ``len`` is the number of
    columns, as for a dict; the number of rows is the length of a column."""

    def __init__(self, column: Callable[[str], np.ndarray]) -> None:
        self._column = column

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in COLUMNS:
            raise KeyError(name)
        return self._column(name)

    def __iter__(self) -> Iterator[str]:
        return iter(COLUMNS)

    def __len__(self) -> int:
        return len(COLUMNS)
