"""Validation of a DataFrame and the choice of container for it.

``prepare_data`` checks the model's columns (present, not duplicated,
numeric, finite, not constant; between-only variables constant within
clusters), applies the missing-data row rules of :mod:`msem_nb.data.missing`,
checks that enough rows (and clusters) are left, and returns the
complete-data statistics of :mod:`msem_nb.data.complete` or, when values are
missing under a FIML mode, the incomplete-data containers.

The least data a model can be fitted to (fewer make the sample covariance
matrices singular, so the likelihood has no maximum):

* one level: N >= p + 1 rows for the p model variables;
* two levels: J >= 2 clusters, N - J >= p_w (the pooled within-cluster SSCP
  of the p_w variables with a within part has N - J degrees of freedom) and
  J >= p_z + 1 for the p_z between-only variables.

These are necessary, not sufficient: estimates from data this small are not
to be trusted.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence

import numpy as np
import pandas as pd

from msem_nb.data.complete import ClusterData, SingleData, cluster_stats
from msem_nb.data.missing import missing_cluster_data, missing_single_data, rows_to_keep
from msem_nb.errors import DataError, DataWarning
from msem_nb.messages import notify
from msem_nb.syntax.tokens import is_plain_name, quote_name

__all__ = ["prepare_data", "check_duplicate_columns", "check_cluster_ids"]


def check_duplicate_columns(df: pd.DataFrame, used: Iterable[Hashable]) -> None:
    """DataError when a column the caller needs (`used`) has a duplicated name.

    Duplicated names that are not used are left alone.
    """
    if df.columns.is_unique:    # cached by pandas: the usual case costs nothing
        return
    dup = pd.Index(df.columns[df.columns.duplicated()]).unique()
    used = set(used)
    hit = [c for c in dup if c in used]
    if hit:
        which = ", ".join(f"'{c}' ({int((df.columns == c).sum())} times)" for c in hit)
        raise DataError(
            f"the data have more than one column named {which}, so it is not clear which one "
            "the model means; give them distinct names (data.columns = [...] or "
            "data.rename(columns=...)), or keep the first with "
            "data.loc[:, ~data.columns.duplicated()]")


def _id_key(value: object) -> tuple[str, object]:
    """What a cluster id looks like as text: 1, 1.0, "1" and " 1 " share a key."""
    if isinstance(value, (bool, np.bool_)):
        return ("other", repr(value))
    if isinstance(value, (int, float, np.number)):
        return ("number", float(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            return ("number", float(text))
        except ValueError:
            return ("text", text)
    return ("other", repr(value))


def check_cluster_ids(ids: pd.Series, cluster: Hashable) -> None:
    """Warn when two different ids of an object column look like the same cluster.

    A column that mixes ``1`` and ``"1"`` (e.g. after concatenating two data
    sets read differently) holds two different values; they stay two
    clusters, as the data say, and a DataWarning names a pair and the fix.
    """
    if ids.dtype != object:
        return
    seen: dict[tuple[str, object], object] = {}
    pairs: list[tuple[object, object]] = []
    for value in pd.unique(ids.to_numpy()):
        key = _id_key(value)
        if key in seen:
            pairs.append((seen[key], value))
        else:
            seen[key] = value
    if not pairs:
        return
    a, b = pairs[0]
    numeric = all(k[0] == "number" for k in seen)
    fix = (f"pandas.to_numeric(data['{cluster}'])" if numeric
           else f"data['{cluster}'].astype(str).str.strip()")
    notify(
        f"cluster column '{cluster}' has ids that look alike but differ in type or spacing: "
        f"{a!r} ({type(a).__name__}) and {b!r} ({type(b).__name__})"
        + (f", and {len(pairs) - 1} more such pair{'s' if len(pairs) > 2 else ''}"
           if len(pairs) > 1 else "")
        + "; they are treated as different clusters. If they are the same cluster, give the "
        f"column one type first: data['{cluster}'] = {fix}", DataWarning, stacklevel=5)


def _backtick_hint(name: str, columns: Iterable[Hashable]) -> str:
    """A hint when a model name looks like a column name ("math" for "math score",
    "math.score" or "Math"), with the backtick form where one is needed."""
    found = []
    for c in columns:
        if not isinstance(c, str):
            continue
        words = [w for w in re.split(r"[^\w]+", c) if w]
        if len(words) > 1 and (name in words or "_".join(words) == name) \
                or c.strip() == name or c.lower() == str(name).lower():
            found.append(c)
    if not found:
        return ""
    shown = ", ".join(quote_name(c) for c in found[:3])
    quoted = [c for c in found if not is_plain_name(c)]
    how = (f" A column whose name has spaces or other characters is written in backticks "
           f"in the model, e.g. {quote_name(quoted[0])} ~ x") if quoted else ""
    case = " (names are case-sensitive)" if any(
        c.lower() == str(name).lower() for c in found) else ""
    return f". Did you mean {shown}?{case}{how}"


def _numeric_block(df: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """The model columns as a float matrix, with a clear error for bad columns."""
    missing = [v for v in names if v not in df.columns]
    if missing:
        cols = ", ".join(map(str, df.columns))
        which = ", ".join(f"'{v}'" for v in missing)
        hint = next((h for h in (_backtick_hint(v, df.columns) for v in missing) if h), "")
        raise DataError(
            f"variable{'s' if len(missing) > 1 else ''} {which} not found in the data; "
            f"the columns are: {cols}{hint}")
    # column-major: filled by column, and the per-column checks and statistics
    # reduce along rows, which numpy does an order of magnitude faster this way
    out = np.empty((len(df), len(names)), dtype=float, order="F")
    for k, v in enumerate(names):
        col = df[v]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiu":
            # numpy floats and integers (no pandas NA): the values as they are
            out[:, k] = col.to_numpy()
            continue
        if pd.api.types.is_bool_dtype(col):
            col = col.astype(float)
        if not pd.api.types.is_numeric_dtype(col):
            if not col.notna().any():
                raise DataError(f"column '{v}' has no values (every entry is missing)")
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


def _drop_missing(values: np.ndarray, missing: str,
                  exo_cols: Sequence[int] = ()) -> tuple[np.ndarray, int]:
    # the rules per missing-data mode live with the FIML code
    return rows_to_keep(values, missing, exo_cols)


def _kept(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The rows kept, column-major like the block they come from."""
    return values if keep.all() else np.asfortranarray(values[keep])


