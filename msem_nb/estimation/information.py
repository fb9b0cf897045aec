"""Analytic information matrices (expected and observed) for complete-data models.

Standard errors need minus the Hessian of the log-likelihood ``l(theta)``
(observed information) or its expectation (expected information). Both are
computed here in closed form; nothing is differenced, so they are exact to
rounding whatever the units of the variables.

Moments and their derivatives
-----------------------------
``l`` depends on theta only through the data-level moments ``m(theta)``: the
mean ``mu``, the within covariance ``S_W`` and the between covariance ``S_B``
(one block ``(mu, S)`` for a single-level model; ARCHITECTURE.md, "The
two-level likelihood"). With ``Delta = dm/dtheta`` and ``g = dl/dm``

    -d2l/dtheta dtheta' = Delta' (-d2l/dm dm') Delta  -  sum_k g_k d2m_k/dtheta dtheta'

and the expected information is the first term with ``-d2l/dm dm'`` replaced
by its expectation (the second vanishes in expectation, E g = 0).

In a RAM block (``model.implied``: ``B = (I - A)^-1``, ``C = B S B'``,
``m_all = B alpha``, observed rows ``Bo = F B``) every parameter moves the
observed covariance by a sum of rank-one terms ``u v'``:

    A cell (r, c):  dC = Bo[:, r] C[:n, c]' + C[:n, c] Bo[:, r]'
    S cell (s, t):  dC = Bo[:, s] Bo[:, t]'          (both triangles listed)
    mean:           dm = Bo[:, r] m_all[c]  (A cell),  Bo[:, a]  (alpha cell)

so ``dS_k = sum_{i in k} u_i v_i'`` and every trace below reduces to products
of the small matrices ``V' P U`` (m x m for m terms): for symmetric P, Q

    tr(dS_k P dS_l Q) = sum_{i in k, j in l} (v_i' P u_j) (v_j' Q u_i).

This costs O(p^2 m + p m^2) per size group, never the p^4 of a dense
information matrix in vech coordinates.

One normal piece
----------------
Each piece of the likelihood has the form ``-1/2 [c log|O| + tr(O^-1 M)]``
with ``M`` a sum of squares about ``mu`` (``M = W + c d d'``, ``d = xbar - mu``).
With ``Oi = O^-1``, ``R = Oi M Oi``, ``v = Oi d`` its information pieces are

    cov-cov   observed  tr(dO_k Oi dO_l R) - c/2 tr(dO_k Oi dO_l Oi)
              expected  c/2 tr(dO_k Oi dO_l Oi)          (E M = c O)
    mean-mean           c dmu_k' Oi dmu_l
    mean-cov  observed  c (Oi dmu_k)' dO_l v             (expected: 0)

Single level: one piece, ``c = N``, ``O = S``, ``M = N (cov + d d')``
(without a mean structure ``d = 0`` and there are no mean terms).
Two levels: the within piece ``c = N - J``, ``O = S_W``, ``M = A`` (the pooled
within SSCP; no mean terms) and, per distinct cluster size ``n`` with ``c``
clusters, ``O_n = S_B + E S_W E' / n`` with ``M = W_n + c d d'``; a within
term enters ``dO_n`` with the factor ``1/n``, so each pair of terms is
weighted by ``f_i f_j`` (``f = 1/n`` on within terms, 1 on between terms).

Second derivatives of the moments
---------------------------------
``sum_k g_k d2m_k`` is the Hessian, with the moment gradient held fixed, of
``T = tr(G C_obs) + g' m_obs``. With ``H = Bo' G Bo``, ``P = C[:, :n] G Bo``,
``q = Bo' g`` and cells ``i = (r1, c1)``, ``j = (r2, c2)`` of A, ``(s, t)`` of
S, ``a`` of alpha:

    A-A      2 P[c1, r2] B[c2, r1] + 2 P[c2, r1] B[c1, r2] + 2 H[r2, r1] C[c1, c2]
             + q[r2] B[c2, r1] m_all[c1] + q[r1] B[c1, r2] m_all[c2]
    A-S      B[c, t] H[r, s] + H[t, r] B[c, s]
    A-alpha  q[r] B[c, a]
    S-S, S-alpha, alpha-alpha: 0 (the moments are linear in them)

Cells sharing a parameter (equality labels) are summed into it. Linear
equality constraints ``theta = theta_p + K xi`` give ``K' I K``.

FIML (``likelihood.missing``) and random slopes (``likelihood.slopes``) are
not covered: :func:`analytic_available` says when these formulas apply; the
estimator differences the analytic gradient otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeGuard

import numpy as np

from msem_nb.data.complete import ClusterData
from msem_nb.likelihood.complete import (
    SingleGradient,
    TwoLevelGradient,
    loglik_single,
    loglik_twolevel,
)
from msem_nb.likelihood.multigroup import MultiGroupObjective
from msem_nb.likelihood.objective import Objective
from msem_nb.model.implied import BlockMoments
from msem_nb.model.spec import BlockSpec

__all__ = ["analytic_available", "expected_information", "observed_information",
           "moment_information", "moment_curvature", "moment_jacobian"]


def analytic_available(obj: object) -> TypeGuard[Objective | MultiGroupObjective]:
    """True when the closed forms here apply: complete data, random intercepts only
    (several groups: in every group; their information is the sum over groups)."""
    if isinstance(obj, MultiGroupObjective):
        return all(analytic_available(p) for p in obj.parts)
    return type(obj) is Objective and not obj.data.incomplete


# ----------------------------------------------------------------------------
# rank-one terms of the moment derivatives
# ----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Terms:
    """``dC_k = sum_{i: par[i] = k} U[:, i] V[:, i]'`` and the dense mean Jacobian."""

    U: np.ndarray
    V: np.ndarray
    par: np.ndarray
    dmu: np.ndarray             # (n_ov, npar); zero without a mean structure


