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
observed covariance by a sum of rank-one terms ``u v'``
(:mod:`msem_nb.estimation.moment_terms` builds them):

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

import weakref
from dataclasses import dataclass
from typing import Callable, TypeGuard

import numpy as np

from msem_nb.data.complete import ClusterData
from msem_nb.estimation.moment_terms import Layout, indicator, layout, pair_index, scatter
from msem_nb.likelihood.complete import (
    LOG2PI,
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
           "moment_information", "moment_curvature", "loglik_information"]


def analytic_available(obj: object) -> TypeGuard[Objective | MultiGroupObjective]:
    """True when the closed forms here apply: complete data, random intercepts only
    (several groups: in every group; their information is the sum over groups)."""
    if isinstance(obj, MultiGroupObjective):
        return all(analytic_available(p) for p in obj.parts)
    return type(obj) is Objective and not obj.data.incomplete


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
    b = len(c)
    if b == 1 and not mean and np.all(f == 1.0):
        # one piece, no factors (the within part, a single level without means)
        OU = Oi[0] @ U
        X1 = V.T @ OU
        if R is None:
            return 0.5 * c[0] * (X1 * X1.T), None, None
        return X1 * (V.T @ (R[0] @ U)).T - 0.5 * c[0] * (X1 * X1.T), None, None
    E = np.zeros((m, m))
    mm = np.zeros(Oi.shape[1:]) if mean else None
    W = np.zeros(U.shape) if mean and v is not None else None
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
    loglik: float


@dataclass(frozen=True, eq=False)
class _Fixed:
    """What every evaluation of :func:`_moment_parts` on one objective shares: arrays
    that depend only on its data and on the layout of its terms (built once)."""

    eye: np.ndarray              # (p, p) identity: the padding of Sigma_W's slot
    n3: np.ndarray               # cluster sizes as (groups, 1, 1)
    inv_n: np.ndarray            # 1 / cluster sizes
    nw: float                    # N - J (two levels) or N (one level)
    mw: int                      # number of within terms (two levels)
    c_within: np.ndarray         # [nw]: the one piece of Sigma_W (or of Sigma)
    f_within: np.ndarray         # (1, mw) ones
    f: np.ndarray                # factors of the terms in every Omega_n (or ones)
    pairs: np.ndarray            # flat (par_i, par_j) cells of the npar x npar result
    Z: np.ndarray                # indicator(par, npar)


_FIXED: weakref.WeakKeyDictionary[Objective, _Fixed] = weakref.WeakKeyDictionary()


def _fixed(obj: Objective, lay: Layout) -> _Fixed:
    fx = _FIXED.get(obj)
    if fx is None:
        data, npar, m = obj.data, obj.spec.npar, len(lay.par)
        pairs = (lay.par[:, None] * npar + lay.par[None, :]).ravel()
        Z = indicator(lay.par, npar)
        p = len(data.names)
        if not isinstance(data, ClusterData) or data.groups is None:
            fx = _Fixed(np.eye(p), np.ones((0, 1, 1)), np.ones(0), float(data.nobs), m,
                        np.array([float(data.nobs)]), np.ones((1, m)), np.ones((1, m)),
                        pairs, Z)
        else:
            g = data.groups
            nw = float(data.nobs - data.nclusters)
            mw = int(lay.within.sum())
            fx = _Fixed(np.eye(p), g.n[:, None, None], 1.0 / g.n, nw, mw, np.array([nw]),
                        np.ones((1, mw)), np.where(lay.within[None, :], 1.0 / g.n[:, None], 1.0),
                        pairs, Z)
        _FIXED[obj] = fx
    return fx


