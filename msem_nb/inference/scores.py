"""Factor scores and model-implied cluster means, as lavaan's ``lavPredict``.

Single level, for rows ``y`` with implied moments ``mu, Sigma`` and latent
means ``m_eta`` (without a mean structure ``mu`` is the sample mean and
``m_eta = 0``, as lavaan):

    regression   eta = m_eta + C_eta,y Sigma^-1 (y - mu)
    Bartlett     eta = m_eta + (L' Sigma^-1 L)^+ L' Sigma^-1 (y - mu)

``C_eta,y`` is the implied covariance of the latent and observed variables
(RAM ``cov_all``). ``L`` is lavaan's loading matrix with its "dummy"
latent variables: observed variables that take part in a regression and
are not indicators are carried as latent variables measured without error
(a unit column, their own rows replaced by it); other rows hold the direct
paths ``A[y, .]`` from the latent and dummy variables. Rows with missing
values use the observed part of ``y``, ``mu``, ``Sigma`` and ``L``.

Two levels (lavaan's empirical Bayes route): for cluster j of size n with
cluster vector ``x_j`` (means of the within variables, values of the
between-only ones), total means ``mu``, ``Omega_n = Sigma_B + Sigma_W / n``
(within part) and ``mu_b`` the between block's means of the within
variables, the between parts of the within variables are predicted by

    u_j = mu_b + Sigma_B[y, .] Omega_n^-1 (x_j - mu).

These are the model-implied (latent) cluster means that replace the
observed cluster means. Within scores use ``y_ij - u_j`` with the within
block's moments; between scores use ``u_j`` (and the between-only values)
with the between block's moments, both by the formulas above. lavaan
0.6-14 sets the between-only variables to zero in its between scores; here
they keep their observed values (see tests/test_postfit_scores.py). Rows
with a missing value are left out of the cluster means; their within scores
use their observed variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from msem_nb.data.center import center_columns
from msem_nb.errors import DataError, ModelSpecificationError

__all__ = ["ScoreRule", "score_rule", "factor_scores", "cluster_means", "SCORE_METHODS"]

#: Factor-score methods.
SCORE_METHODS = ("regression", "bartlett")


@dataclass(frozen=True)
class ScoreRule:
    """The linear map from a block's observed variables to its factor scores.

    ``scores = eta_mean + (y - ov_mean) @ coef.T``; for rows with missing
    values the rule is recomputed on the observed variables.
    """

    level: str
    lv: tuple[str, ...]
    ov: tuple[str, ...]
    eta_mean: np.ndarray
    ov_mean: np.ndarray
    sigma: np.ndarray
    cov_lv_ov: np.ndarray
    loadings: np.ndarray          # L with the dummy columns (bartlett)
    method: str

    @property
    def coef(self) -> pd.DataFrame:
        """Factor score coefficients (latent x observed)."""
        return pd.DataFrame(self._coef(np.ones(len(self.ov), bool)), index=list(self.lv),
                            columns=list(self.ov))

    def _coef(self, obs: np.ndarray) -> np.ndarray:
        S = self.sigma[np.ix_(obs, obs)]
        if self.method == "regression":
            return np.linalg.solve(S, self.cov_lv_ov[:, obs].T).T
        L = self.loadings[obs]
        SiL = np.linalg.solve(S, L)
        return (np.linalg.pinv(L.T @ SiL) @ SiL.T)[: len(self.lv)]

    def apply(self, Y: np.ndarray) -> np.ndarray:
        """Scores of the rows of `Y` (columns in ``ov`` order; NaN marks missing)."""
        out = np.full((len(Y), len(self.lv)), np.nan)
        obs = ~np.isnan(Y)
        patterns, inv = np.unique(obs, axis=0, return_inverse=True)
        for k, pat in enumerate(patterns):
            rows = np.where(inv.reshape(-1) == k)[0]
            if not pat.any():
                continue
            dev = Y[np.ix_(rows, pat)] - self.ov_mean[pat]
            out[rows] = self.eta_mean + dev @ self._coef(pat).T
        return out


def _dummies(pt, b: int) -> list[str]:
    """lavaan's dummy latent variables: observed non-indicators in a regression of the block."""
    bv = pt.blocks[b]
    recs = [r for r in pt.records if r["block"] == b and r["op"] == "~"]
    eqs = {r["lhs"] for r in recs} | {r["rhs"] for r in recs}
    return [v for v in bv.ov if v in eqs and v not in bv.ov_ind]


