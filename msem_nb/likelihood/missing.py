"""FIML log-likelihoods of incomplete data, one or two levels, with analytic gradients.

Single level: rows are grouped by their pattern of observed variables; a
pattern contributes the normal log-density of its observed sub-vector,
computed from the pattern's mean and SSCP, so an evaluation costs one
Cholesky factorisation per pattern.

Two levels (random intercepts; ARCHITECTURE.md, "The two-level likelihood"): the observed values of
a cluster are jointly normal. With ``E`` selecting the variables that have
both a within and a between part, row ``i`` of cluster ``j`` is

    y_ij = mu_y + E u_j + e_ij,  e_ij ~ N(0, Sigma_W),  u_j ~ N(0, Sigma_B,yy),

observed on the subset ``O_i``; between-only variables ``z_j`` are the rest
of the between vector and are observed on their own subset. The density
factors as p(z_j) p(y_j | z_j). Given z_j the between effect has covariance
``S~ = Sigma_B,yy - Sigma_B,yz Sigma_B,zz^-1 Sigma_B,zy`` and the rows' mean
shifts by ``E C (z_j - mu_z)``, ``C = Sigma_B,yz Sigma_B,zz^-1``. The
covariance of the stacked observed rows, ``D_j + U S~ U'`` with ``D_j``
block diagonal over rows, is handled by the Woodbury identity and the matrix
determinant lemma:

    log|V_j| = sum_i log|W_i| + log|I + S~ A_j|,   A_j = sum_i E' W_i^+ E
    r' V_j^-1 r = sum_i r_i' W_i^+ r_i - p_j' K_j p_j,  p_j = sum_i E' W_i^+ r_i

with ``W_i^+`` the inverse of ``Sigma_W[O_i, O_i]`` padded with zeros and
``K_j = (I + S~ A_j)^-1 S~`` (no inverse of a possibly singular ``S~``).
A cluster costs one q x q solve (q = number of both-level variables) plus
O(n_j p^2); ``A_j`` depends only on the multiset of the cluster's row
patterns and its z pattern, so the solves are done once per distinct
signature and shared by the clusters that have it.

The gradients with respect to (mu, Sigma_W, Sigma_B) follow from
dl = 1/2 tr[(V^-1 r r' V^-1 - V^-1) dV] + r' V^-1 dm, evaluated through the
same Woodbury pieces; they are returned summed (for the optimiser) or per
cluster / per row (for robust standard errors).
"""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.data.missing import MissingClusterData, MissingSingleData, as_missing
from msem_nb.likelihood.complete import LOG2PI, TwoLevelGradient

__all__ = ["loglik_single_missing", "loglik_twolevel_missing", "casewise_single",
           "clusterwise_twolevel"]


# ----------------------------------------------------------------------------
# likelihoods
# ----------------------------------------------------------------------------

