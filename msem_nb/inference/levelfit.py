"""Level-specific fit of a two-level model (Ryu & West 2009).

The chi-square of a two-level model mixes the misfit of its levels, and the
within level, with N rows against J clusters, dominates it. Each level is
therefore judged by a partially saturated model
(:func:`msem_nb.model.saturate.saturate_levels`): the model of that level
with every other level saturated, fitted by the same estimator to the same
data.

    chisq_L = 2 (loglik_H1 - loglik_PS(L)),   df_L = npar_H1 - npar_PS(L)

(the partially saturated model's own chi-square against the saturated model
of all variables). The level-specific baseline is the independence model at
level L (variances only; fixed covariates keep their fixed moments) with the
other levels saturated, and

    CFI_L   = 1 - max(chisq_L - df_L, 0) / max(chisq_L - df_L, chisq_BL - df_BL, 0)
    TLI_L   = (chisq_BL/df_BL - chisq_L/df_L) / (chisq_BL/df_BL - 1)
    RMSEA_L = sqrt(max(chisq_L - df_L, 0) / (df_L n_L))

with n_L the number of units of level L: N rows for the within level and J
clusters for the between level (Ryu & West; the argument of lavaan PR #632).
lavaan 0.6-14 divides by N at both levels; ``rmsea_between`` here is the
J-based value, larger than lavaan's by sqrt(N / J).

Under MLR each partially saturated model gets the Yuan-Bentler scaled test
(:mod:`msem_nb.inference.robust`), with the same saturated-model trace as the
whole model, and the scaled and robust indices computed as for the whole
model against the scaled level-specific baseline (RMSEA again with n_L).

They cost two more fits (the baselines are kept with the prepared data), made
when ``fit_measures`` is first read; ``fit(..., level_fit=False)`` leaves them
out, as the panel's refits do. The default ``level_fit="auto"``
(:func:`resolve_level_fit`) computes them when every partially saturated model
has at most :data:`AUTO_MAX_PARAMETERS` free parameters; a wider model (a
saturated level of p variables alone has p (p + 3) / 2) gets a message in
``fit.messages`` instead, saying that ``level_fit=True`` computes them.

Keys: ``chisq_within``, ``df_within``, ``pvalue_within``, ``cfi_within``,
``tli_within``, ``rmsea_within`` (+ ``rmsea_ci_lower_within``,
``rmsea_ci_upper_within``), ``baseline_chisq_within``,
``baseline_df_within``, ``rmsea_n_within`` (the n used); the same with
``_between``; under MLR also ``chisq_scaled_<level>``,
``chisq_scaling_factor_<level>``, ``pvalue_scaled_<level>``,
``cfi_scaled_<level>``, ``rmsea_scaled_<level>``, ``cfi_robust_<level>``,
``rmsea_robust_<level>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from msem_nb.data.complete import ClusterData
from msem_nb.data.groups import MultiGroupData
from msem_nb.errors import MsemError
from msem_nb.estimation.estimate import Estimation, count_moments
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.pipeline import fit_prepared
from msem_nb.estimation.saturated import Saturated, data_cache
from msem_nb.inference.fitmeasures import fit_measures, level_covariance
from msem_nb.inference.robust import h1_trace, robust_fit_measures, scaled_test
from msem_nb.messages import collecting
from msem_nb.model.blocks import BlockKey
from msem_nb.model.partable import ParTable, baseline_partable
from msem_nb.model.saturate import saturate_levels, saturated_npar

__all__ = ["level_specific_fit", "LEVEL_FIT_KEYS", "level_fit_available", "level_fit_size",
           "resolve_level_fit", "AUTO_MAX_PARAMETERS"]

#: ``level_fit="auto"``: the most free parameters of a partially saturated model for
#: which the level-specific fit is computed. Timed on two-level one-factor CFAs
#: (200 clusters of 5-25, a shared 2-core machine): the level fit adds 0.23 s at 85
#: parameters (10 indicators), 0.83 s at 184 (16), 1.5 s at 270 (20), 3.3 s at 372 (24)
#: and 10 s at about 900 (bench/bench_wide.py's 40 indicators, whose fit alone takes
#: 0.05 s), so up to 200 it stays near a second
AUTO_MAX_PARAMETERS = 200

#: the level-specific measures, without their ``_<level>`` suffix
LEVEL_FIT_KEYS = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower",
                  "rmsea_ci_upper", "baseline_chisq", "baseline_df")
_SCALED_KEYS = ("chisq_scaled", "chisq_scaling_factor", "pvalue_scaled", "cfi_scaled",
                "tli_scaled", "rmsea_scaled", "cfi_robust", "tli_robust", "rmsea_robust")


def level_fit_available(pt: ParTable, estimator: str) -> bool:
    """True when level-specific fit is defined: a two-level ML or MLR fit without
    random slopes (a random-slope model has no saturated model). Three-level models are
    left out until their partially saturated models are checked against a peer."""
    return pt.nlevels == 2 and not pt.slopes and estimator in ("ML", "MLR")


def level_fit_size(pt: ParTable) -> int:
    """The most free parameters of the partially saturated models of `pt` (one per
    level: the other levels saturated, :func:`msem_nb.model.saturate.saturate_levels`)."""
    levels = {k.level for k in pt.block_keys}
    return max(saturated_npar(pt, levels - {level}) for level in levels)


def resolve_level_fit(pt: ParTable, estimator: str, level_fit: bool | str
                      ) -> tuple[bool, str | None]:
    """Whether a fit computes its level-specific fit, and the message when "auto" leaves
    it out (:data:`AUTO_MAX_PARAMETERS`).

    Raises
    ------
    MsemError
        `level_fit` other than True, False or "auto".
    """
    if isinstance(level_fit, str):
        if level_fit != "auto":
            raise MsemError(f"level_fit must be True, False or 'auto', not {level_fit!r}")
    elif level_fit not in (True, False):
        raise MsemError(f"level_fit must be True, False or 'auto', not {level_fit!r}")
    else:
        if level_fit and not level_fit_available(pt, estimator):
            return False, ("the level-specific fit (chisq_within, cfi_between, ...) was not "
                           "computed: it is defined here for two-level ML or MLR models "
                           "without random slopes")
        return bool(level_fit), None
    if not level_fit_available(pt, estimator):
        return False, None
    size = level_fit_size(pt)
    if size <= AUTO_MAX_PARAMETERS:
        return True, None
    return False, (
        "the level-specific fit (chisq_within, cfi_between, ...) was not computed: its "
        f"partially saturated models have up to {size} free parameters (level_fit='auto' "
        f"computes it up to {AUTO_MAX_PARAMETERS}, as it takes two more fits of that size); "
        "pass level_fit=True to fit() to compute it")


@dataclass(frozen=True, eq=False)
class _Fitted:
    """What the scaled test needs of a fit (as :func:`mlr_fit_measures` reads it)."""

    partable: ParTable
    estimation: Estimation


def _starts(ps: ParTable, pt: ParTable, est: Estimation, h1s: Sequence[Saturated],
            saturated: set[int]) -> np.ndarray:
    """Start values: the model's estimates at the levels it keeps, H1's (the group's)
    at the saturated ones."""
    theta = est.theta
    names = list(h1s[0].names)
    old = {(r["lhs"], r["op"], r["rhs"], r["block"]): r["free"] for r in pt.records}
    out = np.zeros(ps.npar)
    for r in ps.records:
        k = r["free"] - 1
        if k < 0:
            continue
        b = r["block"]
        key: BlockKey = ps.block_keys[b]
        if b not in saturated:
            f = old.get((r["lhs"], r["op"], r["rhs"], b), 0)
            out[k] = theta[f - 1] if f > 0 else 0.0
        elif r["op"] == "~~":
            cov = level_covariance(h1s[key.group - 1], key)
            out[k] = cov[names.index(r["lhs"]), names.index(r["rhs"])]
        elif r["op"] == "~1":
            out[k] = h1s[key.group - 1].mu[names.index(r["lhs"])]
    return out


def _fit(table: ParTable, data: ClusterData | MultiGroupData, options: FitOptions,
         start: np.ndarray | None) -> Estimation:
    opts = options if start is None else options.with_control(start=start)
    if options.estimator != "MLR":      # only the log-likelihood is needed (MLR: the sandwich)
        opts = opts.with_control(se=False)
    with collecting(quiet=True):
        return fit_prepared(table, data, opts)


def _baseline(pt: ParTable, data: ClusterData | MultiGroupData, options: FitOptions,
              others: tuple[int, ...]) -> tuple[ParTable, Estimation]:
    """The level-specific baseline, kept with the prepared data (it depends on the
    variables' roles and the estimator only)."""
    base = saturate_levels(baseline_partable(pt), others)
    rows = tuple((r["lhs"], r["op"], r["rhs"], r["block"], r["free"], r["exo"])
                 for r in base.records)
    key = ("level_baseline", rows, others, options.estimator, options.information,
           options.missing)
    cache = data_cache(data)
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = (base, _fit(base, data, options, None))
    return hit


def _one_level(level: int, pt: ParTable, data: ClusterData | MultiGroupData,
               est: Estimation, options: FitOptions, h1s: Sequence[Saturated],
               trace: tuple[float, int] | None) -> dict[str, float]:
    others = tuple(sorted({k.level for k in pt.block_keys} - {level}))
    ps = saturate_levels(pt, others)
    saturated = {b for b, k in enumerate(ps.block_keys) if k.level in others}
    ps_est = _fit(ps, data, options, _starts(ps, pt, est, h1s, saturated))
    h1 = replace(h1s[0], loglik=float(sum(h.loglik for h in h1s)))
    base_pt, base_est = _baseline(pt, data, options, others)
    n = data.nobs if level == 1 else data.nclusters
    if not (ps_est.converged and base_est.converged and np.isfinite(ps_est.loglik)
            and np.isfinite(base_est.loglik)):
        return {**{k: float("nan") for k in LEVEL_FIT_KEYS}, "rmsea_n": float(n)}
    nmom = count_moments(ps, data)
    npar = ps_est.npar_effective
    fm = fit_measures(loglik=ps_est.loglik, npar=npar, nobs=n, df=nmom - npar, h1=h1,
                      loglik_x=ps_est.loglik_x, baseline_loglik=base_est.loglik,
                      baseline_df=nmom - base_est.npar_effective, data=data, implied=(),
                      blocks=())
    out = {k: fm[k] for k in LEVEL_FIT_KEYS if k in fm}
    out["rmsea_n"] = float(n)
    if trace is not None and ps_est.robust is not None and base_est.robust is not None:
        model = scaled_test(fm["chisq"], fm["df"], trace[0], trace[1], ps_est.robust,
                            ps_est.spec.npar)
        base = scaled_test(fm["baseline_chisq"], fm["baseline_df"], trace[0], trace[1],
                           base_est.robust, base_est.spec.npar)
        rob = robust_fit_measures(fm, model, base, n, data.incomplete)
        out.update({k: rob[k] for k in _SCALED_KEYS if k in rob})
    groups = len(h1s)
    for k in ("rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "rmsea_scaled", "rmsea_robust"):
        if k in out and groups > 1:     # lavaan's multigroup RMSEA (msem_nb.inference.groupfit)
            out[k] *= float(np.sqrt(groups))
    return out


def level_specific_fit(pt: ParTable, data: ClusterData | MultiGroupData, est: Estimation,
                       options: FitOptions,
                       h1: Saturated | Sequence[Saturated]) -> dict[str, float]:
    """Level-specific fit measures of a two-level fit (module docstring).

    Parameters
    ----------
    pt : ParTable
        The fitted table (multilevel, no random slopes).
    data : ClusterData or MultiGroupData
        The prepared data it was fitted to (several groups: N and J are the
        totals, and RMSEA carries lavaan's multigroup factor sqrt(G)).
    est : Estimation
        Its estimation (start values of the partially saturated fits).
    options : FitOptions
        Its options: the partially saturated models are fitted the same way.
    h1 : Saturated or sequence of Saturated
        The saturated model of all variables (of every group).

    Returns
    -------
    dict
        ``<measure>_<level name>`` for every level; a level whose partially
        saturated model cannot be fitted (or does not converge) gets NaN.
    """
    if not level_fit_available(pt, options.estimator):
        return {}
    h1s = [h1] if isinstance(h1, Saturated) else list(h1)
    parts = data.parts if isinstance(data, MultiGroupData) else (data,)
    trace = None
    if options.estimator == "MLR":
        traces = [h1_trace(d, h, pt.exogenous, pt.meanstructure) for d, h in zip(parts, h1s)]
        trace = (sum(t for t, _ in traces), sum(n for _, n in traces))
    out: dict[str, float] = {}
    names = {k.level: k.name for k in pt.block_keys}
    for level in sorted(names):
        try:
            part = _one_level(level, pt, data, est, options, h1s, trace)
        except (MsemError, np.linalg.LinAlgError, FloatingPointError):
            part = {**{k: float("nan") for k in LEVEL_FIT_KEYS},
                    "rmsea_n": float(data.nobs if level == 1 else data.nclusters)}
        out.update({f"{k}_{names[level]}": v for k, v in part.items()})
    return out
