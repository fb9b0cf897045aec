"""Estimation: fixed covariate moments, start values, the optimiser, standard errors.

``estimate`` takes a parameter table and prepared data and returns an
``Estimation``: the free parameter vector, the log-likelihood (joint, and
conditional on the fixed covariates as lavaan reports it), the Hessian and
the covariance matrix of the estimates. Linear equality constraints other
than shared labels are handled by optimising over the null space of the
constraint matrix, which keeps the standard errors exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import ClusterData, SingleData
from .errors import ConvergenceWarning, ModelSpecificationError, NotIdentifiedError
from .objective import Objective
from .optimize import maximize
from .partable import ParTable
from .saturated import Saturated, fit_saturated, moment_starts
from .spec import ModelSpec, build_spec
from .messages import notify

__all__ = ["Estimation", "estimate", "exogenous_values", "label_values"]


@dataclass(frozen=True, eq=False)
class Estimation:
    spec: ModelSpec
    objective: Objective
    theta: np.ndarray
    loglik_joint: float
    loglik_x: float
    hessian: np.ndarray | None
    vcov: np.ndarray | None
    converged: bool
    iterations: int
    evaluations: int
    message: str
    fixed_values: dict
    sat_x: Saturated | None
    n_constraints: int = 0
    h1: Saturated | None = None
    notes: tuple = ()
    # MLR (msem_nb.robust): the meat and the model-based vcov; vcov is then robust
    robust: object = None

    @property
    def npar_effective(self) -> int:
        """Free parameters less linear equality constraints among them."""
        return self.spec.npar - self.n_constraints

    @property
    def loglik(self) -> float:
        return self.loglik_joint - self.loglik_x


def _exo_subset(pt: ParTable, data, exo):
    if isinstance(data, SingleData):
        return data.subset([v for v in data.names if v in exo])
    within = [v for v in data.within if v in exo]
    between_only = [v for v in data.between_only if v in exo]
    return data.subset(within, between_only, [v for v in data.both if v in exo])


def exogenous_values(pt: ParTable, data):
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
    exo = pt.exogenous
    if not exo:
        return {}, None, 0.0, None
    h1 = None
    split = isinstance(data, ClusterData) and any(v in data.both for v in exo)
    if getattr(data, "fiml", False):
        # incomplete data: covariate moments from the joint FIML saturated
        # model, and lavaan's covariate term (msem_nb.fiml.exogenous_loglik)
        from .fiml import exogenous_loglik
        h1 = sat = fit_saturated(data)
        both = data.both if isinstance(data, ClusterData) else ()
        loglik_x = exogenous_loglik(data, [v for v in exo if v not in both], h1)
    elif split:
        h1 = fit_saturated(data)
        sat = h1
        plain = [v for v in exo if v not in data.both]
        loglik_x = fit_saturated(_exo_subset(pt, data, plain)).loglik if plain else 0.0
    else:
        sat = fit_saturated(_exo_subset(pt, data, exo))
        loglik_x = sat.loglik
    names = sat.names
    rec = pt.records
    values = {}
    for i, r in enumerate(rec):
        if not r["exo"]:
            continue
        lhs, op, rhs, b = r["lhs"], r["op"], r["rhs"], r["block"]
        a = names.index(lhs)
        if op == "~1":
            values[i] = float(sat.mu[a])
            continue
        c = names.index(rhs)
        if pt.nlevels == 2 and b == 1:
            values[i] = float(sat.sigma_b[a, c])
        else:
            values[i] = float(sat.sigma_w[a, c])
    return values, sat, loglik_x, h1


def _level_moments(data):
    """Sample moments per block used for start values: [(names, mean, cov), ...]."""
    if isinstance(data, SingleData):
        return [(data.names, data.mean, data.cov)]
    mu, s_pw, s_b = moment_starts(data)
    pw = data.p_within
    d = np.diag(s_b).copy()
    tot = np.diag(s_b)[:pw] + np.diag(s_pw) / (data.nobs / data.nclusters)
    d[:pw] = np.maximum(d[:pw], 0.05 * tot)
    s_b = s_b.copy()
    s_b[np.diag_indices_from(s_b)] = d
    return [(data.within, mu[:pw], s_pw), (data.names, mu, s_b)]


def start_values(pt: ParTable, spec: ModelSpec, data) -> np.ndarray:
    """Start values: half the sample variance for residual variances, factor
    variances and loadings from the indicators' covariances, zero paths,
    sample means for intercepts, and user starts where given."""
    tab = pt.table
    rec = pt.records
    moments = _level_moments(data)
    theta = np.zeros(spec.npar)
    seen = set()
    lvvar, loadings = {}, {}
    for b, bv in enumerate(pt.blocks):
        names, _, cov = moments[b]
        for f in bv.lv:
            ind_names = [r["rhs"] for r in rec if r["block"] == b and r["op"] == "=~"
                         and r["lhs"] == f and r["rhs"] in names]
            if len(ind_names) >= 2:
                idx = [names.index(v) for v in ind_names]
                C = cov[np.ix_(idx, idx)]
                off = C[~np.eye(len(idx), dtype=bool)]
                marker_cov = np.delete(C[0], 0).mean()
                v = float(np.clip(marker_cov, 0.05 * C[0, 0], None))
                lvvar[(b, f)] = v
                for k, name in enumerate(ind_names):
                    if k == 0:
                        continue
                    others = np.delete(C[k], k).mean() if len(idx) > 2 else C[k, 0]
                    ref = off.mean() if off.size else v
                    loadings[(b, f, name)] = float(np.clip(others / ref if ref > 0 else 1.0, -3, 3))
    for i in range(len(tab)):
        k = int(rec[i]["free"]) - 1
        if k < 0 or k in seen:
            continue
        seen.add(k)
        start = rec[i]["start"]
        if start is not None and not (isinstance(start, float) and np.isnan(start)):
            theta[k] = float(start)
            continue
        lhs, op, rhs, b = rec[i]["lhs"], rec[i]["op"], rec[i]["rhs"], int(rec[i]["block"])
        names, mean, cov = moments[b]
        if op == "=~":
            theta[k] = loadings.get((b, lhs, rhs), 1.0)
        elif op == "~~" and lhs in pt.blocks[b].ov_x and rhs in pt.blocks[b].ov_x \
                and lhs in names and rhs in names:
            # covariates treated as random start at their sample moments
            theta[k] = cov[names.index(lhs), names.index(rhs)]
        elif op == "~~" and lhs == rhs:
            if lhs in names:
                theta[k] = 0.5 * cov[names.index(lhs), names.index(lhs)]
            else:
                theta[k] = lvvar.get((b, lhs), 0.05)
        elif op == "~1" and lhs in names:
            theta[k] = mean[names.index(lhs)]
    return theta


def label_values(pt: ParTable, theta: np.ndarray) -> dict:
    """Label -> value, for free rows from theta and for fixed rows from ustart."""
    env = {}
    tab = pt.table
    rec = pt.records
    for i in range(len(tab)):
        lab = rec[i]["label"]
        if not lab:
            continue
        k = int(rec[i]["free"]) - 1
        if k >= 0:
            env[lab] = float(theta[k])
        else:
            u = rec[i]["ustart"]
            env[lab] = float(u) if u is not None and np.isfinite(u) else 0.0
    return env


def _linear_constraints(pt: ParTable, npar: int):
    """Constraint matrix C and vector c (C theta = c) from '==' statements that
    are not plain label equalities (those are merged in the table)."""
    from .partable import simple_equalities  # local: avoids a cycle in docs tools
    simple = set(simple_equalities(pt.constraints))
    rows_C, rows_c = [], []
    rng = np.random.default_rng(0)
    for con in pt.constraints:
        if con.op in ("<", ">"):
            raise ModelSpecificationError(
                f"line {con.line}: inequality constraints ('{con.op}') are not supported yet; "
                "remove it or fix the parameter instead")
        if con.lhs_expr is not None and (con.lhs_expr.text, con.expr.text) in simple:
            continue

        def h(theta):
            env = label_values(pt, theta)
            return con.lhs_expr.evaluate(env) - con.expr.evaluate(env)

        grads = []
        for _ in range(2):
            t0 = rng.normal(size=npar)
            g = np.empty(npar)
            for j in range(npar):
                e = np.zeros(npar)
                e[j] = 1e-4
                g[j] = (h(t0 + e) - h(t0 - e)) / 2e-4
            grads.append((t0, g))
        (t0, g0), (_, g1) = grads
        if not np.allclose(g0, g1, atol=1e-6):
            raise ModelSpecificationError(
                f"line {con.line}: only linear equality constraints are supported; "
                f"'{con.lhs_expr.text} == {con.expr.text}' is not linear")
        rows_C.append(g0)
        rows_c.append(g0 @ t0 - h(t0))
    if not rows_C:
        return None
    return np.array(rows_C), np.array(rows_c)


def _null_space(C: np.ndarray, c: np.ndarray):
    U, s, Vt = np.linalg.svd(C)
    rank = int((s > 1e-10 * s.max()).sum())
    K = Vt[rank:].T
    theta_p = np.linalg.lstsq(C, c, rcond=None)[0]
    return theta_p, K


def count_moments(pt: ParTable, data) -> int:
    """Number of sample moments the model is fitted to (free of fixed covariates)."""
    if isinstance(data, SingleData):
        p = len(data.names)
        m = p * (p + 1) // 2 + (p if pt.meanstructure else 0)
    else:
        pw = data.p_within
        pb = len(pt.blocks[1].ov)
        m = pw * (pw + 1) // 2 + pb * (pb + 1) // 2 + len(data.names)
    return m - int(pt.table["exo"].sum())


def expected_information(obj: Objective, theta: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Expected (Fisher) information of a single-level model at theta.

    The normal log-likelihood is linear in the sample moments, so its Hessian
    at data whose moments equal the implied ones is minus the expected
    information.
    """
    from .data import SingleData
    from .optimize import numeric_hessian
    _, (mu, sigma) = obj.moments(theta)
    d = obj.data
    pseudo = SingleData(d.names, d.nobs, d.mean if mu is None else mu, sigma)
    pobj = Objective(obj.spec, pseudo, obj.meanstructure)

    def grad(xi):
        return K.T @ pobj.loglik(theta + K @ (xi - xi0), gradient=True)[1]

    xi0 = np.zeros(K.shape[1])
    return -numeric_hessian(grad, xi0)