def _check_size_single(n: int, names: Sequence[str], n_dropped: int) -> None:
    p = len(names)
    if n >= p + 1:
        return
    dropped = f" ({n_dropped} were dropped for missing values)" if n_dropped else ""
    raise DataError(
        f"{n} row{'s' if n != 1 else ''}{dropped} for {p} model variable"
        f"{'s' if p != 1 else ''}: a model needs more rows than variables (at least {p + 1} "
        "here) for their covariance matrix to be estimated, and many more for estimates to "
        "be trusted")


def _check_size_clusters(n: int, nclusters: int, within: Sequence[str],
                         between_only: Sequence[str], cluster: Hashable,
                         n_dropped: int) -> None:
    dropped = f" ({n_dropped} rows were dropped for missing values)" if n_dropped else ""
    if nclusters < 2:
        raise DataError(
            f"cluster column '{cluster}' has {nclusters} cluster{dropped}: a two-level model "
            "needs at least 2 clusters (and many more for between-level estimates to be "
            "trusted)")
    pw, pz = len(within), len(between_only)
    if n - nclusters < pw:
        raise DataError(
            f"{n} rows in {nclusters} clusters{dropped} leave {n - nclusters} within-cluster "
            f"degrees of freedom (rows minus clusters) for {pw} variable"
            f"{'s' if pw != 1 else ''} with a within part: a two-level model needs at least "
            f"{nclusters + pw} rows here, i.e. clusters with more than one row")
    if nclusters < pz + 1:
        raise DataError(
            f"{nclusters} clusters{dropped} for {pz} between-only variables: a two-level "
            f"model needs more clusters than between-level variables (at least {pz + 1} here)")


#: Variables whose deviations from their mean are outside [1e-70, 1e70] are refused:
#: the estimates' variances are fourth powers of a variable's scale, which double
#: precision holds only up to about 1e±300 (a variance of 1e-400 is 0).
_SPREAD_RANGE = (1e-70, 1e70)


