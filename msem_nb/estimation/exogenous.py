"""Fixed covariates (fixed.x): their moments, and the log-likelihood terms lavaan subtracts.

With ``fixed_x`` the moments of observed exogenous covariates are not
estimated but fixed at their saturated ML values, and the log-likelihood is
reported conditional on them: ``loglik = loglik_joint - loglik_x``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.data.weights import WeightedClusterData
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.saturated import Saturated, fit_saturated
from msem_nb.estimation.saturated_threelevel import threelevel_exogenous_values
from msem_nb.likelihood.complete import LOG2PI
from msem_nb.model.partable import ParTable

__all__ = ["exogenous_loglik", "exogenous_values"]


def exogenous_loglik(data: SingleData | ClusterData, names: Sequence[str],
                     h1: Saturated) -> float:
    """The term lavaan 0.6-14 subtracts for fixed covariates under FIML.

    Single level: the saturated normal log-likelihood of the covariates at
    their FIML (h1) covariance with all N rows. Two levels: for covariates
    with a within part, the same with their pairwise-complete covariance
    (divisor N) over the rows; for between-only ones, with the covariance of
    their cluster values over the clusters. With complete covariates both
    equal the covariates' own saturated log-likelihood.

    Incomplete two-level data keep NaN where values are missing in ``rows``
    and in the between-only part of ``cluster_vectors``
    (:class:`msem_nb.data.missing.MissingClusterData`), so the pairwise
    covariances below use the observed values.
    """
    def h1_loglik(n: int, S: np.ndarray) -> float:
        k = len(S)
        if k == 0:
            return 0.0
        sign, logdet = np.linalg.slogdet(S)
        return float(-0.5 * n * (k * LOG2PI + logdet + k))

    if isinstance(data, SingleData):
        idx = [data.names.index(v) for v in names]
        return h1_loglik(data.nobs, h1.sigma_w[np.ix_(idx, idx)])
    wx = [data.within.index(v) for v in names if v in data.within]
    bx = [data.between_only.index(v) for v in names if v in data.between_only]
    out = 0.0
    N = data.nobs
    if wx:
        if data.rows is None:  # pragma: no cover - prepare_data keeps the rows
            raise ValueError("the data set keeps no rows")
        S = pd.DataFrame(data.rows[:, wx]).cov().to_numpy() * (N - 1) / N
        out += h1_loglik(N, S)
    if bx:
        pw = data.p_within
        z = data.cluster_vectors[:, [pw + k for k in bx]]
        J = len(z)
        S = pd.DataFrame(z).cov().to_numpy() * (J - 1) / J
        out += h1_loglik(J, S)
    return out


def _exo_subset(pt: ParTable, data: SingleData | ClusterData,
                exo: Sequence[str]) -> SingleData | ClusterData:
    if isinstance(data, SingleData):
        return data.subset([v for v in data.names if v in exo])
    within = [v for v in data.within if v in exo]
    between_only = [v for v in data.between_only if v in exo]
    return data.subset(within, between_only, [v for v in data.both if v in exo])


def _separate_levels(data: ClusterData, within: list[str], between: list[str]) -> Saturated:
    """The saturated model of complete two-level covariates that each have one part only.

    Within-only variables are independent rows and between-only ones independent
    clusters, so the ML estimates are the sample moments (divisors N and J) and the
    log-likelihood ``-n/2 (k log 2 pi + log|S| + k)`` for each set, what
    :func:`~msem_nb.estimation.saturated.fit_saturated` gives for the subset, here
    without a pass over the rows: the total SSCP of the within variables is their
    pooled within SSCP plus ``sum_j n_j (xbar_j - xbar)(xbar_j - xbar)'``.
    """
    wi = [data.within.index(v) for v in within]
    bi = [data.p_within + data.between_only.index(v) for v in between]
    N, J = data.nobs, data.nclusters
    x = data.cluster_vectors
    n = data.cluster_sizes.astype(float)
    z = x[:, bi]
    v = getattr(data, "cluster_weights", None)
    if isinstance(data, WeightedClusterData) and v is not None and len(v):
        # sampling weights: cluster j counts v_j times (N and J are the weighted totals)
        n = n * v
        mb = v @ z / J
        sz = (z - mb).T @ ((z - mb) * v[:, None]) / J
    else:
        mb = z.mean(axis=0)
        sz = (z - mb).T @ (z - mb) / J
    mw = n @ x[:, wi] / N
    dw = x[:, wi] - mw
    sw = (data.within_sscp[np.ix_(wi, wi)] + (dw * n[:, None]).T @ dw) / N
    kw, kb = len(wi), len(bi)
    ll = 0.0
    for m, S, k in ((N, sw, kw), (J, sz, kb)):
        if k:
            ll -= 0.5 * m * (k * LOG2PI + np.linalg.slogdet(S)[1] + k)
    sb = np.zeros((kw + kb, kw + kb))
    sb[kw:, kw:] = sz
    return Saturated(tuple(within) + tuple(between), np.concatenate([mw, mb]), sw, sb, ll)


def exogenous_values(pt: ParTable, data: SingleData | ClusterData | ThreeLevelData
                     ) -> tuple[dict[int, float], Saturated | None, float, Saturated | None]:
    """Fixed values of the exogenous covariates' moments, and log-likelihood terms.

    Returns ``(values, sat, loglik_x, h1)``: ``values`` maps table rows to
    their fixed values; ``loglik_x`` is what lavaan subtracts from joint
    log-likelihoods to report them conditional on the covariates; ``h1`` is the
    saturated model of all variables when it had to be fitted here.

    Covariates with only a within or only a between part have closed-form
    saturated moments, and their marginal likelihood is subtracted. A
    covariate with parts at both levels takes its moments from the saturated
    model of all variables, the ML estimate (lavaan 0.6-14 does the same for
    variances but splits the mean differently); as in lavaan, its marginal
    likelihood is not subtracted.
    """
    if isinstance(data, ThreeLevelData):
        return threelevel_exogenous_values(pt, data)
    exo = pt.exogenous
    if not exo:
        return {}, None, 0.0, None
    h1: Saturated | None = None
    both = data.both if isinstance(data, ClusterData) else ()
    if data.incomplete:
        # incomplete data: covariate moments from the joint FIML saturated
        # model, and lavaan's covariate term (exogenous_loglik)
        h1 = sat = fit_saturated(data)
        loglik_x = exogenous_loglik(data, [v for v in exo if v not in both], h1)
    elif any(v in both for v in exo):
        h1 = fit_saturated(data)
        sat = h1
        plain = [v for v in exo if v not in both]
        loglik_x = fit_saturated(_exo_subset(pt, data, plain)).loglik if plain else 0.0
    elif isinstance(data, ClusterData):
        sat = _separate_levels(data, [v for v in data.within if v in exo],
                               [v for v in data.between_only if v in exo])
        loglik_x = sat.loglik
    else:
        sat = fit_saturated(_exo_subset(pt, data, exo))
        loglik_x = sat.loglik
    names = sat.names
    rec = pt.records
    # the saturated covariance of each block's level: sigma_w for the lowest
    # level (and a single-level model), sigma_b for the between level
    level_cov = [sat.sigma_w if pt.is_lowest(b) else sat.sigma_b for b in range(len(pt.blocks))]
    values: dict[int, float] = {}
    for i, r in enumerate(rec):
        if not r["exo"]:
            continue
        lhs, op, rhs, b = r["lhs"], r["op"], r["rhs"], r["block"]
        a = names.index(lhs)
        if op == "~1":
            values[i] = float(sat.mu[a])
            continue
        c = names.index(rhs)
        cov = level_cov[b]
        if cov is None:  # a two-level table on single-level data (fit's check_cluster refuses it)
            raise ModelSpecificationError("the model has a between block but the data have "
                                          "one level; pass cluster='...'")
        values[i] = float(cov[a, c])
    return values, sat, loglik_x, h1
