"""Fit measures: chi-square against the saturated model, baseline-based indices,
RMSEA, SRMR (per level in two-level models), information criteria.

Conventions follow lavaan 0.6: log-likelihoods are conditional on fixed
exogenous covariates; RMSEA divides by N (not N - 1); the multilevel SRMR is
the sum over blocks of each block's SRMR (``srmr_within``, ``srmr_between``),
computed from correlation residuals between the saturated matrix of the
block's level and the block's implied matrix:

    SRMR_b = sqrt( mean over i >= j of (r_h1[i, j] - r_model[i, j])^2 )

A block with a non-positive variance (saturated or implied) has SRMR NaN.

The saturated model and the baseline depend on the data and the variable
set only, not on the model's paths: both are fitted once per prepared data
set and kept with it (:func:`msem_nb.estimation.saturated.data_cache`), so
refits of other models on the same prepared data (the panel) reuse them.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.estimation.estimate import Estimation, estimate
from msem_nb.estimation.saturated import Saturated, data_cache
from msem_nb.estimation.saturated_threelevel import ThreeLevelSaturated
from msem_nb.model.blocks import BlockKey
from msem_nb.model.partable import ParTable, baseline_partable

__all__ = ["fit_measures", "srmr_single", "srmr_block", "srmr_twolevel", "level_covariance",
           "srmr_key", "baseline_fit"]


def baseline_fit(pt: ParTable, data: SingleData | ClusterData, *,
                 information: str | None = None) -> tuple[ParTable, Estimation]:
    """The baseline (independence) model of `pt` and its estimates on `data`.

    The baseline table depends only on the variables' roles (levels, fixed
    covariates, mean structure), not on the model's paths, so the fit is
    kept with the prepared data under the baseline table's content and
    `information`: another model with the same variables on the same data
    reuses it.
    """
    base_pt = baseline_partable(pt)
    cols = ("lhs", "op", "rhs", "block", "free", "exo", "ustart")
    rows = tuple(tuple(_hashable(r[c]) for c in cols) for r in base_pt.records)
    key = ("baseline", rows, base_pt.blocks, base_pt.meanstructure, base_pt.nlevels,
           information)
    cache = data_cache(data)
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = (base_pt, estimate(base_pt, data, information=information))
    return hit


def _hashable(v: object) -> object:
    """A table cell as a key part; NaN (an empty ``ustart``) as None, since NaN != NaN."""
    if isinstance(v, float) and v != v:
        return None
    return v.item() if isinstance(v, np.generic) else v


def _cov2cor(S: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.diag(S))
    with np.errstate(divide="ignore", invalid="ignore"):
        return S / np.outer(d, d)


def _vech(M: np.ndarray) -> np.ndarray:
    return M[np.tril_indices(len(M))]


def srmr_single(S, m, sigma, mu) -> float:
    """Bentler's SRMR: residuals scaled by the observed standard deviations;
    mean residuals are included when the model has a mean structure."""
    sd = np.sqrt(np.diag(S))
    R = (S - sigma) / np.outer(sd, sd)
    r = _vech(R)
    total = np.sum(r ** 2)
    count = len(r)
    if mu is not None:
        total += np.sum(((m - mu) / sd) ** 2)
        count += len(m)
    return float(np.sqrt(total / count))


def srmr_block(h1_cov, cov) -> float:
    """SRMR of one block: correlation residuals of its observed variables
    (NaN when a variance is not positive)."""
    if not (np.all(np.diag(cov) > 0) and np.all(np.diag(h1_cov) > 0)):
        return float("nan")
    r = _vech(_cov2cor(h1_cov) - _cov2cor(cov))
    return float(np.sqrt(np.sum(r ** 2) / len(r)))


def srmr_twolevel(h1_w, h1_b, sigma_w, sigma_b):
    """(srmr, srmr_within, srmr_between) from saturated and implied matrices."""
    srmr_w, srmr_b = srmr_block(h1_w, sigma_w), srmr_block(h1_b, sigma_b)
    return srmr_w + srmr_b, srmr_w, srmr_b


def level_covariance(h1: Saturated, key: BlockKey) -> np.ndarray:
    """The saturated covariance of a block's level (over all data variables
    of that level's matrix): ``sigma_w`` for the lowest level, ``sigma_b``
    for the between level (level 2), ``sigma_3`` for level 3."""
    if key.is_lowest:
        return h1.sigma_w
    if key.level == 2:
        return h1.sigma_b
    if key.level == 3 and isinstance(h1, ThreeLevelSaturated):
        return h1.level_cov(3)
    raise NotImplementedError(f"no saturated covariance for level {key.level}")


def srmr_key(key: BlockKey) -> str:
    """The fit-measure key of a block's SRMR: ``srmr_within``, ``srmr_between``."""
    return f"srmr_{key.name}" + (f"_group{key.group}" if key.group != 1 else "")


