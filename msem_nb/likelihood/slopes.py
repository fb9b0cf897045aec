"""Exact likelihood of two-level models with random slopes on observed covariates.

Conditional on the covariates ``c`` that carry random slopes (and on fixed
within-only and between-only covariates), the outcomes of cluster j are
normal (ARCHITECTURE.md, "Random slopes"). Row i of the cluster has

    y_ij = a + Pi c_ij + Z_ij r_j + e_ij,      e_ij ~ N(0, Sigma_W)
    Z_ij = sum_c v_ij,c K[:, :, c],            v_ij = (1, c_ij, y_ij)

where ``r_j`` stacks the between parts of the outcomes and the slopes, with
``r_j | z_j, w_j ~ N(H t_j, Phi)`` (``t_j = (1, w_j, z_j)``, ``z_j`` the
between-only outcomes, ``w_j`` between-only covariates). Woodbury and the
determinant lemma reduce each cluster to r x r work on the cross-product sums
``M_j = sum_i v_ij v_ij'``, so one evaluation costs O(J r^3 + J d^2 r^2)
after one pass over the rows; nothing is integrated numerically.

The gradient is analytic: first with respect to the cluster quantities,
then back through the model matrices (``SlopeObjective.pullback``).

The likelihood is for exactly two levels; the within and the between block
are found by their block keys (:mod:`msem_nb.model.blocks`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike

from msem_nb.data.complete import ClusterData
from msem_nb.likelihood.complete import LOG2PI
from msem_nb.likelihood.slopes_terms import between_only_part, effect_derivatives
from msem_nb.model.blocks import BETWEEN, WITHIN
from msem_nb.model.implied import BlockMoments, model_moments
from msem_nb.model.partable import ParTable
from msem_nb.model.spec import BlockSpec, ModelSpec

__all__ = ["block_matrices", "SlopeLayout", "SlopeObjective", "SlopeData", "CholeskyMap", "make_layout",
           "slope_data", "boundary_notes"]

#: One block's pieces around ``B = (I - A)^-1`` over its modelled variables:
#: (B, their intercepts, A from the conditioned-on covariates, their S)
_BlockPieces = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class SlopeLayout:
    """Which variables are conditioned on, which are outcomes, which are random effects."""

    cond: tuple[str, ...]          # within covariates conditioned on (c)
    ys: tuple[str, ...]            # within outcomes (y side)
    w: tuple[str, ...]             # between-only covariates conditioned on
    z: tuple[str, ...]             # between-only outcomes
    r: tuple[str, ...]             # random effects: between parts of ys, then slopes
    slopes: dict[str, tuple[str, str]]  # slope -> (outcome, covariate)


def make_layout(pt: ParTable, data: ClusterData) -> SlopeLayout:
    """The layout of a random-slope model on its (complete, two-level) data."""
    bw, bb = pt.blocks[pt.block_of(WITHIN)], pt.blocks[pt.block_of(BETWEEN)]
    slope_x = {x for _, x in pt.slopes.values()}
    cond = tuple(v for v in bw.ov if v in slope_x or (v in bw.ov_x and v not in data.both))
    ys = tuple(v for v in bw.ov if v not in cond)
    w = tuple(v for v in bb.ov if v in bb.ov_x and v in data.between_only)
    z = tuple(v for v in bb.ov if v in data.between_only and v not in w)
    r = tuple(v for v in bb.ov if v in ys) + tuple(pt.slopes)
    return SlopeLayout(cond, ys, w, z, r, dict(pt.slopes))


def block_matrices(bs: BlockSpec, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A block's RAM matrices (A, S, alpha) at theta."""
    dt = theta.dtype
    A = bs.A0.astype(dt)
    r, c, p = bs.A_free
    A[r, c] = theta[p]
    S = bs.S0.astype(dt)
    r, c, p = bs.S_free
    S[r, c] = theta[p]
    alpha = bs.alpha0.astype(dt)
    r, p = bs.alpha_free
    alpha[r] = theta[p]
    return A, S, alpha


