"""Residuals per level: observed minus model-implied moments, as lavaan's ``lavResiduals``.

"Observed" are the saturated (h1) moments: the sample covariance and means
(divisor N) for a single level, the two-level saturated model's within and
between covariances for two levels (``estimation.saturated``). Per block
with observed ``S, m`` and implied ``Sigma, mu``:

    raw           S - Sigma,                       m - mu
    cor           cor(S) - cor(Sigma),             (m - mu) / sd(S)     (lavaan's cor.bollen)
    standardized  (S - Sigma) / se,                (m - mu) / se        (single level only)

A both-level variable's mean belongs to the between block (its within
mean is zero in both); lavaan splits the saturated mean of such a variable
between the levels in its own way, so only the sum of its two mean residuals
is comparable.

Standard errors (lavaan's ``z.type = "standardized"``, per observation,
in vech coordinates): with ``Gamma(S)`` the normal-theory covariance of the
sample moments (``s_ac s_bd + s_ad s_bc``; means ``S``), ``A1 =
Gamma(Sigma)^-1`` and ``Delta`` the Jacobian of the implied moments in the
model's free coordinates,

    Q = I - Delta (Delta' A1 Delta)^-1 Delta' A1,   ACOV(res) = Q Gamma(S) Q' / N.

Residuals smaller than 1e-5 are divided by 1 (lavaan's rule for the
diagonal, whose standard error vanishes).

SRMR from the residuals: a single level uses Bentler's form (residuals
divided by the observed standard deviations, means included with a mean
structure); each level of a two-level model the correlation residuals of
its block. Both equal ``fit_measures``' srmr / srmr_within / srmr_between.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.constraints import linear_constraints, null_space
from msem_nb.estimation.information import analytic_available
from msem_nb.estimation.moment_terms import moment_jacobian
from msem_nb.estimation.saturated import fit_saturated
from msem_nb.format import num

__all__ = ["LevelResiduals", "Residuals", "residuals", "RESIDUAL_TYPES"]

#: The residual types :func:`residuals` offers.
RESIDUAL_TYPES = ("raw", "cor", "standardized")


@dataclass(frozen=True)
class LevelResiduals:
    """Residuals of one level (block).

    Attributes
    ----------
    level : str
        The level's name ("" for a single-level model).
    cov : pandas.DataFrame
        Covariance (raw), correlation (cor) or z (standardized) residuals.
    mean : pandas.Series or None
        Mean residuals; None without a mean structure.
    srmr : float
        The level's SRMR (see the module docstring).
    cov_z, mean_z : pandas.DataFrame, pandas.Series or None
        z-statistics of `cov` and `mean` (``zstat=True``, single level).
    """

    level: str
    cov: pd.DataFrame
    mean: pd.Series | None
    srmr: float
    cov_z: pd.DataFrame | None = None
    mean_z: pd.Series | None = None


@dataclass(frozen=True, eq=False)
class Residuals:
    """Residuals of a fit, one :class:`LevelResiduals` per level.

    ``res["within"]`` (or ``res[""]`` for one level) gives a level;
    :meth:`largest` lists the largest residuals of every level.
    """

    type: str
    levels: tuple[LevelResiduals, ...]

    def __getitem__(self, level: str) -> LevelResiduals:
        for lv in self.levels:
            if lv.level == level:
                return lv
        raise KeyError(f"no level {level!r}; levels: {', '.join(repr(x.level) for x in self.levels)}")

    @property
    def srmr(self) -> dict[str, float]:
        """SRMR per level, keyed as ``fit_measures``: "srmr" or "srmr_<level>"."""
        if len(self.levels) == 1 and not self.levels[0].level:
            return {"srmr": self.levels[0].srmr}
        return {f"srmr_{lv.level}": lv.srmr for lv in self.levels}

    def largest(self, n: int = 10) -> pd.DataFrame:
        """The `n` largest covariance residuals in absolute value (lower triangle, every level)."""
        rows = []
        for lv in self.levels:
            m = lv.cov.to_numpy()
            names = list(lv.cov.index)
            for i in range(len(names)):
                for j in range(i + 1):
                    rows.append((lv.level, names[i], names[j], m[i, j]))
        df = pd.DataFrame(rows, columns=["level", "lhs", "rhs", "residual"])
        order = np.argsort(-np.abs(df["residual"].to_numpy()), kind="stable")
        return df.iloc[order[:n]].reset_index(drop=True)

    def __repr__(self) -> str:
        parts = [f"<msem_nb Residuals ({self.type})>"]
        for lv in self.levels:
            if lv.level:
                parts.append(f"{lv.level}:")
            parts.append(lv.cov.round(3).to_string())
            if lv.mean is not None:
                parts.append("means: " + ", ".join(f"{k} {num(v)}" for k, v in lv.mean.items()))
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        out = [f"<div><b>Residuals</b> ({html.escape(self.type)})"]
        for lv in self.levels:
            if lv.level:
                out.append(f"<h4>{html.escape(lv.level)} (SRMR {num(lv.srmr)})</h4>")
            out.append(lv.cov.to_html(float_format=lambda v: num(v), escape=True))
            if lv.mean is not None:
                out.append(lv.mean.to_frame("mean").T.to_html(
                    float_format=lambda v: num(v), escape=True))
        return "".join(out) + "</div>"


def _cor(S: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.diag(S))
    with np.errstate(divide="ignore", invalid="ignore"):
        return S / np.outer(d, d)


def _vech(M: np.ndarray) -> np.ndarray:
    return M[np.tril_indices(len(M))]


def _gamma(S: np.ndarray, mean: bool) -> np.ndarray:
    """Normal-theory covariance of (means, vech S) per observation."""
    r, c = np.tril_indices(len(S))
    G = S[np.ix_(r, r)] * S[np.ix_(c, c)] + S[np.ix_(r, c)] * S[np.ix_(c, r)]
    if not mean:
        return G
    p, q = len(S), len(r)
    out = np.zeros((p + q, p + q))
    out[:p, :p], out[p:, p:] = S, G
    return out


def _cor_jacobian(S: np.ndarray, mean: bool) -> np.ndarray:
    """d (means / sd, vech cor) / d (means, vech S) at S (means by the observed sd)."""
    r, c = np.tril_indices(len(S))
    sd = np.sqrt(np.diag(S))
    R = _cor(S)
    q = len(r)
    J = np.zeros((q, q))
    idx = {(a, b): k for k, (a, b) in enumerate(zip(r, c))}
    for k, (a, b) in enumerate(zip(r, c)):
        if a == b:
            continue
        J[k, k] = 1.0 / (sd[a] * sd[b])
        J[k, idx[(a, a)]] = -0.5 * R[a, b] / S[a, a]
        J[k, idx[(b, b)]] = -0.5 * R[a, b] / S[b, b]
    if not mean:
        return J
    p = len(S)
    out = np.zeros((p + q, p + q))
    out[:p, :p], out[p:, p:] = np.diag(1.0 / sd), J
    return out


def _standard_errors(fit, S, sigma, mean: bool, kind: str) -> np.ndarray:
    """Standard errors of (mean, vech) residuals, single level (see the module docstring)."""
    est = fit.estimation
    obj = est.objective
    if not analytic_available(obj):
        raise ModelSpecificationError(
            "standardized residuals need a maximum-likelihood fit of complete data without "
            "random slopes")
    jac = moment_jacobian(obj, est.theta)
    # moment_jacobian's off-diagonal rows hold dS_ab + dS_ba: halve them for d vech(Sigma)
    r, c = np.tril_indices(len(S))
    scale = np.concatenate([np.ones(len(S) if mean else 0), np.where(r == c, 1.0, 0.5)])
    lin = linear_constraints(fit.partable, est.spec.npar)
    K = np.eye(est.spec.npar) if lin is None else null_space(*lin)[1]
    delta = (jac * scale[:, None]) @ K
    A1 = np.linalg.inv(_gamma(sigma, mean))
    A0 = delta.T @ A1 @ delta
    Q = np.eye(len(delta)) - delta @ np.linalg.solve(A0, delta.T @ A1)
    acov = Q @ _gamma(S, mean) @ Q.T / fit.nobs
    if kind == "cor":
        J = _cor_jacobian(S, mean)
        acov = J @ acov @ J.T
    d = np.diag(acov).copy()
    d[~(d > 0)] = np.nan
    return np.sqrt(d)


def _unvech(v: np.ndarray, p: int) -> np.ndarray:
    M = np.zeros((p, p))
    M[np.tril_indices(p)] = v
    return M + np.tril(M, -1).T


def _frame(m, names):
    return None if m is None else pd.DataFrame(m, index=names, columns=names)


def _series(v, names):
    return None if v is None else pd.Series(v, index=names)


def _observed(fit):
    est = fit.estimation
    if fit.partable.slopes or fit.estimator == "MUML":
        raise ModelSpecificationError(
            "residuals need a saturated model: not defined for random slopes or MUML fits")
    return est.h1 if est.h1 is not None else fit_saturated(fit.data)


def _zstats(fit, S, sigma, cov, mean, kind) -> tuple[np.ndarray, np.ndarray | None]:
    """z-statistics of a single level's (mean, cov) residuals of type `kind` ("raw" or "cor")."""
    se = _standard_errors(fit, S, sigma, mean is not None, kind)
    v = np.concatenate([mean if mean is not None else [], _vech(cov)])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = v / np.where(np.abs(v) < 1e-5, 1.0, se)
    p = len(S)
    return _unvech(z[len(z) - p * (p + 1) // 2:], p), (z[:p] if mean is not None else None)


def residuals(fit, type: str = "raw", zstat: bool = False) -> Residuals:
    """Observed minus implied covariances (and means) per level.

    Parameters
    ----------
    fit : FitResult
    type : {"raw", "cor", "standardized"}
        Raw residuals, correlation residuals (lavaan's "cor.bollen"), or raw
        residuals divided by their standard errors (single level only).
    zstat : bool
        Also give the z-statistics of the raw or correlation residuals
        (``cov_z``, ``mean_z``; lavResiduals' cov.z; single level only).

    Returns
    -------
    Residuals
    """
    if type not in RESIDUAL_TYPES:
        raise ValueError(f"type must be one of {', '.join(RESIDUAL_TYPES)}, not {type!r}")
    h1 = _observed(fit)
    pt = fit.partable
    obj = fit.estimation.objective
    bm, mom = obj.moments(fit.estimation.theta)
    if pt.multilevel and (type == "standardized" or zstat):
        raise ModelSpecificationError(
            "standardized residuals and z-statistics are not available for two-level models "
            "(as in lavaan); use type='raw' or 'cor'")
    out = []
    for b, key in enumerate(pt.block_keys):
        pos = obj.positions[b]
        names = list(obj.spec.blocks[b].ov)
        sigma = bm[b].cov
        S = (h1.sigma_w if key.is_lowest else h1.sigma_b)[np.ix_(pos, pos)]
        dm = None
        if pt.meanstructure:
            dm = np.asarray(h1.mu)[pos] - np.asarray(mom[0])[pos]
            if pt.multilevel and key.is_lowest:
                # a both-level variable's mean lives in the between block
                dm = np.where([v in fit.data.both for v in names], 0.0, dm)
        raw = S - sigma
        sd = np.sqrt(np.diag(S))
        if pt.multilevel:
            srmr = float(np.sqrt(np.mean(_vech(_cor(S) - _cor(sigma)) ** 2)))
        else:
            terms = list(_vech(raw / np.outer(sd, sd))) + ([] if dm is None else list(dm / sd))
            srmr = float(np.sqrt(np.mean(np.square(terms))))
        if type == "raw":
            cov, mres = raw, dm
        elif type == "cor":
            cov, mres = _cor(S) - _cor(sigma), (None if dm is None else dm / sd)
        else:
            cov, mres = _zstats(fit, S, sigma, raw, dm, "raw")
        cz = mz = None
        if zstat and type != "standardized":
            cz, mz = _zstats(fit, S, sigma, cov, mres, type)
        out.append(LevelResiduals(key.name, _frame(cov, names), _series(mres, names), srmr,
                                  _frame(cz, names), _series(mz, names)))
    return Residuals(type, tuple(out))
