"""Muthen's maximum likelihood-based estimator (MUML) for two-level models.

MUML (Muthen, 1994) fits a two-level model to two moment matrices only: the
pooled within-cluster covariance ``S_PW`` (divisor N - J) and the scaled
between-cluster covariance ``S_B = sum_j n_j (ybar_j - ybar)(ybar_j - ybar)' / (J - 1)``.
With equal cluster sizes ``E(S_B) = Sigma_W + n Sigma_B``; with unequal sizes
MUML uses the single value ``c = (N^2 - sum_j n_j^2) / (N (J - 1))`` in place
of n, which is the approximation that makes it a quasi-likelihood. It
minimises

    F = (N - J) [log|Sigma_W| + tr(Sigma_W^-1 S_PW)]
        + (J - 1) [log|T| + tr(T^-1 S_B)] + N (ybar - mu)' T^-1 (ybar - mu),
    T = Sigma_W + c Sigma_B,

over the same parameters as the ML fit (model-implied moments from
:class:`msem_nb.likelihood.objective.Objective`), and takes standard errors from the
Hessian of F / 2. It is the "MUML" estimator Mplus offers; it is here to
compare with full ML, not to replace it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msem_nb.data.prepare import prepare_data
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.constraints import linear_constraints, null_space
from msem_nb.estimation.exogenous import exogenous_values
from msem_nb.estimation.optimize import maximize
from msem_nb.estimation.start import start_values
from msem_nb.inference.defined import defined_delta
from msem_nb.inference.wald import wald_table
from msem_nb.likelihood.objective import Objective
from msem_nb.model.implied import block_gradient
from msem_nb.model.partable import ParTable, build_partable
from msem_nb.model.spec import build_spec
from msem_nb.syntax.parser import parse

__all__ = ["MumlResult", "fit_muml", "muml_moments"]


@dataclass(frozen=True, eq=False)
class MumlResult:
    """Result of :func:`fit_muml`.

    Attributes
    ----------
    model : str
        The model syntax.
    estimates : pandas.DataFrame
        lhs, op, rhs, level, label, est, se, z, pvalue, ci_lower, ci_upper,
        free, exo; ``:=`` rows last. Covariate moments (``exo``) are
        estimated along with the rest (see ``_free_covariates``).
    fmin : float
        The minimised F (without constants).
    c : float
        The cluster-size scaling (the common cluster size when balanced).
    nobs, nclusters : int
    converged : bool
    theta, vcov : numpy.ndarray
        Free parameter vector and its covariance matrix (None if singular).
    """

    model: str
    estimates: pd.DataFrame
    fmin: float
    c: float
    nobs: int
    nclusters: int
    converged: bool
    theta: np.ndarray
    vcov: np.ndarray | None
    message: str = ""

    @property
    def estimator(self) -> str:
        return "MUML"

    def _repr_html_(self) -> str:
        cols = ["lhs", "op", "rhs", "level", "est", "se", "pvalue"]
        return (f"<p>MUML: N = {self.nobs}, J = {self.nclusters}, c = {self.c:.3f}, "
                f"converged: {html.escape(str(self.converged))}</p>"
                + self.estimates[cols].to_html(index=False, float_format="%.3f", escape=True))


def muml_moments(data) -> tuple:
    """``(ybar, S_PW, S_B, c)`` of prepared two-level data (:class:`ClusterData`).

    ``ybar`` is the overall mean over rows (between-only variables weighted
    by cluster size, as in S_B).
    """
    N, J = data.nobs, data.nclusters
    n = data.cluster_sizes.astype(float)
    x = data.cluster_vectors
    ybar = n @ x / N
    dev = x - ybar
    s_b = (dev * n[:, None]).T @ dev / (J - 1)
    s_pw = data.within_sscp / (N - J)
    c = (N * N - float(n @ n)) / (N * (J - 1))
    return ybar, s_pw, s_b, c


def _free_covariates(pt: ParTable) -> ParTable:
    """The table with the fixed covariate moments turned into free parameters.

    A covariate named in both blocks has a latent between part, so the
    outcomes' distribution given the observed covariate values depends on the
    covariate's within and between variances: they are estimated, not fixed
    as in the ML fit with ``fixed_x=True``, and their uncertainty enters the
    standard errors (as in ``msem_nb.fit(..., fixed_x=False)``).
    """
    tab = pt.table.copy()
    nxt = pt.npar
    free = tab["free"].to_numpy().copy()
    for i in np.where(tab["exo"].to_numpy())[0]:
        nxt += 1
        free[i] = nxt
    tab["free"] = free
    tab["ustart"] = np.where(tab["exo"].to_numpy(), np.nan, tab["ustart"].to_numpy())
    return ParTable(tab, pt.blocks, pt.meanstructure, pt.nlevels, pt.defined, pt.constraints)


class _MumlObjective:
    """F / 2 with its analytic gradient, as a pseudo log-likelihood (-F / 2)."""

    def __init__(self, obj: Objective, moments):
        self.obj = obj
        self.ybar, self.s_pw, self.s_b, self.c = moments
        d = obj.data
        self.N, self.J, self.pw = d.nobs, d.nclusters, d.p_within
        self.pos = obj.between_pos
        self.bix = np.ix_(self.pos, self.pos)

    def value_grad(self, theta):
        bm, (mu, sw, sb) = self.obj.moments(theta)
        N, J, pw, c = self.N, self.J, self.pw, self.c
        T = c * sb
        T[:pw, :pw] += sw
        try:
            Lw = np.linalg.cholesky(sw)
            Lt = np.linalg.cholesky(T)
        except np.linalg.LinAlgError:
            return -np.inf, None
        iw = np.linalg.inv(sw)
        it = np.linalg.inv(T)
        d = self.ybar - mu
        itd = it @ d
        F = ((N - J) * (2 * np.log(np.diag(Lw)).sum() + np.sum(iw * self.s_pw))
             + (J - 1) * (2 * np.log(np.diag(Lt)).sum() + np.sum(it * self.s_b))
             + N * d @ itd)
        # dF/dT and dF/dSigma_W as unconstrained symmetric matrices
        G_t = (J - 1) * (it - it @ self.s_b @ it) - N * np.outer(itd, itd)
        G_w = (N - J) * (iw - iw @ self.s_pw @ iw) + G_t[:pw, :pw]
        G_b = c * G_t
        g_mu = -2.0 * N * itd
        spec = self.obj.spec
        g = np.zeros(spec.npar)
        block_gradient(spec.blocks[0], bm[0], G_w, g_mu[:pw], g)
        block_gradient(spec.blocks[1], bm[1], G_b[self.bix], g_mu[self.pos], g)
        return -0.5 * F, -0.5 * g


def fit_muml(model: str, data: pd.DataFrame, cluster: str, *, level: float = 0.95,
             control: dict | None = None) -> MumlResult:
    """Fit a two-level model with Muthen's MUML estimator.

    Parameters
    ----------
    model : str
        Two-level model syntax (``level: within`` / ``level: between``), as
        for :func:`msem_nb.fit`; ``:=`` effects get delta-method errors.
        Random slopes are not available (MUML has no per-cluster likelihood).
    data : pandas.DataFrame
        One row per level-1 unit; rows with missing values are dropped.
    cluster : str
        Cluster id column.
    level : float
        Confidence level of the Wald intervals.
    control : dict, optional
        ``maxiter``, ``gtol`` and ``start`` as in :func:`msem_nb.fit`.

    Returns
    -------
    MumlResult

    Notes
    -----
    With equal cluster sizes, c is the cluster size and F differs from -2
    times the ML log-likelihood only in weighting the between part by J - 1
    instead of J, so estimates are close to ML (identical for saturated
    moments up to that factor). With unequal sizes the estimates and
    standard errors are approximations; prefer ML (:func:`msem_nb.fit`).

    Examples
    --------
    >>> import msem_nb as ms
    >>> from msem_nb.teaching.muml import fit_muml
    >>> df = ms.load_example("classrooms")
    >>> res = fit_muml("level: within\\n math ~ ses\\nlevel: between\\n math ~ ses",
    ...                df, "class_id")
    >>> res.converged
    True
    """
    control = dict(control or {})
    pt0 = build_partable(parse(model), meanstructure=True, fixed_x=True)
    if pt0.nlevels != 2:
        raise ModelSpecificationError("MUML is a two-level estimator; write the model with "
                                      "'level: within' and 'level: between' blocks")
    if pt0.slopes:
        raise ModelSpecificationError("MUML cannot fit random slopes; use msem_nb.fit (ML)")
    within, between_only, both = pt0.roles()
    cd = prepare_data(data, within, cluster, between_only, both, "listwise")
    if cd.nclusters < 2:
        raise ModelSpecificationError("MUML needs at least two clusters")
    pt = _free_covariates(pt0)
    spec = build_spec(pt)
    obj = Objective(spec, cd, True)
    mom = muml_moments(cd)
    fobj = _MumlObjective(obj, mom)

    npar = spec.npar
    lin = linear_constraints(pt, npar)
    C, cvec = lin if lin is not None else (np.zeros((0, npar)), np.zeros(0))
    start = control.get("start")
    theta = np.asarray(start if start is not None else start_values(pt, spec, cd), dtype=float)
    stages = [(C, cvec)]
    exo_vals = exogenous_values(pt0, cd)[0] if start is None else {}
    if exo_vals:
        # First with the covariates' moments held at their saturated ML values
        # (as the ML fit holds them): from the generic starts, a covariate
        # with a small between variance can otherwise be pushed through zero,
        # where its between slope runs off to infinity.
        rows = sorted(exo_vals)
        E = np.zeros((len(rows), npar))
        E[np.arange(len(rows)), pt.table["free"].to_numpy()[rows] - 1] = 1.0
        stages.insert(0, (np.vstack([C, E]), np.concatenate([cvec, [exo_vals[i] for i in rows]])))
    for Cs, cs in stages:
        if len(Cs):
            theta_p, K = null_space(Cs, cs)
        else:
            theta_p, K = np.zeros(npar), np.eye(npar)
        xi0 = np.linalg.lstsq(K, theta - theta_p, rcond=None)[0]

        def fun_grad(xi, theta_p=theta_p, K=K):
            ll, g = fobj.value_grad(theta_p + K @ xi)
            return ll, (None if g is None else K.T @ g)

        res = maximize(fun_grad, xi0, scale=cd.nobs, maxiter=control.get("maxiter", 2000),
                       gtol=control.get("gtol", 1e-5))
        theta = theta_p + K @ res.x
    vcov = None
    if res.hessian is not None:
        info = -res.hessian
        w, V = np.linalg.eigh(info)
        if w.min() > 1e-10 * max(1.0, w.max()):
            vcov = K @ ((V / w) @ V.T) @ K.T
    est = _estimates(pt, pt0, theta, vcov, level)
    return MumlResult(model, est, -2.0 * res.fun, mom[3], cd.nobs, cd.nclusters,
                      bool(res.converged), theta, vcov, res.message)


def _estimates(pt: ParTable, pt0: ParTable, theta, vcov, level) -> pd.DataFrame:
    tab = pt.table
    free = tab["free"].to_numpy() - 1
    ustart = tab["ustart"].to_numpy(dtype=float)
    est = np.where(free >= 0, theta[np.maximum(free, 0)], np.nan_to_num(ustart))
    se = np.full(len(tab), 0.0)
    if vcov is not None:
        dv = np.sqrt(np.clip(np.diag(vcov), 0, None))
        se = np.where(free >= 0, dv[np.maximum(free, 0)], 0.0)
    elif len(free):
        se = np.where(free >= 0, np.nan, 0.0)
    df = pd.DataFrame({"lhs": tab["lhs"], "op": tab["op"], "rhs": tab["rhs"],
                       "level": tab["level"], "label": tab["label"].fillna(""),
                       "est": est, "se": se, "free": free >= 0,
                       "exo": pt0.table["exo"].to_numpy()})
    if pt.defined:
        df = pd.concat([df, _defined(pt, theta, vcov)], ignore_index=True)
    wald = wald_table(df["est"], df["se"], df["free"], level)
    for col in wald.columns:
        df[col] = wald[col].to_numpy()
    cols = ["lhs", "op", "rhs", "level", "label", "est", "se", "z", "pvalue", "ci_lower",
            "ci_upper", "free", "exo"]
    return df[cols]


def _defined(pt: ParTable, theta, vcov) -> pd.DataFrame:
    """``:=`` rows with delta-method standard errors."""
    val, se = defined_delta(pt, theta, vcov)
    return pd.DataFrame({"lhs": [d.lhs for d in pt.defined], "op": ":=",
                         "rhs": [d.expr.text for d in pt.defined], "level": "",
                         "label": [d.lhs for d in pt.defined], "est": val, "se": se,
                         "free": True, "exo": False})
