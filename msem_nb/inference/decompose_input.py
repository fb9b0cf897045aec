"""The columns a variance decomposition works on: which ones, as numbers, and how they vary.

:func:`resolve_variables` picks the variables (every numeric column by
default; numbers stored as text converted, other columns left out with a
note) and :func:`classify` tells constant, cluster-level and (numerically)
almost cluster-level variables apart. Shared by the two-level
(:mod:`msem_nb.inference.decompose`) and three-level
(:mod:`msem_nb.inference.decompose_threelevel`) decompositions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from msem_nb.data.prepare import check_duplicate_columns
from msem_nb.errors import DataError, DataWarning
from msem_nb.messages import notify

__all__ = ["resolve_variables", "classify", "NEAR_CONSTANT"]

#: Within sum of squares below this share of the total: rounding noise on a
#: cluster-level variable (prepare_data rejects such variables as within ones).
NEAR_CONSTANT = 1e-10
_NEAR_CONSTANT = NEAR_CONSTANT


def _text_as_numbers(col: pd.Series):
    """A text column as numbers: (converted, None) when every entry that is not
    missing is a number written as text, else (None, an entry that is not)."""
    values = pd.to_numeric(col, errors="coerce")
    bad = values.isna() & col.notna()
    if bad.any() or not col.notna().any():
        return None, (col[bad].iloc[0] if bad.any() else None)
    return values, None


def _quoted(names) -> str:
    return ", ".join(f"'{v}'" for v in names)


def resolve_variables(data, cluster, variables) -> tuple[tuple, dict, list]:
    """The variables to decompose, text columns converted to numbers, and notes.

    `cluster` is one column or, for three levels, a tuple of columns (none of
    them is a variable).

    Returns
    -------
    names : tuple
    converted : dict
        Column -> its values as numbers, for columns holding numbers as text.
    notes : list of str
        One per group of columns converted or left out, saying why; those
        that point at a problem in the data are also issued as DataWarnings.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    cols = ", ".join(map(str, data.columns))
    clusters = cluster if isinstance(cluster, tuple) else (cluster,)
    for c in clusters:
        if c not in data.columns:
            raise DataError(f"cluster column '{c}' not found in the data; "
                            f"the columns are: {cols}")
    check_duplicate_columns(data, list(clusters))
    converted: dict = {}
    notes: list = []
    warn: list = []
    if variables is None:
        counts = data.columns.value_counts()
        names, dups, partial, text = [], [], [], []
        for c in dict.fromkeys(data.columns):
            if c in clusters:
                continue
            if counts[c] > 1:
                dups.append(c)
            elif pd.api.types.is_numeric_dtype(data[c]):
                names.append(c)
            else:
                values, example = _text_as_numbers(data[c])
                if values is not None:
                    converted[c] = values
                    names.append(c)
                elif example is not None and pd.to_numeric(data[c], errors="coerce").notna().any():
                    partial.append((c, example))
                else:
                    text.append(c)
        if dups:
            one = len(dups) == 1
            warn.append(f"{'column' if one else 'columns'} {_quoted(dups)} "
                        f"{'was' if one else 'were'} left out: more than one column has "
                        f"{'that name' if one else 'each of these names'}; give them distinct "
                        "names (data.columns = [...]) to decompose them")
        for c, example in partial:
            warn.append(f"column '{c}' was left out: it holds numbers and text that is not a "
                        f"number (e.g. {example!r}); pandas.to_numeric(data['{c}'], "
                        "errors='coerce') makes such entries missing")
        if text:
            notes.append(f"left out as not numeric: {_quoted(text)}")
        names = tuple(names)
        if not names:
            raise DataError(f"the data have no numeric columns besides {_quoted(clusters)}; "
                            f"the columns are: {cols}")
    else:
        names = (variables,) if isinstance(variables, str) else tuple(variables)
        unknown = [v for v in names if v not in data.columns]
        if unknown:
            which = ", ".join(f"'{v}'" for v in unknown)
            raise DataError(f"variable{'s' if len(unknown) > 1 else ''} {which} not found in "
                            f"the data; the columns are: {cols}")
        for c in clusters:
            if c in names:
                raise DataError(f"the cluster column '{c}' is also listed as a variable")
        if len(set(names)) < len(names):
            raise DataError("a variable is listed more than once")
        check_duplicate_columns(data, names)
        for v in names:
            if pd.api.types.is_numeric_dtype(data[v]):
                continue
            values, example = _text_as_numbers(data[v])
            if values is None:
                shown = f", e.g. {example!r}" if example is not None else ""
                raise DataError(f"column '{v}' is not numeric (dtype {data[v].dtype}{shown}); "
                                "convert it with pandas.to_numeric or leave it out")
            converted[v] = values
        if not names:
            raise DataError("no variables given")
    if converted:
        warn.insert(0, f"column{'s' if len(converted) > 1 else ''} {_quoted(converted)} "
                       f"{'hold' if len(converted) > 1 else 'holds'} numbers stored as text: "
                       "converted with pandas.to_numeric")
    for w in warn:
        notify(w, DataWarning, stacklevel=3)
    return names, converted, warn + notes


def classify(frame: pd.DataFrame, ids: np.ndarray):
    """Per variable: constant overall, (numerically) constant within clusters.

    Welford-type group variances (pandas) are exactly 0 for a column that
    is constant within a cluster, so ``exact`` needs no tolerance.

    Returns
    -------
    constant, exact, near : bool arrays
    share : within sum of squares over total sum of squares
    nclusters : int
    """
    groups = frame.groupby(ids, sort=False)
    gv = groups.var(ddof=0).to_numpy()
    sizes = groups.size().to_numpy()
    values = frame.to_numpy()
    wss = (gv * sizes[:, None]).sum(axis=0)
    ptp = values.max(axis=0) - values.min(axis=0)
    constant = ptp == 0
    exact = (gv == 0).all(axis=0) & ~constant
    # The total sum of squares is at most N ptp^2 / 4, so only variables
    # passing this cheap bound can be near-constant; their total is exact.
    near = ~exact & ~constant & (wss <= _NEAR_CONSTANT * len(values) * ptp ** 2 / 4)
    share = np.full(len(ptp), np.nan)
    for k in np.flatnonzero(near):
        share[k] = wss[k] / np.sum((values[:, k] - values[:, k].mean()) ** 2)
    near &= share <= _NEAR_CONSTANT
    return constant, exact, near, share, len(sizes)
