"""Wald tests and intervals: z, two-sided p-value and confidence interval.

For an estimate ``est`` with standard error ``se`` and confidence level
``ci_level``::

    z        = est / se
    pvalue   = 2 * (1 - Phi(|z|))
    ci       = est -/+ q * se,   q = Phi^-1(1/2 + ci_level / 2)

Invariants (the same for the parameter table, MUML and the panel's
indirect effects, which all call :func:`wald_table`):

* a fixed row (``free`` False) has no test: z and p are NaN and its interval
  is the point ``[est, est]``;
* as in lavaan's ``parameterEstimates``, z (and so p) is NaN where the
  standard error is zero or not finite (no sampling variability, or none
  available);
* a free row with a NaN standard error has a NaN interval.

This module also holds the one spelling of the confidence level,
``ci_level`` (``level`` names within/between), and the shim that accepts
the old ``level=`` keyword with a ``FutureWarning``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from msem_nb.errors import ModelSpecificationError

__all__ = ["wald_table", "z_quantile", "check_ci_level", "resolve_ci_level",
           "LEVEL_DEPRECATION"]

#: The text of the FutureWarning for the old keyword / attribute.
LEVEL_DEPRECATION = ("'level' as the confidence level is deprecated and will be removed; use "
                     "'ci_level' ('level' names the within/between level of a parameter)")


def check_ci_level(ci_level: object, name: str = "ci_level") -> float:
    """`ci_level` as a float strictly between 0 and 1.

    Raises
    ------
    ModelSpecificationError
        A value that is not a number in (0, 1); for a percentage such as 95
        the message asks "did you mean ci_level=0.95?".
    """
    if isinstance(ci_level, (bool, np.bool_)) or not isinstance(ci_level, (int, float, np.number)):
        raise ModelSpecificationError(
            f"{name} must be a number between 0 and 1 such as 0.95, not {ci_level!r}")
    v = float(ci_level)
    if 0.0 < v < 1.0:
        return v
    hint = f"did you mean {name}={v / 100:g}? " if 1.0 < v < 100.0 else ""
    raise ModelSpecificationError(
        f"{name}={ci_level!r} is not a confidence level: {hint}it must be strictly between 0 "
        "and 1 (0.95 gives 95% intervals)")


def resolve_ci_level(ci_level: float | None, level: float | None, default: float | None = 0.95,
                     stacklevel: int = 3) -> float | None:
    """The confidence level from the new ``ci_level`` or the deprecated ``level`` keyword.

    Parameters
    ----------
    ci_level, level : float or None
        What the caller was given. ``level`` (not None) issues a
        FutureWarning and is used; giving ``ci_level`` too (other than its
        default) is a TypeError.
    default : float or None
        The caller's default of ``ci_level``, returned when neither is given
        (None: "the fit's", left to the caller).
    stacklevel : int
        Of the FutureWarning, as for ``warnings.warn`` called here: 3 points
        at the caller of the public function that accepts ``level``.

    Returns
    -------
    float or None
        Checked by :func:`check_ci_level` unless None.
    """
    if level is not None:
        if ci_level is not None and ci_level != default:
            raise TypeError("give the confidence level once, as ci_level ('level' is its "
                            "deprecated name)")
        warnings.warn(LEVEL_DEPRECATION, FutureWarning, stacklevel=stacklevel)
        ci_level = level
    if ci_level is None:
        return default
    return check_ci_level(ci_level)


def z_quantile(ci_level: float) -> float:
    """The normal quantile ``q`` of a two-sided ``ci_level`` interval (1.96 for 0.95)."""
    return float(stats.norm.ppf(0.5 + ci_level / 2))


def wald_table(est, se, free=None, ci_level: float = 0.95) -> pd.DataFrame:
    """z, p-value and Wald interval of each estimate.

    Parameters
    ----------
    est, se : array-like
        Estimates and standard errors (NaN where not available).
    free : array-like of bool, optional
        False for fixed rows (no test, interval ``[est, est]``); default all True.
    ci_level : float
        Confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        Columns z, pvalue, ci_lower, ci_upper, one row per estimate (a fresh
        RangeIndex).
    """
    est = np.asarray(est, dtype=float)
    se = np.asarray(se, dtype=float)
    free = np.ones(est.shape, dtype=bool) if free is None else np.asarray(free, dtype=bool)
    q = z_quantile(ci_level)
    testable = free & np.isfinite(se) & (se > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(testable, est / np.where(testable, se, 1.0), np.nan)
    pvalue = np.where(np.isfinite(z), 2 * stats.norm.sf(np.abs(z)), np.nan)
    half = q * se
    return pd.DataFrame({"z": z, "pvalue": pvalue,
                         "ci_lower": np.where(free, est - half, est),
                         "ci_upper": np.where(free, est + half, est)})