def _scatter(bs: BlockSpec, gA: np.ndarray, gS: np.ndarray, galpha: np.ndarray,
             out: np.ndarray) -> None:
    """Add full-matrix derivatives of one block to the parameter gradient."""
    n = len(out)
    r, c, p = bs.A_free
    if len(p):
        out += np.bincount(p, gA[r, c], n)
    r, c, p = bs.S_free
    if len(p):
        out += np.bincount(p, gS[r, c], n)
    r, p = bs.alpha_free
    if len(p):
        out += np.bincount(p, galpha[r], n)


@dataclass(frozen=True, eq=False)
class SlopeData:
    """Per-cluster sufficient statistics for the random-slope likelihood."""

    M: np.ndarray        # (J, d, d) cross products of v = (1, c, y)
    n: np.ndarray        # (J,) cluster sizes
    t: np.ndarray        # (J, 1 + q_w + p_z): (1, w_j, z_j)
    nobs: int
    nclusters: int


def slope_data(data: ClusterData, layout: SlopeLayout) -> SlopeData:
    """The per-cluster cross products of (1, c, y) and the cluster vectors (1, w, z)."""
    rows, offsets = data.rows, data.offsets
    if rows is None or offsets is None:
        raise ValueError("the random-slope likelihood needs the data's rows by cluster")
    idx = [data.within.index(v) for v in layout.cond + layout.ys]
    V = np.hstack([np.ones((len(rows), 1)), rows[:, idx]])
    M = np.add.reduceat(V[:, :, None] * V[:, None, :], offsets, axis=0)
    pw = data.p_within
    bidx = [pw + data.between_only.index(v) for v in layout.w + layout.z]
    t = np.hstack([np.ones((data.nclusters, 1)), data.cluster_vectors[:, bidx]])
    return SlopeData(M, data.cluster_sizes.astype(float), t, data.nobs, data.nclusters)


