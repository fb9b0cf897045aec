"""Incomplete data (FIML): the containers, and the row rules of each missing-data mode.

Every observed value enters the likelihood; nothing is imputed. Rows are
grouped by their pattern of observed variables; the containers here hold
the per-pattern statistics (single level) and, for two levels, the
per-cluster layout that :mod:`msem_nb.likelihood.missing` evaluates.

Missing-data modes (lavaan's names): ``"fiml"`` and ``"ml.x"`` keep rows with
missing covariate values, whose values then enter the joint likelihood (the
covariates' moments stay fixed at their saturated FIML estimates, as lavaan's
``ml.x`` does); ``"ml"`` first drops rows with a missing value on an
exogenous covariate, as lavaan 0.6-14 does. Rows with no observed value on
any model variable carry no information and are dropped in every mode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from functools import cached_property
from typing import Any, ClassVar, TypedDict, overload

import numpy as np
import pandas as pd
from scipy import sparse

from msem_nb.data.complete import ClusterData, SingleData, cluster_stats
from msem_nb.errors import DataError, DataWarning
from msem_nb.messages import notify

__all__ = ["MissingSingleData", "MissingClusterData", "MISSING_MODES", "normalize_missing",
           "rows_to_keep", "missing_single_data", "missing_cluster_data", "as_missing"]

#: accepted values of ``missing`` and the mode each stands for
MISSING_MODES = {"listwise": "listwise", "fiml": "ml.x", "ml.x": "ml.x", "ml": "ml",
                 "direct": "ml"}


def normalize_missing(missing: object) -> str:
    """The mode (``"listwise"``, ``"ml"`` or ``"ml.x"``) a ``missing`` argument names."""
    key = str(missing).strip().lower()
    if key not in MISSING_MODES:
        raise DataError(
            f"missing='{missing}' is not known; use 'listwise', 'fiml' (all observed values, "
            "covariates included, like lavaan's 'ml.x') or 'ml' (drops rows with missing "
            "covariate values first, like lavaan's 'ml')")
    return MISSING_MODES[key]


def rows_to_keep(values: np.ndarray, missing: str,
                 exo_cols: Sequence[int] = ()) -> tuple[np.ndarray, int]:
    """Rows kept under a missing-data mode, and the number dropped.

    Listwise keeps complete rows; the FIML modes keep rows with at least one
    observed value, and ``"ml"`` also needs the exogenous columns observed.
    """
    mode = normalize_missing(missing)
    nan = np.isnan(values)
    if mode == "listwise":
        keep = ~nan.any(axis=1)
    else:
        keep = ~nan.all(axis=1)
        if mode == "ml" and len(exo_cols):
            keep &= ~nan[:, list(exo_cols)].any(axis=1)
    n_dropped = int((~keep).sum())
    if n_dropped:
        why = {"listwise": "have missing values on model variables",
               "ml": "have no observed model value or a missing exogenous covariate",
               "ml.x": "have no observed value on any model variable"}[mode]
        notify(f"{n_dropped} of {len(values)} rows {why} and were dropped "
                      f"(missing='{missing}')", DataWarning, stacklevel=5)
    return keep, n_dropped


# ----------------------------------------------------------------------------
# data containers
# ----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class MissingSingleData(SingleData):
    """A single-level sample with missing values.

    ``mean`` and ``cov`` hold available-case estimates (for start values);
    the likelihood uses the per-pattern statistics. ``rows`` keeps the
    values with NaN for missing ones. The fields below are keyword-only.
    """

    _: KW_ONLY
    masks: np.ndarray = field(repr=False)          # (K, p) observed
    pattern_count: np.ndarray = field(repr=False)  # (K,)
    pattern_mean: np.ndarray = field(repr=False)   # (K, p), 0 where missing
    pattern_sscp: np.ndarray = field(repr=False)   # (K, p, p) about the mean
    row_pattern: np.ndarray = field(repr=False)    # (N,)
    mode: str = "ml.x"
    # results of the layers above kept with the data (the FIML saturated model,
    # msem_nb.estimation.saturated), whose types this layer cannot name
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    incomplete: ClassVar[bool] = True

    @property
    def npatterns(self) -> int:
        return len(self.masks)

    def subset(self, names: Sequence[str]) -> SingleData:
        """The same rows on a subset of the variables (complete data if nothing is
        missing on them)."""
        if self.rows is None:  # pragma: no cover - every constructor keeps the rows
            raise ValueError("the data set keeps no rows")
        idx = [self.names.index(v) for v in names]
        return missing_single_data(self.rows[:, idx], tuple(names), self.n_dropped, self.mode)

    def affine(self, loc: np.ndarray, scale: np.ndarray) -> MissingSingleData:
        """The statistics of ``(y - loc) / scale``, variable by variable."""
        if self.rows is None:  # pragma: no cover - every constructor keeps the rows
            raise ValueError("the data set keeps no rows")
        return dataclasses.replace(
            self, mean=(self.mean - loc) / scale, cov=self.cov / np.outer(scale, scale),
            rows=(self.rows - loc) / scale,
            pattern_mean=np.where(self.masks, (self.pattern_mean - loc) / scale, 0.0),
            pattern_sscp=self.pattern_sscp / np.outer(scale, scale), _cache={})

    def value_counts(self) -> np.ndarray:
        """Number of observed values of each variable."""
        if self.rows is None:  # pragma: no cover - every constructor keeps the rows
            raise ValueError("the data set keeps no rows")
        return (~np.isnan(self.rows)).sum(axis=0).astype(float)


@dataclass(frozen=True, eq=False)
class MissingClusterData(ClusterData):
    """A two-level sample with missing values.

    The ClusterData fields ``within_sscp`` and the within part of
    ``cluster_vectors`` come from a crude imputation (cluster means, then
    grand means), used only for start values; ``rows`` (the within
    variables) and the between-only part of ``cluster_vectors`` keep NaN
    where missing. ``groups`` is
    None (when values are missing) so that the complete-data likelihood cannot
    be applied by mistake. ``rows``, ``values`` and ``offsets`` are sorted by
    cluster. The fields below are keyword-only.

    ``cluster_sum`` and ``sig_counts`` are scipy sparse matrices, typed ``Any``
    (scipy has no type stubs).
    """

    _: KW_ONLY
    values: np.ndarray = field(repr=False)         # (N, p) raw, NaN missing
    row_pattern: np.ndarray = field(repr=False)    # (N,)
    masks: np.ndarray = field(repr=False)          # (K, pw)
    pattern_count: np.ndarray = field(repr=False)  # (K,)
    row_cluster: np.ndarray = field(repr=False)    # (N,)
    # the likelihood's layout: rows sorted by pattern (contiguous blocks
    # pattern_start[k]:pattern_start[k+1]), so each block is one matrix product
    pattern_start: np.ndarray = field(repr=False)  # (K + 1,)
    yp_fill: np.ndarray = field(repr=False)        # (N, pw), 0 where missing
    yp_obs: np.ndarray = field(repr=False)         # (N, pw) float 0/1
    yp_cluster: np.ndarray = field(repr=False)     # (N,)
    cluster_sum: Any = field(repr=False)           # sparse (J, N): sums per cluster
    z_fill: np.ndarray = field(repr=False)         # (J, pz)
    z_obs: np.ndarray = field(repr=False)          # (J, pz)
    z_pattern: np.ndarray = field(repr=False)      # (J,)
    z_masks: np.ndarray = field(repr=False)        # (Kz, pz)
    both_idx: np.ndarray = field(repr=False)       # positions among within
    cluster_sig: np.ndarray = field(repr=False)    # (J,)
    sig_counts: Any = field(repr=False)            # sparse (S, K) rows per pattern
    sig_zpat: np.ndarray = field(repr=False)       # (S,)
    sig_nclusters: np.ndarray = field(repr=False)  # (S,)
    nvals: np.ndarray = field(repr=False)          # (J,) observed values
    mode: str = "ml.x"
    # results of the layers above kept with the data (the FIML saturated model,
    # msem_nb.estimation.saturated), whose types this layer cannot name
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    incomplete: ClassVar[bool] = True

    @property
    def npatterns(self) -> int:
        return len(self.masks)

    @cached_property
    def sig_weights_t(self) -> Any:
        """(K, S) sparse: rows of each pattern over all clusters of each signature."""
        return sparse.csr_matrix(self.sig_counts.multiply(self.sig_nclusters[:, None]).T)

    @property
    def nsignatures(self) -> int:
        return int(self.sig_counts.shape[0])

    def subset(self, within: Sequence[str], between_only: Sequence[str],
               both: Sequence[str] | None = None) -> ClusterData:
        """The same rows on a subset of the variables, rebuilt from the raw values
        (rows with nothing observed on them are left out)."""
        names = self.names
        idx = [names.index(v) for v in tuple(within) + tuple(between_only)]
        kept = tuple(v for v in (both if both is not None else self.both) if v in within)
        vals = self.values[:, idx]
        keep = ~np.isnan(vals).all(axis=1)
        return _cluster_from_values(vals[keep], self.row_cluster[keep], self.cluster_ids,
                                    tuple(within), tuple(between_only), kept, self.n_dropped,
                                    self.mode)

    def affine(self, loc: np.ndarray, scale: np.ndarray) -> ClusterData:
        """The same data as ``(y - loc) / scale``, variable by variable (``names`` order)."""
        return _cluster_from_values((self.values - loc) / scale, self.row_cluster,
                                    self.cluster_ids, self.within, self.between_only,
                                    self.both, self.n_dropped, self.mode)

    def value_counts(self) -> np.ndarray:
        """Number of observed values of each variable: rows for a variable with a within
        part, clusters for a between-only one."""
        pw = self.p_within
        return np.concatenate([(~np.isnan(self.values[:, :pw])).sum(axis=0),
                               self.z_obs.sum(axis=0)]).astype(float)


# ----------------------------------------------------------------------------
# building the containers
# ----------------------------------------------------------------------------

def _patterns(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a boolean matrix and the index of each row's pattern."""
    if obs.shape[1] == 0:
        return np.zeros((1, 0), bool), np.zeros(len(obs), int)
    masks, inv = np.unique(obs, axis=0, return_inverse=True)
    return masks.astype(bool), inv.reshape(-1)