def _block_terms(bs: BlockSpec, bm: BlockMoments, npar: int, mean: bool) -> _Terms:
    n = bs.n_ov
    Bo = bm.B[:n]
    Co = bm.cov_all[:n]
    rA, cA, kA = bs.A_free
    rS, cS, kS = bs.S_free
    U = np.concatenate([Bo[:, rA], Co[:, cA], Bo[:, rS]], axis=1)
    V = np.concatenate([Co[:, cA], Bo[:, rA], Bo[:, cS]], axis=1)
    par = np.concatenate([kA, kA, kS]).astype(int)
    dmuT = np.zeros((npar, n))
    if mean:
        np.add.at(dmuT, kA, (Bo[:, rA] * bm.mean_all[cA]).T)
        ra, ka = bs.alpha_free
        np.add.at(dmuT, ka, Bo[:, ra].T)
    return _Terms(U, V, par, dmuT.T)


def _aggregate(E: np.ndarray, rows: np.ndarray, cols: np.ndarray, npar: int) -> np.ndarray:
    """Sum the entries of a term-by-term matrix into parameter-by-parameter cells."""
    if E.size == 0:
        return np.zeros((npar, npar))
    idx = (rows[:, None] * npar + cols[None, :]).ravel()
    return np.bincount(idx, weights=E.ravel(), minlength=npar * npar).reshape(npar, npar)


def _indicator(par: np.ndarray, npar: int) -> np.ndarray:
    Z = np.zeros((len(par), npar))
    Z[np.arange(len(par)), par] = 1.0
    return Z


@dataclass(frozen=True, eq=False)
class _Layout:
    """All terms in data-level coordinates (two-level: within terms first)."""

    U: np.ndarray            # (p, m)
    V: np.ndarray
    par: np.ndarray
    within: np.ndarray       # bool (m,): the term belongs to S_W
    dmu: np.ndarray | None   # (p, npar)
    blocks: tuple[_Terms, ...]


def _layout(obj: Objective, bm: list[BlockMoments]) -> _Layout:
    spec, npar = obj.spec, obj.spec.npar
    if len(bm) == 1:
        t = _block_terms(spec.blocks[0], bm[0], npar, obj.meanstructure)
        return _Layout(t.U, t.V, t.par, np.zeros(len(t.par), bool),
                       t.dmu if obj.meanstructure else None, (t,))
    p = len(obj.data.names)
    w, b, _ = obj.level_blocks
    wpos, pos = obj.positions[w], obj.positions[b]
    tw = _block_terms(spec.blocks[w], bm[w], npar, True)
    tb = _block_terms(spec.blocks[b], bm[b], npar, True)
    mw, mb = len(tw.par), len(tb.par)
    U = np.zeros((p, mw + mb))
    V = np.zeros((p, mw + mb))
    U[wpos, :mw], V[wpos, :mw] = tw.U, tw.V
    U[pos, mw:], V[pos, mw:] = tb.U, tb.V
    dmu = np.zeros((p, npar))
    dmu[wpos] += tw.dmu
    dmu[pos] += tb.dmu
    within = np.concatenate([np.ones(mw, bool), np.zeros(mb, bool)])
    return _Layout(U, V, np.concatenate([tw.par, tb.par]), within, dmu, (tw, tb))