class SlopeObjective:
    """Conditional log-likelihood of a random-slope model as a function of theta."""

    def __init__(self, pt: ParTable, spec: ModelSpec, data: ClusterData,
                 layout: SlopeLayout | None = None) -> None:
        self.pt = pt
        self.spec = spec
        self.data = data
        self.meanstructure = True
        # (the quadrature objective passes its own: slopes on latent covariates are
        # random effects in r without a column of K)
        self.layout = make_layout(pt, data) if layout is None else layout
        self.sdata = slope_data(data, self.layout)
        lay = self.layout
        self._iw, self._ib = spec.block_of(WITHIN), spec.block_of(BETWEEN)
        bw, bb = spec.blocks[self._iw], spec.blocks[self._ib]
        self._w_cond = [bw.names.index(v) for v in lay.cond]
        self._w_endo = [i for i in range(bw.k) if bw.names[i] not in lay.cond]
        endo_names = [bw.names[i] for i in self._w_endo]
        self._w_yrows = [endo_names.index(v) for v in lay.ys]
        self._b_cond = [bb.names.index(v) for v in lay.w]
        self._b_endo = [i for i in range(bb.k) if bb.names[i] not in lay.w]
        bendo = [bb.names[i] for i in self._b_endo]
        self._b_r = [bendo.index(v) for v in lay.r]
        self._b_z = [bendo.index(v) for v in lay.z]
        py, q = len(lay.ys), len(lay.cond)
        self.d = 1 + q + py
        # K entries: intercept columns for between parts, covariate columns for slopes
        self._k_int = [(lay.ys.index(v), k) for k, v in enumerate(lay.r) if v in lay.ys]
        self._k_slope = [(endo_names.index(y), lay.r.index(s), 1 + lay.cond.index(x))
                         for s, (y, x) in lay.slopes.items()]

    # -- the J-independent map theta -> model quantities ------------------
    def _blocks(self, theta: np.ndarray) -> list[_BlockPieces]:
        """Per block: (I - A)^-1 over the modelled variables and the pieces of A, S,
        alpha around it; shared by :meth:`quantities` and :meth:`pullback`."""
        out: list[_BlockPieces] = []
        for bs, endo, cond in ((self.spec.blocks[self._iw], self._w_endo, self._w_cond),
                               (self.spec.blocks[self._ib], self._b_endo, self._b_cond)):
            A, S, alpha = block_matrices(bs, theta)
            B = np.linalg.inv(np.eye(len(endo)) - A[np.ix_(endo, endo)])
            out.append((B, alpha[endo], A[np.ix_(endo, cond)], S[np.ix_(endo, endo)]))
        return out

    def quantities(self, theta: np.ndarray,
                   blocks: list[_BlockPieces] | None = None) -> dict[str, np.ndarray]:
        """The model quantities the likelihood needs: sigma_w, L, K (within), phi, H
        (random effects given the between covariates), phi_zz, H_z (between-only
        outcomes); see the module docstring."""
        lay = self.layout
        (BE, aE, AEC, SEE), (BB, aEb, AEW, SEEb) = blocks or self._blocks(theta)
        FE = BE[self._w_yrows]
        a = FE @ aE
        Pi = FE @ AEC
        sigma_w = FE @ SEE @ FE.T
        py, r = len(lay.ys), len(lay.r)
        L = np.concatenate([-a[:, None], -Pi, np.eye(py)], axis=1)
        K = np.zeros((py, r, self.d), dtype=theta.dtype)
        for a_i, k in self._k_int:
            K[a_i, k, 0] = 1.0
        for e_pos, k, c in self._k_slope:
            K[:, k, c] = FE[:, e_pos]

        W = self._b_cond
        m0 = BB @ aEb
        G = BB @ AEW
        cov = BB @ SEEb @ BB.T
        R, Z = self._b_r, self._b_z
        if Z:
            czz = cov[np.ix_(Z, Z)]
            crz = cov[np.ix_(R, Z)]
            reg = np.linalg.solve(czz, crz.T).T
            phi = cov[np.ix_(R, R)] - reg @ crz.T
            H = np.concatenate([(m0[R] - reg @ m0[Z])[:, None], G[R] - reg @ G[Z], reg], axis=1)
            Hz = np.concatenate([m0[Z][:, None], G[Z]], axis=1)
        else:
            czz = np.zeros((0, 0), dtype=theta.dtype)
            phi = cov[np.ix_(R, R)]
            H = np.concatenate([m0[R][:, None], G[R]], axis=1)
            Hz = np.zeros((0, 1 + len(W)), dtype=theta.dtype)
        return {"sigma_w": sigma_w, "L": L, "K": K, "phi": phi, "H": H, "phi_zz": czz,
                "H_z": Hz}

    # -- the likelihood given the quantities -----------------------------
    def _loglik_q(self, Q: Mapping[str, np.ndarray], gradient: bool,
                  per_cluster: bool = False) -> tuple[float, dict[str, np.ndarray] | None]:
        sd = self.sdata
        M, n, t = sd.M, sd.n, sd.t
        lay = self.layout
        py, r, pz = len(lay.ys), len(lay.r), len(lay.z)
        try:
            Lw = np.linalg.cholesky(Q["sigma_w"])
        except np.linalg.LinAlgError:
            return -np.inf, None
        phi = Q["phi"]
        # Phi may be singular (a boundary estimate); it must not be indefinite
        if np.linalg.eigvalsh(phi).min() < -1e-10 * max(1.0, np.abs(phi).max()):
            return -np.inf, None
        W = np.linalg.inv(Q["sigma_w"])
        logdet_w = 2 * np.log(np.diag(Lw)).sum()
        K, L, H = Q["K"], Q["L"], Q["H"]
        WL = W @ L
        T = np.einsum("arc,ab,bse->rsce", K, W, K, optimize=True)
        U2 = np.einsum("arc,ae->rce", K, WL, optimize=True)
        LWL = L.T @ WL
        C = np.einsum("jce,rsce->jrs", M, T, optimize=True)
        u = np.einsum("jec,rce->jr", M, U2, optimize=True)
        q0 = np.einsum("jce,ce->j", M, LWL, optimize=True)
        tz = t
        m = tz @ H.T
        Cm = np.einsum("jrs,js->jr", C, m)
        b = u - Cm
        q = q0 - 2 * np.einsum("jr,jr->j", u, m) + np.einsum("jr,jr->j", m, Cm)
        # Woodbury in the form that stays smooth when Phi is singular:
        # log|Phi| + log|Phi^-1 + C| = log|I + Phi C|, (Phi^-1 + C)^-1 = E Phi
        IPC = np.eye(r) + phi @ C
        sign, logdet_IPC = np.linalg.slogdet(IPC)
        if np.any(sign <= 0):
            return -np.inf, None
        E = np.linalg.inv(IPC)
        Pinv = E @ phi
        Pinv = 0.5 * (Pinv + np.swapaxes(Pinv, 1, 2))
        h = np.einsum("jrs,js->jr", Pinv, b)
        N = n.sum()
        if per_cluster:
            self._terms = -0.5 * (n * (py * LOG2PI + logdet_w) + logdet_IPC + q
                                  - np.einsum("jr,jr->j", b, h))
        ll = -0.5 * (N * py * LOG2PI + N * logdet_w + logdet_IPC.sum()
                     + q.sum() - np.einsum("jr,jr->", b, h))
        zpart = None
        if pz:
            zpart = between_only_part(Q, t, len(lay.w), per_cluster)
            if zpart is None:
                return -np.inf, None
            ll += zpart.loglik
            if per_cluster:
                self._terms = self._terms + zpart.terms
        if not gradient:
            return ll, None

        g_phi, g_H, D_C, D_u = effect_derivatives(C, E, Pinv, h, b, m, tz)
        R0 = -0.5 * M.sum(axis=0)
        DU2 = np.einsum("jr,jec->rce", D_u, M, optimize=True)
        DT = np.einsum("jrs,jce->rsce", D_C, M, optimize=True)
        g_W = L @ R0 @ L.T
        g_L = 2 * W @ L @ R0
        g_K = np.einsum("ae,rce->arc", WL, DU2, optimize=True)
        g_W += np.einsum("arc,be,rce->ab", K, L, DU2, optimize=True)
        g_L += np.einsum("arc,ab,rce->be", K, W, DU2, optimize=True)
        g_K += np.einsum("ab,bse,rsce->arc", W, K, DT, optimize=True)
        g_K += np.einsum("bse,ba,srec->arc", K, W, DT, optimize=True)
        g_W += np.einsum("arc,bse,rsce->ab", K, K, DT, optimize=True)
        g_sigma = -0.5 * N * W - W @ g_W @ W
        grads = {"sigma_w": g_sigma, "L": g_L, "K": g_K, "phi": g_phi, "H": g_H}
        if zpart is not None:
            grads.update(zpart.gradients())
        return ll, grads

    @overload
    def loglik(self, theta: np.ndarray, gradient: Literal[False] = False) -> float: ...

    @overload
    def loglik(self, theta: np.ndarray,
               gradient: Literal[True]) -> tuple[float, np.ndarray | None]: ...

    @overload
    def loglik(self, theta: np.ndarray,
               gradient: bool) -> float | tuple[float, np.ndarray | None]: ...

    def loglik(self, theta: np.ndarray,
               gradient: bool = False) -> float | tuple[float, np.ndarray | None]:
        """Conditional log-likelihood (given the covariates), and its gradient."""
        theta = np.asarray(theta, dtype=float)
        blocks = self._blocks(theta)
        ll, grads = self._loglik_q(self.quantities(theta, blocks), gradient)
        if not gradient:
            return ll
        if grads is None:
            return ll, None
        return ll, self.pullback(theta, grads, blocks)

    def between_joint(self, theta: np.ndarray) -> tuple[tuple[str, ...], np.ndarray,
                                                        np.ndarray, np.ndarray]:
        """The between block's modelled variables v given its covariates w at theta:
        (their names, m0, G, cov) with ``v | w ~ N(m0 + G w, cov)``."""
        theta = np.asarray(theta, dtype=float)
        BB, aE, AEW, SEE = self._blocks(theta)[1]
        bb = self.spec.blocks[self._ib]
        names = tuple(bb.names[i] for i in self._b_endo)
        return names, BB @ aE, BB @ AEW, BB @ SEE @ BB.T

    def cluster_loglik(self, theta: np.ndarray) -> np.ndarray:
        """Per-cluster log-likelihood terms (J,) at theta (-inf where undefined)."""
        self._terms = np.full(self.sdata.nclusters, -np.inf)
        self._loglik_q(self.quantities(np.asarray(theta, dtype=float)), False, True)
        return self._terms

    def cluster_scores(self, theta: np.ndarray) -> np.ndarray | None:
        """(J, npar) derivatives of the per-cluster terms (MLR's scores), by central
        differences of :meth:`cluster_loglik`."""
        theta = np.asarray(theta, dtype=float)
        out = np.empty((self.sdata.nclusters, len(theta)))
        f0: np.ndarray | None = None
        for i in range(len(theta)):
            h = 1e-5 * max(1.0, abs(theta[i]))
            e = np.zeros(len(theta))
            e[i] = h
            fp, fm = self.cluster_loglik(theta + e), self.cluster_loglik(theta - e)
            # one-sided next to the edge of the positive semidefinite cone
            if np.isfinite(fp).all() and np.isfinite(fm).all():
                out[:, i] = (fp - fm) / (2 * h)
            elif np.isfinite(fp).all() or np.isfinite(fm).all():
                f0 = f0 if f0 is not None else self.cluster_loglik(theta)
                out[:, i] = (fp - f0) / h if np.isfinite(fp).all() else (f0 - fm) / h
            else:
                return None
        return out

    def pullback(self, theta: np.ndarray, grads: Mapping[str, np.ndarray],
                 blocks: list[_BlockPieces] | None = None) -> np.ndarray:
        """Chain rule from d ll / d quantities back to d ll / d theta (analytic).

        Mirrors :meth:`quantities` step by step, with ``B = (I - A)^-1``
        giving ``dB = B dA B`` and the usual rules for products and inverses.
        """
        theta = np.asarray(theta, dtype=float)
        lay = self.layout
        bw, bb = self.spec.blocks[self._iw], self.spec.blocks[self._ib]
        out = np.zeros(len(theta))
        q = len(lay.cond)
        (BE, aE, AEC, SEE), (BB, aEb, AEW, SEEb) = blocks or self._blocks(theta)

        E, C = self._w_endo, self._w_cond
        FE = BE[self._w_yrows]
        gL, gK, gSig = grads["L"], grads["K"], grads["sigma_w"]
        g_a, g_Pi = -gL[:, 0], -gL[:, 1:1 + q]
        g_FE = np.outer(g_a, aE) + g_Pi @ AEC.T + (gSig + gSig.T) @ FE @ SEE
        for e_pos, k, c in self._k_slope:
            g_FE[:, e_pos] += gK[:, k, c]
        g_BE = np.zeros_like(BE)
        g_BE[self._w_yrows] = g_FE
        gA = np.zeros((bw.k, bw.k))
        gA[np.ix_(E, E)] = BE.T @ g_BE @ BE.T
        gA[np.ix_(E, C)] = FE.T @ g_Pi
        gS = np.zeros((bw.k, bw.k))
        gS[np.ix_(E, E)] = FE.T @ gSig @ FE
        galpha = np.zeros(bw.k)
        galpha[E] = FE.T @ g_a
        _scatter(bw, gA, gS, galpha, out)

        E, W = self._b_endo, self._b_cond
        aE, SEE = aEb, SEEb
        m0, G = BB @ aE, BB @ AEW
        cov = BB @ SEE @ BB.T
        R, Z = self._b_r, self._b_z
        qw = len(W)
        gH, gphi = grads["H"], grads["phi"]
        g_m0 = np.zeros(len(E))
        g_G = np.zeros((len(E), qw))
        g_cov = np.zeros((len(E), len(E)))
        g_m0[R] += gH[:, 0]
        g_G[R] += gH[:, 1:1 + qw]
        g_cov[np.ix_(R, R)] += gphi
        if Z:
            czz_inv = np.linalg.inv(cov[np.ix_(Z, Z)])
            reg = cov[np.ix_(R, Z)] @ czz_inv
            g_reg = -np.outer(gH[:, 0], m0[Z]) - gH[:, 1:1 + qw] @ G[Z].T + gH[:, 1 + qw:]
            g_m0[Z] += -reg.T @ gH[:, 0] + grads["H_z"][:, 0]
            g_G[Z] += -reg.T @ gH[:, 1:1 + qw] + grads["H_z"][:, 1:]
            g_cov[np.ix_(R, Z)] += g_reg @ czz_inv.T - (gphi + gphi.T) @ reg
            g_cov[np.ix_(Z, Z)] += (-reg.T @ g_reg @ czz_inv.T + reg.T @ gphi @ reg
                                    + grads["phi_zz"])
        g_BB = (g_cov + g_cov.T) @ BB @ SEE + np.outer(g_m0, aE) + g_G @ AEW.T
        gA = np.zeros((bb.k, bb.k))
        gA[np.ix_(E, E)] = BB.T @ g_BB @ BB.T
        gA[np.ix_(E, W)] = BB.T @ g_G
        gS = np.zeros((bb.k, bb.k))
        gS[np.ix_(E, E)] = BB.T @ g_cov @ BB
        galpha = np.zeros(bb.k)
        galpha[E] = BB.T @ g_m0
        _scatter(bb, gA, gS, galpha, out)
        return out

    def moments(self, theta: np.ndarray) -> tuple[list[BlockMoments], None]:
        """Block moments (for standardized estimates); no data-level moments."""
        return model_moments(self.spec, np.asarray(theta, dtype=float)), None

    @cached_property
    def positions(self) -> tuple[np.ndarray, ...]:
        """Per block: positions of its observed variables in the data vector ``data.names``."""
        names = self.data.names
        return tuple(self.spec.ov_positions(b, names) for b in range(len(self.spec.blocks)))

    @property
    def between_pos(self) -> np.ndarray:
        """Positions of the between block's observed variables in the data vector."""
        return self.positions[self._ib]