def score_rule(fit, level: str = "", method: str = "regression") -> ScoreRule:
    """The factor-score rule of the block of `level` ("" for a single-level model).

    Parameters
    ----------
    fit : FitResult
    level : str
        The level's name.
    method : {"regression", "bartlett"}

    Returns
    -------
    ScoreRule
    """
    method = method.lower()
    if method not in SCORE_METHODS:
        raise ValueError(f"method must be 'regression' or 'bartlett', not {method!r}")
    pt = fit.partable
    b = pt.block_of(level) if level or pt.multilevel else 0
    est = fit.estimation
    bs = est.spec.blocks[b]
    bm = est.objective.moments(est.theta)[0][b]
    n = bs.n_ov
    if not bs.names[n:]:
        raise ModelSpecificationError(
            f"the {level or 'model'} block has no latent variables, so there are no factor scores")
    ov_mean, eta_mean = bm.mean.copy(), bm.mean_all[n:]
    if not pt.meanstructure:
        # lavaan centres on the sample means when the model has no mean structure;
        # the latent means follow from those of the exogenous observed variables
        ov_mean = np.asarray(fit.data.mean)[est.objective.positions[b]]
        A = bs.matrices(est.theta)[0]
        alpha = np.zeros(bs.k)
        exo = ~np.any(A[:n] != 0, axis=1)
        alpha[:n][exo] = ov_mean[exo]
        eta_mean = (bm.B @ alpha)[n:]
    dummies = _dummies(pt, b)
    A = bs.matrices(est.theta)[0]
    cols = list(range(n, bs.k)) + [bs.names.index(v) for v in dummies]
    L = A[:n][:, cols].copy()
    for k, v in enumerate(dummies):
        i = bs.names.index(v)
        L[i] = 0.0
        L[i, len(cols) - len(dummies) + k] = 1.0
    return ScoreRule(bs.key.name, bs.names[n:], bs.ov, eta_mean, ov_mean, bm.cov,
                     bm.cov_all[n:, :n], L, method)


# ----------------------------------------------------------------------------
# the data to score
# ----------------------------------------------------------------------------

def _frame(fit, data) -> pd.DataFrame:
    """The rows to score: `data` (centred as the fit was) or the rows the fit used."""
    names = list(fit.data.names)
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        if fit.options.center:
            data, _ = center_columns(data, fit.options.center_map, fit.cluster)
        missing = [v for v in names + ([fit.cluster] if fit.cluster else []) if v not in data]
        if missing:
            raise DataError(f"column(s) {', '.join(map(str, missing))} not found in the data")
        return data
    d = fit.data
    if fit.cluster is None:
        return pd.DataFrame(np.asarray(d.rows), columns=names)
    values = getattr(d, "values", None)
    values = np.asarray(d.rows) if values is None else np.asarray(values)
    sizes = np.asarray(d.cluster_sizes)
    frame = pd.DataFrame(values[:, : d.p_within], columns=list(d.within))
    if d.between_only:
        between = np.repeat(np.asarray(d.cluster_vectors)[:, d.p_within:], sizes, axis=0)
        if values.shape[1] > d.p_within:
            between = values[:, d.p_within:]
        for k, v in enumerate(d.between_only):
            frame[v] = between[:, k]
    frame.insert(0, fit.cluster, np.repeat(np.asarray(d.cluster_ids), sizes))
    return frame


def _numeric(frame: pd.DataFrame, names) -> np.ndarray:
    return frame[list(names)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)


def _check_fit(fit) -> None:
    if fit.partable.slopes or fit.estimator == "MUML":
        raise ModelSpecificationError(
            "factor scores are available for ML and MLR fits without random slopes")


# ----------------------------------------------------------------------------
# two levels: cluster means, within and between scores
# ----------------------------------------------------------------------------

