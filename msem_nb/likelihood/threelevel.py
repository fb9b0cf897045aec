"""The three-level normal log-likelihood (random intercepts), with analytic derivatives.

Model (ARCHITECTURE.md, "The three-level likelihood"). Row i of class j of
school k: ``y_ijk = mu + e_ijk + c_jk + s_k`` with ``e ~ N(0, S_W)`` on the
``p1`` level-1 variables, ``c ~ N(0, S_2)`` and ``s ~ N(0, S_3)``; S_2 and
S_3 are p x p with zero rows for variables without a part at that level.
Data layout as :mod:`msem_nb.data.threelevel`: ``x`` (the first ``q``
variables) varies within schools, ``z`` (the last ``r``) is constant in a
school; ``T`` are the variables with a level-3 part, ``Tx = T`` within
``x`` (``t_x`` of them), and every ``z`` variable is in ``T``.

Within classes (a Helmert rotation, as for two levels) the class's ``n_j - 1``
contrasts are N(0, S_W) and independent of the class vector ``x_j`` (class
means of the level-1 variables, class values of the class-level ones):

    l_W = -1/2 [(N - J)(p1 log 2pi + log|S_W|) + tr(S_W^-1 A)] - p1/2 sum_j log n_j

Given the school, ``x_j = mu_x + P s_x + u_j`` with ``u_j ~ N(0, O_j)``,
``O_j = S_2[x, x] + E S_W E' / n_j`` (E embeds the level-1 variables, P the
Tx variables), and ``z_k = mu_z + s_z``. Conditioning on ``z_k`` (with
``Phi = S_3[T, T]``):

    B = Phi_xz Phi_zz^-1,  Phi_c = Phi_xx - B Phi_zx,  e_k = z_k - mu_z,
    a_k = mu_x + P B e_k    (the classes' conditional mean)

and the school's stacked class vectors have covariance
``S_k = blockdiag(O_j) + (1 1') (x) P Phi_c P'``. Woodbury and the
determinant lemma over the classes of the school, with ``M_k = sum_j P' O_j^-1 P
= L_k L_k'`` (Cholesky), ``K_k = I + L_k' Phi_c L_k`` and
``H_k = Phi_c - Phi_c L_k K_k^-1 L_k' Phi_c`` (= (Phi_c^-1 + M_k)^-1 when
Phi_c is invertible; this form allows a singular Phi_c):

    log|S_k| = sum_j log|O_j| + log|K_k|
    d' S_k^-1 d = sum_j d_j' O_j^-1 d_j - b_k' H_k b_k,   b_k = sum_j P' O_j^-1 d_j

with ``d_j = x_j - a_k``. Classes of one size share ``O_g``, so with the
per-size SSCP ``W_g`` of the class vectors about their (school, size) pair
means and the pair means ``xbar_P`` (``c_P`` classes):

    l = l_W - 1/2 [ J q log 2pi + sum_g n_g_classes log|O_g| + sum_k log|K_k|
                    + sum_g tr(O_g^-1 W_g) + sum_P c_P dbar_P' O_g^-1 dbar_P
                    - sum_k b_k' H_k b_k
                    + K (r log 2pi + log|Phi_zz|) + sum_k e_k' Phi_zz^-1 e_k ]

An evaluation costs O(G q^3 + K t^3 + P q^2) for G distinct class sizes, K
schools and P (school, size) pairs; no matrix of a school's size is formed.

Derivatives. With ``V_k`` the covariance of a school's stacked vector
``(x_1, ..., x_J, z)``, dl/dV = 1/2 (V^-1 r r' V^-1 - V^-1) and
dl/dmean = V^-1 r. Its blocks follow from the partitioned inverse: with
``f_k = P H_k b_k``, ``h_P = dbar_P - f_k``, ``u_k = b_k - M_k H_k b_k``,
``N_k = M_k - M_k H_k M_k``, ``v_k = -B' u_k + Phi_zz^-1 e_k``:

    dl/dO_g   = 1/2 O_g^-1 [W_g + sum_P c_P (h_P h_P' + P H_k P') - n_g_classes O_g] O_g^-1
    dl/dS_2   = sum_g dl/dO_g                      (on x, zero elsewhere)
    dl/dS_W   = 1/2 (S_W^-1 A S_W^-1 - (N - J) S_W^-1) + sum_g dl/dO_g[1:p1, 1:p1] / n_g
    dl/dPhi   = 1/2 sum_k [w_k w_k' - Q_k],  w_k = (u_k, v_k),
                Q_k = [[N_k, -N_k B], [-B' N_k, Phi_zz^-1 + B' N_k B]]
    dl/dmu_x  = sum_P c_P O_g^-1 h_P,    dl/dmu_z = sum_k v_k

Each matrix derivative is an unconstrained symmetric matrix (as in
:mod:`msem_nb.likelihood.complete`). ``schoolwise_threelevel`` gives the same
per school (the MLR scores; the schools are the independent units).
Non-positive definite ``S_W``, ``O_g``, ``Phi_zz`` or ``K_k`` give -inf and
no gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from msem_nb.data.threelevel import ThreeLevelData

__all__ = ["loglik_threelevel", "schoolwise_threelevel", "ThreeLevelGradient",
           "ThreeLevelMoments"]

LOG2PI: float = float(np.log(2.0 * np.pi))

#: ``(mu, sigma_w, sigma_2, sigma_3)``: the total mean (p), the level-1 covariance
#: (p1 x p1) and the level-2 and level-3 covariances (p x p, zero rows for variables
#: without a part at that level)
ThreeLevelMoments: TypeAlias = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: derivatives with respect to ``(mu, sigma_w, sigma_2, sigma_3)``: summed, or with a
#: leading school axis (:func:`schoolwise_threelevel`)
ThreeLevelGradient: TypeAlias = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _inv_logdet(M: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Inverses and log-determinants of a stack of SPD matrices, or None."""
    try:
        L = np.linalg.cholesky(M)
        inv = np.linalg.inv(M)
    except np.linalg.LinAlgError:
        return None
    logdet = 2.0 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)
    if not np.isfinite(float(np.sum(logdet))):
        return None
    return inv, logdet


