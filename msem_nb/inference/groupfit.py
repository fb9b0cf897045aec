"""Fit measures of a multigroup model, as lavaan 0.6 computes them.

The groups are independent samples, so the saturated model is the sum of the
groups' saturated models and the baseline is the independence model in
every group, its parameters free per group:

    chisq = 2 (sum_g loglik_H1,g - loglik),   df = sum_g moments_g - npar

CFI and TLI take these as in one group. lavaan's RMSEA for G groups is the
one-group formula with the total N, times sqrt(G):

    RMSEA = sqrt(G) sqrt(max(chisq - df, 0) / (df N))

(its confidence bounds likewise, and the test of close fit uses the
noncentrality 0.05^2 N df / G). SRMR is computed in each group (and level)
against that group's saturated moments and averaged with weights n_g / N;
``srmr_group<g>`` keeps each group's value (``srmr_within_group<g>`` ... for
two levels). Under MLR the Yuan-Bentler trace of the saturated model is the
sum over groups, and the scaled and robust RMSEA carry the same sqrt(G).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from scipy import stats

from msem_nb.data.groups import MultiGroupData
from msem_nb.estimation.estimate import Estimation, count_moments
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.sandwich import mlr_estimation
from msem_nb.estimation.saturated import Saturated, fit_saturated
from msem_nb.inference.fitmeasures import (
    baseline_fit,
    fit_measures,
    level_covariance,
    srmr_block,
    srmr_single,
)
from msem_nb.inference.levelfit import level_fit_available, level_specific_fit
from msem_nb.inference.robust import h1_trace, robust_fit_measures, scaled_test
from msem_nb.likelihood.multigroup import MultiGroupObjective
from msem_nb.model.partable import ParTable

__all__ = ["multigroup_fit_measures", "group_saturated"]


def group_saturated(data: MultiGroupData) -> list[Saturated]:
    """The saturated model of every group (each kept with its group's data)."""
    return [fit_saturated(d) for d in data.parts]


def _srmr(obj: MultiGroupObjective, theta: np.ndarray, h1s: list[Saturated],
          data: MultiGroupData) -> dict[str, float]:
    out: dict[str, float] = {}
    weights = np.array(data.group_nobs(), dtype=float) / data.nobs
    total: dict[str, float] = {}
    for g, (part, h1) in enumerate(zip(obj.parts, h1s), start=1):
        bm, mom = part.moments(theta)
        if data.nlevels == 1:
            assert mom is not None and len(mom) == 2
            mu, sigma = mom
            vals = {"srmr": srmr_single(h1.sigma_w, h1.mu, sigma, mu)}
        else:
            vals = {}
            for bs, pos, m in zip(part.spec.blocks, part.positions, bm):
                vals[f"srmr_{bs.key.name}"] = srmr_block(
                    level_covariance(h1, bs.key)[np.ix_(pos, pos)], m.cov)
            vals["srmr"] = sum(vals.values())
        for k, v in vals.items():
            out[f"{k}_group{g}"] = v
            total[k] = total.get(k, 0.0) + weights[g - 1] * v
    out.update(total)
    return out


def _rmsea_groups(fm: dict, G: int, N: int) -> None:
    """lavaan's multigroup RMSEA: the one-group values times sqrt(G)."""
    root = math.sqrt(G)
    chisq, df = fm["chisq"], fm["df"]
    for key in ("rmsea", "rmsea_ci_lower", "rmsea_ci_upper"):
        if key in fm:
            fm[key] *= root
    if df > 0:
        fm["rmsea_pvalue"] = float(stats.ncx2.sf(chisq, df, 0.05 ** 2 * N * df / G)) \
            if chisq > 0 else 1.0
    for key in ("rmsea_scaled", "rmsea_ci_lower_scaled", "rmsea_ci_upper_scaled",
                "rmsea_robust", "rmsea_ci_lower_robust", "rmsea_ci_upper_robust"):
        if key in fm and np.isfinite(fm[key]):
            fm[key] *= root


def multigroup_fit_measures(pt: ParTable, data: MultiGroupData, est: Estimation,
                            npar: int, options: FitOptions, *, level_fit: bool = True) -> dict:
    """Fit measures of a multigroup fit (module docstring).

    Parameters
    ----------
    pt : ParTable
        The multigroup table.
    data : MultiGroupData
    est : Estimation
        Its estimation (MLR when ``est.robust`` is set).
    npar : int
        Free parameters less equality constraints.
    options : FitOptions
        The fit's options (two levels: the level-specific fits are fitted alike).
    level_fit : bool
        Two levels: add the level-specific fit (:mod:`msem_nb.inference.levelfit`).
    """
    obj = est.objective
    if not isinstance(obj, MultiGroupObjective):  # pragma: no cover - estimate() makes it
        raise TypeError("a multigroup fit has a MultiGroupObjective")
    h1s = group_saturated(data)
    mlr = est.robust is not None
    base_pt, base = baseline_fit(pt, data, information="observed" if mlr else None)
    nmom = count_moments(pt, data)
    h1 = replace(h1s[0], loglik=float(sum(h.loglik for h in h1s)))
    fm = fit_measures(loglik=est.loglik, npar=npar, nobs=data.nobs, df=nmom - npar, h1=h1,
                      loglik_x=est.loglik_x, baseline_loglik=base.loglik,
                      baseline_df=nmom - base_pt.npar, data=data, implied=(), blocks=())
    for key in [k for k in fm if k.startswith("srmr")]:
        del fm[key]
    fm.update(_srmr(obj, est.theta, h1s, data))
    fm["ngroups"] = data.ngroups
    if mlr:
        trace, ndat = 0.0, 0
        exo = pt.exogenous
        for d, h in zip(data.parts, h1s):
            t, n = h1_trace(d, h, exo, pt.meanstructure)
            trace, ndat = trace + t, ndat + n
        assert est.robust is not None
        model = scaled_test(fm["chisq"], fm["df"], trace, ndat, est.robust, est.spec.npar)
        rb = mlr_estimation(base).robust if base.vcov is not None else None
        bt = None if rb is None else scaled_test(fm["baseline_chisq"], fm["baseline_df"],
                                                 trace, ndat, rb, base.spec.npar)
        fm.update(robust_fit_measures(fm, model, bt, data.nobs, data.incomplete))
    _rmsea_groups(fm, data.ngroups, data.nobs)
    if level_fit and level_fit_available(pt, "MLR" if mlr else "ML"):   # chisq_within, ... (levelfit)
        fm.update(level_specific_fit(pt, data, est, options, h1s))
    return fm
