"""Sampling weights: single level as lavaan's ``sampling.weights``, two levels as Mplus.

With weights ``w_i`` normalised to sum to the number of rows N (lavaan's
``sampling.weights.normalization = "total"``), the pseudo log-likelihood is

    l_w(theta) = sum_i w_i log f(y_i; mu, Sigma)
               = -N/2 [p log 2pi + log|Sigma| + tr(Sigma^-1 (S_w + (m_w - mu)(m_w - mu)'))]

with the weighted mean ``m_w = sum w_i y_i / N`` and covariance
``S_w = sum w_i (y_i - m_w)(y_i - m_w)' / N``: the ordinary normal
likelihood of the weighted sufficient statistics, so every single-level
estimator, saturated model and fit measure applies to
:class:`WeightedSingleData` unchanged. Standard errors are the sandwich of
pseudo-ML: the bread is the observed information of ``l_w``, the meat the
sum of the outer products of the weighted row scores ``w_i d log f_i``
(:mod:`msem_nb.estimation.sandwich`; the scaled test likewise,
:mod:`msem_nb.inference.robust`). All weights equal give the unweighted fit.

Two levels (:class:`WeightedClusterData`): within weights ``w_ij`` scaled as
Mplus's WTSCALE (Asparouhov 2006) -- "cluster" (sum to the cluster size),
"ecluster" (sum to the effective size ``(sum w)^2 / sum w^2``) or "none" --
and between weights ``v_j`` scaled to sum to the number of clusters; the
pseudo log-likelihood is ``sum_j v_j l_j`` with ``l_j`` the cluster's
likelihood of its weighted statistics, and the sandwich's units are the
clusters with scores ``v_j d l_j``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msem_nb.data.complete import ClusterData, SingleData, SizeGroups
from msem_nb.data.prepare import prepare_data
from msem_nb.errors import DataError

__all__ = ["WeightedSingleData", "weighted_single_data", "row_weights", "WeightedClusterData",
           "weighted_cluster_stats", "WEIGHT_SCALINGS"]


@dataclass(frozen=True, eq=False)
class WeightedSingleData(SingleData):
    """Single-level data with sampling weights: weighted mean and covariance (divisor N),
    the rows, and each row's weight (summing to ``nobs``)."""

    weights: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    weight_column: Hashable = None

    def affine(self, loc: np.ndarray, scale: np.ndarray) -> WeightedSingleData:
        """The weighted statistics of ``(y - loc) / scale`` (same rows' weights)."""
        plain = SingleData.affine(self, loc, scale)
        return WeightedSingleData(plain.names, plain.nobs, plain.mean, plain.cov,
                                  plain.n_dropped, plain.rows, self.weights, self.weight_column)

    def subset(self, names: Sequence[str]) -> WeightedSingleData:
        """Statistics of a subset of the variables (same rows and weights)."""
        idx = [self.names.index(v) for v in names]
        rows = None if self.rows is None else self.rows[:, idx]
        return WeightedSingleData(tuple(names), self.nobs, self.mean[idx],
                                  self.cov[np.ix_(idx, idx)], self.n_dropped, rows,
                                  self.weights, self.weight_column)


def row_weights(data: object) -> np.ndarray | None:
    """The rows' sampling weights of prepared data, or None for unweighted data."""
    w = getattr(data, "weights", None)
    return w if isinstance(w, np.ndarray) and len(w) else None


