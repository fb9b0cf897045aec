"""Random slopes with missing outcome values (FIML), covariates complete.

The model is that of :mod:`msem_nb.likelihood.slopes`: row i of cluster j has
``y_ij = a + Pi c_ij + Z_ij r_j + e_ij``, ``e_ij ~ N(0, Sigma_W)``, ``Z_ij``
built from ``v_ij = (1, c_ij, y_ij)`` (only its 1 and covariate entries enter
``Z_ij``), ``r_j ~ N(m_j, Phi)``, ``m_j = H t_j``. When row i observes only the
outcomes ``o_i`` (selection ``S_i``, ``|o_i| x p_y``), the observed part of the
stacked outcome vector is normal with the rows and columns of the missing
entries removed:

    S_i y_ij | r_j ~ N(S_i (a + Pi c_ij + Z_ij r_j), S_i Sigma_W S_i')

independently over rows given ``r_j``. With the padded inverse
``W_i = S_i' (S_i Sigma_W S_i')^-1 S_i`` (``p_y x p_y``, zero on missing rows and
columns) the residual ``L v_ij = y_ij - a - Pi c_ij`` (``L = [-a, -Pi, I]``) may
hold anything at the missing entries (they are set to 0): ``W_i`` never sees them.
Woodbury and the determinant lemma then give, exactly as for complete data
but with ``W`` replaced row by row by ``W_i``,

    -2 l_j = sum_i (|o_i| log 2 pi + log|S_i Sigma_W S_i'|)
             + log|I + Phi C_j| + q_j - b_j' (Phi^-1 + C_j)^-1 b_j
    C_j = sum_i Z_ij' W_i Z_ij,    u_j = sum_i Z_ij' W_i L v_ij,
    q0_j = sum_i v_ij' L' W_i L v_ij,  b_j = u_j - C_j m_j,
    q_j = q0_j - 2 u_j' m_j + m_j' C_j m_j.

Rows are grouped by their pattern k of observed outcomes: ``W_i = W_k``, and
every sum above is a contraction of the per-(cluster, pattern) cross products
``M_jk = sum_{i in j, pattern k} v_ij v_ij'`` with pattern quantities
(``T_k = K' W_k K``, ``K' W_k L``, ``L' W_k L``), so an evaluation costs
O(J K d^2 r^2) for K patterns after one pass over the rows. A row with no
observed outcome has ``W_k = 0`` and contributes nothing (as in lavaan-dev,
which warns about such rows); so does a cluster without observed outcomes.

Invariants: with one pattern (complete data) every quantity is the
complete-data one of ``slopes`` (tests/test_slopes_missing.py checks the
log-likelihood and the gradient against ``SlopeObjective``). The gradient is
analytic: the complete-data derivatives with respect to ``W`` per pattern, and
``dW_k = -W_k dSigma_W W_k`` (padded), so
``d ll / d Sigma_W = sum_k (-1/2 n_k W_k - W_k G_k W_k)`` with ``G_k`` the
derivative with respect to ``W_k`` and ``n_k`` the rows of pattern k.

Not here: missing covariates (random slopes condition on them; the data
preparation drops or the estimation refuses those rows) and missing between-only
outcomes (refused). Slopes on latent covariates (quadrature) use the same
per-pattern form for their items given the quadrature point
(:mod:`msem_nb.likelihood.slopes_latent_missing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from msem_nb.data.complete import ClusterData
from msem_nb.likelihood.complete import LOG2PI
from msem_nb.likelihood.slopes import SlopeData, SlopeLayout, SlopeObjective
from msem_nb.likelihood.slopes_terms import between_only_part, effect_derivatives
from msem_nb.model.partable import ParTable
from msem_nb.model.spec import ModelSpec

__all__ = ["MissingSlopeData", "MissingSlopeObjective", "missing_slope_data"]


@dataclass(frozen=True, eq=False)
class MissingSlopeData:
    """Per-(cluster, pattern) cross products for the random-slope FIML likelihood."""

    M: np.ndarray        # (J, K, d, d) cross products of v = (1, c, y), y 0 where missing
    counts: np.ndarray   # (J, K) rows per cluster and pattern
    masks: np.ndarray    # (K, p_y) observed outcomes of each pattern
    n_missing: int       # rows with at least one missing outcome
    n_empty: int         # rows without any observed outcome


def missing_slope_data(data: ClusterData, layout: SlopeLayout) -> MissingSlopeData:
    """The pattern cross products of (1, c, y) per cluster.

    Raises
    ------
    ValueError
        When the data keep no rows or a conditioned-on covariate has a missing
        value (the data preparation drops or refuses those rows first).
    """
    rows, offsets = data.rows, data.offsets
    if rows is None or offsets is None:
        raise ValueError("the random-slope likelihood needs the data's rows by cluster")
    ic = [data.within.index(v) for v in layout.cond]
    iy = [data.within.index(v) for v in layout.ys]
    if np.isnan(rows[:, ic]).any():
        raise ValueError("missing covariate values reached the random-slope likelihood")
    y = rows[:, iy]
    obs = ~np.isnan(y)
    if obs.shape[1]:
        masks, pat = np.unique(obs, axis=0, return_inverse=True)
        pat = pat.reshape(-1)
    else:
        masks, pat = np.ones((1, 0), bool), np.zeros(len(rows), int)
    K = len(masks)
    V = np.hstack([np.ones((len(rows), 1)), rows[:, ic], np.where(obs, y, 0.0)])
    outer = V[:, :, None] * V[:, None, :]
    onehot = (pat[:, None] == np.arange(K)).astype(float)
    M = np.add.reduceat(outer[:, None] * onehot[:, :, None, None], offsets, axis=0)
    counts = np.add.reduceat(onehot, offsets, axis=0)
    return MissingSlopeData(M, counts, masks.astype(bool), int((~obs).any(axis=1).sum()),
                            int((~obs).all(axis=1).sum()) if obs.shape[1] else len(rows))


class MissingSlopeObjective(SlopeObjective):
    """FIML log-likelihood of a random-slope model with missing outcome values
    (see the module docstring); covariates complete."""

    def __init__(self, pt: ParTable, spec: ModelSpec, data: ClusterData,
                 layout: SlopeLayout | None = None) -> None:
        super().__init__(pt, spec, data, layout)
        self.mdata = missing_slope_data(data, self.layout)
        # the plain cross products (y 0 where missing) for code that reads sdata
        sd = self.sdata
        self.sdata = SlopeData(self.mdata.M.sum(axis=1), sd.n, sd.t, sd.nobs, sd.nclusters)

    def _pattern_inverses(self, sigma_w: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray] | None:
        """(K, p_y, p_y) padded inverses W_k and (K,) log|Sigma_oo,k| + |o_k| log 2 pi;
        None when an observed block is not positive definite."""
        masks = self.mdata.masks
        K, py = masks.shape
        W = np.zeros((K, py, py), dtype=sigma_w.dtype)
        const = np.zeros(K)
        for k in range(K):
            o = np.flatnonzero(masks[k])
            if not len(o):
                continue
            S = sigma_w[np.ix_(o, o)]
            try:
                Lw = np.linalg.cholesky(S)
            except np.linalg.LinAlgError:
                return None
            W[k][np.ix_(o, o)] = np.linalg.inv(S)
            const[k] = len(o) * LOG2PI + 2 * np.log(np.diag(Lw)).sum()
        return W, const

    def _loglik_q(self, Q: Mapping[str, np.ndarray], gradient: bool,
                  per_cluster: bool = False) -> tuple[float, dict[str, np.ndarray] | None]:
        sd, md = self.sdata, self.mdata
        M, t = md.M, sd.t
        J = sd.nclusters
        lay = self.layout
        r, pz = len(lay.r), len(lay.z)
        inv = self._pattern_inverses(Q["sigma_w"])
        if inv is None:
            return -np.inf, None
        W, const = inv
        phi = Q["phi"]
        # Phi may be singular (a boundary estimate); it must not be indefinite
        if np.linalg.eigvalsh(phi).min() < -1e-10 * max(1.0, np.abs(phi).max()):
            return -np.inf, None
        Kq, L, H = Q["K"], Q["L"], Q["H"]
        WL = np.einsum("kab,be->kae", W, L)
        T = np.einsum("arc,kab,bse->krsce", Kq, W, Kq, optimize=True)
        U2 = np.einsum("arc,kae->krce", Kq, WL, optimize=True)
        LWL = np.einsum("ad,kae->kde", L, WL, optimize=True)
        # the J-sized contractions as one matrix product each over the flattened
        # (pattern, d, d) axis (M_jk is symmetric, so "jkec" is "jkce")
        Kp, d = M.shape[1], M.shape[2]
        Mf = M.reshape(J, Kp * d * d)
        C = Mf @ T.transpose(0, 3, 4, 1, 2).reshape(Kp * d * d, r * r)
        C = C.reshape(J, r, r)
        u = Mf @ U2.transpose(0, 2, 3, 1).reshape(Kp * d * d, r)
        q0 = Mf @ LWL.reshape(-1)
        m = t @ H.T
        Cm = np.einsum("jrs,js->jr", C, m)
        b = u - Cm
        q = q0 - 2 * np.einsum("jr,jr->j", u, m) + np.einsum("jr,jr->j", m, Cm)
        # Woodbury in the form that stays smooth when Phi is singular (as in slopes)
        IPC = np.eye(r) + phi @ C
        sign, logdet_IPC = np.linalg.slogdet(IPC)
        if np.any(sign <= 0):
            return -np.inf, None
        E = np.linalg.inv(IPC)
        Pinv = E @ phi
        Pinv = 0.5 * (Pinv + np.swapaxes(Pinv, 1, 2))
        h = np.einsum("jrs,js->jr", Pinv, b)
        nk = md.counts.sum(axis=0)
        if per_cluster:
            self._terms = -0.5 * (md.counts @ const + logdet_IPC + q
                                  - np.einsum("jr,jr->j", b, h))
        ll = -0.5 * (nk @ const + logdet_IPC.sum() + q.sum() - np.einsum("jr,jr->", b, h))
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

        # per cluster exactly as in slopes._loglik_q
        g_phi, g_H, D_C, D_u = effect_derivatives(C, E, Pinv, h, b, m, t)
        # per pattern: the complete-data derivatives with W_k in place of W
        R0 = -0.5 * M.sum(axis=0)
        DU2 = (D_u.T @ Mf).reshape(r, Kp, d, d).transpose(1, 0, 2, 3)
        DT = (D_C.reshape(J, r * r).T @ Mf).reshape(r, r, Kp, d, d).transpose(2, 0, 1, 3, 4)
        g_W = np.einsum("ad,kde,be->kab", L, R0, L, optimize=True)
        g_L = 2 * np.einsum("kab,bd,kde->ae", W, L, R0, optimize=True)
        g_K = np.einsum("kae,krce->arc", WL, DU2, optimize=True)
        g_W += np.einsum("arc,be,krce->kab", Kq, L, DU2, optimize=True)
        g_L += np.einsum("arc,kab,krce->be", Kq, W, DU2, optimize=True)
        g_K += np.einsum("kab,bse,krsce->arc", W, Kq, DT, optimize=True)
        g_K += np.einsum("bse,kba,ksrec->arc", Kq, W, DT, optimize=True)
        g_W += np.einsum("arc,bse,krsce->kab", Kq, Kq, DT, optimize=True)
        g_sigma = (-0.5 * np.einsum("k,kab->ab", nk, W)
                   - np.einsum("kab,kbc,kcd->ad", W, g_W, W, optimize=True))
        grads = {"sigma_w": g_sigma, "L": g_L, "K": g_K, "phi": g_phi, "H": g_H}
        if zpart is not None:
            grads.update(zpart.gradients())
        return ll, grads