def _check_magnitude(values: np.ndarray, names: Sequence[str], stacklevel: int = 5) -> None:
    """DataError for a column whose values vary on a scale double precision cannot
    square and square again (e.g. a column multiplied by 1e-200 by mistake); a
    DataWarning (at `stacklevel`) for one whose variation is lost in its magnitude."""
    if not len(values):
        return
    mean = values.mean(axis=0)
    if np.isnan(mean).any():
        # missing values (FIML); columns without any are reported elsewhere
        seen = ~np.isnan(values)
        filled = np.where(seen, values, 0.0)
        mean = filled.sum(axis=0) / np.maximum(seen.sum(axis=0), 1)
        dev = np.where(seen, np.abs(filled - mean), 0.0).max(axis=0)
    else:
        dev = np.abs(values - mean).max(axis=0)
    lo, hi = _SPREAD_RANGE
    # double precision holds about 16 digits: a column near 1e12 that varies by
    # 1 keeps only 4 of them for its variation, which the data already lost
    lost = np.flatnonzero((dev > 0) & (np.abs(mean) > 1e10 * dev))
    if len(lost):
        k = int(lost[0])
        digits = max(0, int(16 - np.log10(abs(mean[k]) / dev[k])))
        notify(
            f"variable '{names[k]}' has values near {mean[k]:.3g} that vary by only about "
            f"{dev[k]:.3g}: double precision keeps about {digits} significant digits of that "
            "variation, so estimates involving it are accurate to about as many digits (the "
            "data carry no more). If the source has more digits, subtract a round number near "
            "the mean while reading it, before the values become floating-point numbers",
            DataWarning, stacklevel=stacklevel)
    for k in np.where((dev > 0) & ((dev < lo) | (dev > hi)))[0]:
        power = int(np.round(np.log10(dev[k])))
        raise DataError(
            f"variable '{names[k]}' varies on a scale of about 1e{power} (its largest deviation "
            f"from its mean is {dev[k]:.3g}): variances of estimates in these units would be "
            f"beyond double precision (1e{4 * power}). Rescale it first, e.g. "
            f"data['{names[k]}'] * 1e{-power}")


def _check_constant(values: np.ndarray, names: Sequence[str]) -> None:
    if len(values) == 0:
        raise DataError("no rows left after removing rows with missing values")
    spread = np.ptp(values, axis=0)
    for k in np.where(spread == 0)[0]:
        raise DataError(
            f"variable '{names[k]}' is constant (every value is {values[0, k]:g}): "
            "it carries no information; leave it out of the model")


def prepare_data(df: pd.DataFrame, names: Iterable[str], cluster: Hashable | None = None,
                 between_only: Iterable[str] = (), both: Iterable[str] = (),
                 missing: str = "listwise",
                 exogenous: Iterable[str] = ()) -> SingleData | ClusterData:
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

    Raises
    ------
    DataError
        Missing, duplicated, non-numeric, infinite or constant columns,
        missing cluster ids, too few rows or clusters (see the module
        docstring), pairs of variables never observed together (FIML).
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}")
    names = tuple(names)
    between_only = tuple(between_only)
    allnames = names + between_only
    if len(df) == 0:
        raise DataError("the data have no rows")
    check_duplicate_columns(df, allnames + ((cluster,) if cluster is not None else ()))
    values = _numeric_block(df, allnames)

    exo_cols = [allnames.index(v) for v in exogenous if v in allnames]
    if cluster is None:
        keep, n_dropped = _drop_missing(values, missing, exo_cols)
        values = _kept(values, keep)
        _check_size_single(len(values), allnames, n_dropped)
        _check_magnitude(values, allnames)
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
    # numpy integer ids cannot be missing; other columns are asked
    if not (isinstance(ids.dtype, np.dtype) and ids.dtype.kind in "iu") and ids.isna().any():
        rows = np.where(ids.isna().to_numpy())[0]
        raise DataError(
            f"cluster column '{cluster}' has {len(rows)} missing ids "
            f"(rows {', '.join(map(str, rows[:5]))}{', ...' if len(rows) > 5 else ''}): every row "
            "needs a cluster; drop those rows or give them ids")
    check_cluster_ids(ids, cluster)
    keep, n_dropped = _drop_missing(values, missing, exo_cols)
    values = _kept(values, keep)
    codes, uniques = pd.factorize(ids.to_numpy()[keep], sort=False)
    _check_size_clusters(len(values), len(uniques), names, between_only, cluster, n_dropped)
    _check_magnitude(values, allnames)
    if np.isnan(values).any():
        return missing_cluster_data(values, codes, np.asarray(uniques), names, between_only,
                                    tuple(both), n_dropped, missing)
    _check_constant(values, allnames)
    return cluster_stats(values, codes, np.asarray(uniques), names, between_only, tuple(both),
                          n_dropped)


#: :func:`_numeric_block` under a public name, for the three-level preparation
#: (:mod:`msem_nb.data.threelevel`), which checks the model's columns the same way.
numeric_block = _numeric_block
#: :func:`_check_magnitude` under a public name, for the same reason.
check_magnitude = _check_magnitude
