"""Random slopes on latent covariates and on the latent within part of both-level covariates.

A slope ``s`` of ``y`` on a within-level latent variable ``x`` (or on the
within part of an observed covariate that also appears at the between level:
latent centring, Rockwood 2020, section 4) multiplies two random variables.
Split the between random effects into the linear ones ``r`` (between parts of
the outcomes, slopes on observed covariates) and these nonlinear slopes
``s``. Given ``s_j`` the within model is the ordinary one with
``A_W(s_j) = A_W + sum_e s_je E_e`` (``E_e`` the cell ``(y_e, x_e)``), so

    y_ij | s_j, r_j ~ N(a(s_j) + Pi(s_j) c_ij + Z_ij(s_j) r_j, Sigma_W(s_j))

(the quantities of :mod:`msem_nb.likelihood.slopes` with
``F(s) = [(I - A_W(s))^-1]_(y rows)``), and with ``(s, r)`` jointly normal
given ``t_j = (1, w_j, z_j)``, written with the Cholesky factor of their
covariance ordered ``(s, r)``, ``s = mu_s + L_ss u``,
``r | u ~ N(mu_r + L_rs u, L_rr L_rr')`` for ``u ~ N(0, I_q)``. The linear
effects are integrated analytically (Woodbury, as in ``slopes``), ``u``
numerically:

    l_j = log integral exp( log f(y_j | u) + log phi_q(u) ) du

by adaptive Gauss-Hermite quadrature (:mod:`msem_nb.likelihood.quadrature`:
nodes at each cluster's mode of the integrand, scaled by its curvature).
The adaptation is held fixed while theta moves less than ``_READAPT``, so that the
gradient and the differenced Hessian are those of one smooth function of theta.

With the nodes ``u_jk`` and weights ``w_jk`` fixed, ``l_j = log sum_k w_jk
exp(g_j(u_jk))`` has the gradient ``sum_k pi_jk d log f(y_j | u_jk) / d theta``
(``pi_jk`` the normalised terms, the posterior of u at the nodes; Louis' identity
for the quadrature sum). The conditional gradient is analytic
(:mod:`msem_nb.likelihood.slopes_gradient`), taken to theta through the
random-effect covariance's Cholesky factor and ``SlopeObjective.pullback``; the
per-cluster sums are MLR's scores. The Hessian at the maximum is central differences
of this gradient with the quadrature adapted there
(``estimation.maximum._quadrature_finish``).
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
from scipy.special import logsumexp

from msem_nb.data.complete import ClusterData
from msem_nb.likelihood.complete import LOG2PI
from msem_nb.likelihood.quadrature import (
    Adaptation,
    GaussHermite,
    adapt,
    agh_points,
    log_integrals,
)
from msem_nb.likelihood.slopes import SlopeLayout, SlopeObjective, block_matrices
from msem_nb.likelihood.slopes_gradient import ItemStructure, cholesky_backward, item_terms
from msem_nb.model.blocks import BETWEEN, WITHIN
from msem_nb.model.partable import ParTable
from msem_nb.model.spec import ModelSpec

__all__ = ["latent_slopes", "LatentSlopeObjective", "DEFAULT_NODES"]

#: Gauss-Hermite nodes per dimension (tests/test_slopes_lavdev.py shows the
#: log-likelihood moves by less than 1e-4 when they are doubled)
DEFAULT_NODES = 9
_READAPT = 1e-3
_CHUNK = 200_000
_GRAD_CHUNK = 20_000


def latent_slopes(pt: ParTable, data: ClusterData) -> dict[str, tuple[str, str]]:
    """The random slopes whose covariate is latent at the within level: a latent
    variable, or an observed covariate that also has a between part."""
    bw = pt.blocks[pt.block_of(WITHIN)]
    return {s: (y, x) for s, (y, x) in pt.slopes.items() if x in bw.lv or x in data.both}


def _layout(pt: ParTable, data: ClusterData, nl: dict[str, tuple[str, str]]) -> SlopeLayout:
    bw, bb = pt.blocks[pt.block_of(WITHIN)], pt.blocks[pt.block_of(BETWEEN)]
    lin = {s: yx for s, yx in pt.slopes.items() if s not in nl}
    slope_x = {x for _, x in lin.values()}
    cond = tuple(v for v in bw.ov if v in slope_x or (v in bw.ov_x and v not in data.both))
    ys = tuple(v for v in bw.ov if v not in cond)
    w = tuple(v for v in bb.ov if v in bb.ov_x and v in data.between_only)
    z = tuple(v for v in bb.ov if v in data.between_only and v not in w)
    r = tuple(v for v in bb.ov if v in ys) + tuple(lin) + tuple(nl)
    return SlopeLayout(cond, ys, w, z, r, lin)


class LatentSlopeObjective(SlopeObjective):
    """Marginal log-likelihood with slopes on latent covariates (see the module docstring)."""

    def __init__(self, pt: ParTable, spec: ModelSpec, data: ClusterData,
                 nodes: int = DEFAULT_NODES) -> None:
        self.nl = latent_slopes(pt, data)
        super().__init__(pt, spec, data, _layout(pt, data, self.nl))
        lay = self.layout
        bw = spec.blocks[self._iw]
        endo = [bw.names[i] for i in self._w_endo]
        self._cells = [(endo.index(y), endo.index(x)) for y, x in self.nl.values()]
        q = len(self.nl)
        self.q = q
        self._n_idx = list(range(len(lay.r) - q, len(lay.r)))
        self._l_idx = list(range(len(lay.r) - q))
        self.rule = GaussHermite.make(nodes, q)
        self.nodes = nodes
        self.structure = ItemStructure.make(self._cells, self._w_yrows, self._k_int,
                                            self._k_slope, len(lay.ys), len(self._l_idx), q)
        self._adapt: tuple[np.ndarray, Adaptation] | None = None

    # -- pieces at theta -------------------------------------------------
    def _pieces(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        bs = self.spec.blocks[self._iw]
        A, S, alpha = block_matrices(bs, theta)
        E, C = self._w_endo, self._w_cond
        Q = self.quantities(theta)
        phi, H = Q["phi"], Q["H"]
        order = self._n_idx + self._l_idx
        P = phi[np.ix_(order, order)]
        P = 0.5 * (P + P.T)
        jitter = 1e-10 * max(1.0, float(np.abs(np.diag(P)).max()))
        w, V = np.linalg.eigh(P)
        if w.min() < -1e-8 * max(1.0, float(w.max())):
            raise np.linalg.LinAlgError("the random-effect covariance is not positive "
                                        "semidefinite")
        Lc = np.linalg.cholesky((V * np.maximum(w, 0)) @ V.T + jitter * np.eye(len(P)))
        q = self.q
        mt = self.sdata.t @ H.T
        AEE = A[np.ix_(E, E)]
        return {"Lc": Lc, "AEE": AEE, "B0": np.linalg.inv(np.eye(len(E)) - AEE),
                "aE": alpha[E], "AEC": A[np.ix_(E, C)],
                "SEE": S[np.ix_(E, E)], "Lss": Lc[:q, :q], "Lrs": Lc[q:, :q],
                "phi_c": Lc[q:, q:] @ Lc[q:, q:].T, "mu_s": mt[:, self._n_idx],
                "mu_r": mt[:, self._l_idx], "phi_zz": Q["phi_zz"], "H_z": Q["H_z"]}

    def _items(self, P: dict[str, np.ndarray], jidx: np.ndarray, u: np.ndarray) -> np.ndarray:
        """log f(y_j | u) + log phi(u) for items (cluster jidx[k], point u[k])."""
        if len(jidx) > _CHUNK:
            return np.concatenate([self._items(P, jidx[i:i + _CHUNK], u[i:i + _CHUNK])
                                   for i in range(0, len(jidx), _CHUNK)])
        ll, _ = item_terms(P, self.structure, self.sdata.M[jidx], self.sdata.n[jidx], jidx, u)
        return ll - 0.5 * (self.q * LOG2PI + (u ** 2).sum(axis=1))

    def given_u(self, P: dict[str, np.ndarray], jidx: np.ndarray, u: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The closed form's within quantities given u for items (cluster jidx[k], point
        u[k]): ``Sigma_W(s)`` (K, py, py), ``L = [-a(s), -Pi(s), I]`` (K, py, d) and the
        random effects' design ``Z(s)`` as (K, py, r_lin, d), with ``s = mu_s + L_ss u``
        and ``F(s) = [(I - A_W(s))^-1]_(y rows)``."""
        py = len(self.layout.ys)
        nK = len(jidx)
        s = P["mu_s"][jidx] + u @ P["Lss"].T
        A = np.broadcast_to(P["AEE"], (nK,) + P["AEE"].shape).copy()
        for e, (yi, xi) in enumerate(self._cells):
            A[:, yi, xi] += s[:, e]
        k = A.shape[1]
        FE = np.linalg.inv(np.eye(k) - A)[:, self._w_yrows]         # (K, py, k)
        sig = FE @ P["SEE"] @ np.swapaxes(FE, 1, 2)
        L = np.concatenate([-(FE @ P["aE"])[:, :, None], -(FE @ P["AEC"]),
                            np.broadcast_to(np.eye(py), (nK, py, py))], axis=2)
        Kz = np.zeros((nK, py, len(self._l_idx), self.d))
        for a_i, kk in self._k_int:
            Kz[:, a_i, kk, 0] = 1.0
        for e_pos, kk, c in self._k_slope:
            Kz[:, :, kk, c] = FE[:, :, e_pos]
        return sig, L, Kz

    def _node(self, P: dict[str, np.ndarray], jidx: np.ndarray, u: np.ndarray,
              posterior: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """:meth:`_items`, and with `posterior` the mean and covariance of the linear
        effects given the cluster's data and u (Woodbury: ``m + (I + Phi C)^-1 Phi b``,
        ``(I + Phi C)^-1 Phi``)."""
        py, q = len(self.layout.ys), self.q
        nK = len(jidx)
        sig, L, Kz = self.given_u(P, jidx, u)
        try:
            Lw = np.linalg.cholesky(sig)
        except np.linalg.LinAlgError:
            # (nodes where Sigma_W(s) is not positive definite carry no weight)
            nr = len(self._l_idx)
            return (np.full(nK, -np.inf), np.zeros((nK, nr)) if posterior else None,
                    np.zeros((nK, nr, nr)) if posterior else None)
        logdet_w = 2 * np.log(np.diagonal(Lw, axis1=1, axis2=2)).sum(axis=1)
        W = np.linalg.inv(sig)
        r = len(self._l_idx)
        M = self.sdata.M[jidx]
        n = self.sdata.n[jidx]
        WK = np.einsum("kab,kbrc->karc", W, Kz)
        C = np.einsum("kce,karc,kase->krs", M, Kz, WK, optimize=True)
        WL = W @ L
        uu = np.einsum("kce,karc,kae->kr", M, Kz, WL, optimize=True)
        q0 = np.einsum("kce,kce->k", M, np.swapaxes(L, 1, 2) @ WL)
        m = P["mu_r"][jidx] + u @ P["Lrs"].T
        Cm = np.einsum("krs,ks->kr", C, m)
        b = uu - Cm
        qq = q0 - 2 * np.einsum("kr,kr->k", uu, m) + np.einsum("kr,kr->k", m, Cm)
        IPC = np.eye(r) + P["phi_c"] @ C
        sign, logdet_ipc = np.linalg.slogdet(IPC)
        h = np.linalg.solve(IPC, (P["phi_c"] @ b[:, :, None]))[:, :, 0]
        ll = -0.5 * (n * py * LOG2PI + n * logdet_w + logdet_ipc + qq
                     - np.einsum("kr,kr->k", b, h))
        ll = np.where(sign > 0, ll, -np.inf)
        ll = ll - 0.5 * (q * LOG2PI + (u ** 2).sum(axis=1))
        if not posterior:
            return ll, None, None
        cov = np.linalg.solve(IPC, np.broadcast_to(P["phi_c"], IPC.shape))
        return ll, m + h, 0.5 * (cov + np.swapaxes(cov, 1, 2))

    def node_posteriors(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray]:
        """Each cluster's posterior over the adapted nodes at theta.

        Returns
        -------
        weights : (J, K) posterior probabilities of the nodes (rows sum to one): the
            rule's log weights plus the integrand, normalised per cluster
        slopes : (J, K, q) the nonlinear slopes ``s = mu_s + L_ss u`` at the nodes
        mean, cov : (J, K, r_lin) and (J, K, r_lin, r_lin) the posterior of the linear
            effects given the cluster's data and the node
        """
        theta = np.asarray(theta, dtype=float)
        P = self._pieces(theta)
        ad = self.adaptation(theta)
        jidx, pts, lw = agh_points(ad, self.rule)
        J, K = self.sdata.nclusters, len(self.rule.z)
        parts = [self._node(P, jidx[i:i + _CHUNK], pts[i:i + _CHUNK], True)
                 for i in range(0, len(jidx), _CHUNK)]
        g = np.concatenate([p[0] for p in parts])
        mean = np.concatenate([p[1] for p in parts if p[1] is not None])
        cov = np.concatenate([p[2] for p in parts if p[2] is not None])
        bad = ~np.isfinite(g)   # no weight; keep their (undefined) moments out of sums
        mean[bad], cov[bad] = 0.0, 0.0
        logw = (lw + g).reshape(J, K)
        weights = np.exp(logw - logsumexp(logw, axis=1, keepdims=True))
        slopes = P["mu_s"][jidx] + pts @ P["Lss"].T
        r = mean.shape[1]
        return (weights, slopes.reshape(J, K, self.q), mean.reshape(J, K, r),
                cov.reshape(J, K, r, r))

    def _z_part(self, P: dict[str, np.ndarray]) -> np.ndarray:
        """Per-cluster log density of the between-only outcomes given the covariates."""
        lay = self.layout
        pz = len(lay.z)
        J = self.sdata.nclusters
        if not pz:
            return np.zeros(J)
        t = self.sdata.t
        tw = t[:, : 1 + len(lay.w)]
        dz = t[:, 1 + len(lay.w):] - tw @ P["H_z"].T
        Lz = np.linalg.cholesky(P["phi_zz"])
        Zi = np.linalg.inv(P["phi_zz"])
        return -0.5 * (pz * LOG2PI + 2 * np.log(np.diag(Lz)).sum()
                       + np.einsum("jr,rs,js->j", dz, Zi, dz))

    # -- the likelihood ---------------------------------------------------
    def adaptation(self, theta: np.ndarray, refresh: bool = False) -> Adaptation:
        """The rule's per-cluster centre and scale at theta (kept while theta stays near)."""
        if not refresh and self._adapt is not None:
            at, ad = self._adapt
            if np.abs(theta - at).max() <= _READAPT:
                return ad
        P = self._pieces(theta)
        start = None if self._adapt is None else self._adapt[1].mode
        ad = adapt(lambda j, u: self._items(P, j, u), self.sdata.nclusters, self.q,
                   start=start)
        self._adapt = (np.array(theta, dtype=float), ad)
        return ad

    def cluster_loglik(self, theta: np.ndarray, ad: Adaptation | None = None) -> np.ndarray:
        """Per-cluster log-likelihood terms (J,) at theta."""
        theta = np.asarray(theta, dtype=float)
        try:
            P = self._pieces(theta)
            ad = self.adaptation(theta) if ad is None else ad
        except np.linalg.LinAlgError:
            return np.full(self.sdata.nclusters, -np.inf)
        return log_integrals(lambda j, u: self._items(P, j, u), ad, self.rule) \
            + self._z_part(P)

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
        """Marginal log-likelihood (given the covariates), and its analytic gradient with
        the adaptation held fixed."""
        theta = np.asarray(theta, dtype=float)
        try:
            ad = self.adaptation(theta)
            P = self._pieces(theta)
        except np.linalg.LinAlgError:
            return (-np.inf, None) if gradient else -np.inf
        if not gradient:
            ll_j = log_integrals(lambda j, u: self._items(P, j, u), ad, self.rule)
            return float((ll_j + self._z_part(P)).sum())
        ll_j, G = self._cluster_terms(P, ad)
        ll = float((ll_j + self._z_part(P)).sum())
        if not np.isfinite(ll):
            return ll, None
        return ll, self._pull(theta, P, {k: v.sum(axis=0) for k, v in G.items()})[0]

    def cluster_scores(self, theta: np.ndarray,
                       ad: Adaptation | None = None) -> np.ndarray | None:
        """(J, npar) derivatives of the per-cluster terms (MLR's scores), analytic with
        the adaptation held fixed; None where a term is not finite."""
        theta = np.asarray(theta, dtype=float)
        try:
            ad = self.adaptation(theta) if ad is None else ad
            P = self._pieces(theta)
        except np.linalg.LinAlgError:
            return None
        ll_j, G = self._cluster_terms(P, ad)
        if not np.isfinite(ll_j).all():
            return None
        return self._pull(theta, P, G)

    # -- the gradient (see msem_nb.likelihood.slopes_gradient) ------------
    def _cluster_terms(self, P: dict[str, np.ndarray], ad: Adaptation
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Per-cluster quadrature sums (J,) and the posterior-weighted sums over the nodes
        of the conditional log-likelihood's derivatives with respect to the pieces
        (each (J, ...)), including those of the between-only outcomes' density."""
        J, q = self.sdata.nclusters, self.q
        jidx, pts, lw = agh_points(ad, self.rule)
        nk = len(self.rule.z)
        step = max(1, _GRAD_CHUNK // nk)
        ll_j = np.empty(J)
        G: dict[str, np.ndarray] = {}
        for j0 in range(0, J, step):
            j1 = min(J, j0 + step)
            sl = slice(j0 * nk, j1 * nk)
            ji, u = jidx[sl], pts[sl]
            v, g = item_terms(P, self.structure, self.sdata.M[ji], self.sdata.n[ji], ji, u,
                              True)
            logt = (lw[sl] + v - 0.5 * (q * LOG2PI + (u ** 2).sum(axis=1))).reshape(-1, nk)
            lj = logsumexp(logt, axis=1)
            ll_j[j0:j1] = lj
            if g is None or not np.isfinite(lj).all():
                g = g or {}
                pi = np.zeros_like(logt)
            else:
                pi = np.exp(logt - lj[:, None])
            uk = u.reshape(-1, nk, q)
            for key, val in g.items():
                shape: tuple[int, ...] = tuple(val.shape[1:])
                val = val.reshape((j1 - j0, nk) + shape)
                if key not in G:
                    G[key] = np.zeros((J,) + shape)
                G[key][j0:j1] = np.einsum("jk,jk...->j...", pi, val)
                if key in ("s", "m"):
                    name = "Lss" if key == "s" else "Lrs"
                    if name not in G:
                        G[name] = np.zeros((J, shape[0], q))
                    G[name][j0:j1] = np.einsum("jk,jka,jkb->jab", pi, val, uk)
        G["H"] = np.zeros((J, len(self.layout.r), self.sdata.t.shape[1]))
        if "s" in G:
            G["H"][:, self._n_idx] = G["s"][:, :, None] * self.sdata.t[:, None, :]
            G["H"][:, self._l_idx] = G["m"][:, :, None] * self.sdata.t[:, None, :]
        G.update(self._z_grads(P))
        return ll_j, G

    def _z_grads(self, P: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-cluster derivatives of :meth:`_z_part` with respect to phi_zz and H_z."""
        lay = self.layout
        if not lay.z:
            return {}
        t = self.sdata.t
        tw = t[:, : 1 + len(lay.w)]
        dz = t[:, 1 + len(lay.w):] - tw @ P["H_z"].T
        Zi = np.linalg.inv(P["phi_zz"])
        zd = dz @ Zi
        return {"phi_zz": -0.5 * (Zi[None] - zd[:, :, None] * zd[:, None, :]),
                "H_z": zd[:, :, None] * tw[:, None, :]}

    def _pull(self, theta: np.ndarray, P: dict[str, np.ndarray],
              G: dict[str, np.ndarray]) -> np.ndarray:
        """Derivatives with respect to the pieces (a leading cluster axis, or none for
        sums) taken back to theta: (J, npar), or (1, npar) for sums."""
        if G["AEE"].ndim == 2:     # sums over the clusters
            G = {k: v[None] for k, v in G.items()}
        nJ = G["AEE"].shape[0]
        npar = len(theta)
        out = np.zeros((nJ, npar))
        # the within block's matrices (free cells scattered to their parameters)
        bs = self.spec.blocks[self._iw]
        E, C = self._w_endo, self._w_cond
        gA = np.zeros((nJ, bs.k, bs.k))
        gA[:, np.ix_(E, E)[0], np.ix_(E, E)[1]] = G["AEE"]
        if C:
            gA[:, np.ix_(E, C)[0], np.ix_(E, C)[1]] = G["AEC"]
        gS = np.zeros((nJ, bs.k, bs.k))
        gS[:, np.ix_(E, E)[0], np.ix_(E, E)[1]] = G["SEE"]
        ga = np.zeros((nJ, bs.k))
        ga[:, E] = G["aE"]
        for (r, c, p), g in ((bs.A_free, gA), (bs.S_free, gS)):
            for i in range(len(p)):
                out[:, p[i]] += g[:, r[i], c[i]]
        r_a, p_a = bs.alpha_free
        for i in range(len(p_a)):
            out[:, p_a[i]] += ga[:, r_a[i]]
        # the Cholesky factor of the random-effect covariance (ordered (s, r)), the
        # effects' means t H'
        q = self.q
        Lc = P["Lc"]
        Lrr = Lc[q:, q:]
        nr = Lc.shape[0]
        Lbar = np.zeros((nJ, nr, nr))
        Lbar[:, :q, :q] = G["Lss"]
        Lbar[:, q:, :q] = G["Lrs"]
        gpc = G["phi_c"]
        Lbar[:, q:, q:] = (gpc + np.swapaxes(gpc, 1, 2)) @ Lrr
        Pbar = cholesky_backward(Lc, Lbar)
        order = self._n_idx + self._l_idx
        R = len(self.layout.r)
        g_phi = np.zeros((nJ, R, R))
        g_phi[:, np.ix_(order, order)[0], np.ix_(order, order)[1]] = Pbar
        between = {"phi": g_phi, "H": G["H"]}
        if "phi_zz" in G:
            between.update(phi_zz=G["phi_zz"], H_z=G["H_z"])
        return out + self._between_pull(theta, between)

    def _between_pull(self, theta: np.ndarray, between: dict[str, np.ndarray]) -> np.ndarray:
        """``SlopeObjective.pullback`` of the between quantities' derivatives, each with a
        leading axis (it is linear in them: with more rows than entries, its matrix is
        found by putting in one entry at a time)."""
        lay = self.layout
        py, R = len(lay.ys), len(lay.r)
        zero = {"L": np.zeros((py, self.d)), "K": np.zeros((py, R, self.d)),
                "sigma_w": np.zeros((py, py))}
        blocks = self._blocks(theta)
        keys = list(between)
        shapes = [between[k].shape[1:] for k in keys]
        sizes = [int(np.prod(sh)) for sh in shapes]
        flat = np.concatenate([between[k].reshape(len(between[k]), -1) for k in keys], axis=1)

        def pull(vec: np.ndarray) -> np.ndarray:
            parts, o = {}, 0
            for k, sh, sz in zip(keys, shapes, sizes):
                parts[k] = vec[o:o + sz].reshape(sh)
                o += sz
            return self.pullback(theta, {**zero, **parts}, blocks)

        nJ, D = flat.shape
        if nJ <= D:
            return np.array([pull(v) for v in flat])
        live = np.flatnonzero(np.abs(flat).max(axis=0) > 0)
        Mp = np.array([pull(np.eye(D)[i]) for i in live]).reshape(len(live), len(theta))
        return flat[:, live] @ Mp