class CholeskyMap:
    """Optimise random-effect covariance blocks through their Cholesky factors.

    The maximum of a random-slope model often lies at (or next to) the edge of
    the positive semidefinite cone (a slope variance near zero, an
    intercept-slope correlation near one). In Cholesky coordinates that edge is
    an ordinary interior point, so the optimiser converges there instead of
    stalling against it. Parameters outside the blocks pass through unchanged.
    """

    def __init__(self, groups: Iterable[ArrayLike]) -> None:
        self.groups = [np.asarray(g, dtype=int) for g in groups]

    @staticmethod
    def for_model(pt: ParTable, spec: ModelSpec, layout: SlopeLayout) -> "CholeskyMap":
        bb = spec.blocks[spec.block_of(BETWEEN)]
        R = [bb.names.index(v) for v in layout.r]
        rows, cols, params = bb.S_free
        cell = {(int(a), int(c)): int(p) for a, c, p in zip(rows, cols, params)}
        counts = np.bincount(np.concatenate([p for b in spec.blocks for p in (b.S_free[2], b.A_free[2], b.alpha_free[1])]),
                             minlength=spec.npar)
        n = len(R)
        full = np.full((n, n), -1)
        for i in range(n):
            for j in range(i + 1):
                full[i, j] = cell.get((R[i], R[j]), -1)
        # Effects linked by free covariances form a group; a group whose
        # every (co)variance is a parameter of its own (a diagonal one appears
        # once in S_free, an off-diagonal one twice) gets a full Cholesky
        # factor, any other group a square root per variance.
        comp = list(range(n))

        def root(i: int) -> int:
            while comp[i] != i:
                i = comp[i]
            return i

        for i in range(n):
            for j in range(i):
                if full[i, j] >= 0:
                    comp[root(i)] = root(j)
        groups: list[np.ndarray] = []
        for rt in sorted({root(i) for i in range(n)}):
            members = [i for i in range(n) if root(i) == rt]
            sub = full[np.ix_(members, members)]
            il = np.tril_indices(len(members))
            own = all(sub[i, j] >= 0 and counts[sub[i, j]] == (1 if i == j else 2)
                      for i, j in zip(*il))
            if own:
                groups.append(sub)
            else:
                groups += [np.array([[full[i, i]]]) for i in members
                           if full[i, i] >= 0 and counts[full[i, i]] == 1]
        return CholeskyMap(groups)

    def forward(self, xi: np.ndarray) -> np.ndarray:
        """theta from the Cholesky coordinates xi."""
        theta = np.array(xi, dtype=float)
        for G in self.groups:
            n = len(G)
            L = np.zeros((n, n))
            il = np.tril_indices(n)
            L[il] = xi[G[il]]
            P = L @ L.T
            theta[G[il]] = P[il]
        return theta

    def inverse(self, theta: np.ndarray) -> np.ndarray:
        """Cholesky coordinates of theta (each block's eigenvalues floored just above zero,
        so that its factor exists)."""
        xi = np.array(theta, dtype=float)
        for G in self.groups:
            n = len(G)
            il = np.tril_indices(n)
            P = np.zeros((n, n))
            P[il] = theta[G[il]]
            P = P + np.tril(P, -1).T
            w, V = np.linalg.eigh(P)
            P = (V * np.maximum(w, 1e-6 * max(w.max(), 1e-8))) @ V.T
            xi[G[il]] = np.linalg.cholesky(P)[il]
        return xi

    def pullback(self, xi: np.ndarray, g: np.ndarray) -> np.ndarray:
        """A gradient with respect to theta as one with respect to xi."""
        out = np.array(g, dtype=float)
        for G in self.groups:
            n = len(G)
            il = np.tril_indices(n)
            L = np.zeros((n, n))
            L[il] = xi[G[il]]
            Gf = np.zeros((n, n))
            Gf[il] = g[G[il]]
            off = np.tril(Gf, -1)
            Gf = np.diag(np.diag(Gf)) + 0.5 * (off + off.T)
            dL = 2.0 * Gf @ L
            out[G[il]] = dL[il]
        return out

    def jacobian(self, xi: np.ndarray) -> np.ndarray:
        """d theta / d xi (identity outside the blocks)."""
        n = len(xi)
        J = np.eye(n)
        for G in self.groups:
            idx = G[np.tril_indices(len(G))]
            for k in idx:
                e = np.zeros(n)
                h = 1e-7 * max(1.0, abs(xi[k]))
                e[k] = h
                J[:, k] = (self.forward(xi + e) - self.forward(xi - e)) / (2 * h)
        return J


