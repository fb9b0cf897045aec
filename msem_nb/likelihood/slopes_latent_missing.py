"""Random slopes on latent covariates (quadrature) with missing outcome values (FIML).

:mod:`msem_nb.likelihood.slopes_latent` integrates the slopes that multiply a
latent variable, ``u``, numerically; given ``u`` the cluster's outcomes follow
the closed form of :mod:`msem_nb.likelihood.slopes` with ``Sigma_W(s)``,
``a(s)``, ``Pi(s)`` and ``Z_ij(s)``. With missing outcome values that closed
form is the FIML one of :mod:`msem_nb.likelihood.slopes_missing`: row i enters
through the padded inverse ``W_i(s) = S_i' (S_i Sigma_W(s) S_i')^-1 S_i`` of its
pattern of observed outcomes, so per quadrature item (cluster j, point u)

    -2 log f(y_j | u) = sum_k n_jk (|o_k| log 2 pi + log|S_k Sigma_W(s) S_k'|)
                        + log|I + Phi_c C| + q - b' (Phi_c^-1 + C)^-1 b
    C = sum_k tr-contractions of M_jk with Z' W_k(s) Z,  u, q0 likewise,

with ``M_jk`` the per-(cluster, pattern) cross products of
:func:`~msem_nb.likelihood.slopes_missing.missing_slope_data`. Everything else
(the adaptation, the rule) is the quadrature objective's. The quadrature
objective's analytic gradient is that of complete-data items, so here the
gradient and MLR's cluster scores are central differences of the per-cluster
terms with the adaptation held fixed (shown accurate against Richardson
extrapolation in tests/test_slopes_missing.py). Invariant: with one pattern (complete data) the
items are those of ``LatentSlopeObjective`` (tests/test_slopes_missing.py).
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np

from msem_nb.data.complete import ClusterData
from msem_nb.likelihood.complete import LOG2PI
from msem_nb.likelihood.quadrature import Adaptation
from msem_nb.likelihood.slopes import SlopeData
from msem_nb.likelihood.slopes_latent import DEFAULT_NODES, LatentSlopeObjective
from msem_nb.likelihood.slopes_missing import missing_slope_data
from msem_nb.model.partable import ParTable
from msem_nb.model.spec import ModelSpec

__all__ = ["MissingLatentSlopeObjective"]

#: items per batch (cluster, quadrature point), as the quadrature objective's
_CHUNK = 200_000


class MissingLatentSlopeObjective(LatentSlopeObjective):
    """Marginal FIML log-likelihood with slopes on latent covariates and missing
    outcome values (see the module docstring); covariates complete."""

    def __init__(self, pt: ParTable, spec: ModelSpec, data: ClusterData,
                 nodes: int = DEFAULT_NODES) -> None:
        super().__init__(pt, spec, data, nodes)
        self.mdata = missing_slope_data(data, self.layout)
        sd = self.sdata
        self.sdata = SlopeData(self.mdata.M.sum(axis=1), sd.n, sd.t, sd.nobs, sd.nclusters)

    def _items(self, P: dict[str, np.ndarray], jidx: np.ndarray, u: np.ndarray) -> np.ndarray:
        """log f(y_j | u) + log phi(u) for items (cluster jidx[k], point u[k])."""
        if len(jidx) > _CHUNK:
            return np.concatenate([self._items(P, jidx[i:i + _CHUNK], u[i:i + _CHUNK])
                                   for i in range(0, len(jidx), _CHUNK)])
        py, q = len(self.layout.ys), self.q
        nK = len(jidx)
        sig, L, Kz = self.given_u(P, jidx, u)
        r = len(self._l_idx)
        Mj = self.mdata.M[jidx]
        cnt = self.mdata.counts[jidx]
        const = np.zeros(nK)
        C = np.zeros((nK, r, r))
        uu = np.zeros((nK, r))
        q0 = np.zeros(nK)
        for p, mask in enumerate(self.mdata.masks):
            o = np.flatnonzero(mask)
            if not len(o):
                continue
            so = sig[:, o][:, :, o]
            try:
                Lw = np.linalg.cholesky(so)
            except np.linalg.LinAlgError:
                return np.full(nK, -np.inf)
            const += cnt[:, p] * (len(o) * LOG2PI
                                  + 2 * np.log(np.diagonal(Lw, axis1=1, axis2=2)).sum(axis=1))
            W = np.zeros((nK, py, py))
            W[:, o[:, None], o] = np.linalg.inv(so)
            M = Mj[:, p]
            WK = np.einsum("kab,kbrc->karc", W, Kz)
            C += np.einsum("kce,karc,kase->krs", M, Kz, WK, optimize=True)
            WL = W @ L
            uu += np.einsum("kce,karc,kae->kr", M, Kz, WL, optimize=True)
            q0 += np.einsum("kce,kce->k", M, np.swapaxes(L, 1, 2) @ WL)
        m = P["mu_r"][jidx] + u @ P["Lrs"].T
        Cm = np.einsum("krs,ks->kr", C, m)
        b = uu - Cm
        qq = q0 - 2 * np.einsum("kr,kr->k", uu, m) + np.einsum("kr,kr->k", m, Cm)
        IPC = np.eye(r) + P["phi_c"] @ C
        sign, logdet_ipc = np.linalg.slogdet(IPC)
        h = np.linalg.solve(IPC, (P["phi_c"] @ b[:, :, None]))[:, :, 0]
        ll = -0.5 * (const + logdet_ipc + qq - np.einsum("kr,kr->k", b, h))
        ll = np.where(sign > 0, ll, -np.inf)
        return ll - 0.5 * (q * LOG2PI + (u ** 2).sum(axis=1))

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
        """Marginal log-likelihood (given the covariates), and its differenced gradient."""
        theta = np.asarray(theta, dtype=float)
        try:
            ad = self.adaptation(theta)
        except np.linalg.LinAlgError:
            return (-np.inf, None) if gradient else -np.inf
        ll = float(self.cluster_loglik(theta, ad).sum())
        if not gradient:
            return ll
        if not np.isfinite(ll):
            return ll, None
        S = self.cluster_scores(theta, ad)
        return ll, (None if S is None else S.sum(axis=0))

    def cluster_scores(self, theta: np.ndarray,
                       ad: Adaptation | None = None) -> np.ndarray | None:
        """(J, npar) derivatives of the per-cluster terms, by central differences with
        the adaptation held fixed; None where no finite difference exists."""
        theta = np.asarray(theta, dtype=float)
        ad = self.adaptation(theta) if ad is None else ad
        out = np.empty((self.sdata.nclusters, len(theta)))
        f0: np.ndarray | None = None
        for i in range(len(theta)):
            h = 1e-5 * max(1.0, abs(theta[i]))
            e = np.zeros(len(theta))
            e[i] = h
            fp = self.cluster_loglik(theta + e, ad)
            fm = self.cluster_loglik(theta - e, ad)
            # one-sided next to the edge of the positive semidefinite cone
            if np.isfinite(fp).all() and np.isfinite(fm).all():
                out[:, i] = (fp - fm) / (2 * h)
            elif np.isfinite(fp).all() or np.isfinite(fm).all():
                f0 = f0 if f0 is not None else self.cluster_loglik(theta, ad)
                out[:, i] = (fp - f0) / h if np.isfinite(fp).all() else (f0 - fm) / h
            else:
                return None
        return out
