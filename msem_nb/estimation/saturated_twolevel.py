"""The two-level saturated (h1) model by Fisher scoring in canonical coordinates.

Model and likelihood (ARCHITECTURE.md, "The two-level likelihood"): the
cluster vector ``x_j`` (cluster means of the ``p_w`` within variables, then
the ``p_z`` between-only values) is normal with mean ``mu`` and covariance
``O_n = S_B + D / n`` for a cluster of size ``n``, where ``D = E S_W E'``
embeds the within covariance (zero rows for between-only variables) and
``S_B`` is zero on the rows of within-only variables; the pooled within SSCP
``A`` (``N - J`` degrees of freedom) carries the rest of ``S_W``. The
parameters are ``mu``, ``S_W`` and ``S_B``, with ``S_B`` positive
semi-definite: it is a covariance matrix, and its ML estimate is often on the
boundary (wide data, small between variances, fewer clusters than variables).

Canonical coordinates
---------------------
Every ``O_n`` and ``S_W`` are diagonalised by one congruence. Order the
variables within-only (``o``, p1 of them), both-level (``b``, q), between-only
(``z``, p2) and let ``T = [T_1 | P V | T_2]`` with

    T_1 = E_o chol(D_oo)^-T,    T_2 = E_z chol(S_zz)^-T,
    P   = [-D_oo^-1 D_ob ; I ; -S_zz^-1 S_zb]        (rows o, b, z)
    a   = S_bb - S_bz S_zz^-1 S_zb,   d = D_bb - D_bo D_oo^-1 D_ob,
    a V = (a + d) V diag(kappa_b),    V' (a + d) V = I.

Then ``T' (S_B + D) T = I``, ``T' S_B T = diag(kappa)`` and
``T' D T = diag(1 - kappa)`` with ``kappa = (0, kappa_b, 1)``, so that

    T' O_n T = diag(e_n),   e_n = kappa + (1 - kappa) / n,
    log|O_n| = -2 log|T| + sum log e_n,   O_n^-1 = T diag(1 / e_n) T',

and ``T^-1 = T' (S_B + D)``, i.e. ``T^-T = (S_B + D) T``. A change of the
parameters is written ``dD = T^-T X T^-1``, ``dS_B = T^-T Y T^-1``,
``dmu = T^-T m``: ``X`` lives on the first ``p1 + q`` canonical indices (the
within part; those rows of ``T^-T`` restricted to the within variables form
an invertible matrix, so ``S_W`` itself is ``T_w^-T diag(1 - kappa) T_w^-1``
with ``T_w = T[w, :p1+q]``), ``Y`` on the last ``q + p2`` (the between part).
In these coordinates, with ``F~ = T' F`` for the statistics,

    l = -1/2 [(N-J)(p_w log 2pi + log|S_W|) + tr(diag(1-kappa)^-1 T_w' A T_w)]
        - p_w/2 sum_j log n_j
        - 1/2 sum_n [c_n (p log 2pi + log|O_n|) + tr(diag(e_n)^-1 T' M_n T)],

``M_n = W_n + c_n (xbar_n - mu)(xbar_n - mu)'`` for the ``c_n`` clusters of
size ``n`` (mean ``xbar_n``, SSCP ``W_n``), and the gradient is

    dl/dX = 1/2 (A~ / (w w') - (N-J) diag(1/w)) + sum_n Z_n / n,   w = 1 - kappa
    dl/dY = sum_n Z_n,   Z_n = 1/2 (M~_n / (e_n e_n') - c_n diag(1/e_n))
    dl/dm = sum_n c_n T'(xbar_n - mu) / e_n.

Fisher scoring
--------------
The expected information is diagonal in these coordinates, pair of indices
by pair of indices: for the ordered pair (k, l)

    -E d2l = 1/2 [ (N-J) X_kl^2 / (w_k w_l)
                   + sum_n c_n (Y_kl + X_kl / n)^2 / (e_nk e_nl) ]
             + sum_n c_n m_k^2 / e_nk      (means, once per k)

so the scoring step solves a 2 x 2 system per pair (``X`` and ``Y`` both
free on both-level pairs; one of them elsewhere) and a scalar per mean: the
step costs O(p^2) after the O(p^3) transformation, and nothing of order p^4
is ever formed. Where the step would take ``diag(kappa) + Y`` out of the
positive semi-definite cone, it is projected back (its negative eigenvalues
set to zero) and ``X`` is solved again given the projected ``Y``. At a fixed
point of this projected iteration the between gradient is negative
semi-definite on the null space of ``S_B`` and zero on its range (the
optimality conditions of the constrained maximum): on the boundary
directions ``kappa = 0``, so every pair among them has the same information
(``X`` eliminated) and there the Frobenius projection is the projection in
the information metric.
Steps are halved until the log-likelihood does not decrease.

For equal cluster sizes at an interior maximum the expected information is
the observed one and convergence is quadratic; otherwise linear, with a rate
set by how much the per-size sample moments differ from their expectation
(typically 0.1-0.3). Convergence is declared when the increase the
quadratic model predicts for the (projected) step is below
``max(tol, 3e-17 |l|)`` (``tol = 1e-14`` by default), a log-likelihood
difference, so it does not depend on the units of the variables; the
gradient is then of order ``sqrt(tol / J)`` per unit of information, the
estimates exact to about 1e-8 relative. Rounding keeps the predicted
increase from falling below about ``1e-17 |l|`` (measured up to 200
variables), hence the relative floor; if five steps in a row gain nothing
beyond rounding while the prediction is within a thousand times that bound,
the fit has converged too.

Cost and memory
---------------
The statistics enter as factor rows ``F`` with ``sum F_i F_i' = W_n`` per
size: the centred cluster vectors when a size has at most p clusters, else
p rows of a square root of ``W_n`` (computed once); R = sum_n min(c_n, p)
rows. One evaluation costs O(R p^2 + p^3); memory is O(R p + G p + p^2) for
G distinct sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from msem_nb.data.complete import ClusterData
from msem_nb.likelihood.complete import LOG2PI

__all__ = ["TwoLevelH1", "fit_twolevel_h1", "psd_part"]


@dataclass(frozen=True, eq=False)
class TwoLevelH1:
    """ML estimates of the two-level saturated model, in the data's layout.

    ``sigma_b`` spans all variables (zero rows for within-only ones).
    """

    mu: np.ndarray
    sigma_w: np.ndarray
    sigma_b: np.ndarray
    loglik: float
    converged: bool
    iterations: int         # scoring steps taken


def psd_part(S: np.ndarray) -> np.ndarray:
    """The nearest positive semi-definite matrix (negative eigenvalues set to 0)."""
    lam, V = np.linalg.eigh(0.5 * (S + S.T))
    if lam.min() >= 0:
        return 0.5 * (S + S.T)
    out = (V * np.maximum(lam, 0.0)) @ V.T
    return 0.5 * (out + out.T)


@dataclass(frozen=True, eq=False)
class _Layout:
    p: int
    pw: int
    wo: np.ndarray     # within positions of within-only variables
    b: np.ndarray      # within positions of both-level variables
    z: np.ndarray      # data positions of between-only variables

    @property
    def p1(self) -> int:
        return len(self.wo)

    @property
    def nx(self) -> int:
        """Canonical indices of the within part: within-only, then both-level."""
        return len(self.wo) + len(self.b)

    @classmethod
    def of(cls, data: ClusterData) -> "_Layout":
        both = set(data.both)
        pw, p = data.p_within, len(data.names)
        return cls(p, pw,
                   np.array([i for i, v in enumerate(data.within) if v not in both], dtype=int),
                   np.array([i for i, v in enumerate(data.within) if v in both], dtype=int),
                   np.arange(pw, p))


@dataclass(frozen=True, eq=False)
class _Stats:
    """The sufficient statistics as factor rows (see the module docstring)."""

    F: np.ndarray          # (R, p) rows; W_n = sum over the rows of size n of F_i F_i'
    size_of_row: np.ndarray
    n: np.ndarray          # distinct cluster sizes
    count: np.ndarray
    mean: np.ndarray       # (G, p)
    A: np.ndarray
    N: int
    J: int
    sum_log_n: float

    @classmethod
    def of(cls, data: ClusterData) -> "_Stats":
        g = data.groups
        if g is None:
            raise ValueError("the two-level saturated model by scoring needs complete data "
                             "(size groups); incomplete data use the FIML fit")
        p = g.mean.shape[1]
        which = np.searchsorted(g.n, data.cluster_sizes)
        rows, idx = [], []
        for k in range(len(g.n)):
            if g.count[k] <= p:
                x = data.cluster_vectors[which == k] - g.mean[k]
            else:
                lam, V = np.linalg.eigh(g.sscp[k])
                keep = lam > 0
                x = (V[:, keep] * np.sqrt(lam[keep])).T
            rows.append(x)
            idx.append(np.full(len(x), k))
        return cls(np.concatenate(rows), np.concatenate(idx), g.n, g.count, g.mean,
                   data.within_sscp, data.nobs, data.nclusters, data.sum_log_n)


@dataclass(frozen=True, eq=False)
class _Point:
    """Parameters, their canonical transformation, log-likelihood and gradient."""

    mu: np.ndarray
    sw: np.ndarray
    sb: np.ndarray          # (p, p), zero rows for within-only variables
    T: np.ndarray
    Tit: np.ndarray         # T^-T = (S_B + D) T
    kappa: np.ndarray
    e: np.ndarray           # (G, p)
    loglik: float
    GX: np.ndarray
    GY: np.ndarray
    Gm: np.ndarray

    @property
    def w(self) -> np.ndarray:
        return 1.0 - self.kappa


def _canonical(L: _Layout, sw: np.ndarray, sb: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """``(T, kappa, log|det T|, log|det T_w|)`` of the module docstring.

    None when S_W or S_zz is not positive definite. With the rows in the
    order (o, b, z) and the columns (within-only, both, between-only), T is
    block triangular with diagonal blocks ``chol(D_oo)^-T``, ``V`` and
    ``chol(S_zz)^-T``; ``V = chol(a + d)^-T U`` with ``U`` the eigenvectors
    of ``chol(a + d)^-1 a chol(a + d)^-T``, so no determinant is computed
    apart from these factors.
    """
    p, p1, nx = L.p, L.p1, L.nx
    wo, b, z = L.wo, L.b, L.z
    T = np.zeros((p, p))
    ld_o = ld_z = 0.0
    try:
        bb = sw[np.ix_(b, b)]
        if p1:
            Lo = np.linalg.cholesky(sw[np.ix_(wo, wo)])
            T[np.ix_(wo, np.arange(p1))] = sla.solve_triangular(Lo, np.eye(p1), lower=True).T
            Dob = sw[np.ix_(wo, b)]
            Pwo = -sla.cho_solve((Lo, True), Dob)
            bb = bb + Dob.T @ Pwo
            ld_o = float(np.log(np.diag(Lo)).sum())
        aa = sb[np.ix_(b, b)]
        if len(z):
            Lz = np.linalg.cholesky(sb[np.ix_(z, z)])
            T[np.ix_(z, np.arange(nx, p))] = sla.solve_triangular(
                Lz, np.eye(len(z)), lower=True).T
            Szb = sb[np.ix_(z, b)]
            Pz = -sla.cho_solve((Lz, True), Szb)
            aa = aa + Szb.T @ Pz
            ld_z = float(np.log(np.diag(Lz)).sum())
        aa = 0.5 * (aa + aa.T)
        Lc = np.linalg.cholesky(aa + 0.5 * (bb + bb.T))
        C = sla.solve_triangular(Lc, sla.solve_triangular(Lc, aa, lower=True).T, lower=True)
        kap, U = np.linalg.eigh(0.5 * (C + C.T))
        V = sla.solve_triangular(Lc, U, lower=True, trans="T")
    except (np.linalg.LinAlgError, sla.LinAlgError, ValueError):
        return None
    rest = np.arange(p1, nx)
    T[np.ix_(b, rest)] = V
    if p1:
        T[np.ix_(wo, rest)] = Pwo @ V
    if len(z):
        T[np.ix_(z, rest)] = Pz @ V
    kappa = np.concatenate([np.zeros(p1), np.clip(kap, 0.0, 1.0), np.ones(len(z))])
    ld_v = -float(np.log(np.diag(Lc)).sum())
    return T, kappa, ld_v - ld_o - ld_z, ld_v - ld_o


def _evaluate(L: _Layout, S: _Stats, mu: np.ndarray, sw: np.ndarray,
              sb: np.ndarray) -> _Point | None:
    """Log-likelihood and canonical gradient at a point; None outside the domain."""
    can = _canonical(L, sw, sb)
    if can is None:
        return None
    T, kappa, ld_t, ld_w = can
    p, pw, nx, p1 = L.p, L.pw, L.nx, L.p1
    n, cnt = S.n, S.count
    w = 1.0 - kappa[:nx]
    e = kappa[None, :] + (1.0 - kappa)[None, :] / n[:, None]
    if np.any(w <= 0) or np.any(e <= 0):
        return None
    Tw = T[:pw, :nx]
    At = Tw.T @ S.A @ Tw
    N, J = S.N, S.J
    ll = -0.5 * ((N - J) * (pw * LOG2PI - 2.0 * ld_w + np.log(w).sum())
                 + np.sum(np.diag(At) / w)) - 0.5 * pw * S.sum_log_n
    Ft = S.F @ T
    dt = (S.mean - mu) @ T
    Zf = Ft / e[S.size_of_row]
    Zd = dt / e
    logdet_o = -2.0 * ld_t + np.log(e).sum(axis=1)
    quad = np.sum(Zf * Ft) + cnt @ np.sum(Zd * dt, axis=1)
    ll -= 0.5 * (cnt @ logdet_o + p * LOG2PI * cnt.sum() + quad)
    if not np.isfinite(ll):
        return None
    inv_n = 1.0 / n
    M0 = Zf.T @ Zf + (Zd * cnt[:, None]).T @ Zd
    M1 = (Zf * inv_n[S.size_of_row][:, None]).T @ Zf + (Zd * (cnt * inv_n)[:, None]).T @ Zd
    Z0 = 0.5 * (M0 - np.diag(cnt @ (1.0 / e)))
    Z1 = 0.5 * (M1 - np.diag((cnt * inv_n) @ (1.0 / e)))
    GX = 0.5 * (At / np.outer(w, w) - (N - J) * np.diag(1.0 / w)) + Z1[:nx, :nx]
    GY = Z0[p1:, p1:]
    Gm = cnt @ Zd
    Tit = sb @ T
    Tit[:pw] += sw @ T[:pw]
    return _Point(mu, sw, sb, T, Tit, kappa, e, float(ll), GX, GY, Gm)


@dataclass(frozen=True, eq=False)
class _Step:
    X: np.ndarray
    Y: np.ndarray
    m: np.ndarray
    predicted: float


def _scoring_step(L: _Layout, S: _Stats, pt: _Point) -> _Step:
    """The projected Fisher-scoring step and the increase its quadratic model predicts."""
    p1, nx = L.p1, L.nx
    n, cnt = S.n, S.count
    ie = 1.0 / pt.e
    B0 = (ie.T * cnt) @ ie
    B1 = (ie.T * (cnt / n)) @ ie
    B2 = (ie.T * (cnt / n ** 2)) @ ie
    w = pt.w[:nx]
    axx = (S.N - S.J) / np.outer(w, w) + B2[:nx, :nx]
    byy = B0[p1:, p1:]
    X = 2.0 * pt.GX / axx
    Y = 2.0 * pt.GY / byy
    # both-level pairs (k, l >= p1, < nx): X and Y together, a 2 x 2 system
    r, rr = slice(p1, nx), slice(0, nx - p1)
    a11, a12, a22 = axx[r, r], B1[r, r], byy[rr, rr]
    g1, g2 = 2.0 * pt.GX[r, r], 2.0 * pt.GY[rr, rr]
    det = a11 * a22 - a12 ** 2
    X[r, r] = (a22 * g1 - a12 * g2) / det
    Y[rr, rr] = (a11 * g2 - a12 * g1) / det
    K = np.diag(pt.kappa[p1:])
    Y = 0.5 * (Y + Y.T)
    try:
        np.linalg.cholesky(K + Y)
    except np.linalg.LinAlgError:
        Y = psd_part(K + Y) - K
        X[r, r] = (g1 - a12 * Y[rr, rr]) / a11
    sm = cnt @ ie
    m = pt.Gm / sm
    lin = np.sum(pt.GX * X) + np.sum(pt.GY * Y) + pt.Gm @ m
    quad = 0.25 * (np.sum(axx * X * X) + np.sum(byy * Y * Y)
                   + 2.0 * np.sum(a12 * X[r, r] * Y[rr, rr])) + 0.5 * np.sum(sm * m * m)
    return _Step(X, Y, m, float(lin - quad))


def _moved(L: _Layout, pt: _Point, st: _Step,
           t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parameters after a fraction t of the step, S_B kept positive semi-definite."""
    p1, nx, pw = L.p1, L.nx, L.pw
    Uw = pt.Tit[:pw, :nx]
    Ub = pt.Tit[:, p1:]
    sw = pt.sw + t * (Uw @ st.X @ Uw.T)
    # diag(kappa) + Y is positive semi-definite (projected), and so is every
    # convex combination with diag(kappa)
    sb = Ub @ (np.diag(pt.kappa[p1:]) + t * st.Y) @ Ub.T
    sb[L.wo, :] = 0.0
    sb[:, L.wo] = 0.0
    return pt.mu + t * (pt.Tit @ st.m), 0.5 * (sw + sw.T), 0.5 * (sb + sb.T)