def boundary_notes(obj: SlopeObjective, theta: ArrayLike) -> tuple[str, ...]:
    """Plain-language notes when the random-effect covariance sits at its boundary."""
    phi = np.real(obj.quantities(np.asarray(theta, dtype=float))["phi"])
    names = obj.layout.r
    sd = np.sqrt(np.clip(np.diag(phi), 0, None))
    # a variance the model fixes at zero is no finding about the data
    fixed_zero = {r["lhs"] for r in obj.pt.records if r["op"] == "~~" and r["lhs"] == r["rhs"]
                  and r["block"] == obj.pt.block_of(BETWEEN) and not r["free"]
                  and r["ustart"] == 0}
    notes: list[str] = []
    for i, v in enumerate(names):
        if sd[i] < 1e-4 * max(1.0, sd.max()) and v not in fixed_zero:
            notes.append(f"the variance of {v} (between) is at its boundary (zero): {v} does "
                         "not vary across clusters in these data")
    with np.errstate(divide="ignore", invalid="ignore"):
        R = phi / np.outer(sd, sd)
    for i in range(len(names)):
        for j in range(i):
            if np.isfinite(R[i, j]) and abs(R[i, j]) > 0.999:
                notes.append(f"{names[i]} and {names[j]} correlate {R[i, j]:.5f} (between): the "
                             "random-effect covariance is at its boundary; the estimates are "
                             "maximum likelihood but standard errors of its elements are not "
                             "reliable")
    return tuple(notes)