def _chisq_df(ll_h1, ll, df):
    chisq = 2.0 * (ll_h1 - ll)
    # An exact optimum of a saturated-equivalent model can sit a rounding
    # error above the saturated log-likelihood.
    if chisq < 0 and chisq > -1e-6 * max(1.0, abs(ll)):
        chisq = 0.0
    return chisq, df


def fit_measures(*, loglik, npar, nobs, df, h1: Saturated, loglik_x, baseline_loglik,
                 baseline_df, data, implied, blocks=()) -> dict:
    """All fit measures of a fitted model.

    Parameters
    ----------
    loglik : float
        Conditional log-likelihood of the model.
    h1 : Saturated
        Saturated model of all observed variables (joint log-likelihood).
    loglik_x : float
        Log-likelihood of the fixed covariates alone (subtracted from joint
        log-likelihoods).
    implied : tuple
        ``(mu, sigma)`` (single level; mu None without mean structure) or
        ``(mu, sigma_w, sigma_b)``.
    blocks : sequence of (BlockKey, array, array)
        Multilevel models: per block, its key, the positions of its observed
        variables in the data vector and their implied covariance. Each
        block gives ``srmr_<level name>``; ``srmr`` is their sum.
    """
    ll_h1 = h1.loglik - loglik_x
    chisq, df = _chisq_df(ll_h1, loglik, df)
    chisq_b, df_b = _chisq_df(ll_h1, baseline_loglik, baseline_df)
    out = {"loglik": float(loglik), "unrestricted_loglik": float(ll_h1), "npar": int(npar),
           "nobs": int(nobs), "chisq": float(chisq), "df": int(df),
           "pvalue": float(stats.chi2.sf(chisq, df)) if df > 0 else float("nan"),
           "baseline_chisq": float(chisq_b), "baseline_df": int(df_b),
           "baseline_pvalue": float(stats.chi2.sf(chisq_b, df_b)) if df_b > 0 else float("nan")}
    d = max(chisq - df, 0.0)
    d_b = max(chisq_b - df_b, 0.0)
    denom = max(d, d_b)
    out["cfi"] = 1.0 if denom == 0 else 1.0 - d / denom
    if df > 0 and df_b > 0 and chisq_b / df_b != 1.0:
        out["tli"] = (chisq_b / df_b - chisq / df) / (chisq_b / df_b - 1.0)
    else:
        out["tli"] = 1.0
    out["rmsea"] = float(np.sqrt(d / (df * nobs))) if df > 0 else 0.0
    if df > 0:
        out["rmsea_ci_lower"], out["rmsea_ci_upper"] = rmsea_ci(chisq, df, nobs)
        out["rmsea_pvalue"] = float(stats.ncx2.sf(chisq, df, 0.05 ** 2 * nobs * df)) \
            if chisq > 0 else 1.0
    if isinstance(data, SingleData):
        mu, sigma = implied
        out["srmr"] = srmr_single(h1.sigma_w, h1.mu, sigma, mu)
    else:
        parts = {srmr_key(key): srmr_block(level_covariance(h1, key)[np.ix_(pos, pos)], cov)
                 for key, pos, cov in blocks}
        out["srmr"] = sum(parts.values())
        out.update(parts)
    out["aic"] = float(-2.0 * loglik + 2.0 * npar)
    out["bic"] = float(-2.0 * loglik + np.log(nobs) * npar)
    out["bic2"] = float(-2.0 * loglik + np.log((nobs + 2.0) / 24.0) * npar)
    return out


def rmsea_ci(chisq, df, n, level=0.90):
    """Confidence interval of RMSEA by inverting the noncentral chi-square."""
    from scipy.optimize import brentq

    def bound(prob):
        f = lambda lam: stats.ncx2.cdf(chisq, df, lam) - prob if lam > 0 else stats.chi2.cdf(chisq, df) - prob  # noqa: E731
        if f(0.0) < 0:
            return 0.0
        hi = max(chisq, 1.0)
        while f(hi) > 0:
            hi *= 2.0
        return brentq(f, 0.0, hi, xtol=1e-10)

    lo = bound((1 + level) / 2)
    hi = bound((1 - level) / 2)
    return float(np.sqrt(lo / (df * n))), float(np.sqrt(hi / (df * n)))
