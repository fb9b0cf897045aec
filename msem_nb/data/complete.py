"""Data preparation: validation and the sufficient statistics of the likelihood.

A two-level data set enters the likelihood only through

* the pooled within-cluster SSCP matrix ``A`` of the variables that have a
  within part, with ``N - J`` degrees of freedom, and
* for every distinct cluster size ``n``: the number of clusters of that size,
  the mean of their cluster vectors (cluster means of within variables and
  the values of between-only variables) and the SSCP of those vectors.

Both are computed once, in one pass over the rows, so that a likelihood
evaluation costs O(G p^3) for G distinct cluster sizes, whatever N is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from msem_nb.data.sizes import group_sscp, size_index
from msem_nb.errors import DataError

__all__ = ["SingleData", "ClusterData", "SizeGroups", "cluster_stats"]


@dataclass(frozen=True, eq=False)
class SingleData:
    """Sufficient statistics of a single-level sample (ML, divisor N)."""

    names: tuple[str, ...]
    nobs: int
    mean: np.ndarray
    cov: np.ndarray
    n_dropped: int = 0
    rows: np.ndarray | None = field(default=None, repr=False)

    #: True for the incomplete-data (FIML) containers of msem_nb.data.missing
    incomplete: ClassVar[bool] = False

    @property
    def nlevels(self) -> int:
        return 1

    @property
    def ntotal(self) -> int:
        return self.nobs

    def subset(self, names: Sequence[str]) -> SingleData:
        """Statistics of a subset of the variables (same rows)."""
        idx = [self.names.index(v) for v in names]
        return SingleData(tuple(names), self.nobs, self.mean[idx],
                          self.cov[np.ix_(idx, idx)], self.n_dropped)

    def affine(self, loc: np.ndarray, scale: np.ndarray) -> SingleData:
        """The statistics of ``(y - loc) / scale``, variable by variable."""
        return SingleData(self.names, self.nobs, (self.mean - loc) / scale,
                          self.cov / np.outer(scale, scale), self.n_dropped,
                          None if self.rows is None else (self.rows - loc) / scale)

    def value_counts(self) -> np.ndarray:
        """Number of observed values of each variable (the Jacobian of a change of units)."""
        return np.full(len(self.names), float(self.nobs))


@dataclass(frozen=True, eq=False)
class SizeGroups:
    """Cluster vectors grouped by cluster size.

    ``mean[g]`` and ``sscp[g]`` summarise the vectors ``x_j`` (cluster means
    of the within variables, then the between-only values) of the
    ``count[g]`` clusters of size ``n[g]``; ``sscp`` is taken about ``mean``.
    """

    n: np.ndarray
    count: np.ndarray
    mean: np.ndarray
    sscp: np.ndarray


@dataclass(frozen=True, eq=False)
class ClusterData:
    """Sufficient statistics of a two-level sample.

    Variables are ordered ``within + between_only``; ``within`` are the
    variables with a within part (within-only and both-level ones).
    ``groups`` is None only for incomplete data
    (:class:`msem_nb.data.missing.MissingClusterData`), which have no
    statistics by cluster size.
    """

    within: tuple[str, ...]
    between_only: tuple[str, ...]
    both: tuple[str, ...]
    nobs: int
    nclusters: int
    within_sscp: np.ndarray
    groups: SizeGroups | None
    sum_log_n: float
    cluster_ids: np.ndarray = field(repr=False)
    cluster_sizes: np.ndarray = field(repr=False)
    cluster_vectors: np.ndarray = field(repr=False)
    n_dropped: int = 0
    # Rows sorted by cluster (within variables only) and cluster offsets;
    # kept for per-cluster work (scores, random slopes) done later.
    rows: np.ndarray | None = field(default=None, repr=False)
    offsets: np.ndarray | None = field(default=None, repr=False)

    #: True for the incomplete-data (FIML) containers of msem_nb.data.missing
    incomplete: ClassVar[bool] = False

    @property
    def nlevels(self) -> int:
        return 2

    @property
    def ntotal(self) -> int:
        return self.nobs

    @property
    def names(self) -> tuple[str, ...]:
        return self.within + self.between_only

    @property
    def p_within(self) -> int:
        return len(self.within)

    def subset(self, within: Sequence[str], between_only: Sequence[str],
               both: Sequence[str] | None = None) -> ClusterData:
        """Statistics of a subset of variables, recomputed from the stored rows.

        The pooled SSCP and group statistics are sub-blocks of the full ones,
        so no pass over the rows is needed.
        """
        widx = [self.within.index(v) for v in within]
        names = self.names
        vidx = widx + [names.index(v) for v in between_only]
        both = tuple(v for v in (both if both is not None else self.both) if v in within)
        g = self.groups
        if g is None:  # pragma: no cover - MissingClusterData has its own subset
            raise ValueError("incomplete data have no statistics by cluster size")
        groups = SizeGroups(g.n, g.count, g.mean[:, vidx], g.sscp[:, vidx][:, :, vidx])
        rows = None if self.rows is None else self.rows[:, widx]
        return ClusterData(tuple(within), tuple(between_only), both, self.nobs,
                           self.nclusters, self.within_sscp[np.ix_(widx, widx)], groups,
                           self.sum_log_n, self.cluster_ids, self.cluster_sizes,
                           self.cluster_vectors[:, vidx], self.n_dropped, rows,
                           self.offsets)

    def affine(self, loc: np.ndarray, scale: np.ndarray) -> ClusterData:
        """The statistics of ``(y - loc) / scale``, variable by variable (``names`` order).

        Sums of squares about means only scale; means shift and scale.
        """
        pw = self.p_within
        g = self.groups
        if g is None:  # pragma: no cover - MissingClusterData has its own affine
            raise ValueError("incomplete data have no statistics by cluster size")
        groups = SizeGroups(g.n, g.count, (g.mean - loc) / scale,
                            g.sscp / np.outer(scale, scale))
        rows = None if self.rows is None else (self.rows - loc[:pw]) / scale[:pw]
        return dataclasses.replace(
            self, within_sscp=self.within_sscp / np.outer(scale[:pw], scale[:pw]),
            groups=groups, cluster_vectors=(self.cluster_vectors - loc) / scale, rows=rows)

    def value_counts(self) -> np.ndarray:
        """Number of observed values of each variable (the Jacobian of a change of units):
        every row for a variable with a within part, every cluster for a between-only one."""
        return np.array([float(self.nobs)] * self.p_within
                        + [float(self.nclusters)] * len(self.between_only))


def cluster_stats(values: np.ndarray, codes: np.ndarray, uniques: np.ndarray,
                  within: Sequence[str], between_only: Sequence[str], both: Sequence[str],
                  n_dropped: int) -> ClusterData:
    """Sufficient statistics of complete two-level data.

    Parameters
    ----------
    values : (N, p) array
        Within variables then between-only ones, no missing values.
    codes : (N,) int array
        Cluster index of each row into `uniques` (0 .. J - 1, every index used).
    uniques : (J,) array
        The cluster ids.
    within, between_only, both : sequence of str
        Variable roles, as :class:`ClusterData` holds them.
    n_dropped : int
        Rows dropped before (recorded, not used).

    Raises
    ------
    DataError
        A between-only variable that varies within a cluster or is the same in
        every cluster; a within variable with no within-cluster variation.
    """
    if np.any(codes[1:] < codes[:-1]):
        # rows sorted by cluster, column-major (fast reductions over rows)
        values = np.asfortranarray(values[np.argsort(codes, kind="stable")])
    sizes = np.bincount(codes, minlength=len(uniques))
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    p_w = len(within)
    ywithin = values[:, :p_w]
    zvals = values[:, p_w:]

    # Centre on the grand mean first so that the SSCP subtraction below does
    # not lose digits when variables have large means.
    centre = ywithin.mean(axis=0)
    yc = ywithin - centre
    sums = np.add.reduceat(yc, offsets, axis=0)
    means_c = sums / sizes[:, None]
    total = yc.T @ yc
    within_sscp = total - (means_c * sizes[:, None]).T @ means_c

    zfirst = zvals[offsets]
    if between_only:
        zmin = np.minimum.reduceat(zvals, offsets, axis=0)
        zmax = np.maximum.reduceat(zvals, offsets, axis=0)
        varies = zmax > zmin
        if varies.any():
            k = int(np.where(varies.any(axis=0))[0][0])
            bad = np.where(varies[:, k])[0]
            j = bad[0]
            raise DataError(
                f"variable '{between_only[k]}' is used only at the between level but varies "
                f"within {len(bad)} of {len(sizes)} clusters (e.g. cluster {_plain(uniques[j])!r} has "
                f"values {zmin[j, k]:g} to {zmax[j, k]:g}); use it at the within level too, or "
                "replace it by its cluster means")
        constant = np.ptp(zfirst, axis=0) == 0
        for k in np.where(constant)[0]:
            raise DataError(f"variable '{between_only[k]}' has the same value in every cluster; "
                            "leave it out of the model")

    wvar = np.diag(within_sscp)
    for k in np.where(wvar <= 1e-12 * np.maximum(np.diag(total), 1e-300))[0]:
        raise DataError(
            f"variable '{within[k]}' does not vary within clusters: it has no within part; "
            "use it only in the between block (level: between)")

    vectors = np.hstack([means_c + centre, zfirst])
    groups = _size_groups(sizes, vectors)
    return ClusterData(
        within=tuple(within), between_only=tuple(between_only), both=tuple(both),
        nobs=int(len(values)), nclusters=int(len(sizes)), within_sscp=within_sscp,
        groups=groups, sum_log_n=float(np.log(sizes).sum()), cluster_ids=uniques,
        cluster_sizes=sizes, cluster_vectors=vectors, n_dropped=n_dropped,
        rows=ywithin, offsets=offsets)


def _plain(x: object) -> object:
    """A numpy scalar as the plain Python value, for messages."""
    return x.item() if hasattr(x, "item") else x


def _size_groups(sizes: np.ndarray, vectors: np.ndarray) -> SizeGroups:
    # the distinct sizes, how many clusters have each, and each cluster's group
    ns, count, inv = size_index(sizes)
    G = len(ns)
    member = inv[:, None] == np.arange(G)          # (J, G) indicator
    gmean = (member.T @ vectors) / count[:, None]
    dev = vectors - gmean[inv]
    return SizeGroups(ns.astype(float), count.astype(float), gmean, group_sscp(dev, inv, count))