def _moment_parts(obj: Objective, theta: np.ndarray, observed: bool) -> _MomentParts | None:
    """The moments' information, with the log-likelihood and its moment derivatives.

    The log-likelihood and ``dl/dm`` are those of :mod:`msem_nb.likelihood.complete`
    (the same formulas, on the inverses computed here anyway: a Newton or scoring
    step needs all three; ``tests/test_optimize.py`` checks they agree).
    """
    theta = np.asarray(theta, dtype=float)
    bm, mom = obj.moments(theta)
    data = obj.data
    npar = obj.spec.npar
    lay = layout(obj, bm)
    fx = _fixed(obj, lay)
    m = len(lay.par)
    E = np.zeros((m, m))
    mm = W = None
    grads: SingleGradient | TwoLevelGradient
    if isinstance(data, ClusterData):
        if len(mom) != 3:  # pragma: no cover - Objective.moments follows the data's levels
            raise ValueError("two-level data need (mu, sigma_w, sigma_b)")
        mu, sw, sb = mom
        pw, p = data.p_within, len(mu)
        g = data.groups
        if g is None:  # pragma: no cover - ClusterData from cluster_stats has size groups
            raise ValueError("incomplete data have no statistics by cluster size")
        cnt = g.count
        # one batched factorisation for Sigma_W (padded with an identity block)
        # and every Omega_n = Sigma_B + E Sigma_W E' / n
        stack = np.empty((len(g.n) + 1, p, p))
        stack[0] = fx.eye
        stack[0, :pw, :pw] = sw
        stack[1:] = sb
        stack[1:, :pw, :pw] += sw / fx.n3
        inv_logdet = _inverse_logdet(stack)
        if inv_logdet is None:
            return None
        inv_all, logdet = inv_logdet
        Swi, Oi = inv_all[0, :pw, :pw], inv_all[1:]
        A = data.within_sscp
        nw = fx.nw
        d = g.mean - mu
        M = g.sscp + cnt[:, None, None] * (d[:, :, None] * d[:, None, :])
        ll = (-0.5 * (nw * (pw * LOG2PI + logdet[0]) + np.sum(Swi * A))
              - 0.5 * pw * data.sum_log_n
              - 0.5 * (cnt @ logdet[1:] + p * LOG2PI * cnt.sum() + np.sum(Oi * M)))
        Rw = Swi @ A @ Swi
        R = Oi @ M @ Oi
        v = (Oi @ d[:, :, None])[:, :, 0]
        G_o = 0.5 * (R - cnt[:, None, None] * Oi)
        G_w = 0.5 * (Rw - nw * Swi) + \
            (fx.inv_n @ G_o[:, :pw, :pw].reshape(len(g.n), -1)).reshape(pw, pw)
        grads = (cnt @ v, G_w, G_o.sum(axis=0))
        # the within block's terms come first (layout)
        mw = fx.mw
        Ew, _, _ = _normal_pieces(lay.U[:pw, :mw], lay.V[:pw, :mw], Swi[None],
                                  fx.c_within, Rw[None] if observed else None, None,
                                  fx.f_within, False)
        E[:mw, :mw] += Ew
        Eb, mm, W = _normal_pieces(lay.U, lay.V, Oi, cnt, R if observed else None,
                                   v if observed else None, fx.f, True)
        E += Eb
    else:
        if len(mom) != 2:  # pragma: no cover - Objective.moments follows the data's levels
            raise ValueError("single-level data need (mu, sigma)")
        mu1, sigma = mom    # mu1 is None without a mean structure
        inv_logdet = _inverse_logdet(sigma)
        if inv_logdet is None:
            return None
        Si, logdet1 = inv_logdet
        n = float(data.nobs)
        p = len(sigma)
        dd = None if mu1 is None else data.mean - mu1
        M = data.cov if dd is None else data.cov + np.outer(dd, dd)
        ll = -0.5 * n * (p * LOG2PI + logdet1 + np.sum(Si * M))
        R1 = n * (Si @ M @ Si)
        grads = (None if dd is None else n * (Si @ dd), 0.5 * (R1 - n * Si))
        v1 = None if dd is None or not observed else (Si @ dd)[None]
        E, mm, W = _normal_pieces(lay.U, lay.V, Si[None], fx.c_within,
                                  R1[None] if observed else None, v1,
                                  fx.f, lay.dmu is not None)
    info = scatter(E, fx.pairs, npar)
    if lay.dmu is not None and mm is not None:
        info += lay.dmu.T @ mm @ lay.dmu
        if W is not None:
            Y = (lay.dmu.T @ W) @ fx.Z
            info += Y + Y.T
    return _MomentParts(0.5 * (info + info.T), bm, grads, float(ll))