def estimate(pt: ParTable, data, *, control: dict | None = None,
             information: str | None = None) -> Estimation:
    """Maximum likelihood estimates for a parameter table on prepared data.

    Parameters
    ----------
    pt : ParTable
    data : SingleData or ClusterData
    control : dict, optional
        ``maxiter`` (BFGS iterations), ``gtol`` (per-observation gradient
        tolerance), ``start`` (a full start vector), ``se`` (False skips the
        information matrix: point estimates only, e.g. for bootstrap refits).
    information : {"observed", "expected"}, optional
        Information matrix for standard errors. Default as lavaan: expected
        for single-level models, observed for two-level models.
    """
    if information is None:
        information = "expected" if isinstance(data, SingleData) else "observed"
    if information not in ("observed", "expected"):
        raise ModelSpecificationError("information must be 'observed' or 'expected'")
    if information == "expected" and not isinstance(data, SingleData):
        raise ModelSpecificationError(
            "information='expected' is available for single-level models only; "
            "use information='observed'")
    control = dict(control or {})
    fixed_values, sat_x, loglik_x, h1 = exogenous_values(pt, data)
    spec = build_spec(pt, fixed_values)
    if pt.slopes:
        from .slopes import SlopeObjective
        # the random-slope likelihood is already conditional on the covariates
        obj = SlopeObjective(pt, spec, data)
        loglik_x = 0.0
    else:
        obj = Objective(spec, data, pt.meanstructure)
    npar = spec.npar
    nmom = count_moments(pt, data)
    lin = _linear_constraints(pt, npar)
    ncon = 0 if lin is None else len(lin[0])
    if npar - ncon > nmom and not pt.slopes:
        raise NotIdentifiedError(
            f"the model has {npar - ncon} free parameters but the data give only {nmom} sample "
            "moments to fit them to (negative degrees of freedom); fix or constrain "
            f"at least {npar - ncon - nmom} parameters, or drop paths")
    theta0 = control.get("start")
    if theta0 is None:
        theta0 = start_values(pt, spec, data)
    theta0 = np.asarray(theta0, dtype=float)

    cmap = None
    if lin is None:
        theta_p, K = np.zeros(npar), np.eye(npar)
        xi0 = theta0
        if pt.slopes:
            from .slopes import CholeskyMap
            cmap = CholeskyMap.for_model(pt, spec, obj.layout)
            xi0 = cmap.inverse(theta0)
    else:
        theta_p, K = _null_space(*lin)
        xi0 = np.linalg.lstsq(K, theta0 - theta_p, rcond=None)[0]

    def fun_grad(xi):
        if cmap is not None:
            ll, g = obj.loglik(cmap.forward(xi), gradient=True)
            return ll, (None if g is None else cmap.pullback(xi, g))
        theta = theta_p + K @ xi
        ll, g = obj.loglik(theta, gradient=True)
        return ll, (None if g is None else K.T @ g)

    want_se = control.get("se", True)
    res = maximize(fun_grad, xi0, scale=data.nobs, maxiter=control.get("maxiter", 2000),
                   gtol=control.get("gtol", 1e-5), hessian=bool(want_se))
    if cmap is not None:
        theta = cmap.forward(res.x)
        # standard errors by the delta method from the Cholesky coordinates,
        # where the maximum is a stationary point even at the boundary
        K = cmap.jacobian(res.x)
    else:
        theta = theta_p + K @ res.x

    vcov = None
    if res.hessian is not None and npar:
        info = -res.hessian if information == "observed" else \
            expected_information(obj, theta, K)
        # Judge singularity on the correlation-scaled information, so that
        # parameters on very different scales do not look unidentified.
        dscale = np.sqrt(np.clip(np.abs(np.diag(info)), 1e-300, None))
        ws, Vs = np.linalg.eigh(info / np.outer(dscale, dscale))
        # (random-slope models: a tiny eigenvalue is the boundary of the
        # random-effect covariance, reported below, not a lack of identification)
        # A clearly negative eigenvalue is not a lack of identification but an
        # improper solution (typically a negative variance): warned about below.
        if res.converged and abs(ws.min()) <= 1e-6 and not pt.slopes:
            vec = K @ (Vs[:, 0] / dscale)
            vec /= np.abs(vec).max()
            names = _param_names(pt)
            top = np.argsort(-np.abs(vec))[:4]
            involved = ", ".join(names[j] for j in top if abs(vec[j]) > 0.1)
            raise NotIdentifiedError(
                "the model is not identified: the information matrix is singular, so some "
                f"parameters can trade off without changing the fit ({involved}). This "
                "happens when a latent variable has no scale, or when a predictor has (almost) "
                "no variance at a level or is collinear with another there; fix a loading or "
                "variance, or remove one of these paths")
        w, V = np.linalg.eigh(info)
        if w.min() > 0:
            vcov = K @ ((V / w) @ V.T) @ K.T
        elif res.converged and not pt.slopes:
            notify(
                "the information matrix is not positive definite at the solution, so standard "
                "errors are not available; this usually means an improper solution (a negative "
                "variance or a correlation beyond 1): inspect the estimates, and consider "
                "fixing that variance or simplifying the model", ConvergenceWarning, stacklevel=3)
    notes = ()
    if pt.slopes:
        from .slopes import boundary_notes
        notes = boundary_notes(obj, theta)
    if not res.converged:
        notify(
            f"the optimizer did not converge ({res.message}) after {res.iterations} iterations; "
            "the estimates are not maximum likelihood estimates. Check the model (scale of "
            "variables, starting values, identification) or raise control={'maxiter': ...}",
            ConvergenceWarning, stacklevel=3)
    return Estimation(spec, obj, theta, res.fun, loglik_x, res.hessian, vcov, res.converged,
                      res.iterations, res.evaluations, res.message, fixed_values, sat_x,
                      0 if cmap is not None else npar - K.shape[1], h1, notes)


def _param_names(pt: ParTable) -> list[str]:
    tab = pt.table
    rec = pt.records
    names = {}
    for i in range(len(tab)):
        k = int(rec[i]["free"]) - 1
        if k >= 0 and k not in names:
            lvl = rec[i]["level"]
            names[k] = f"{rec[i]['lhs']} {rec[i]['op']} {rec[i]['rhs']}".strip() + \
                (f" [{lvl}]" if lvl else "")
    return [names[k] for k in range(len(names))]
