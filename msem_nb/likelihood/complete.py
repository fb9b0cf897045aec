"""Normal log-likelihoods from sufficient statistics, with analytic gradients.

``loglik_single`` and ``loglik_twolevel`` take implied moments and return the
log-likelihood and its derivatives with respect to those moments (each
covariance derivative as an unconstrained symmetric matrix). A non-positive
definite matrix gives ``-inf`` and no gradient.

Two-level (ARCHITECTURE.md, "The two-level likelihood"): with ``A`` the pooled within SSCP and, per
distinct cluster size ``n``, the mean ``xbar`` and SSCP ``W`` of the
``count`` cluster vectors x_j = (cluster means of within variables,
between-only values),

    l = -1/2 [(N - J)(p_w log 2 pi + log|S_W|) + tr(S_W^-1 A)] - p_w/2 sum_j log n_j
        + sum_n -1/2 [count (p log 2 pi + log|O_n|) + tr(O_n^-1 (W + count d d'))]

with ``O_n = S_B + E S_W E' / n`` (E embeds the within variables) and
``d = xbar - mu``.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np

from msem_nb.data.complete import ClusterData, SingleData

__all__ = ["loglik_single", "loglik_twolevel", "LOG2PI", "SingleGradient", "TwoLevelGradient"]

LOG2PI: float = np.log(2.0 * np.pi)

#: derivatives of a one-level log-likelihood: (d/d mu, d/d Sigma); d/d mu is None
#: without a mean structure
SingleGradient: TypeAlias = tuple[np.ndarray | None, np.ndarray]
#: derivatives of a two-level log-likelihood: (d/d mu, d/d Sigma_W, d/d Sigma_B), each
#: summed over clusters, or with a leading cluster axis for per-cluster scores
TwoLevelGradient: TypeAlias = tuple[np.ndarray, np.ndarray, np.ndarray]


def _chol_inv_logdet(M: np.ndarray) -> tuple[np.ndarray, Any] | None:
    """Inverse and log-determinant of SPD matrices (stacked allowed), or None.

    The log-determinant is a float for one matrix and an array for a stack
    (hence ``Any``).
    """
    try:
        L = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return None
    logdet = 2.0 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)
    try:
        inv = np.linalg.inv(M)
    except np.linalg.LinAlgError:
        # Cholesky can succeed on a matrix that is singular to working precision
        return None
    if not np.all(np.isfinite(logdet)):
        return None
    return inv, logdet


def loglik_single(data: SingleData, mu: np.ndarray | None, sigma: np.ndarray,
                  gradient: bool = True) -> tuple[float, SingleGradient | None]:
    """Log-likelihood of a single-level sample.

    Parameters
    ----------
    mu : array or None
        Implied mean; None means the mean is saturated (no mean structure).

    Returns
    -------
    ll : float
    (g_mu, G_sigma) : derivatives, or None when not requested / not finite
    """
    res = _chol_inv_logdet(sigma)
    if res is None:
        return -np.inf, None
    inv, logdet = res
    n, p = data.nobs, len(data.mean)
    M = data.cov
    d = None
    if mu is not None:
        d = data.mean - mu
        M = M + np.outer(d, d)
    ll = -0.5 * n * (p * LOG2PI + logdet + np.sum(inv * M))
    if not gradient:
        return ll, None
    G = -0.5 * n * (inv - inv @ M @ inv)
    g_mu = n * inv @ d if d is not None else None
    return ll, (g_mu, G)


def loglik_twolevel(data: ClusterData, mu: np.ndarray, sigma_w: np.ndarray,
                    sigma_b: np.ndarray, gradient: bool = True
                    ) -> tuple[float, TwoLevelGradient | None]:
    """Log-likelihood of a two-level sample (random intercepts, complete data).

    Parameters
    ----------
    mu : (p,) array
        Means of (within variables, between-only variables).
    sigma_w : (p_w, p_w) array
        Within covariance.
    sigma_b : (p, p) array
        Between covariance of all variables (zero rows for within-only ones).

    Returns
    -------
    ll : float
    (g_mu, G_w, G_b) : derivatives, or None

    Raises
    ------
    ValueError
        For incomplete data (no statistics by cluster size).
    """
    pw = data.p_within
    p = len(mu)
    g = data.groups
    if g is None:
        raise ValueError("incomplete data (missing values) have no statistics by cluster "
                         "size; their likelihood is msem_nb.likelihood.missing."
                         "loglik_twolevel_missing")
    G = len(g.n)
    # One batched factorisation for Sigma_W (padded with an identity block,
    # which leaves its inverse and determinant unchanged) and every Omega_n:
    # small matrices cost per call, not per flop.
    stack = np.empty((G + 1, p, p))
    stack[0] = np.eye(p)
    stack[0, :pw, :pw] = sigma_w
    stack[1:] = sigma_b
    stack[1:, :pw, :pw] += sigma_w / g.n[:, None, None]
    res = _chol_inv_logdet(stack)
    if res is None:
        return -np.inf, None
    inv_all, logdet_all = res
    inv_w, logdet_w = inv_all[0, :pw, :pw], logdet_all[0]
    inv_o, logdet_o = inv_all[1:], logdet_all[1:]
    N, J = data.nobs, data.nclusters
    A = data.within_sscp
    ll = -0.5 * ((N - J) * (pw * LOG2PI + logdet_w) + np.sum(inv_w * A)) - 0.5 * pw * data.sum_log_n
    d = g.mean - mu
    cnt = g.count
    M = g.sscp + cnt[:, None, None] * (d[:, :, None] * d[:, None, :])
    ll -= 0.5 * (cnt @ logdet_o + p * LOG2PI * cnt.sum() + np.sum(inv_o * M))
    if not gradient:
        return ll, None
    # derivative w.r.t. each Omega_n, then collected into S_B and S_W
    G_o = 0.5 * (inv_o @ M @ inv_o - cnt[:, None, None] * inv_o)
    G_b = G_o.sum(axis=0)
    G_w = 0.5 * (inv_w @ A @ inv_w - (N - J) * inv_w)
    G_w += ((1.0 / g.n) @ G_o[:, :pw, :pw].reshape(len(g.n), -1)).reshape(pw, pw)
    g_mu = cnt @ (inv_o @ d[:, :, None])[:, :, 0]
    return ll, (g_mu, G_w, G_b)