def _inverse_logdet(M: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Inverse and log-determinant of SPD matrices (stacked allowed), or None."""
    try:
        L = np.linalg.cholesky(M)
        inv = np.linalg.inv(M)
    except np.linalg.LinAlgError:
        return None
    logdet = 2.0 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)
    if not np.all(np.isfinite(logdet)):
        return None
    return inv, logdet


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
    out = _block_derivatives(bs, bm, G, g, np.zeros(npar), True)
    assert out is not None
    return out


def _block_derivatives(bs: BlockSpec, bm: BlockMoments, G: np.ndarray, g: np.ndarray | None,
                       grad: np.ndarray, curvature: bool) -> np.ndarray | None:
    """Add the gradient in theta of ``tr(G C_obs) + g' m_obs`` to `grad` (what
    :func:`msem_nb.model.implied.block_gradient` adds) and, if asked, return its
    Hessian with G and g fixed; the two share ``H = Bo' G Bo`` and ``P = C[:, :n] G Bo``
    (the path part of the gradient is ``2 P'``)."""
    npar = len(grad)
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
    if len(kS):
        grad += np.bincount(kS, H[rS, cS], npar)
    if len(kA):
        gA = 2.0 * P[cA, rA]
        if q is not None:
            gA += q[rA] * m[cA]
        grad += np.bincount(kA, gA, npar)
    if q is not None and len(ka):
        grad += np.bincount(ka, q[ra], npar)
    if not curvature:
        return None
    out = np.zeros((npar, npar))
    if not len(kA):
        return out
    # the gathers X[c_i, r_j] etc. through flat indices fixed by the block (_pair_index)
    ix = pair_index(bs, npar)
    B_cj_ri = np.take(B, ix.cj_ri)
    t1 = np.take(P, ix.ci_rj) * B_cj_ri
    AA = 2.0 * (t1 + t1.T) + 2.0 * np.take(H, ix.rj_ri) * np.take(C, ix.ci_cj)
    if q is not None:
        t2 = q[rA][None, :] * B_cj_ri * m[cA][:, None]
        AA += t2 + t2.T
    out += scatter(AA, ix.AA, npar)
    if len(kS):
        AS = np.take(B, ix.ci_cs) * np.take(H, ix.ri_rs) + np.take(H, ix.cs_ri) * np.take(B, ix.ci_rs)
        X = scatter(AS, ix.AS, npar)
        out += X + X.T
    if q is not None and len(ka):
        Aa = q[rA][:, None] * np.take(B, ix.ci_ra)
        X = scatter(Aa, ix.Aa, npar)
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


def loglik_information(obj: Objective | MultiGroupObjective, theta: np.ndarray,
                       kind: str = "observed"
                       ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """The log-likelihood, its gradient and an information matrix at theta, in one pass.

    What :meth:`Objective.loglik` and :func:`observed_information` (or
    :func:`expected_information`, ``kind="expected"``) give, sharing the
    implied moments and the likelihood's derivatives: an optimiser that needs
    all three at each point (Newton, Fisher scoring) evaluates them once.
    ``(-inf, None, None)`` where an implied matrix is not positive definite.
    Several groups: the sums over groups.
    """
    if isinstance(obj, MultiGroupObjective):
        ll, grad, info = 0.0, np.zeros(obj.spec.npar), np.zeros((obj.spec.npar,) * 2)
        for part in obj.parts:
            lp, gp, ip = loglik_information(part, theta, kind)
            if gp is None or ip is None:
                return -np.inf, None, None
            ll, grad, info = ll + lp, grad + gp, info + ip
        return ll, grad, info
    res = _moment_parts(obj, theta, kind == "observed")
    if res is None:
        return -np.inf, None, None
    spec = obj.spec
    grad = np.zeros(spec.npar)
    observed = kind == "observed"
    curv: list[np.ndarray | None] = []
    grads = res.grads
    # one block (single level) gives (g_mu, G), two levels (g_mu, G_w, G_b)
    if len(grads) == 2:
        g_mu1, G = grads
        curv.append(_block_derivatives(spec.blocks[0], res.bm[0], G, g_mu1, grad, observed))
    else:
        g_mu, G_w, G_b = grads
        w, _, ix = obj.level_blocks
        for b, bs in enumerate(spec.blocks):
            curv.append(_block_derivatives(bs, res.bm[b], G_w if b == w else G_b[ix],
                                           g_mu[obj.positions[b]], grad, observed))
    info = res.info
    if observed:
        c = np.zeros_like(info)
        for x in curv:
            if x is not None:
                c += x
        info = info - 0.5 * (c + c.T)
    return res.loglik, grad, info


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