def fit_twolevel_h1(data: ClusterData, start: tuple[np.ndarray, np.ndarray, np.ndarray], *,
                    tol: float = 1e-14, maxiter: int = 500) -> TwoLevelH1 | None:
    """Maximum likelihood estimates of the two-level saturated model (complete data).

    Parameters
    ----------
    data : ClusterData
        Complete two-level data with at least one variable that has both a
        within and a between part.
    start : (mu, sigma_w, sigma_b)
        Start values in the data's layout (sigma_b over all variables, zero
        rows for within-only ones); sigma_b is made positive semi-definite.
    tol : float
        Stop when the log-likelihood increase predicted for the next step is
        below this (or below ``3e-17 |loglik|``, where rounding sets in).
    maxiter : int
        Most scoring steps.

    Returns
    -------
    TwoLevelH1, or None when the start values are outside the parameter
    space (a within covariance or a between-only covariance that is not
    positive definite).
    """
    L = _Layout.of(data)
    S = _Stats.of(data)
    mu0, sw0, sb0 = start
    bc = np.concatenate([L.b, L.z])
    sb = np.zeros((L.p, L.p))
    sb[np.ix_(bc, bc)] = psd_part(sb0[np.ix_(bc, bc)])
    pt = _evaluate(L, S, np.asarray(mu0, dtype=float).copy(), 0.5 * (sw0 + sw0.T), sb)
    if pt is None:
        return None
    converged = False
    steps = stalled = 0
    while steps < maxiter:
        st = _scoring_step(L, S, pt)
        bound = max(tol, 3e-17 * abs(pt.loglik))
        if st.predicted <= bound or (stalled >= 5 and st.predicted <= 1e3 * bound):
            converged = True
            break
        t, new = 1.0, None
        while t > 1e-10:
            new = _evaluate(L, S, *_moved(L, pt, st, t))
            # equal within rounding counts as no decrease
            if new is not None and new.loglik >= pt.loglik - 1e-13 * abs(pt.loglik):
                break
            new = None
            t *= 0.5
        if new is None:
            break
        stalled = stalled + 1 if new.loglik - pt.loglik <= 4e-16 * abs(pt.loglik) else 0
        pt = new
        steps += 1
    return TwoLevelH1(pt.mu, pt.sw, pt.sb, pt.loglik, converged, steps)