@dataclass(frozen=True, eq=False)
class _State:
    """What the value and every derivative share (see the module docstring)."""

    ll: float
    inv_w: np.ndarray          # S_W^-1
    Oi: np.ndarray             # (G, q, q) O_g^-1
    Om: np.ndarray             # (G, q, q) O_g
    tx: np.ndarray             # positions of Tx in x
    H: np.ndarray              # (K, tx, tx)
    M: np.ndarray              # (K, tx, tx)
    h: np.ndarray              # (P, q) dbar_P - f_k
    u: np.ndarray              # (K, tx)
    B: np.ndarray              # (tx, r)
    Pzz_inv: np.ndarray        # (r, r)
    e: np.ndarray              # (K, r)
    shift: np.ndarray          # (K, q): a_k - mu_x + f_k, the classes' offset per school


def _state(d: ThreeLevelData, mu: np.ndarray, sw: np.ndarray, s2: np.ndarray,
           s3: np.ndarray) -> _State | None:
    p1, q = d.p1, d.q
    p = len(mu)
    r = p - q
    G, K = len(d.sizes), d.nschools
    T = d.index3
    tx = T[T < q]
    # one batched factorisation for S_W (padded with an identity) and every O_g
    stack = np.empty((G + 1, q, q))
    stack[0] = np.eye(q)
    stack[0, :p1, :p1] = sw
    stack[1:] = s2[:q, :q]
    stack[1:, :p1, :p1] += sw / d.sizes[:, None, None]
    res = _inv_logdet(stack)
    if res is None:
        return None
    inv_all, ld_all = res
    inv_w, ld_w = inv_all[0, :p1, :p1], float(ld_all[0])
    Oi, ld_o = inv_all[1:], ld_all[1:]
    N, J = d.nobs, d.nclasses
    ll = -0.5 * ((N - J) * (p1 * LOG2PI + ld_w) + np.sum(inv_w * d.within_sscp)) \
        - 0.5 * p1 * d.sum_log_n
    ll -= 0.5 * (J * q * LOG2PI + d.size_count @ ld_o + np.sum(Oi * d.size_sscp))

    Phi_xx = s3[np.ix_(tx, tx)]
    shift_t = np.zeros((K, len(tx)))
    B = np.zeros((len(tx), r))
    Pzz_inv = np.zeros((r, r))
    e = np.zeros((K, r))
    if r:
        rz = _inv_logdet(s3[q:, q:])
        if rz is None:
            return None
        Pzz_inv, ld_zz = rz
        Pxz = s3[tx, q:]
        B = Pxz @ Pzz_inv
        Phi_c = Phi_xx - B @ Pxz.T
        e = d.school_z - mu[q:]
        shift_t = e @ B.T
        ll -= 0.5 * (K * (r * LOG2PI + float(ld_zz)) + np.sum((e @ Pzz_inv) * e))
    else:
        Phi_c = Phi_xx
    dbar = d.pair_mean - mu[:q]
    if r:
        dbar[:, tx] -= shift_t[d.pair_school]
    OiD = np.matmul(Oi[d.pair_size], dbar[:, :, None])[:, :, 0]
    c = d.pair_count
    ll -= 0.5 * np.sum(c * np.sum(dbar * OiD, axis=1))
    nt = len(tx)
    M = np.zeros((K, nt, nt))
    H = M
    u = np.zeros((K, nt))
    if nt:
        Mg = Oi[:, tx][:, :, tx]
        M = (d.school_size_counts @ Mg.reshape(G, -1)).reshape(K, nt, nt)
        order, starts = d.pairs_by_school
        b = np.add.reduceat((c[:, None] * OiD[:, tx])[order], starts, axis=0)
        try:
            L = np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            return None
        Y = np.swapaxes(L, 1, 2) @ Phi_c                     # L' Phi_c
        Kmat = np.eye(nt) + Y @ L
        rk = _inv_logdet(Kmat)
        if rk is None:
            return None
        Kinv, ld_k = rk
        H = Phi_c - np.swapaxes(Y, 1, 2) @ Kinv @ Y
        H = 0.5 * (H + np.swapaxes(H, 1, 2))
        Hb = np.einsum("kab,kb->ka", H, b)
        ll -= 0.5 * (np.sum(ld_k) - np.sum(b * Hb))
        u = b - np.einsum("kab,kb->ka", M, Hb)
        shift_t = shift_t + Hb
    shift = np.zeros((K, q))
    shift[:, tx] = shift_t
    h = d.pair_mean - mu[:q] - shift[d.pair_school]
    if not np.isfinite(ll):
        return None
    return _State(float(ll), inv_w, Oi, stack[1:], tx, H, M, h, u, B, Pzz_inv, e, shift)


