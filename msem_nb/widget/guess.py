"""What the panel guesses about a DataFrame (its cluster column, its variables) and checks."""

from __future__ import annotations

import pandas as pd

from msem_nb.errors import DataError

__all__ = ["detect_cluster", "default_variables", "check_cluster"]

_ID_HINTS = ("cluster", "class", "school", "group", "team", "firm", "person", "subject",
             "country", "site", "clinic", "unit", "id")


def detect_cluster(data: pd.DataFrame):
    """Guess the cluster column from its name and values.

    A candidate's name says cluster, class, school, group, team, id, ...;
    its values are whole numbers or strings that repeat (between 10 and N/2
    distinct values: fewer clusters cannot carry a between-level model, and
    a column of unique values is a row id). Without such a column the guess
    is None (a single-level model) and the user picks one on the Data
    screen: columns like age in months repeat too, so values alone are no
    evidence.

    Returns
    -------
    str or None
        The candidate with the most clusters.
    """
    n = len(data)
    best = None
    for col in data.columns:
        s = data[col].dropna()
        if not len(s):
            continue
        if pd.api.types.is_float_dtype(s) and not (s == s.round()).all():
            continue
        if pd.api.types.is_bool_dtype(s):
            continue
        j = s.nunique()
        if j < 10 or j > n / 2:
            continue
        if not any(h in str(col).lower() for h in _ID_HINTS):
            continue
        if best is None or j > best[0]:
            best = (j, col)
    return None if best is None else best[1]


def default_variables(data: pd.DataFrame, cluster) -> list[str]:
    """Numeric columns other than the cluster column and row ids."""
    out = []
    n = len(data)
    for col in data.select_dtypes("number").columns:
        if col == cluster or pd.api.types.is_bool_dtype(data[col]):
            continue
        s = data[col].dropna()
        if n > 20 and s.nunique() == n and (s == s.round()).all():
            continue    # a running id, not a variable
        out.append(col)
    return out


def check_cluster(data: pd.DataFrame, cluster) -> None:
    """Refuse a column that cannot be a cluster column, with a message that says why.

    Raises
    ------
    DataError
        When the column is not in the data, has no value, has one value in
        every row (one cluster), or a value of its own in most rows (a row id
        or a continuous variable: most clusters would have one member).
    """
    if cluster is None:
        return
    if cluster not in data.columns:
        raise DataError(f"'{cluster}' is not a column of the data")
    s = data[cluster].dropna()
    if not len(s):
        raise DataError(f"'{cluster}' has no values: it cannot say which cluster a row is in")
    j = s.nunique()
    if j < 2:
        raise DataError(f"'{cluster}' has the same value in every row: that is one cluster, "
                        "and a two-level model needs many")
    singletons = float((s.value_counts() == 1).mean())
    if singletons > 0.5:
        kind = ("a continuous variable" if pd.api.types.is_float_dtype(s)
                and not (s == s.round()).all() else "a row id")
        what = ("a different value in every row" if j == len(s)
                else f"a value of its own in most rows ({j:,} values in {len(s):,} rows)")
        raise DataError(f"'{cluster}' has {what}, so most clusters would have one member: it "
                        f"looks like {kind}, not a cluster column. A cluster column repeats an "
                        "id for the rows of each cluster (class, school, team).")