# ----------------------------------------------------------------------------
# the information in the moments, chained to the parameters
# ----------------------------------------------------------------------------

# A chunk of size groups is handled in one batched product; this bounds its memory.
_CHUNK_FLOATS = 4_000_000


def _normal_pieces(U: np.ndarray, V: np.ndarray, Oi: np.ndarray, c: np.ndarray,
                   R: np.ndarray | None, v: np.ndarray | None, f: np.ndarray,
                   mean: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Summed pieces ``-1/2 [c log|O| + tr(O^-1 M)]`` over a stack of b of them.

    Parameters
    ----------
    U, V : (q, m) arrays
        Term factors in the coordinates of O.
    Oi, R : (b, q, q) arrays
        ``O^-1`` and ``O^-1 M O^-1`` (R None: expected information).
    c : (b,) array
    v : (b, q) array or None
        ``O^-1 d`` (None: no mean-covariance terms).
    f : (b, m) array
        The factor with which each term enters dO.
    mean : bool
        Whether the mean-mean and mean-covariance sums are wanted.

    Returns
    -------
    E : (m, m) term-by-term cov-cov information (before aggregation)
    mm : (q, q) sum of ``c Oi`` (mean-mean), or None
    W : (q, m) with ``dmu' W`` the mean-by-term information, or None
    """
    m = U.shape[1]
    E = np.zeros((m, m))
    mm = np.zeros(Oi.shape[1:]) if mean else None
    W = np.zeros(U.shape) if mean and v is not None else None
    b = len(c)
    step = max(1, _CHUNK_FLOATS // max(1, m * m, U.size))
    for lo in range(0, b, step):
        sl = slice(lo, lo + step)
        cc = c[sl][:, None, None]
        # only u carries the factor: (v_i' Oi u_j f_j)(v_j' R u_i f_i)
        Uf = U[None] * f[sl][:, None, :]
        OU = Oi[sl] @ Uf
        X1 = V.T @ OU
        X1t = X1.transpose(0, 2, 1)
        if R is not None:
            X2t = (V.T @ (R[sl] @ Uf)).transpose(0, 2, 1)
            E += np.sum(X1 * X2t - 0.5 * cc * (X1 * X1t), axis=0)
        else:
            E += 0.5 * np.sum(cc * (X1 * X1t), axis=0)
        if mm is not None:
            mm += np.sum(cc * Oi[sl], axis=0)
        if W is not None and v is not None:
            W += np.sum(OU * (c[sl][:, None] * (v[sl] @ V))[:, None, :], axis=0)
    return E, mm, W


@dataclass(frozen=True, eq=False)
class _MomentParts:
    info: np.ndarray                 # Delta' (-d2l/dm dm') Delta
    bm: list[BlockMoments]
    grads: SingleGradient | TwoLevelGradient  # dl/dm as the likelihood returns it


def _moment_parts(obj: Objective, theta: np.ndarray, observed: bool) -> _MomentParts | None:
    theta = np.asarray(theta, dtype=float)
    bm, mom = obj.moments(theta)
    data = obj.data
    npar = obj.spec.npar
    lay = _layout(obj, bm)
    m = len(lay.par)
    E = np.zeros((m, m))
    mm = W = None
    grads: SingleGradient | TwoLevelGradient | None
    if isinstance(data, ClusterData):
        if len(mom) != 3:  # pragma: no cover - Objective.moments follows the data's levels
            raise ValueError("two-level data need (mu, sigma_w, sigma_b)")
        mu, sw, sb = mom
        grads = loglik_twolevel(data, mu, sw, sb, gradient=True)[1]
        if grads is None:
            return None
        pw = data.p_within
        wsel = np.where(lay.within)[0]
        Swi = np.linalg.inv(sw)
        Rw = (Swi @ data.within_sscp @ Swi)[None] if observed else None
        Ew, _, _ = _normal_pieces(lay.U[:pw, wsel], lay.V[:pw, wsel], Swi[None],
                                  np.array([float(data.nobs - data.nclusters)]), Rw, None,
                                  np.ones((1, len(wsel))), False)
        E[np.ix_(wsel, wsel)] += Ew
        g = data.groups
        if g is None:  # pragma: no cover - loglik_twolevel above refuses such data
            raise ValueError("incomplete data have no statistics by cluster size")
        omega = np.repeat(sb[None], len(g.n), axis=0)
        omega[:, :pw, :pw] += sw / g.n[:, None, None]
        Oi = np.linalg.inv(omega)
        d = g.mean - mu
        R = v = None
        if observed:
            M = g.sscp + g.count[:, None, None] * (d[:, :, None] * d[:, None, :])
            R = Oi @ M @ Oi
            v = (Oi @ d[:, :, None])[:, :, 0]
        f = np.where(lay.within[None, :], 1.0 / g.n[:, None], 1.0)
        Eb, mm, W = _normal_pieces(lay.U, lay.V, Oi, g.count, R, v, f, True)
        E += Eb
    else:
        if len(mom) != 2:  # pragma: no cover - Objective.moments follows the data's levels
            raise ValueError("single-level data need (mu, sigma)")
        mu1, sigma = mom    # mu1 is None without a mean structure
        grads = loglik_single(data, mu1, sigma, gradient=True)[1]
        if grads is None:
            return None
        n = float(data.nobs)
        Si = np.linalg.inv(sigma)
        dd = None if mu1 is None else data.mean - mu1
        M = data.cov if dd is None else data.cov + np.outer(dd, dd)
        R1 = (n * (Si @ M @ Si))[None] if observed else None
        v1 = None if dd is None or not observed else (Si @ dd)[None]
        E, mm, W = _normal_pieces(lay.U, lay.V, Si[None], np.array([n]), R1, v1,
                                  np.ones((1, m)), lay.dmu is not None)
    info = _aggregate(E, lay.par, lay.par, npar)
    if lay.dmu is not None and mm is not None:
        info += lay.dmu.T @ mm @ lay.dmu
        if W is not None:
            Y = (lay.dmu.T @ W) @ _indicator(lay.par, npar)
            info += Y + Y.T
    return _MomentParts(0.5 * (info + info.T), bm, grads)


def moment_information(obj: Objective, theta: np.ndarray,
                       kind: str = "observed") -> np.ndarray | None:
    """``Delta' (-d2l/dm dm') Delta``: the information carried by the moments.

    Parameters
    ----------
    obj : Objective
        Complete-data objective (:func:`analytic_available`).
    theta : array
        Free parameters.
    kind : {"observed", "expected"}
        With "expected", ``-d2l/dm dm'`` is replaced by its expectation.

    Returns
    -------
    (npar, npar) array, or None when an implied matrix is not positive definite.
    """
    res = _moment_parts(obj, theta, kind == "observed")
    return None if res is None else res.info


# ----------------------------------------------------------------------------
# second derivatives of the moments
# ----------------------------------------------------------------------------

def _block_curvature(bs: BlockSpec, bm: BlockMoments, G: np.ndarray,
                     g: np.ndarray | None, npar: int) -> np.ndarray:
    """Hessian in theta of ``tr(G C_obs) + g' m_obs`` for one block, G and g fixed."""
    n = bs.n_ov
    B, C, m = bm.B, bm.cov_all, bm.mean_all
    Bo = B[:n]
    GBo = G @ Bo
    H = Bo.T @ GBo
    P = C[:, :n] @ GBo
    q = None if g is None else Bo.T @ g
    rA, cA, kA = bs.A_free
    rS, cS, kS = bs.S_free
    ra, ka = bs.alpha_free
    out = np.zeros((npar, npar))
    if not len(kA):
        return out
    ri, ci = rA[:, None], cA[:, None]
    rj, cj = rA[None, :], cA[None, :]
    t1 = P[ci, rj] * B[cj, ri]
    AA = 2.0 * (t1 + t1.T) + 2.0 * H[rj, ri] * C[ci, cj]
    if q is not None:
        t2 = q[rj] * B[cj, ri] * m[ci]
        AA += t2 + t2.T
    out += _aggregate(AA, kA, kA, npar)
    if len(kS):
        AS = B[ci, cS[None, :]] * H[ri, rS[None, :]] + H[cS[None, :], ri] * B[ci, rS[None, :]]
        X = _aggregate(AS, kA, kS, npar)
        out += X + X.T
    if q is not None and len(ka):
        Aa = q[rA][:, None] * B[ci, ra[None, :]]
        X = _aggregate(Aa, kA, ka, npar)
        out += X + X.T
    return out