def loglik_threelevel(data: ThreeLevelData, mu: np.ndarray, sigma_w: np.ndarray,
                      sigma_2: np.ndarray, sigma_3: np.ndarray, gradient: bool = True
                      ) -> tuple[float, ThreeLevelGradient | None]:
    """Log-likelihood of a three-level sample (random intercepts, complete rows).

    Parameters
    ----------
    mu : (p,) array
        Total means in the data order ``data.names``.
    sigma_w : (p1, p1) array
        Level-1 covariance.
    sigma_2, sigma_3 : (p, p) arrays
        Level-2 and level-3 covariances (zero rows for variables without a
        part at that level; sigma_2 is zero on the school-level variables).

    Returns
    -------
    ll : float
    (g_mu, G_w, G_2, G_3) : derivatives, or None (not requested, or ll = -inf)
    """
    st = _state(data, mu, sigma_w, sigma_2, sigma_3)
    if st is None:
        return -np.inf, None
    if not gradient:
        return st.ll, None
    d = data
    p1, q, p = d.p1, d.q, len(mu)
    G, K = len(d.sizes), d.nschools
    c = d.pair_count
    tx = st.tx
    # per size: sum_P c_P (h h' + P H_k P')
    ch = c[:, None] * st.h
    hh = np.add.reduceat(ch[:, :, None] * st.h[:, None, :], d.size_starts, axis=0)
    R = d.size_sscp + hh - d.size_count[:, None, None] * st.Om
    if len(tx):
        HH = (d.school_size_counts.T @ st.H.reshape(K, -1)).reshape(G, len(tx), len(tx))
        R[:, tx[:, None], tx[None, :]] += HH
    G_o = 0.5 * st.Oi @ R @ st.Oi
    G_2 = np.zeros((p, p))
    G_2[:q, :q] = G_o.sum(axis=0)
    G_w = 0.5 * (st.inv_w @ d.within_sscp @ st.inv_w - (d.nobs - d.nclasses) * st.inv_w)
    G_w += np.einsum("g,gab->ab", 1.0 / d.sizes, G_o[:, :p1, :p1])
    g_mu = np.zeros(p)
    # sum_P c_P O_g^-1 h_P, size by size
    g_mu[:q] = np.einsum("gab,gb->a", st.Oi, np.add.reduceat(ch, d.size_starts, axis=0))
    G_3 = np.zeros((p, p))
    T = d.index3
    gphi, gz = _level3_derivative(st, K)
    G_3[np.ix_(T, T)] = gphi.sum(axis=0)
    if p > q:
        g_mu[q:] = gz.sum(axis=0)
    return st.ll, (g_mu, G_w, G_2, G_3)


