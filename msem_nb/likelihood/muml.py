"""Muthen's MUML fit function as a pseudo log-likelihood, with its analytic gradient.

MUML (Muthen, 1994) fits a two-level model to two moment matrices only:
the pooled within-cluster covariance and the scaled between-cluster
covariance of the cluster vectors ``x_j`` (cluster means of the within
variables, values of the between-only ones),

    ybar = sum_j n_j x_j / N
    S_PW = within SSCP / (N - J)
    S_B  = sum_j n_j (x_j - ybar)(x_j - ybar)' / (J - 1)
    c    = (N^2 - sum_j n_j^2) / (N (J - 1))

With equal cluster sizes ``E(S_B) = Sigma_W + n Sigma_B``; with unequal sizes
MUML uses the single value c in place of n, the approximation that makes it
a quasi-likelihood. It minimises

    F = (N - J) [log|Sigma_W| + tr(Sigma_W^-1 S_PW)]
        + (J - 1) [log|T| + tr(T^-1 S_B)] + N (ybar - mu)' T^-1 (ybar - mu),
    T = Sigma_W (+) c Sigma_B

(``(+)``: Sigma_W is added to the within rows and columns of the data
vector; Sigma_B is zero outside the between block's variables). With
``d = ybar - mu`` the derivatives, as unconstrained symmetric matrices, are

    dF/dT       = (J - 1) (T^-1 - T^-1 S_B T^-1) - N T^-1 d d' T^-1
    dF/dSigma_W = (N - J) (W^-1 - W^-1 S_PW W^-1) + [dF/dT]_ww
    dF/dSigma_B = c dF/dT,    dF/dmu = -2 N T^-1 d

and are carried back to the parameters block by block
(:func:`msem_nb.model.implied.block_gradient`).

:class:`MumlObjective` offers the log-likelihood seam of
:class:`msem_nb.likelihood.objective.Objective` (``loglik(theta,
gradient)``, ``moments(theta)``) with ``loglik = -F / 2``, so the
optimiser maximises it and minus its Hessian is the information behind
MUML's standard errors.

Invariants: the data are complete two-level data (``ClusterData``) with at
least two clusters; ``loglik`` is ``-inf`` (gradient None) where Sigma_W or
T is not positive definite; -F / 2 is *not* a log-likelihood (no constants,
J - 1 weighting, c for n), so it must not feed a likelihood-ratio test, AIC
or BIC.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, overload

import numpy as np

from msem_nb.data.complete import ClusterData
from msem_nb.likelihood.objective import Objective
from msem_nb.likelihood.protocol import DataMoments
from msem_nb.model.implied import BlockMoments, block_gradient
from msem_nb.model.spec import ModelSpec

__all__ = ["MumlMoments", "MumlObjective", "muml_moments"]


class MumlMoments(NamedTuple):
    """The sample moments MUML fits (see the module docstring)."""

    ybar: np.ndarray
    s_pw: np.ndarray
    s_b: np.ndarray
    c: float


def muml_moments(data: ClusterData) -> MumlMoments:
    """``(ybar, S_PW, S_B, c)`` of prepared two-level data (:class:`ClusterData`).

    ``ybar`` is the overall mean over rows (between-only variables weighted
    by cluster size, as in S_B).
    """
    N, J = data.nobs, data.nclusters
    n = data.cluster_sizes.astype(float)
    x = data.cluster_vectors
    ybar = n @ x / N
    dev = x - ybar
    s_b = (dev * n[:, None]).T @ dev / (J - 1)
    s_pw = data.within_sscp / (N - J)
    c = (N * N - float(n @ n)) / (N * (J - 1))
    return MumlMoments(ybar, s_pw, s_b, c)


class MumlObjective:
    """-F / 2 and its analytic gradient, as a pseudo log-likelihood.

    Parameters
    ----------
    objective : Objective
        The model's (ML) objective on the same data: it supplies the
        model-implied moments and their layout in the data vector.
    moments : MumlMoments, optional
        Default: :func:`muml_moments` of ``objective.data``.
    """

    def __init__(self, objective: Objective, moments: MumlMoments | None = None) -> None:
        d = objective.data
        if not isinstance(d, ClusterData):
            raise TypeError("MUML needs complete two-level data (ClusterData)")
        self.objective = objective
        self._data = d
        self.sample = muml_moments(d) if moments is None else moments
        self.N, self.J, self.pw = d.nobs, d.nclusters, d.p_within

    # the same face as Objective, for results, standardisation and resampling
    @property
    def spec(self) -> ModelSpec:
        return self.objective.spec

    @property
    def data(self) -> ClusterData:
        return self._data

    @property
    def meanstructure(self) -> bool:
        return self.objective.meanstructure

    def moments(self, theta: np.ndarray) -> tuple[list[BlockMoments], DataMoments]:
        """Block moments and the data-level moments (mu, sigma_w, sigma_b)."""
        return self.objective.moments(theta)

    def fmin(self, theta: np.ndarray) -> float:
        """F at theta (inf where an implied matrix is not positive definite)."""
        return -2.0 * self._value_grad(theta, False)[0]

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
        """-F / 2 at theta; with ``gradient=True`` the pair (value, gradient or None)."""
        ll, g = self._value_grad(theta, gradient)
        return (ll, g) if gradient else ll

    def _value_grad(self, theta: np.ndarray, gradient: bool) -> tuple[float, np.ndarray | None]:
        bm, mom = self.objective.moments(theta)
        if len(mom) != 3:  # pragma: no cover - the constructor asks for ClusterData
            raise TypeError("MUML needs the moments of a two-level model")
        mu, sw, sb = mom
        N, J, pw = self.N, self.J, self.pw
        ybar, s_pw, s_b, c = self.sample
        T = c * sb
        T[:pw, :pw] += sw
        try:
            Lw = np.linalg.cholesky(sw)
            Lt = np.linalg.cholesky(T)
        except np.linalg.LinAlgError:
            return -np.inf, None
        iw = np.linalg.inv(sw)
        it = np.linalg.inv(T)
        d = ybar - mu
        itd = it @ d
        F = ((N - J) * (2 * np.log(np.diag(Lw)).sum() + np.sum(iw * s_pw))
             + (J - 1) * (2 * np.log(np.diag(Lt)).sum() + np.sum(it * s_b))
             + N * d @ itd)
        if not gradient:
            return -0.5 * F, None
        G_t = (J - 1) * (it - it @ s_b @ it) - N * np.outer(itd, itd)
        G_w = (N - J) * (iw - iw @ s_pw @ iw) + G_t[:pw, :pw]
        G_b = c * G_t
        g_mu = -2.0 * N * itd
        spec = self.objective.spec
        w, b, ix = self.objective.level_blocks
        pos = self.objective.positions
        g = np.zeros(spec.npar)
        block_gradient(spec.blocks[w], bm[w], G_w, g_mu[pos[w]], g)
        block_gradient(spec.blocks[b], bm[b], G_b[ix], g_mu[pos[b]], g)
        return -0.5 * F, -0.5 * g