def _curvature(obj: Objective, bm: list[BlockMoments],
               grads: SingleGradient | TwoLevelGradient) -> np.ndarray:
    spec, npar = obj.spec, obj.spec.npar
    # one block (single level) gives (g_mu, G), two levels (g_mu, G_w, G_b)
    if len(grads) == 2:
        g_mu, G = grads
        return _block_curvature(spec.blocks[0], bm[0], G, g_mu, npar)
    g_mu, G_w, G_b = grads
    w, b, ix = obj.level_blocks
    return (_block_curvature(spec.blocks[w], bm[w], G_w, g_mu[obj.positions[w]], npar)
            + _block_curvature(spec.blocks[b], bm[b], G_b[ix], g_mu[obj.positions[b]], npar))


def moment_curvature(obj: Objective, theta: np.ndarray) -> np.ndarray | None:
    """``sum_k g_k d2m_k/dtheta dtheta'`` with ``g = dl/dm`` at theta.

    Zero in expectation; None when an implied matrix is not positive definite.
    """
    theta = np.asarray(theta, dtype=float)
    bm, mom = obj.moments(theta)
    data = obj.data
    grads: SingleGradient | TwoLevelGradient | None
    if isinstance(data, ClusterData) and len(mom) == 3:
        _, grads = loglik_twolevel(data, *mom, gradient=True)
    elif not isinstance(data, ClusterData) and len(mom) == 2:
        _, grads = loglik_single(data, *mom, gradient=True)
    else:  # pragma: no cover - Objective.moments follows the data's levels
        raise ValueError("the moments do not match the data's number of levels")
    if grads is None:
        return None
    return _curvature(obj, bm, grads)


