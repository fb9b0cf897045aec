"""The saturated (unrestricted, "h1") model: free means and covariances per level.

Used for the chi-square test, for the fixed values of exogenous covariates
(fixed.x), for ICCs and for start values. Single level: closed form. Two
levels: closed form when no variable has both a within and a between part,
otherwise Fisher scoring in canonical coordinates
(:mod:`msem_nb.estimation.saturated_twolevel`; O(p^2) memory). Incomplete
data (FIML) are maximised over Cholesky factors with the analytic gradient.

A prepared data set is immutable, so its saturated model is fitted once and
kept with it (:func:`data_cache`): fit measures, ``decompose`` and the
panel's refits on the same prepared data share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.data.missing import MissingSingleData
from msem_nb.data.weights import WeightedClusterData
from msem_nb.estimation.optimize import maximize
from msem_nb.estimation.saturated_missing import fit_saturated_single_missing
from msem_nb.estimation.saturated_twolevel import fit_twolevel_h1
from msem_nb.likelihood.complete import loglik_single, loglik_twolevel
from msem_nb.likelihood.missing import loglik_twolevel_missing

__all__ = ["Saturated", "fit_saturated", "moment_starts", "data_cache"]

def data_cache(data: object) -> dict:
    """A dict kept with a prepared data set for results that depend only on it.

    The incomplete-data containers carry one (``_cache``); the complete-data
    containers, frozen dataclasses without that field, get it in their
    instance dict on first use. Either way it lives and dies with the data
    object (cached values may refer back to the data: a cycle the garbage
    collector handles, unlike a weak-key table whose values hold their key).
    A new container (``subset``, ``dataclasses.replace``) starts empty.
    """
    own = getattr(data, "_cache", None)
    if isinstance(own, dict):
        return own
    slots = getattr(data, "__dict__", None)
    if slots is None:           # no instance dict: nothing can be kept
        return {}
    cache: dict = slots.setdefault("_cache", {})
    return cache


@dataclass(frozen=True, eq=False)
class Saturated:
    """ML estimates of the saturated model.

    ``sigma_b`` spans all variables (zero rows for within-only ones); for a
    single-level sample ``sigma_w`` is the covariance and ``sigma_b`` None.
    """

    names: tuple[str, ...]
    mu: np.ndarray
    sigma_w: np.ndarray
    sigma_b: np.ndarray | None
    loglik: float
    converged: bool = True
    iterations: int = 0


def moment_starts(data: ClusterData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moment estimates: pooled within covariance and a between covariance.

    The between part of within variables is the covariance of cluster means
    minus the pooled within covariance over the mean cluster size, with
    negative eigenvalues raised to a small positive value.
    """
    pw = data.p_within
    s_pw = data.within_sscp / max(data.nobs - data.nclusters, 1)
    x = data.cluster_vectors
    # between-only values can be missing (msem_nb.data.missing): available-case moments
    mu = np.nanmean(x, axis=0)
    xc = np.nan_to_num(x - mu)
    s_b = xc.T @ xc / len(x)
    nbar = data.nobs / data.nclusters
    s_b[:pw, :pw] -= s_pw / nbar
    return mu, s_pw, s_b


def _between_capable(data: ClusterData) -> np.ndarray:
    """Indices (data order) of variables that have a between part."""
    within_only = [i for i, v in enumerate(data.within) if v not in data.both]
    return np.array([i for i in range(len(data.names)) if i not in within_only], dtype=int)


def _make_pd(S: np.ndarray, floor: float) -> np.ndarray:
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    w = np.maximum(w, floor)
    return (V * w) @ V.T


def fit_saturated(data: SingleData | ClusterData) -> Saturated:
    """Fit the saturated model to prepared data, once per data object.

    Parameters
    ----------
    data : SingleData or ClusterData

    Returns
    -------
    Saturated
        Kept with `data` (:func:`data_cache`) and returned again on later
        calls; its arrays are read-only.
    """
    cache = data_cache(data)
    h1 = cache.get("h1")
    if h1 is None:
        h1 = _fit(data)
        # shared by every later caller on these data: nobody may change it
        for a in (h1.mu, h1.sigma_w, h1.sigma_b):
            if a is not None:
                a.setflags(write=False)
        cache["h1"] = h1
    return h1