def _pattern_inverses(S: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Zero-padded inverses and log-determinants of ``S[o, o]`` for each mask.

    Missing rows and columns are replaced by the identity, so one batched
    Cholesky handles patterns of every size. None when a block is not
    positive definite.
    """
    K, p = masks.shape
    both = masks[:, :, None] & masks[:, None, :]
    T = np.where(both, S[None], 0.0)
    diag = np.arange(p)
    T[:, diag, diag] += ~masks
    try:
        L = np.linalg.cholesky(T)
    except np.linalg.LinAlgError:
        return None
    logdet = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    if not np.all(np.isfinite(logdet)):
        return None
    try:
        inv = np.linalg.inv(T)
    except np.linalg.LinAlgError:
        return None
    inv *= both
    return inv, logdet


def loglik_single_missing(data: MissingSingleData, mu: np.ndarray | None, sigma: np.ndarray,
                          gradient: bool = True
                          ) -> tuple[float, tuple[np.ndarray, np.ndarray] | None]:
    """FIML log-likelihood of a single-level sample, same convention as ``loglik_single``."""
    if mu is None:
        raise ValueError("FIML needs a mean structure")
    res = _pattern_inverses(sigma, data.masks)
    if res is None:
        return -np.inf, None
    P, logdet = res
    n = data.pattern_count
    d = (data.pattern_mean - mu) * data.masks
    M = data.pattern_sscp + n[:, None, None] * (d[:, :, None] * d[:, None, :])
    nv = data.masks.sum(axis=1)
    ll = -0.5 * (n @ (nv * LOG2PI + logdet) + np.sum(P * M))
    if not gradient:
        return ll, None
    PMP = P @ M @ P
    G = 0.5 * (PMP.sum(axis=0) - np.tensordot(n, P, axes=1))
    g_mu = np.einsum("k,kab,kb->a", n, P, d)
    return ll, (g_mu, G)


def casewise_single(data: SingleData, mu: np.ndarray | None,
                    sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Per-row log-likelihoods and derivatives (single level).

    Parameters
    ----------
    data : SingleData or MissingSingleData
    mu : array or None
        None means the mean is saturated at the sample mean (no mean
        structure); then no mean derivative is returned.

    Returns
    -------
    ll : (N,) array
    g_mu : (N, p) array or None
    G : (N, p, p) array
    """
    md: MissingSingleData = as_missing(data)
    rows = md.rows
    if rows is None:  # pragma: no cover - as_missing refuses data without rows
        raise ValueError("the data set keeps no rows; per-case scores need them")
    mean_free = mu is not None
    if mu is None:
        mu = data.mean
    res = _pattern_inverses(sigma, md.masks)
    if res is None:
        raise FloatingPointError("implied covariance matrix is not positive definite")
    P, logdet = res
    obs = md.masks[md.row_pattern]
    d = np.where(obs, rows - mu, 0.0)
    Pr = P[md.row_pattern]
    g = np.einsum("nab,nb->na", Pr, d)
    ll = -0.5 * (obs.sum(axis=1) * LOG2PI + logdet[md.row_pattern] + (d * g).sum(axis=1))
    G = 0.5 * (g[:, :, None] * g[:, None, :] - Pr)
    return ll, (g if mean_free else None), G


@overload
def _twolevel_parts(data: MissingClusterData, mu: np.ndarray, sigma_w: np.ndarray,
                    sigma_b: np.ndarray, level: Literal[0, 1]
                    ) -> tuple[float, TwoLevelGradient | None] | None: ...


@overload
def _twolevel_parts(data: MissingClusterData, mu: np.ndarray, sigma_w: np.ndarray,
                    sigma_b: np.ndarray, level: Literal[2]
                    ) -> tuple[np.ndarray, TwoLevelGradient] | None: ...


def _twolevel_parts(data: MissingClusterData, mu: np.ndarray, sigma_w: np.ndarray,
                    sigma_b: np.ndarray, level: Literal[0, 1, 2]
                    ) -> tuple[float | np.ndarray, TwoLevelGradient | None] | None:
    """Shared work of the two-level FIML likelihood.

    level 0: log-likelihood only; 1: summed gradient; 2: per-cluster values.
    Returns None when an implied matrix is not positive definite.
    """
    pw = data.p_within
    p = len(mu)
    pz = p - pw
    b = data.both_idx
    q = len(b)
    J = data.nclusters

    resw = _pattern_inverses(sigma_w, data.masks)
    if resw is None:
        return None
    P, ldW = resw
    Syy = sigma_b[np.ix_(b, b)]
    if pz:
        zpos = np.arange(pw, p)
        Szz = sigma_b[pw:, pw:]
        Syz = sigma_b[np.ix_(b, zpos)]
        resz = _pattern_inverses(Szz, data.z_masks)
        if resz is None:
            return None
        Gam, ldZ = resz
        C = np.einsum("qa,mab->mqb", Syz, Gam)              # (Kz, q, pz)
        St = Syy[None] - np.einsum("mqa,ra->mqr", C, Syz)     # (Kz, q, q)
        zp = data.z_pattern
        dz = (data.z_fill - mu[pw:]) * data.z_obs
        Gz = Gam[zp]
        v = np.einsum("jab,jb->ja", Gz, dz)
        Cj = C[zp]
        shift = np.einsum("jqa,ja->jq", Cj, dz)
        ll_z = ldZ[zp] + (dz * v).sum(axis=1)
    else:
        St = Syy[None]
        ll_z = 0.0

    # scipy sparse matrices (scipy has no type stubs): (S, K) rows per pattern of
    # each signature, (J, N) sums over each cluster's rows
    sig_counts: Any = data.sig_counts
    csum: Any = data.cluster_sum
    K = len(P)
    S = sig_counts.shape[0]
    st = data.pattern_start
    pcl = data.yp_cluster
    r = data.yp_fill - mu[:pw]
    if pz and q:
        r[:, b] -= shift[pcl]
    r *= data.yp_obs
    g = np.empty_like(r)
    for k in range(K):
        g[st[k]:st[k + 1]] = r[st[k]:st[k + 1]] @ P[k]      # P[k] is symmetric
    qa = csum @ (r * g).sum(axis=1)
    pj = csum @ g[:, b] if q else np.zeros((J, 0))

    Pbb = P[:, b][:, :, b]
    A = (sig_counts @ Pbb.reshape(K, q * q)).reshape(S, q, q)
    Ssig = St[data.sig_zpat]
    Mx = np.eye(q)[None] + Ssig @ A
    sign, ldM = np.linalg.slogdet(Mx)
    if np.any(sign <= 0) or not np.all(np.isfinite(ldM)):
        return None
    K_ = np.linalg.solve(Mx, Ssig)
    K_ = 0.5 * (K_ + np.swapaxes(K_, 1, 2))
    LW = sig_counts @ ldW
    sj = data.cluster_sig
    Kj = K_[sj]
    Kp = np.einsum("jab,jb->ja", Kj, pj)
    qb = (pj * Kp).sum(axis=1)
    ll_j = -0.5 * (data.nvals * LOG2PI + LW[sj] + ldM[sj] + qa - qb + ll_z)
    if level == 0:
        return ll_j.sum(), None

    PE = P[:, :, b]                                            # (K, pw, q)
    Kpr = Kp[pcl]
    a = g.copy()
    for k in range(K):
        a[st[k]:st[k + 1]] -= Kpr[st[k]:st[k + 1]] @ PE[k].T
    Aj = A[sj]
    t = pj - np.einsum("jab,jb->ja", Aj, Kp)
    AKA = A @ K_ @ A
    # derivative w.r.t. S~ per cluster: 1/2 (t t' - (A - A K A))
    GSt = 0.5 * (t[:, :, None] * t[:, None, :] - (A - AKA)[sj])
    if pz:
        vt = v[:, :, None] * t[:, None, :]                       # (J, pz, q)
        CtG = np.einsum("jqa,jqr->jar", Cj, GSt)                 # C' G~
        Gzy = -CtG + 0.5 * vt
        vtC = vt @ Cj
        Gzz = (CtG @ Cj - 0.5 * (vtC + np.swapaxes(vtC, 1, 2))
               + 0.5 * (v[:, :, None] * v[:, None, :] - Gz))
        gmuz = v - np.einsum("jqa,jq->ja", Cj, t)

    if level == 1:
        n_k = data.pattern_count
        Ksum = (data.sig_weights_t @ K_.reshape(S, q * q)).reshape(K, q, q)
        G_w = 0.5 * (a.T @ a - np.tensordot(n_k, P, axes=1)
                     + (PE @ Ksum @ np.swapaxes(PE, 1, 2)).sum(axis=0))
        G_b = np.zeros((p, p))
        G_b[np.ix_(b, b)] = GSt.sum(axis=0)
        g_mu = np.zeros(p)
        g_mu[:pw] = a.sum(axis=0)
        if pz:
            gzy = Gzy.sum(axis=0)
            G_b[np.ix_(zpos, b)] = gzy
            G_b[np.ix_(b, zpos)] = gzy.T
            G_b[pw:, pw:] = Gzz.sum(axis=0)
            g_mu[pw:] = gmuz.sum(axis=0)
        return ll_j.sum(), (g_mu, G_w, G_b)

    # per cluster: the within derivative needs each row's P E K_j E' P
    N = len(r)
    rowterm = np.empty((N, pw, pw))
    Kr = Kj[pcl]
    for k in range(K):
        sl = slice(st[k], st[k + 1])
        rowterm[sl] = PE[k] @ Kr[sl] @ PE[k].T
    rowterm += a[:, :, None] * a[:, None, :]
    sumP = (sig_counts @ P.reshape(K, pw * pw)).reshape(S, pw, pw)
    G_w = 0.5 * ((csum @ rowterm.reshape(N, pw * pw)).reshape(J, pw, pw) - sumP[sj])
    G_b = np.zeros((J, p, p))
    G_b[:, b[:, None], b[None, :]] = GSt
    g_mu = np.zeros((J, p))
    g_mu[:, :pw] = csum @ a
    if pz:
        G_b[:, zpos[:, None], b[None, :]] = Gzy
        G_b[:, b[:, None], zpos[None, :]] = np.swapaxes(Gzy, 1, 2)
        G_b[:, pw:, pw:] = Gzz
        g_mu[:, pw:] = gmuz
    return ll_j, (g_mu, G_w, G_b)


def loglik_twolevel_missing(data: MissingClusterData, mu: np.ndarray, sigma_w: np.ndarray,
                            sigma_b: np.ndarray, gradient: bool = True
                            ) -> tuple[float, TwoLevelGradient | None]:
    """FIML log-likelihood of a two-level sample, same convention as ``loglik_twolevel``.

    Returns
    -------
    ll : float
    (g_mu, G_w, G_b) : derivatives, or None when not requested / not finite
    """
    res = _twolevel_parts(data, np.asarray(mu, float), sigma_w, sigma_b, 1 if gradient else 0)
    if res is None:
        return -np.inf, None
    return res


def clusterwise_twolevel(data: ClusterData, mu: np.ndarray, sigma_w: np.ndarray,
                         sigma_b: np.ndarray) -> tuple[np.ndarray, TwoLevelGradient]:
    """Per-cluster log-likelihoods and derivatives (complete or incomplete data).

    Returns
    -------
    ll : (J,) array
    (g_mu, G_w, G_b) : arrays with a leading cluster axis
    """
    md: MissingClusterData = as_missing(data)
    res = _twolevel_parts(md, np.asarray(mu, float), sigma_w, sigma_b, 2)
    if res is None:
        raise FloatingPointError("implied covariance matrices are not positive definite")
    return res