# ----------------------------------------------------------------------------
# the two information matrices
# ----------------------------------------------------------------------------

def _group_sum(f: Callable[[Objective, np.ndarray], np.ndarray | None],
               obj: MultiGroupObjective, theta: np.ndarray) -> np.ndarray | None:
    """The sum over groups of an information matrix (None if a group has none)."""
    parts = [f(p, theta) for p in obj.parts]
    total = np.zeros((obj.spec.npar, obj.spec.npar))
    for x in parts:
        if x is None:
            return None
        total += x
    return total


def observed_information(obj: Objective | MultiGroupObjective,
                         theta: np.ndarray) -> np.ndarray | None:
    """Minus the Hessian of the log-likelihood in the free parameters, analytic.

    Parameters
    ----------
    obj : Objective
        Complete-data objective (:func:`analytic_available`).
    theta : array
        Free parameters.

    Returns
    -------
    (npar, npar) array, or None when an implied matrix is not positive definite.
    """
    if isinstance(obj, MultiGroupObjective):
        return _group_sum(observed_information, obj, theta)
    res = _moment_parts(obj, theta, True)
    if res is None:
        return None
    curv = _curvature(obj, res.bm, res.grads)
    return res.info - 0.5 * (curv + curv.T)


def expected_information(obj: Objective | MultiGroupObjective,
                         theta: np.ndarray) -> np.ndarray | None:
    """Expected (Fisher) information in the free parameters, analytic.

    Parameters
    ----------
    obj : Objective
        Complete-data objective (:func:`analytic_available`); one or two levels.
    theta : array
        Free parameters.

    Returns
    -------
    (npar, npar) array, or None when an implied matrix is not positive definite.
    """
    if isinstance(obj, MultiGroupObjective):
        return _group_sum(expected_information, obj, theta)
    return moment_information(obj, theta, "expected")


# ----------------------------------------------------------------------------
# the moment Jacobian in the sandwich's coordinates
# ----------------------------------------------------------------------------

def _vech_rows(U: np.ndarray, V: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Rows ``dC_ab + dC_ba`` (a > b) and ``dC_aa`` of the lower triangle, per parameter."""
    r, c = np.tril_indices(U.shape[0])
    rows = U[r] * V[c] + U[c] * V[r]
    rows[r == c] *= 0.5
    return rows @ Z


def moment_jacobian(obj: Objective, theta: np.ndarray) -> np.ndarray:
    """Derivatives of the data-level moments with respect to the free parameters.

    Rows, in order: the mean (single level: only with a mean structure), the
    lower triangle of the (within) covariance, and for two levels the lower
    triangle of the between covariance of the between block's observed
    variables (in the order of the between block's positions, ``Objective.positions``). A covariance row (a, b) with
    a > b holds ``dS_ab + dS_ba``, so that a score coordinate ``G[a, b]`` of a
    symmetric derivative ``G`` pairs with it: ``dl/dtheta = scores @ jacobian``.
    """
    theta = np.asarray(theta, dtype=float)
    bm, _ = obj.moments(theta)
    npar = obj.spec.npar
    lay = _layout(obj, bm)
    parts = []
    if lay.dmu is not None:
        parts.append(lay.dmu)
    for t in lay.blocks:
        parts.append(_vech_rows(t.U, t.V, _indicator(t.par, npar)))
    return np.vstack(parts).reshape(-1, npar)