def weighted_single_data(df: pd.DataFrame, names: Sequence[str], weights: Hashable,
                         exogenous: Sequence[str] = ()) -> WeightedSingleData:
    """Validate the data and the weight column and compute the weighted statistics.

    Rows with a missing model value are dropped (listwise), as without weights.

    Raises
    ------
    DataError
        A weight column that is missing, not numeric, missing or negative in a
        used row, or zero in every row; and what :func:`prepare_data` refuses.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}")
    if weights not in df.columns:
        cols = ", ".join(map(str, df.columns))
        raise DataError(f"weight column '{weights}' not found in the data; the columns are: "
                        f"{cols}")
    if weights in names:
        raise DataError(f"the weight column '{weights}' is also a model variable")
    w = pd.to_numeric(df[weights], errors="coerce")
    bad = w.isna() & df[weights].notna()
    if bad.any():
        raise DataError(f"weight column '{weights}' is not numeric (e.g. value "
                        f"{df[weights][bad].iloc[0]!r}); convert it with pandas.to_numeric")
    used = [v for v in names if v in df.columns]
    complete = df[used].notna().all(axis=1).to_numpy()
    n_dropped = int((~complete).sum())
    wk = w.to_numpy(dtype=float)[complete]
    if np.isnan(wk).any():
        raise DataError(f"weight column '{weights}' has missing values in rows that are used; "
                        "give every row a weight, or drop those rows")
    if (wk < 0).any() or not np.isfinite(wk).all():
        raise DataError(f"weight column '{weights}' has negative or infinite values; sampling "
                        "weights are positive numbers")
    if wk.sum() <= 0:
        raise DataError(f"weight column '{weights}' is zero in every row")
    plain = prepare_data(df.loc[complete], names, None, missing="listwise",
                         exogenous=exogenous)
    assert isinstance(plain, SingleData) and plain.rows is not None
    n = plain.nobs
    wn = wk * n / wk.sum()          # lavaan's normalisation: the weights sum to N
    rows = plain.rows
    mean = wn @ rows / n
    dev = rows - mean
    cov = (dev * wn[:, None]).T @ dev / n
    return WeightedSingleData(plain.names, n, mean, cov, n_dropped + plain.n_dropped, rows,
                              wn, weights)


#: Mplus's scalings of the within (level-1) weights (Asparouhov 2006)
WEIGHT_SCALINGS = ("cluster", "ecluster", "none")


@dataclass(frozen=True, eq=False)
class WeightedClusterData(ClusterData):
    """Two-level data with within and between sampling weights (pseudo-ML).

    Cluster j has scaled within weights ``w_ij`` summing to ``n*_j`` and a
    between weight ``v_j`` (scaled to sum to the number of clusters J). Its
    pseudo log-likelihood is ``v_j`` times the two-level likelihood of a
    cluster of "size" ``n*_j`` with the weighted cluster mean
    ``ybar*_j = sum_i w_ij y_ij / n*_j`` and within SSCP
    ``A*_j = sum_i w_ij (y_ij - ybar*_j)(y_ij - ybar*_j)'`` (integrating the
    random effects out of ``prod_i f(y_ij | u_j)^w_ij`` gives exactly the
    formula of ARCHITECTURE.md with n_j replaced by n*_j). So the fields of
    :class:`ClusterData` hold the weighted statistics: ``nobs`` is
    ``N* = sum_j v_j n*_j``, ``nclusters`` is ``J* = sum_j v_j``,
    ``within_sscp`` is ``sum_j v_j A*_j``, ``sum_log_n`` is
    ``sum_j v_j log n*_j``, ``cluster_sizes`` are the ``n*_j``,
    ``cluster_vectors`` the weighted cluster vectors and ``groups`` their
    statistics per distinct ``n*`` with the counts ``sum v_j``; every
    complete-data two-level likelihood and information matrix then gives the
    weighted ones. ``nrows`` and ``nunits`` are the real numbers of rows and
    clusters; ``cluster_sscp`` the ``A*_j``; ``cluster_weights`` the ``v_j``.
    """

    nrows: int = 0
    nunits: int = 0
    cluster_sscp: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)), repr=False)
    cluster_weights: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    scaling: str = "cluster"

    def affine(self, loc: np.ndarray, scale: np.ndarray) -> WeightedClusterData:
        """The weighted statistics of ``(y - loc) / scale``: the clusters' own SSCPs
        ``A*_j`` scale with the within SSCP; weights and sizes are unchanged."""
        moved = ClusterData.affine(self, loc, scale)
        d = scale[:self.p_within]
        return dataclasses.replace(self, within_sscp=moved.within_sscp, groups=moved.groups,
                                   cluster_vectors=moved.cluster_vectors, rows=moved.rows,
                                   cluster_sscp=self.cluster_sscp / np.outer(d, d))

    def subset(self, within: Sequence[str], between_only: Sequence[str],
               both: Sequence[str] | None = None) -> WeightedClusterData:
        """The weighted statistics of a subset of the variables."""
        plain = ClusterData.subset(self, within, between_only, both)
        widx = [self.within.index(v) for v in within]
        return WeightedClusterData(
            plain.within, plain.between_only, plain.both, plain.nobs, plain.nclusters,
            plain.within_sscp, plain.groups, plain.sum_log_n, plain.cluster_ids,
            plain.cluster_sizes, plain.cluster_vectors, plain.n_dropped, plain.rows,
            plain.offsets, self.nrows, self.nunits,
            self.cluster_sscp[:, widx][:, :, widx], self.cluster_weights, self.scaling)


def _scaled_within(w: np.ndarray, offsets: np.ndarray, sizes: np.ndarray,
                   scaling: str) -> np.ndarray:
    """Mplus's scaling of the within weights, cluster by cluster."""
    s1 = np.add.reduceat(w, offsets)
    s2 = np.add.reduceat(w * w, offsets)
    if scaling == "cluster":        # the weights of a cluster sum to its size
        factor = sizes / s1
    elif scaling == "ecluster":     # ... to its effective size (sum w)^2 / sum w^2
        factor = s1 / s2
    else:
        factor = np.ones(len(sizes))
    return w * np.repeat(factor, sizes)


