"""Cluster scores of the weighted two-level pseudo log-likelihood.

With sampling weights (:class:`msem_nb.data.weights.WeightedClusterData`)
the pseudo log-likelihood is ``sum_j v_j l_j``, ``l_j`` the two-level
likelihood of cluster j's weighted statistics (size ``n*_j``, mean
``ybar*_j``, within SSCP ``A*_j``). The sandwich's units are the clusters;
cluster j's score with respect to the data-level moments is ``v_j`` times
the derivative of ``l_j``, computed by the complete-data likelihood
(:func:`msem_nb.likelihood.complete.loglik_twolevel`) on the one cluster.
The scores sum to the gradient of the pseudo log-likelihood.
"""

from __future__ import annotations

import numpy as np

from msem_nb.data.complete import ClusterData, SizeGroups
from msem_nb.data.weights import WeightedClusterData
from msem_nb.likelihood.complete import TwoLevelGradient, loglik_twolevel

__all__ = ["weighted_cluster_scores"]


def weighted_cluster_scores(data: WeightedClusterData, mu: np.ndarray, sigma_w: np.ndarray,
                            sigma_b: np.ndarray) -> TwoLevelGradient:
    """Per-cluster derivatives ``v_j d l_j`` (g_mu, G_w, G_b), a leading cluster axis."""
    J = len(data.cluster_sizes)
    p, pw = len(data.names), data.p_within
    g_mu, G_w, G_b = np.zeros((J, p)), np.zeros((J, pw, pw)), np.zeros((J, p, p))
    for j in range(J):
        n = float(data.cluster_sizes[j])
        x = data.cluster_vectors[j:j + 1]
        one = ClusterData(data.within, data.between_only, data.both, n,  # type: ignore[arg-type]
                          1, data.cluster_sscp[j],
                          SizeGroups(np.array([n]), np.array([1.0]), x, np.zeros((1, p, p))),
                          float(np.log(n)), data.cluster_ids[j:j + 1], np.array([n]), x)
        _, g = loglik_twolevel(one, mu, sigma_w, sigma_b, gradient=True)
        if g is None:
            raise FloatingPointError("implied covariance matrices are not positive definite")
        v = data.cluster_weights[j]
        g_mu[j], G_w[j], G_b[j] = v * g[0], v * g[1], v * g[2]
    return g_mu, G_w, G_b