def _cluster_parts(fit, frame):
    """(cluster ids, codes per row, within values, u_j per cluster, between-only values)."""
    d = fit.data
    est = fit.estimation
    obj = est.objective
    bm, (mu, sw, sb) = obj.moments(est.theta)
    pw = d.p_within
    Y = _numeric(frame, d.within)
    Z = _numeric(frame, d.between_only)
    codes, ids = pd.factorize(frame[fit.cluster], sort=False)
    complete = ~np.isnan(Y).any(axis=1) & ~np.isnan(Z).any(axis=1) & (codes >= 0)
    J = len(ids)
    n = np.bincount(codes[complete], minlength=J).astype(float)
    ybar = np.full((J, pw), np.nan)
    sums = np.zeros((J, pw))
    np.add.at(sums, codes[complete], Y[complete])
    ok = n > 0
    ybar[ok] = sums[ok] / n[ok, None]
    z = np.full((J, len(d.between_only)), np.nan)
    z[codes[complete]] = Z[complete]
    x = np.hstack([ybar, z])
    # mu_b: the between block's means of the within variables (zero for within-only ones)
    w, b, _ = obj.level_blocks
    mu_b = np.zeros(len(d.names))
    mu_b[obj.positions[b]] = bm[b].mean
    u = np.full((J, pw), np.nan)
    for size in np.unique(n[ok]):
        sel = np.where(n == size)[0]
        omega = sb.copy()
        omega[:pw, :pw] += sw / size
        u[sel] = mu_b[:pw] + (x[sel] - mu) @ np.linalg.solve(omega, sb[:pw].T)
    return ids, codes, Y, u, z


def cluster_means(fit, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """Model-implied (empirical Bayes) cluster means of the variables with a between part.

    Parameters
    ----------
    fit : FitResult
        A two-level fit.
    data : pandas.DataFrame, optional
        Data to predict for (centred as the fit's data was); default the rows
        the fit used.

    Returns
    -------
    pandas.DataFrame
        One row per cluster (indexed by cluster id), one column per
        both-level variable: ``mu_b + Sigma_B Omega_n^-1 (x_j - mu)``.
    """
    _check_fit(fit)
    if not fit.partable.multilevel:
        raise ModelSpecificationError("cluster means need a two-level model")
    ids, _, _, u, _ = _cluster_parts(fit, _frame(fit, data))
    d = fit.data
    cols = [k for k, v in enumerate(d.within) if v in d.both]
    out = pd.DataFrame(u[:, cols], columns=[d.within[k] for k in cols],
                       index=pd.Index(ids, name=fit.cluster))
    return out


def factor_scores(fit, data: pd.DataFrame | None = None, level: str | None = None,
                  method: str = "regression", type: str = "lv") -> pd.DataFrame:
    """Factor scores per row (single level, within) or per cluster (between).

    Parameters
    ----------
    fit : FitResult
    data : pandas.DataFrame, optional
        Rows to score (index kept; centred as the fit's data was); default the
        rows the fit used, numbered from 0 in the fit's order (two-level:
        grouped by cluster, with the cluster column).
    level : str, optional
        Two-level models: "within" (default) or "between".
    method : {"regression", "bartlett"}
    type : {"lv", "ov"}
        "ov" with ``level="between"``: the model-implied cluster means
        (:func:`cluster_means`).

    Returns
    -------
    pandas.DataFrame
    """
    _check_fit(fit)
    pt = fit.partable
    if type not in ("lv", "ov"):
        raise ValueError(f"type must be 'lv' or 'ov', not {type!r}")
    if not pt.multilevel:
        if level not in (None, ""):
            raise ModelSpecificationError("a single-level model has no level to choose")
        if type == "ov":
            raise ValueError("type='ov' gives cluster means: it needs a two-level model and "
                             "level='between'")
        frame = _frame(fit, data)
        rule = score_rule(fit, "", method)
        Y = _numeric(frame, rule.ov)
        return pd.DataFrame(rule.apply(Y), columns=list(rule.lv), index=frame.index)
    level = level or pt.level_names[0]
    if level not in pt.level_names:
        raise ModelSpecificationError(
            f"unknown level {level!r}; the model's levels: {', '.join(pt.level_names)}")
    lowest = pt.block_keys[pt.block_of(level)].is_lowest
    if type == "ov":
        if lowest:
            raise ValueError("type='ov' gives the cluster means: use level='between'")
        return cluster_means(fit, data)
    frame = _frame(fit, data)
    ids, codes, Y, u, z = _cluster_parts(fit, frame)
    rule = score_rule(fit, level, method)
    d = fit.data
    if lowest:
        dev = Y - np.where(codes[:, None] >= 0, u[np.maximum(codes, 0)], np.nan)
        idx = [d.within.index(v) for v in rule.ov]
        out = pd.DataFrame(rule.apply(dev[:, idx]), columns=list(rule.lv), index=frame.index)
        out.insert(0, fit.cluster, frame[fit.cluster].to_numpy())
        return out
    full = np.hstack([u, z])
    idx = [list(d.names).index(v) for v in rule.ov]
    return pd.DataFrame(rule.apply(full[:, idx]), columns=list(rule.lv),
                        index=pd.Index(ids, name=fit.cluster))