def weighted_cluster_stats(plain: ClusterData, w_rows: np.ndarray, v: np.ndarray,
                           scaling: str) -> WeightedClusterData:
    """The weighted statistics of prepared two-level data.

    Parameters
    ----------
    plain : ClusterData
        The data prepared without weights (rows sorted by cluster).
    w_rows : (N,) array
        Within weights in the order of ``plain.rows``.
    v : (J,) array
        Between weights in the order of ``plain.cluster_ids``.
    scaling : {"cluster", "ecluster", "none"}
    """
    if scaling not in WEIGHT_SCALINGS:
        raise DataError(f"weight_scaling must be one of {', '.join(WEIGHT_SCALINGS)}, "
                        f"not {scaling!r}")
    assert plain.rows is not None and plain.offsets is not None
    sizes = np.asarray(plain.cluster_sizes)
    offsets = np.asarray(plain.offsets)
    w = _scaled_within(np.asarray(w_rows, float), offsets, sizes, scaling)
    v = np.asarray(v, float) * len(v) / np.sum(v)       # between weights sum to J
    y = plain.rows
    n_star = np.add.reduceat(w, offsets)
    centre = np.average(y, axis=0, weights=w)
    yc = y - centre
    means = np.add.reduceat(yc * w[:, None], offsets, axis=0) / n_star[:, None]
    dev = yc - np.repeat(means, sizes, axis=0)
    pw = y.shape[1]
    sscp = np.zeros((len(sizes), pw, pw))
    for j, (a, n) in enumerate(zip(offsets, sizes)):
        d = dev[a:a + n]
        sscp[j] = (d * w[a:a + n, None]).T @ d
    vectors = plain.cluster_vectors.copy()
    vectors[:, :pw] = means + centre
    groups = _weighted_groups(n_star, v, vectors)
    return WeightedClusterData(
        plain.within, plain.between_only, plain.both, float(v @ n_star),  # type: ignore[arg-type]
        float(v.sum()), np.einsum("j,jab->ab", v, sscp), groups,  # type: ignore[arg-type]
        float(v @ np.log(n_star)), plain.cluster_ids, n_star, vectors, plain.n_dropped,
        plain.rows, plain.offsets, plain.nobs, plain.nclusters, sscp, v, scaling)


def _weighted_groups(n_star: np.ndarray, v: np.ndarray, vectors: np.ndarray) -> SizeGroups:
    ns, inv = np.unique(n_star, return_inverse=True)
    G, p = len(ns), vectors.shape[1]
    count = np.zeros(G)
    np.add.at(count, inv, v)
    total = np.zeros((G, p))
    np.add.at(total, inv, vectors * v[:, None])
    mean = total / count[:, None]
    dev = vectors - mean[inv]
    sscp = np.zeros((G, p, p))
    np.add.at(sscp, inv, v[:, None, None] * dev[:, :, None] * dev[:, None, :])
    return SizeGroups(ns, count, mean, sscp)