def _fit(data: SingleData | ClusterData) -> Saturated:
    if data.incomplete:
        return _fit_missing(data)
    if isinstance(data, SingleData):
        ll, _ = loglik_single(data, data.mean, data.cov, gradient=False)
        return Saturated(data.names, data.mean.copy(), data.cov.copy(), None, ll)
    if isinstance(data, WeightedClusterData):   # weighted statistics: no closed form here
        return _fit_twolevel_bfgs(data, loglik_twolevel)
    return _fit_twolevel(data)


def _fit_missing(data: SingleData | ClusterData) -> Saturated:
    if isinstance(data, MissingSingleData):
        mu, sigma, ll, ok = fit_saturated_single_missing(data)
        return Saturated(data.names, mu, sigma, None, ll, ok)
    assert isinstance(data, ClusterData)
    return _fit_twolevel_bfgs(data, loglik_twolevel_missing)


def _fit_twolevel(data: ClusterData) -> Saturated:
    pw = data.p_within
    p = len(data.names)
    bc = _between_capable(data)
    names = data.names

    if not data.both:
        # No variable has two parts: within rows are iid, between-only
        # values are iid over clusters; the MLEs are sample moments.
        rows = data.rows
        assert rows is not None     # complete two-level data keep their rows
        mu = np.zeros(p)
        mu_w = rows.mean(axis=0)
        sw = (rows - mu_w).T @ (rows - mu_w) / data.nobs
        mu[:pw] = mu_w
        sb = np.zeros((p, p))
        if len(bc):
            z = data.cluster_vectors[:, pw:]
            mz = z.mean(axis=0)
            mu[pw:] = mz
            sb[pw:, pw:] = (z - mz).T @ (z - mz) / data.nclusters
        ll, _ = loglik_twolevel(data, mu, sw, sb, gradient=False)
        return Saturated(names, mu, sw, sb, ll)

    res = fit_twolevel_h1(data, moment_starts(data))
    if res is None:
        # start values outside the parameter space (collinear variables):
        # the quasi-Newton fit over Cholesky factors reports what it can
        return _fit_twolevel_bfgs(data, loglik_twolevel)
    return Saturated(names, res.mu, res.sigma_w, res.sigma_b, res.loglik, res.converged,
                     res.iterations)


def _fit_twolevel_bfgs(data: ClusterData, loglik: Callable[..., Any]) -> Saturated:
    """Quasi-Newton over Cholesky factors (FIML; memory of order p^4)."""
    pw = data.p_within
    p = len(data.names)
    bc = _between_capable(data)
    within_only = np.setdiff1d(np.arange(pw), bc)
    mu0, s_pw, s_b = moment_starts(data)
    sb0 = s_b[np.ix_(bc, bc)]
    scale = np.maximum(np.diag(sb0), 1e-3 * np.diag(s_b)[bc].clip(min=1e-8))
    sb0 = _make_pd(sb0, 0.05 * scale.min() + 1e-8)
    Lw0 = np.linalg.cholesky(s_pw)
    Lb0 = np.linalg.cholesky(sb0)
    iw = np.tril_indices(pw)
    ib = np.tril_indices(len(bc))
    nw = len(iw[0])
    x0 = np.concatenate([mu0, Lw0[iw], Lb0[ib]])

    def unpack(x: np.ndarray) -> tuple[np.ndarray, ...]:
        mu = x[:p]
        Lw = np.zeros((pw, pw))
        Lw[iw] = x[p:p + nw]
        Lb = np.zeros((len(bc), len(bc)))
        Lb[ib] = x[p + nw:]
        sw = Lw @ Lw.T
        sb = np.zeros((p, p))
        sb[np.ix_(bc, bc)] = Lb @ Lb.T
        return mu, Lw, Lb, sw, sb

    def fun_grad(x: np.ndarray) -> tuple[float, np.ndarray | None]:
        mu, Lw, Lb, sw, sb = unpack(x)
        ll, g = loglik(data, mu, sw, sb)
        if g is None:
            return ll, None
        g_mu, G_w, G_b = g
        dLw = 2.0 * G_w @ Lw
        dLb = 2.0 * G_b[np.ix_(bc, bc)] @ Lb
        return ll, np.concatenate([g_mu, dLw[iw], dLb[ib]])

    res = maximize(fun_grad, x0, scale=data.nobs, gtol=1e-9, hessian=False)
    mu, _, _, sw, sb = unpack(res.x)
    if len(within_only):
        sb[within_only, :] = 0.0
        sb[:, within_only] = 0.0
    return Saturated(data.names, mu, sw, sb, res.fun, res.converged, res.iterations)
