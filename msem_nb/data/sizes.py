"""Clusters grouped by size: the step both the two- and the three-level statistics take.

Clusters of one size ``n`` share the covariance of their cluster vectors
(``Sigma_B + Sigma_W / n`` at two levels, ``Sigma_2 + Sigma_W / n`` at three),
so the likelihoods work per distinct size. :func:`size_index` numbers the
distinct sizes (ascending) and tells each cluster its group;
:func:`group_sscp` sums the outer products of deviations within each group.

Invariants: ``ns[inv] == sizes``, ``count == bincount(inv)`` and
``group_sscp(dev, inv, count)[g] == sum over clusters j of group g of
dev_j dev_j'`` (up to the order of the floating-point sums).
"""

from __future__ import annotations

import numpy as np

__all__ = ["size_index", "group_sscp"]


def size_index(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct cluster sizes, how many clusters have each, and each cluster's group.

    Parameters
    ----------
    sizes : (J,) array of int
        Rows (or classes) per cluster, each at least 1.

    Returns
    -------
    ns : (G,) array of int
        The distinct sizes, ascending.
    count : (G,) array of int
        Clusters of each size.
    inv : (J,) array of int
        The group of each cluster (``ns[inv] == sizes``).
    """
    per_size = np.bincount(sizes)
    ns = np.flatnonzero(per_size)
    count = per_size[ns]
    group = np.zeros(len(per_size), dtype=int)
    group[ns] = np.arange(len(ns))
    return ns, count, group[sizes]


def group_sscp(dev: np.ndarray, inv: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per group, the sum of the outer products of the deviations of its clusters.

    Parameters
    ----------
    dev : (J, p) array
        Each cluster's deviation (from its group's mean, or any centre).
    inv, count : as :func:`size_index` gives them
        The group of each cluster and the clusters per group.

    Returns
    -------
    (G, p, p) array
    """
    G, p = len(count), dev.shape[1]
    sscp = np.zeros((G, p, p))
    if G == 1:
        sscp[0] = dev.T @ dev
    elif G * len(inv) * p <= 1_000_000:
        # one batched product: (G, p, J) @ (J, p)
        member = inv[:, None] == np.arange(G)          # (J, G) indicator
        sscp = (member.T[:, None, :] * dev.T[None]) @ dev
    else:
        order = np.argsort(inv, kind="stable")
        starts = np.concatenate(([0], np.cumsum(count)[:-1]))
        outer = dev[order, :, None] * dev[order, None, :]
        sscp = np.add.reduceat(outer, starts, axis=0)
    return sscp
