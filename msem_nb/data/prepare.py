"""Validation of a DataFrame and the choice of container for it.

``prepare_data`` checks the model's columns (present, numeric, finite, not
constant; between-only variables constant within clusters), applies the
missing-data row rules of :mod:`msem_nb.data.missing`, and returns the
complete-data statistics of :mod:`msem_nb.data.complete` or, when values are
missing under a FIML mode, the incomplete-data containers.
"""

from __future__ import annotations



import numpy as np
import pandas as pd
from msem_nb.errors import DataError
from msem_nb.data.complete import SingleData, cluster_stats
from msem_nb.data.missing import missing_cluster_data, missing_single_data, rows_to_keep


def _numeric_block(df: pd.DataFrame, names) -> np.ndarray:
    """The model columns as a float matrix, with a clear error for bad columns."""
    missing = [v for v in names if v not in df.columns]
    if missing:
        cols = ", ".join(map(str, df.columns))
        which = ", ".join(f"'{v}'" for v in missing)
        raise DataError(
            f"variable{'s' if len(missing) > 1 else ''} {which} not found in the data; "
            f"the columns are: {cols}")
    out = np.empty((len(df), len(names)), dtype=float)
    for k, v in enumerate(names):
        col = df[v]
        if pd.api.types.is_bool_dtype(col):
            col = col.astype(float)
        if not pd.api.types.is_numeric_dtype(col):
            bad = pd.to_numeric(col, errors="coerce").isna() & col.notna()
            example = col[bad].iloc[0] if bad.any() else col.dropna().iloc[0]
            raise DataError(
                f"column '{v}' is not numeric (dtype {col.dtype}, e.g. value {example!r}); "
                f"convert it with pandas.to_numeric or leave it out of the model")
        out[:, k] = col.to_numpy(dtype=float, na_value=np.nan)
    inf = np.isinf(out)
    if inf.any():
        k = int(np.where(inf.any(axis=0))[0][0])
        rows = np.where(inf[:, k])[0][:5]
        raise DataError(
            f"column '{names[k]}' has infinite values (rows {', '.join(map(str, rows))}); "
            f"replace them with NaN to treat them as missing, or with finite numbers")
    return out


def _drop_missing(values: np.ndarray, missing: str, exo_cols=()) -> tuple[np.ndarray, int]:
    # the rules per missing-data mode live with the FIML code
    return rows_to_keep(values, missing, exo_cols)


def _check_constant(values: np.ndarray, names) -> None:
    if len(values) == 0:
        raise DataError("no rows left after removing rows with missing values")
    spread = np.ptp(values, axis=0)
    for k in np.where(spread == 0)[0]:
        raise DataError(
            f"variable '{names[k]}' is constant (every value is {values[0, k]:g}): "
            "it carries no information; leave it out of the model")


def prepare_data(df: pd.DataFrame, names, cluster=None, between_only=(), both=(),
                 missing: str = "listwise", exogenous=()):
    """Validate a DataFrame and compute the sufficient statistics.

    Parameters
    ----------
    df : pandas.DataFrame
        The data, one row per level-1 unit.
    names : sequence of str
        The observed variables of the model. For a two-level model the ones
        with a within part; between-only variables go in `between_only`.
    cluster : str, optional
        Column with cluster ids; None for a single-level sample.
    between_only : sequence of str
        Variables used only at the between level; they must be constant
        within each cluster.
    both : sequence of str
        The variables of `names` that also have a between part.
    missing : {"listwise", "fiml", "ml", "ml.x"}
        How rows with missing values are handled: dropped, or kept for
        full information ML (see :mod:`msem_nb.data.missing`); then the result is a
        ``MissingSingleData`` / ``MissingClusterData`` when values are missing.
    exogenous : sequence of str
        Fixed covariates; ``missing="ml"`` drops rows where one is missing.

    Returns
    -------
    SingleData or ClusterData
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}")
    names = tuple(names)
    between_only = tuple(between_only)
    allnames = names + between_only
    values = _numeric_block(df, allnames)

    exo_cols = [allnames.index(v) for v in exogenous if v in allnames]
    if cluster is None:
        keep, n_dropped = _drop_missing(values, missing, exo_cols)
        values = values[keep]
        if np.isnan(values).any():
            return missing_single_data(values, allnames, n_dropped, missing)
        _check_constant(values, allnames)
        n = len(values)
        mean = values.mean(axis=0)
        centred = values - mean
        cov = centred.T @ centred / n
        return SingleData(allnames, n, mean, cov, n_dropped, values)

    if cluster not in df.columns:
        cols = ", ".join(map(str, df.columns))
        raise DataError(f"cluster column '{cluster}' not found in the data; the columns are: {cols}")
    if cluster in allnames:
        raise DataError(f"the cluster column '{cluster}' is also used as a model variable")
    ids = df[cluster]
    if ids.isna().any():
        rows = np.where(ids.isna().to_numpy())[0]
        raise DataError(
            f"cluster column '{cluster}' has {len(rows)} missing ids "
            f"(rows {', '.join(map(str, rows[:5]))}{', ...' if len(rows) > 5 else ''}): every row "
            "needs a cluster; drop those rows or give them ids")
    keep, n_dropped = _drop_missing(values, missing, exo_cols)
    values = values[keep]
    codes, uniques = pd.factorize(ids.to_numpy()[keep], sort=False)
    if np.isnan(values).any():
        return missing_cluster_data(values, codes, np.asarray(uniques), names, between_only,
                                    tuple(both), n_dropped, missing)
    _check_constant(values, allnames)
    return cluster_stats(values, codes, np.asarray(uniques), names, between_only, tuple(both),
                          n_dropped)