def _check_observed(values: np.ndarray, names: Sequence[str]) -> None:
    nobs = (~np.isnan(values)).sum(axis=0)
    for k in np.where(nobs == 0)[0]:
        raise DataError(f"variable '{names[k]}' has no observed values")
    with np.errstate(all="ignore"):
        spread = np.nanmax(values, axis=0) - np.nanmin(values, axis=0)
    for k in np.where(spread == 0)[0]:
        raise DataError(
            f"variable '{names[k]}' is constant (every observed value is "
            f"{np.nanmax(values[:, k]):g}): it carries no information; leave it out of the model")


def _check_coverage(obs: np.ndarray, names: Sequence[str], unit: str,
                    pairs: Sequence[tuple[int, int]] | None = None) -> None:
    """DataError for the first pair of columns of `obs` never observed together.

    ``coverage[i, j]`` is the share of units (rows, or clusters) with both
    observed, as lavaan's ``lavInspect(fit, "coverage")``. At 0 the pair's
    covariance is not identified by the data, and neither is the saturated
    model the fit is compared with; lavaan warns and goes on (the estimate is
    then whatever the optimiser stops at), here it is an error before any
    optimisation. `pairs` restricts the check to those (i, j).
    """
    if obs.shape[1] < 2 or not len(obs):
        return
    o = obs.astype(float)
    both = o.T @ o
    if pairs is None:
        i, j = np.triu_indices(obs.shape[1], 1)
    elif not pairs:
        return
    else:
        i, j = np.array(pairs, dtype=int).T
    zero = np.flatnonzero(both[i, j] == 0)
    if not len(zero):
        return
    a, b = names[i[zero[0]]], names[j[zero[0]]]
    more = (f" ({len(zero) - 1} more pair{'s' if len(zero) > 2 else ''} of variables "
            "have coverage 0 too)") if len(zero) > 1 else ""
    raise DataError(
        f"variables '{a}' and '{b}' are never observed together: their coverage (the share "
        f"of {unit} with both observed, lavaan's lavInspect(fit, 'coverage')) is 0{more}. "
        "Their covariance cannot be estimated from these data, and neither can the "
        "saturated model the fit is compared with; leave one of them out of the model, or "
        "use data in which they are observed together")