def _level3_derivative(st: _State, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Per school: dl/dPhi (K, t, t) in the order (Tx, z), and v_k = dl/dmu_z (K, r)."""
    nt, r = st.u.shape[1], st.B.shape[1]
    N = st.M - st.M @ st.H @ st.M
    v = -st.u @ st.B + st.e @ st.Pzz_inv
    w = np.hstack([st.u, v])
    Q = np.zeros((K, nt + r, nt + r))
    Q[:, :nt, :nt] = N
    if r:
        NB = N @ st.B
        Q[:, :nt, nt:] = -NB
        Q[:, nt:, :nt] = -np.swapaxes(NB, 1, 2)
        Q[:, nt:, nt:] = st.Pzz_inv + st.B.T @ NB
    return 0.5 * (w[:, :, None] * w[:, None, :] - Q), v


def schoolwise_threelevel(data: ThreeLevelData, mu: np.ndarray, sigma_w: np.ndarray,
                          sigma_2: np.ndarray, sigma_3: np.ndarray
                          ) -> tuple[float, ThreeLevelGradient]:
    """The derivatives of :func:`loglik_threelevel` school by school.

    Returns
    -------
    ll : float
    (g_mu, G_w, G_2, G_3) with a leading school axis (K, ...); their sums over
    schools are the derivatives of :func:`loglik_threelevel`.

    Raises
    ------
    FloatingPointError
        When a covariance matrix is not positive definite.
    """
    st = _state(data, mu, sigma_w, sigma_2, sigma_3)
    if st is None:
        raise FloatingPointError("an implied covariance matrix is not positive definite")
    d = data
    p1, q, p = d.p1, d.q, len(mu)
    K = d.nschools
    tx = st.tx
    # classes: w_j = O_g^-1 (x_j - mu_x - shift_k)
    g_of = d.pair_size[d.class_pair]
    dev = d.class_vectors - mu[:q] - st.shift[d.class_school]
    w = np.einsum("jab,jb->ja", st.Oi[g_of], dev)
    starts = np.concatenate(([0], np.where(np.diff(d.class_school) != 0)[0] + 1))
    ww = w[:, :, None] * w[:, None, :]
    G_2 = np.zeros((K, p, p))
    G_w = np.zeros((K, p1, p1))
    G_2[:, :q, :q] = np.add.reduceat(ww, starts, axis=0)
    G_w += np.add.reduceat(ww[:, :p1, :p1] / d.class_sizes[:, None, None], starts, axis=0)
    # pairs: - c_P O_g^-1 + c_P O_g^-1 P H_k P' O_g^-1
    c = d.pair_count
    Oi_p = st.Oi[d.pair_size]
    T2 = -Oi_p
    if len(tx):
        OT = Oi_p[:, :, tx]
        T2 = T2 + OT @ st.H[d.pair_school] @ np.swapaxes(OT, 1, 2)
    T2 = c[:, None, None] * T2
    pair_part = np.zeros((K, q, q))
    np.add.at(pair_part, d.pair_school, T2)
    pair_w = np.zeros((K, p1, p1))
    np.add.at(pair_w, d.pair_school, T2[:, :p1, :p1] / d.sizes[d.pair_size][:, None, None])
    G_2[:, :q, :q] += pair_part
    G_2 *= 0.5
    G_w = 0.5 * (G_w + pair_w)
    nk = (d.school_nobs - d.school_nclasses).astype(float)
    G_w += 0.5 * (st.inv_w @ d.school_within_sscp @ st.inv_w
                  - nk[:, None, None] * st.inv_w)
    g_mu = np.zeros((K, p))
    g_mu[:, :q] = np.add.reduceat(w, starts, axis=0)
    gphi, gz = _level3_derivative(st, K)
    G_3 = np.zeros((K, p, p))
    T = d.index3
    G_3[:, T[:, None], T[None, :]] = gphi
    if p > q:
        g_mu[:, q:] = gz
    return st.ll, (g_mu, G_w, G_2, G_3)
