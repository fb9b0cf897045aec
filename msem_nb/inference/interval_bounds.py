"""Interval bounds from draws: percentile and bias-corrected and accelerated (BCa).

* Percentile: the ``alpha/2`` and ``1 - alpha/2`` quantiles of the finite draws.
* BCa (Efron, 1987): with ``z0 = Phi^-1(share of draws below the estimate)``
  (ties count half) and acceleration ``a = sum(d^3) / (6 sum(d^2)^1.5)`` from
  the deviations ``d`` of (grouped) jackknife estimates from their mean, the
  bounds are the quantiles ``Phi(z0 + (z0 + z_q) / (1 - a (z0 + z_q)))`` of
  the draws, ``z_q = Phi^-1(alpha/2), Phi^-1(1 - alpha/2)``. NaN bounds when
  ``z0`` is infinite (every draw on one side) or ``a`` is unavailable.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from msem_nb.inference.wald import resolve_ci_level

# ---------------------------------------------------------------------------
# Interval formulas
# ---------------------------------------------------------------------------

__all__ = ["percentile_interval", "acceleration", "bca_interval"]


def percentile_interval(values: np.ndarray, ci_level: float = 0.95, *,
                        level: float | None = None) -> tuple[float, float]:
    """Percentile interval of the finite `values` (NaN, NaN if there are none).

    ``level`` is the deprecated name of `ci_level`.
    """
    ci_level = resolve_ci_level(ci_level, level)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return np.nan, np.nan
    alpha = 1 - ci_level
    lo, hi = np.quantile(v, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def acceleration(jack: np.ndarray) -> float:
    """BCa acceleration from (grouped) jackknife estimates (Efron, 1987).

    ``a = sum(d^3) / (6 sum(d^2)^1.5)`` with ``d`` the deviations of the
    leave-one-out estimates from their mean; 0 when they do not vary.
    """
    j = np.asarray(jack, dtype=float)
    j = j[np.isfinite(j)]
    if len(j) < 3:
        return np.nan
    d = j.mean() - j
    den = 6.0 * np.sum(d ** 2) ** 1.5
    return float(np.sum(d ** 3) / den) if den > 0 else 0.0


def bca_interval(values: np.ndarray, estimate: float, accel: float,
                 ci_level: float = 0.95, *, level: float | None = None
                 ) -> tuple[float, float, float]:
    """Bias-corrected and accelerated percentile interval.

    Parameters
    ----------
    values : array
        Bootstrap estimates (non-finite ones are ignored).
    estimate : float
        The estimate on the original data.
    accel : float
        Acceleration, e.g. from :func:`acceleration`.
    ci_level : float
        Confidence level (``level`` is its deprecated name).

    Returns
    -------
    (lower, upper, z0)
        NaN bounds when the bias correction is infinite (every replicate on
        one side of the estimate) or the acceleration is not available.
    """
    ci_level = resolve_ci_level(ci_level, level)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v) or not np.isfinite(accel):
        return np.nan, np.nan, np.nan
    # Ties count half, so that a replicate equal to the estimate is neutral.
    prop = (np.sum(v < estimate) + 0.5 * np.sum(v == estimate)) / len(v)
    z0 = stats.norm.ppf(prop)
    if not np.isfinite(z0):
        return np.nan, np.nan, float(z0)
    alpha = 1 - ci_level
    zq = stats.norm.ppf([alpha / 2, 1 - alpha / 2])
    adj = stats.norm.cdf(z0 + (z0 + zq) / (1 - accel * (z0 + zq)))
    lo, hi = np.quantile(v, adj)
    return float(lo), float(hi), float(z0)