def _pairwise_moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Available-case means and pairwise covariances, made positive definite (start values)."""
    df = pd.DataFrame(values)
    mean = np.nanmean(values, axis=0)
    cov = df.cov(min_periods=2).to_numpy()
    var = np.nanvar(values, axis=0)
    cov = np.where(np.isfinite(cov), cov, 0.0)
    cov[np.diag_indices_from(cov)] = var
    w, V = np.linalg.eigh(cov)
    w = np.maximum(w, 1e-3 * max(w.max(), 1e-12))
    return mean, (V * w) @ V.T


def missing_single_data(values: np.ndarray, names: Iterable[str], n_dropped: int,
                        mode: str) -> SingleData:
    """Pattern statistics of a single-level sample with missing values.

    Returns a plain SingleData when no value is missing.
    """
    names = tuple(names)
    mode = normalize_missing(mode)
    if len(values) == 0:
        raise DataError("no rows left after removing rows without observed values")
    if not np.isnan(values).any():
        n = len(values)
        mean = values.mean(axis=0)
        c = values - mean
        return SingleData(names, n, mean, c.T @ c / n, n_dropped, values)
    _check_observed(values, names)
    obs = ~np.isnan(values)
    _check_coverage(obs, names, "rows")
    masks, row_pat = _patterns(obs)
    K, p = masks.shape
    count = np.bincount(row_pat, minlength=K).astype(float)
    filled = np.where(obs, values, 0.0)
    pmean = np.zeros((K, p))
    np.add.at(pmean, row_pat, filled)
    pmean /= count[:, None]
    dev = (filled - pmean[row_pat]) * obs
    sscp = np.zeros((K, p, p))
    np.add.at(sscp, row_pat, dev[:, :, None] * dev[:, None, :])
    mean, cov = _pairwise_moments(values)
    return MissingSingleData(names, len(values), mean, cov, n_dropped, values, masks=masks,
                             pattern_count=count, pattern_mean=pmean, pattern_sscp=sscp,
                             row_pattern=row_pat, mode=mode)


def missing_cluster_data(values: np.ndarray, codes: np.ndarray, uniques: np.ndarray,
                         within: Iterable[str], between_only: Iterable[str],
                         both: Iterable[str], n_dropped: int, mode: str) -> ClusterData:
    """Per-cluster pattern structure of a two-level sample with missing values.

    Parameters
    ----------
    values : (N, p) array
        Within variables then between-only ones, NaN where missing.
    codes : (N,) int array
        Cluster index of each row into `uniques`.
    """
    order = np.argsort(codes, kind="stable")
    return _cluster_from_values(values[order], codes[order], uniques, tuple(within),
                                tuple(between_only), tuple(both), n_dropped,
                                normalize_missing(mode))


def _cluster_from_values(values: np.ndarray, codes: np.ndarray, uniques: np.ndarray,
                         within: tuple[str, ...], between_only: tuple[str, ...],
                         both: tuple[str, ...], n_dropped: int, mode: str) -> ClusterData:
    """Build from rows already sorted by cluster code (codes may have gaps)."""
    names = within + between_only
    if len(values) == 0:
        raise DataError("no rows left after removing rows without observed values")
    # renumber clusters 0..J-1 in order of appearance (rows are sorted)
    first = np.r_[True, codes[1:] != codes[:-1]]
    cl = np.cumsum(first) - 1
    uniques = np.asarray(uniques)[codes[first]]
    J = int(cl[-1]) + 1
    offsets = np.where(first)[0]
    sizes = np.diff(np.r_[offsets, len(values)])
    pw = len(within)
    if not np.isnan(values).any():
        return cluster_stats(values, cl, uniques, within, between_only, both, n_dropped)
    _check_observed(values, names)
    y = values[:, :pw]
    z = values[:, pw:]
    pz = z.shape[1]

    # between-only values: one per cluster, constant among the observed ones
    zobs_rows = ~np.isnan(z)
    with np.errstate(all="ignore"):
        zmin = np.fmin.reduceat(np.where(zobs_rows, z, np.inf), offsets, axis=0) if pz else \
            np.zeros((J, 0))
        zmax = np.fmax.reduceat(np.where(zobs_rows, z, -np.inf), offsets, axis=0) if pz else \
            np.zeros((J, 0))
    zc = np.where(np.isfinite(zmin), zmin, np.nan)
    varies = np.isfinite(zmin) & (zmax > zmin)
    if varies.any():
        k = int(np.where(varies.any(axis=0))[0][0])
        bad = np.where(varies[:, k])[0]
        j = bad[0]
        raise DataError(
            f"variable '{between_only[k]}' is used only at the between level but varies "
            f"within {len(bad)} of {J} clusters (e.g. cluster {uniques[j]!r} has values "
            f"{zmin[j, k]:g} to {zmax[j, k]:g}); use it at the within level too, or replace "
            "it by its cluster means")
    zo = ~np.isnan(zc)
    # coverage: within pairs by row; between pairs (between-only variables and
    # the between parts of both-level ones) by cluster
    _check_coverage(~np.isnan(y), within, "rows")
    bidx = [k for k, v in enumerate(within) if v in both]
    yseen = np.add.reduceat((~np.isnan(y)).astype(int), offsets, axis=0)[:, bidx] > 0 \
        if bidx else np.zeros((J, 0), bool)
    nb = len(bidx)
    _check_coverage(np.hstack([yseen, zo]), [within[k] for k in bidx] + list(between_only),
                    "clusters", [(a, b) for b in range(nb, nb + pz) for a in range(b)])
    for k in range(pz):
        if zo[:, k].sum() and np.ptp(zc[zo[:, k], k]) == 0:
            raise DataError(f"variable '{between_only[k]}' has the same value in every "
                            "cluster; leave it out of the model")

    yo = ~np.isnan(y)
    masks, row_pat = _patterns(yo)
    K = len(masks)
    zmasks, zpat = _patterns(zo)
    # cluster signature: rows per pattern and the z pattern
    counts = np.zeros((J, K), dtype=np.int64)
    np.add.at(counts, (cl, row_pat), 1)
    sig_rows, cluster_sig = np.unique(np.column_stack([counts, zpat]), axis=0,
                                      return_inverse=True)
    cluster_sig = cluster_sig.reshape(-1)
    nvals = np.add.reduceat(yo.sum(axis=1), offsets) + zo.sum(axis=1)

    # crude imputation for the start-value statistics of ClusterData
    ysum = np.add.reduceat(np.where(yo, y, 0.0), offsets, axis=0)
    ycnt = np.add.reduceat(yo.astype(float), offsets, axis=0)
    gmean = np.nanmean(y, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cmean = np.where(ycnt > 0, ysum / np.maximum(ycnt, 1), gmean)
    yimp = np.where(yo, y, cmean[cl])
    dev = yimp - cmean[cl]
    within_sscp = dev.T @ dev
    # the imputation leaves missing entries at the cluster mean; scale the SSCP
    # up so the start within variances are not shrunk by the missing share
    frac = np.maximum(yo.mean(axis=0), 0.05)
    scale = 1.0 / np.sqrt(frac)
    within_sscp = within_sscp * np.outer(scale, scale)
    for k in np.where(np.diag(within_sscp) <= 1e-12 * np.maximum(np.nanvar(y, axis=0), 1e-300)
                      * len(y))[0]:
        raise DataError(
            f"variable '{within[k]}' does not vary within clusters: it has no within part; "
            "use it only in the between block (level: between)")
    # between-only values stay NaN where missing (moment_starts copes)
    vectors = np.hstack([cmean, zc])
    both_idx = np.array([within.index(v) for v in within if v in both], dtype=int)

    return MissingClusterData(
        within=within, between_only=between_only, both=both, nobs=int(len(values)),
        nclusters=J, within_sscp=within_sscp, groups=None,
        sum_log_n=float(np.log(sizes).sum()), cluster_ids=uniques, cluster_sizes=sizes,
        cluster_vectors=vectors, n_dropped=n_dropped, rows=y, offsets=offsets,
        values=values, row_pattern=row_pat, masks=masks,
        pattern_count=np.bincount(row_pat, minlength=K), row_cluster=cl,
        **_pattern_layout(np.where(yo, y, 0.0), yo, row_pat, cl, K, J),
        z_fill=np.where(zo, zc, 0.0), z_obs=zo.astype(float), z_pattern=zpat,
        z_masks=zmasks, both_idx=both_idx, cluster_sig=cluster_sig,
        sig_counts=sparse.csr_matrix(sig_rows[:, :K].astype(float)),
        sig_zpat=sig_rows[:, K].astype(int),
        sig_nclusters=np.bincount(cluster_sig).astype(float), nvals=nvals.astype(float),
        mode=mode)


class _PatternLayout(TypedDict):
    """The fields of MissingClusterData that lay the rows out by pattern."""

    pattern_start: np.ndarray
    yp_fill: np.ndarray
    yp_obs: np.ndarray
    yp_cluster: np.ndarray
    cluster_sum: Any  # scipy sparse (no stubs)


def _pattern_layout(y_fill: np.ndarray, y_obs: np.ndarray, row_pat: np.ndarray,
                    cl: np.ndarray, K: int, J: int) -> _PatternLayout:
    """Rows re-ordered by pattern, and the sparse matrix that sums them per cluster."""
    order = np.argsort(row_pat, kind="stable")
    start = np.r_[0, np.cumsum(np.bincount(row_pat, minlength=K))]
    pcl = cl[order]
    N = len(order)
    csum = sparse.csr_matrix((np.ones(N), (pcl, np.arange(N))), shape=(J, N))
    return _PatternLayout(pattern_start=start, yp_fill=np.ascontiguousarray(y_fill[order]),
                          yp_obs=np.asarray(y_obs[order], dtype=float), yp_cluster=pcl,
                          cluster_sum=csum)


@overload
def as_missing(data: SingleData) -> MissingSingleData: ...


@overload
def as_missing(data: ClusterData) -> MissingClusterData: ...


def as_missing(data: SingleData | ClusterData) -> MissingSingleData | MissingClusterData:
    """A complete data set in the missing-data layout (one pattern), for per-unit work.

    Incomplete data are returned as they are.

    Raises
    ------
    ValueError
        When the data set keeps no rows (per-unit work needs them).
    """
    if isinstance(data, (MissingSingleData, MissingClusterData)):
        return data
    if isinstance(data, SingleData):
        vals = data.rows
        if vals is None:
            raise ValueError("the data set keeps no rows; per-case scores need them")
        p = vals.shape[1]
        dev = vals - data.mean
        return MissingSingleData(
            data.names, data.nobs, data.mean, data.cov, data.n_dropped, vals,
            masks=np.ones((1, p), bool), pattern_count=np.array([float(data.nobs)]),
            pattern_mean=data.mean[None].copy(), pattern_sscp=(dev.T @ dev)[None],
            row_pattern=np.zeros(len(vals), int), mode="listwise")
    if data.rows is None:
        raise ValueError("the data set keeps no rows; per-cluster scores need them")
    pw = data.p_within
    sizes = data.cluster_sizes
    J = data.nclusters
    N = data.nobs
    pz = len(data.between_only)
    cl = np.repeat(np.arange(J), sizes)
    z = data.cluster_vectors[:, pw:]
    sig_sizes, cluster_sig = np.unique(sizes, return_inverse=True)
    return MissingClusterData(
        within=data.within, between_only=data.between_only, both=data.both, nobs=N,
        nclusters=J, within_sscp=data.within_sscp, groups=data.groups,
        sum_log_n=data.sum_log_n, cluster_ids=data.cluster_ids, cluster_sizes=sizes,
        cluster_vectors=data.cluster_vectors, n_dropped=data.n_dropped, rows=data.rows,
        offsets=data.offsets, values=np.hstack([data.rows, z[cl]]),
        row_pattern=np.zeros(N, int), masks=np.ones((1, pw), bool),
        pattern_count=np.array([N]), row_cluster=cl,
        **_pattern_layout(data.rows, np.ones((N, pw)), np.zeros(N, int), cl, 1, J),
        z_fill=z, z_obs=np.ones((J, pz)),
        z_pattern=np.zeros(J, int), z_masks=np.ones((1, pz), bool),
        both_idx=np.array([data.within.index(v) for v in data.within if v in data.both],
                          dtype=int),
        cluster_sig=cluster_sig.reshape(-1),
        sig_counts=sparse.csr_matrix(sig_sizes[:, None].astype(float)),
        sig_zpat=np.zeros(len(sig_sizes), int),
        sig_nclusters=np.bincount(cluster_sig.reshape(-1)).astype(float),
        nvals=(sizes * pw + pz).astype(float), mode="listwise")