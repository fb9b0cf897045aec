"""MLR: the Yuan-Bentler scaled test and robust fit indices.

The sandwich standard errors (the meat ``B`` and the bread ``V``) are
computed with the estimation, in :mod:`msem_nb.estimation.sandwich`.

The scaled test follows lavaan 0.6-14's ``yuan.bentler.mplus`` (MLR's
default there and in Mplus): the scaling factor is

    c = [tr(A1^-1 B1) - tr(V B)] / df

where ``A1`` and ``B1`` are the observed and first-order information of the
saturated model at its estimates, in the saturated moments that are not
fixed covariate moments (for two levels: total means, the within and the
between covariances; a both-level variable's mean counted once). Robust CFI,
TLI and RMSEA use ``c`` as lavaan does (Brosseau-Liard, Savalei and Li); for
incomplete data lavaan switches to a FIML-specific correction that is not
implemented here, so they are reported as NaN then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from msem_nb.data.complete import SingleData
from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.data.weights import WeightedClusterData, row_weights
from msem_nb.estimation.optimize import numeric_hessian
from msem_nb.estimation.sandwich import RobustInfo, mlr_estimation
from msem_nb.inference.fitmeasures import rmsea_ci
from msem_nb.inference.robust_threelevel import h1_trace_threelevel
from msem_nb.likelihood.complete import loglik_single, loglik_twolevel
from msem_nb.likelihood.missing import (
    casewise_single,
    clusterwise_twolevel,
    loglik_single_missing,
    loglik_twolevel_missing,
)
from msem_nb.likelihood.weighted import weighted_cluster_scores

__all__ = ["h1_trace", "scaled_test", "robust_fit_measures", "mlr_fit_measures"]


# ----------------------------------------------------------------------------
# the saturated (h1) part of the scaling factor
# ----------------------------------------------------------------------------

def _h1_coordinates(data, exo, meanstructure):
    """Free saturated moments: (mean idx, within pairs, between pairs).

    Moments among fixed covariates only are left out, and so are the means
    of a model without a mean structure; between pairs run over the
    variables that have a between part.
    """
    names = data.names
    isx = np.array([v in exo for v in names])
    mean_idx = np.where(~isx)[0] if meanstructure else np.zeros(0, int)

    def pairs(idx):
        r, c = np.tril_indices(len(idx))
        a, b = np.asarray(idx)[r], np.asarray(idx)[c]
        keep = ~(isx[a] & isx[b])
        return a[keep], b[keep]

    if isinstance(data, SingleData):
        return mean_idx, pairs(np.arange(len(names))), None
    pw = data.p_within
    bc = [i for i, v in enumerate(names) if i >= pw or v in data.both]
    return mean_idx, pairs(np.arange(pw)), pairs(bc)


def _coord_vector(g_mu, G_w, G_b, coords):
    """Gradient in the coordinates: off-diagonal elements count twice."""
    mean_idx, (aw, bw), bpairs = coords
    parts = []
    if len(mean_idx):
        parts.append(g_mu[..., mean_idx])
    f = np.where(aw == bw, 1.0, 2.0)
    parts.append(G_w[..., aw, bw] * f)
    if bpairs is not None:
        ab, bb = bpairs
        parts.append(G_b[..., ab, bb] * np.where(ab == bb, 1.0, 2.0))
    return np.concatenate(parts, axis=-1)


def h1_trace(data, h1, exo, meanstructure: bool = True):
    """tr(A1^-1 B1) of the saturated model at its estimates, and its size.

    Parameters
    ----------
    data : prepared data (complete or incomplete)
    h1 : Saturated
        The saturated estimates.
    exo : sequence of str
        Fixed covariates; their own moments are not part of h1.
    meanstructure : bool
        Single level: whether means are modelled (otherwise fixed at the
        sample means, as lavaan does).

    Returns
    -------
    (trace, ndat)
    """
    coords = _h1_coordinates(data, set(exo), meanstructure)
    mean_idx, (aw, bw), bpairs = coords
    single = isinstance(data, SingleData)
    fiml = data.incomplete
    mu0 = np.asarray(h1.mu, dtype=float).copy()
    sw0 = h1.sigma_w.copy()
    sb0 = None if single else h1.sigma_b.copy()
    nm, nw = len(mean_idx), len(aw)

    def unpack(x):
        mu, sw = mu0.copy(), sw0.copy()
        mu[mean_idx] = x[:nm]
        sw[aw, bw] = x[nm:nm + nw]
        sw[bw, aw] = x[nm:nm + nw]
        sb = None
        if not single:
            sb = sb0.copy()
            ab, bb = bpairs
            sb[ab, bb] = x[nm + nw:]
            sb[bb, ab] = x[nm + nw:]
        return mu, sw, sb

    x0 = np.concatenate([mu0[mean_idx], sw0[aw, bw]] +
                        ([] if single else [sb0[bpairs[0], bpairs[1]]]))

    def grad(x):
        mu, sw, sb = unpack(x)
        if single:
            f = loglik_single_missing if fiml else loglik_single
            _, g = f(data, mu if meanstructure else None, sw)
            if g is None:
                raise FloatingPointError("saturated covariance not positive definite")
            g_mu = g[0] if meanstructure else np.zeros(len(mu))
            return _coord_vector(g_mu, g[1], None, coords)
        f = loglik_twolevel_missing if fiml else loglik_twolevel
        _, g = f(data, mu, sw, sb)
        if g is None:
            raise FloatingPointError("saturated covariances not positive definite")
        return _coord_vector(g[0], g[1], g[2], coords)

    A1 = -numeric_hessian(grad, x0)
    if single:
        _, g_mu, G = casewise_single(data, mu0 if meanstructure else None, sw0)
        S = _coord_vector(g_mu if meanstructure else np.zeros((len(G), len(mu0))), G, None,
                          coords)
        w = row_weights(data)
        if w is not None:   # sampling weights: weighted row scores (msem_nb.data.weights)
            S = S * w[:, None]
    elif isinstance(data, WeightedClusterData):     # sampling weights: v_j d l_j
        S = _coord_vector(*weighted_cluster_scores(data, mu0, sw0, sb0), coords)
    else:
        _, (g_mu, G_w, G_b) = clusterwise_twolevel(data, mu0, sw0, sb0)
        S = _coord_vector(g_mu, G_w, G_b, coords)
    B1 = S.T @ S
    trace = float(np.trace(np.linalg.solve(A1, B1)))
    return trace, len(x0)


# ----------------------------------------------------------------------------
# scaled test and robust fit indices
# ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ScaledTest:
    chisq: float
    df: int
    scaling_factor: float
    chisq_scaled: float
    pvalue_scaled: float
    trace_h1: float
    trace_h0: float
    ndat_h1: int
    npar: int

    @property
    def scaling_factor_h1(self) -> float:
        return self.trace_h1 / self.ndat_h1

    @property
    def scaling_factor_h0(self) -> float:
        return self.trace_h0 / self.npar if self.npar else float("nan")


def scaled_test(chisq, df, trace_h1, ndat_h1, robust: RobustInfo, npar) -> ScaledTest:
    """Yuan-Bentler (Mplus variant) scaled chi-square."""
    trace_h0 = robust.trace_h0
    if df > 0:
        c = (trace_h1 - trace_h0) / df
        if not c > 0:
            c = float("nan")
    else:
        c = float("nan")
    scaled = chisq / c if np.isfinite(c) else float("nan")
    p = float(stats.chi2.sf(scaled, df)) if np.isfinite(scaled) and df > 0 else float("nan")
    return ScaledTest(float(chisq), int(df), float(c), float(scaled), p, float(trace_h1),
                      float(trace_h0), int(ndat_h1), int(npar))


def _cfi(x2, df, x2b, dfb, c=1.0, cb=1.0):
    t1 = max(x2 - c * df, 0.0)
    t2 = max(x2 - c * df, x2b - cb * dfb, 0.0)
    if np.isclose(t1, 0.0, atol=1.5e-8) and np.isclose(t2, 0.0, atol=1.5e-8):
        return 1.0
    return 1.0 - t1 / t2


def _tli(x2, df, x2b, dfb, c=1.0, cb=1.0):
    t1 = (x2 - c * df) * dfb
    t2 = (x2b - cb * dfb) * df
    if df > 0 and abs(t2) > 0:
        return 1.0 - t1 / t2
    if not (np.isfinite(t1) and np.isfinite(t2)):
        return float("nan")
    return 1.0


def _rmsea(x2, df, n, c=1.0):
    if not df > 0:
        return 0.0
    return float(np.sqrt(max(x2 / n / df - c / n, 0.0)))


def robust_fit_measures(fm: dict, model: ScaledTest, baseline: ScaledTest | None,
                        nobs: int, fiml: bool = False) -> dict:
    """Scaled and robust fit measures, keyed as lavaan's with underscores.

    Parameters
    ----------
    fm : dict
        The ML fit measures (chisq, df, baseline_chisq, baseline_df).
    model, baseline : ScaledTest
        Scaled tests of the model and of the baseline model.
    fiml : bool
        Incomplete data: the robust (not the scaled) indices need lavaan's
        FIML correction, not available here; they are NaN.
    """

    nan = float("nan")
    x2, df, c = model.chisq, model.df, model.scaling_factor
    out = {"chisq_scaled": model.chisq_scaled, "df_scaled": df,
           "pvalue_scaled": model.pvalue_scaled, "chisq_scaling_factor": c,
           "scaling_factor_h1": model.scaling_factor_h1,
           "scaling_factor_h0": model.scaling_factor_h0}
    x2b, dfb = fm["baseline_chisq"], fm["baseline_df"]
    cb = baseline.scaling_factor if baseline is not None else nan
    x2bs = x2b / cb if np.isfinite(cb) else nan
    out.update({"baseline_chisq_scaled": x2bs, "baseline_df_scaled": dfb,
                "baseline_pvalue_scaled": float(stats.chi2.sf(x2bs, dfb))
                if np.isfinite(x2bs) and dfb > 0 else nan,
                "baseline_chisq_scaling_factor": cb})
    ok = np.isfinite(c) and np.isfinite(cb)
    out["cfi_scaled"] = _cfi(model.chisq_scaled, df, x2bs, dfb) if ok else nan
    out["tli_scaled"] = _tli(model.chisq_scaled, df, x2bs, dfb) if ok else nan
    if np.isfinite(c):
        out["rmsea_scaled"] = _rmsea(x2, c * df, nobs)
        lo, hi = rmsea_ci(x2, c * df, nobs) if df > 0 else (0.0, 0.0)
        out["rmsea_ci_lower_scaled"], out["rmsea_ci_upper_scaled"] = lo, hi
    else:
        out["rmsea_scaled"] = out["rmsea_ci_lower_scaled"] = out["rmsea_ci_upper_scaled"] = nan
    robust_ok = ok and not fiml
    if robust_ok and c != 1 and cb != 1:
        out["cfi_robust"] = _cfi(x2, df, x2b, dfb, c, cb)
        out["tli_robust"] = _tli(x2, df, x2b, dfb, c, cb)
    elif robust_ok:
        out["cfi_robust"] = _cfi(x2, df, x2b, dfb)
        out["tli_robust"] = _tli(x2, df, x2b, dfb)
    else:
        out["cfi_robust"] = out["tli_robust"] = nan
    if np.isfinite(c) and not fiml:
        out["rmsea_robust"] = _rmsea(x2, df, nobs, c)
        if df > 0:
            lo, hi = rmsea_ci(model.chisq_scaled, df, nobs)
            out["rmsea_ci_lower_robust"] = float(np.sqrt(c) * lo)
            out["rmsea_ci_upper_robust"] = float(np.sqrt(c) * hi)
        else:
            out["rmsea_ci_lower_robust"] = out["rmsea_ci_upper_robust"] = 0.0
    else:
        out["rmsea_robust"] = out["rmsea_ci_lower_robust"] = out["rmsea_ci_upper_robust"] = nan
    return out


def mlr_fit_measures(fit, fm: dict, base_est, h1) -> dict:
    """The MLR additions to a fit result's fit measures.

    Parameters
    ----------
    fit : FitResult
    fm : dict
        Its ML fit measures.
    base_est : Estimation
        The baseline model, estimated with observed information.
    h1 : Saturated
    """
    est = fit.estimation
    data = fit.data
    exo = fit.partable.exogenous
    if isinstance(data, ThreeLevelData):   # schools are the units (robust_threelevel)
        trace_h1, ndat = h1_trace_threelevel(data, h1, exo)
    else:
        trace_h1, ndat = h1_trace(data, h1, exo, fit.partable.meanstructure)
    model = scaled_test(fm["chisq"], fm["df"], trace_h1, ndat, est.robust, est.spec.npar)
    base = None
    if base_est is not None and base_est.vcov is not None:
        rb = mlr_estimation(base_est).robust
        base = scaled_test(fm["baseline_chisq"], fm["baseline_df"], trace_h1, ndat, rb,
                           base_est.spec.npar)
    return robust_fit_measures(fm, model, base, data.nobs, data.incomplete)
