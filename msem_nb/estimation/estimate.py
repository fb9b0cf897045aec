"""Estimation: fixed covariate moments, start values, the optimiser, standard errors.

``estimate`` takes a parameter table and prepared data and returns an
``Estimation``: the free parameter vector, the log-likelihood (joint, and
conditional on the fixed covariates as lavaan reports it), the Hessian and
the covariance matrix of the estimates. Linear equality constraints other
than shared labels are handled by optimising over the null space of the
constraint matrix, which keeps the standard errors exact.

Random-intercept models are fitted to centred and scaled data and mapped
back (:mod:`msem_nb.estimation.units`; the fit in those units is kept as
``Estimation.internal``), by Fisher scoring then Newton where both
information matrices are analytic (complete data) and by BFGS otherwise
(:mod:`msem_nb.estimation.optimize`). Three-level models
(:class:`~msem_nb.likelihood.threelevel_objective.ThreeLevelObjective`) go
through the same map, by BFGS. Random slopes are fitted in the data's units,
through the Cholesky factors of their covariance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.data.groups import MultiGroupData
from msem_nb.data.protocol import ModelData
from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.errors import ConvergenceWarning, ModelSpecificationError, NotIdentifiedError
from msem_nb.estimation.constraints import linear_constraints, null_space
from msem_nb.estimation.exogenous import exogenous_values
from msem_nb.estimation.groups import (
    group_count_moments,
    group_exogenous_values,
    group_start_values,
)
from msem_nb.estimation.information import (
    analytic_available,
    loglik_information,
    observed_information,
)
from msem_nb.estimation.information import expected_information as analytic_expected
from msem_nb.estimation.optimize import (
    HessianFun,
    OptimResult,
    maximize,
    maximize_scoring,
    numeric_hessian,
)
from msem_nb.estimation.saturated import Saturated, data_cache
from msem_nb.estimation.start import start_values, user_starts
from msem_nb.estimation.units import Units, choose_units, with_fixed
from msem_nb.likelihood.multigroup import MultiGroupObjective, group_objective
from msem_nb.likelihood.objective import Objective
from msem_nb.likelihood.protocol import LogLikelihood
from msem_nb.likelihood.slopes import CholeskyMap, SlopeObjective, boundary_notes
from msem_nb.likelihood.slopes_latent import DEFAULT_NODES, LatentSlopeObjective, latent_slopes
from msem_nb.likelihood.threelevel_objective import ThreeLevelObjective
from msem_nb.messages import notify
from msem_nb.model.partable import ParTable
from msem_nb.model.slope_rules import check_conditioned
from msem_nb.model.spec import ModelSpec, build_spec

__all__ = ["Estimation", "Internal", "RobustInfo", "estimate", "count_moments",
           "expected_information", "check_start"]


@dataclass(frozen=True, eq=False)
class RobustInfo:
    """What MLR adds to an estimation (:mod:`msem_nb.estimation.sandwich`).

    ``meat`` is the sum of outer products of unit scores; ``vcov_model``
    the covariance from the information matrix alone (the bread).
    """

    meat: np.ndarray
    vcov_model: np.ndarray
    nunits: int

    @property
    def trace_h0(self) -> float:
        """tr(V B): the model's part of the scaling factor's numerator."""
        return float(np.sum(self.vcov_model * self.meat))


@dataclass(frozen=True, eq=False)
class Internal:
    """The estimation in the units it was done in (:mod:`msem_nb.estimation.units`).

    ``objective`` is the model on centred and scaled data, ``theta`` its free
    parameters at the maximum, ``vcov`` their covariance matrix (None without
    standard errors) and ``jacobian`` the derivative of the caller's
    parameters with respect to them: ``Estimation.vcov = J vcov J'``. Work
    that needs the information or the scores (MLR's sandwich) is done here,
    where they are well conditioned, and mapped back the same way.
    """

    objective: Objective | ThreeLevelObjective | MultiGroupObjective
    theta: np.ndarray
    vcov: np.ndarray | None
    jacobian: np.ndarray


@dataclass(frozen=True, eq=False)
class Estimation:
    """The result of one estimation: the free parameters and what inference needs.

    ``objective`` is the log-likelihood (or fit function, MUML) that was
    maximised; ``fixed_values`` maps rows of the parameter table to the fixed
    values of the covariates' moments (fixed.x); ``sat_x`` is the saturated
    model they come from, ``h1`` the saturated model of all variables when
    it was fitted on the way; ``notes`` are plain-language remarks for the
    user (random slopes at their boundary).
    """

    spec: ModelSpec
    objective: LogLikelihood
    theta: np.ndarray
    loglik_joint: float
    loglik_x: float
    hessian: np.ndarray | None
    vcov: np.ndarray | None
    converged: bool
    iterations: int
    evaluations: int
    message: str
    fixed_values: dict[int, float]
    sat_x: Saturated | None
    n_constraints: int = 0
    h1: Saturated | None = None
    notes: tuple[str, ...] = ()
    # MLR (msem_nb.inference.robust): the meat and the model-based vcov; vcov is then robust
    robust: RobustInfo | None = None
    # the table theta refers to when the estimator changed the caller's (MUML frees the
    # covariates' moments, msem_nb.estimation.muml); None: the caller's table
    partable: ParTable | None = None
    # the fit on centred and scaled data it was mapped back from (msem_nb.estimation.units)
    internal: Internal | None = None

    @property
    def npar_effective(self) -> int:
        """Free parameters less linear equality constraints among them."""
        return self.spec.npar - self.n_constraints

    @property
    def loglik(self) -> float:
        return self.loglik_joint - self.loglik_x


def count_moments(pt: ParTable, data: ModelData) -> int:
    """Number of sample moments the model is fitted to (free of fixed covariates).

    The covariances of each block's observed variables, plus one mean per
    data variable when there is a mean structure (two levels always: a
    both-level variable's mean is counted once), less the fixed covariate
    moments. Several groups: the sum over groups.
    """
    if isinstance(data, MultiGroupData):
        return group_count_moments(pt, data)
    p = len(data.names)
    if data.nlevels == 1:
        m = p * (p + 1) // 2
    else:
        m = sum(len(bv.ov) * (len(bv.ov) + 1) // 2 for bv in pt.blocks)
    m += p if pt.meanstructure else 0
    return m - int(pt.table["exo"].sum())


def expected_information(obj: Objective | MultiGroupObjective, theta: np.ndarray,
                         K: np.ndarray) -> np.ndarray:
    """Expected (Fisher) information at theta in the coordinates ``theta = theta_p + K xi``.

    Analytic (:mod:`msem_nb.estimation.information`) for complete data with
    one or two levels. Otherwise (kept as the reference the tests check the
    closed form against) a single-level model's information by differences:
    the normal log-likelihood is linear in the sample moments, so its Hessian
    at data whose moments equal the implied ones is minus the expected
    information.
    """
    if analytic_available(obj):
        info = analytic_expected(obj, theta)
        if info is not None:
            return K.T @ info @ K
    if isinstance(obj, MultiGroupObjective):
        return sum((expected_information(p, theta, K) for p in obj.parts),
                   np.zeros((K.shape[1], K.shape[1])))
    _, mom = obj.moments(theta)
    d = obj.data
    if not isinstance(d, SingleData) or len(mom) != 2:
        raise ValueError("the expected information of a two-level model is not available "
                         "here (an implied covariance matrix is not positive definite)")
    mu, sigma = mom
    pseudo = SingleData(d.names, d.nobs, d.mean if mu is None else mu, sigma)
    pobj = Objective(obj.spec, pseudo, obj.meanstructure)

    def grad(xi: np.ndarray) -> np.ndarray:
        g = pobj.loglik(theta + K @ (xi - xi0), gradient=True)[1]
        if g is None:  # pragma: no cover - the implied matrix at theta is positive definite
            raise FloatingPointError("implied covariance matrix is not positive definite")
        return K.T @ g

    xi0 = np.zeros(K.shape[1])
    return -numeric_hessian(grad, xi0)


def check_start(start: object, pt: ParTable, npar: int) -> np.ndarray:
    """A user's start vector as floats, checked against the free parameters of `pt`.

    Raises
    ------
    ModelSpecificationError
        When `start` is not a flat sequence of `npar` finite numbers; the
        message gives the expected length, the parameters in order and how
        to get a valid vector from an earlier fit.
    """
    names = _param_names(pt)
    listed = "; ".join(f"{k + 1}: {n}" for k, n in enumerate(names[:12]))
    more = f"; ... ({npar - 12} more)" if npar > 12 else ""
    how = (f"the model has {npar} free parameter{'s' if npar != 1 else ''}, in this order: "
           f"{listed}{more}. The rows of fit.partable.table with free = 1, 2, ... list "
           "them, and fit.estimation.theta of an earlier fit is a valid start vector")
    try:
        theta0 = np.asarray(start, dtype=float)
    except (TypeError, ValueError):
        raise ModelSpecificationError(
            f"control['start'] must be numbers, one per free parameter, not {start!r:.60}: "
            + how) from None
    if theta0.ndim != 1 or len(theta0) != npar:
        got = f"{len(theta0)} values" if theta0.ndim == 1 else f"an array of shape {theta0.shape}"
        raise ModelSpecificationError(
            f"control['start'] has {got} but needs one per free parameter: {how}")
    bad = np.flatnonzero(~np.isfinite(theta0))
    if len(bad):
        k = int(bad[0])
        raise ModelSpecificationError(
            f"control['start'] has a non-finite value ({theta0[k]}) at position {k + 1} "
            f"({names[k] if k < len(names) else '?'}); start values must be finite numbers: "
            + how)
    return theta0


# control's values differ in type by key (options.CONTROL_KEYS: counts, tolerances, a
# start vector, a flag), hence Any
def estimate(pt: ParTable, data: SingleData | ClusterData | ThreeLevelData | MultiGroupData, *,
             control: Mapping[str, Any] | None = None,
             information: str | None = None) -> Estimation:
    """Maximum likelihood estimates for a parameter table on prepared data.

    Random-intercept models are estimated on centred and scaled data and
    mapped back (:mod:`msem_nb.estimation.units`), so that the answer does
    not depend on the units of the variables; random-slope models in the
    data's units.

    Parameters
    ----------
    pt : ParTable
    data : SingleData, ClusterData or ThreeLevelData
    control : mapping, optional
        ``maxiter`` (most iterations: Fisher scoring and Newton steps where
        both information matrices are analytic, BFGS's otherwise), ``gtol``
        (BFGS's per-observation gradient tolerance), ``start`` (a full start
        vector), ``se`` (False skips the information matrix: point estimates
        only, e.g. for bootstrap refits).
    information : {"observed", "expected"}, optional
        Information matrix for standard errors. Default as lavaan: expected
        for single-level models, observed for two-level models.
    """
    if information is None:
        information = "expected" if isinstance(data, SingleData) else "observed"
    if information not in ("observed", "expected"):
        raise ModelSpecificationError("information must be 'observed' or 'expected'")
    if information == "expected" and (pt.slopes or (data.incomplete and
                                                    not isinstance(data, SingleData))
                                      or isinstance(data, ThreeLevelData)):
        raise ModelSpecificationError(
            "information='expected' is not available for random-slope models, two-level "
            "models with missing='fiml' or three-level models; use information='observed'")
    control = dict(control or {})
    if control.get("start") is not None:
        control["start"] = check_start(control["start"], pt, pt.npar)
    npar = pt.npar
    lin = linear_constraints(pt, npar)
    ncon = 0 if lin is None else len(lin[0])
    nmom = count_moments(pt, data)
    if pt.slopes and isinstance(data, MultiGroupData):
        raise ModelSpecificationError("random slopes are not available with several "
                                      "groups yet; fit each group on its own")
    if pt.slopes:
        if not isinstance(data, ClusterData):
            raise ModelSpecificationError("random slopes are a two-level model; they need "
                                          "clustered data (cluster='...')")
        return _estimate_slopes(pt, data, control, lin)
    if npar - ncon > nmom:
        raise NotIdentifiedError(
            f"the model has {npar - ncon} free parameters but the data give only {nmom} sample "
            "moments to fit them to (negative degrees of freedom); fix or constrain "
            f"at least {npar - ncon - nmom} parameters, or drop paths")
    # several groups: one map for all groups, from the pooled moments
    spec0 = build_spec(pt)
    units = choose_units(pt, spec0, data, lin)
    tdata = _in_units(data, units)
    if isinstance(tdata, MultiGroupData):
        fixed_t, loglik_x_t = group_exogenous_values(pt, tdata)
        sat_t = h1_t = None
    else:
        fixed_t, sat_t, loglik_x_t, h1_t = exogenous_values(pt, tdata)
    spec_t = units.transform_spec(spec0, fixed_t)
    obj_t = _objective(spec_t, tdata, pt.meanstructure)
    if control.get("start") is not None:
        xi0 = units.to_xi(spec_t, control["start"])
    else:
        xi0 = (group_start_values(pt, spec_t, tdata, user=False)
               if isinstance(tdata, MultiGroupData)
               else start_values(pt, spec_t, tdata, user=False))
        user = user_starts(pt)
        if user:
            theta0 = units.to_theta(spec_t, xi0)
            theta0[list(user)] = list(user.values())
            xi0 = units.to_xi(spec_t, theta0)
    fit = _maximize(obj_t, pt, xi0, units.constraints(lin), control, information, None)

    xi = fit.theta
    theta = units.to_theta(spec_t, xi)
    J = units.jacobian(spec_t, xi)
    vcov = None if fit.vcov is None else J @ fit.vcov @ J.T
    hessian = fit.hessian
    if hessian is not None and len(hessian) == len(J):
        # in the caller's parameters; under linear constraints it stays in the
        # optimiser's (null-space) coordinates, as it always was
        Ji = np.linalg.inv(J)
        hessian = Ji.T @ hessian @ Ji
    fixed_values = units.original_values(spec_t, xi, fixed_t)
    spec = with_fixed(spec0, fixed_values)
    obj = _objective(spec, data, pt.meanstructure)
    names = data.names
    counts = data.value_counts()
    by_name = dict(zip(names, counts))
    loglik_joint = fit.loglik - units.log_jacobian(counts)
    if isinstance(data, ThreeLevelData):
        # loglik_x holds the covariates with parts at one level only, each counted over
        # its rows, classes or schools; the saturated model of the others spans all
        # variables and holds nothing of theirs (msem_nb.estimation.saturated_threelevel)
        levels = pt.level_ov()
        x_names = [v for v in pt.exogenous if sum(v in ov for ov in levels) == 1]
        x_counts = [by_name[v] for v in x_names]
        sat_counts = [by_name[v] if v in x_names else 0.0 for v in names]
    else:
        both = getattr(data.parts[0] if isinstance(data, MultiGroupData) else data, "both", ())
        x_names = [v for v in pt.exogenous if v not in both]
        x_counts = [_rows_or_clusters(data, v) for v in x_names]
        sat_counts = [] if sat_t is None else [_rows_or_clusters(data, v) for v in sat_t.names]
    loglik_x = loglik_x_t - units.log_jacobian(np.array(x_counts), x_names, names)
    h1 = units.saturated(h1_t, names, np.array([by_name[v] for v in names])) \
        if h1_t is not None else None
    if sat_t is h1_t:
        sat_x = h1
    else:
        sat_x = None if sat_t is None else units.saturated(sat_t, names, np.array(sat_counts))
    internal = Internal(obj_t, xi, fit.vcov, J)
    return Estimation(spec, obj, theta, loglik_joint, loglik_x, hessian, vcov, fit.converged,
                      fit.iterations, fit.evaluations, fit.message, fixed_values, sat_x,
                      fit.n_constraints, h1, (), internal=internal)


def _objective(spec: ModelSpec, data: SingleData | ClusterData | ThreeLevelData | MultiGroupData,
               meanstructure: bool) -> Objective | ThreeLevelObjective | MultiGroupObjective:
    """The log-likelihood of `spec` on `data`: three levels, several groups, or one
    group with one or two levels."""
    if isinstance(data, ThreeLevelData):
        return ThreeLevelObjective(spec, data)
    if isinstance(data, MultiGroupData):
        return group_objective(spec, data, meanstructure)
    return Objective(spec, data, meanstructure)


def _in_units(data: SingleData | ClusterData | ThreeLevelData | MultiGroupData, units: Units
              ) -> SingleData | ClusterData | ThreeLevelData | MultiGroupData:
    """`data` as ``(y - loc) / scale``, kept with `data` for the next fit in the same units.

    Refits on the same prepared data (the panel, a model change that keeps the
    variables) then reuse what is cached with the scaled data: the saturated model
    of covariates with parts at both levels and the FIML saturated model
    (:func:`~msem_nb.estimation.saturated.fit_saturated`), as unscaled data keep
    theirs for the fit measures. One entry: the last units asked for.
    """
    cache = data_cache(data)
    key = (units.loc.tobytes(), units.scale.tobytes())
    hit = cache.get("units")
    if hit is not None and hit[0] == key:
        return hit[1]
    tdata = data.affine(units.loc, units.scale)
    cache["units"] = (key, tdata)
    return tdata


def _rows_or_clusters(data: SingleData | ClusterData | MultiGroupData, name: str) -> float:
    """How many values a fixed covariate's own saturated log-likelihood counts: every
    row, or every cluster for a between-only variable (:mod:`msem_nb.estimation.exogenous`);
    several groups: summed over the groups."""
    if isinstance(data, MultiGroupData):
        return sum(_rows_or_clusters(d, name) for d in data.parts)
    if isinstance(data, ClusterData) and name in data.between_only:
        return float(data.nclusters)
    return float(data.nobs)


def _estimate_slopes(pt: ParTable, data: ClusterData, control: Mapping[str, Any],
                     lin: tuple[np.ndarray, np.ndarray] | None) -> Estimation:
    """Random slopes: estimated in the data's units, through Cholesky coordinates."""
    fixed_values, sat_x, _, h1 = exogenous_values(pt, data)
    spec = build_spec(pt, fixed_values)
    # the random-slope likelihood is already conditional on the covariates
    obj = (LatentSlopeObjective(pt, spec, data, int(control.get("quadrature", DEFAULT_NODES)))
           if latent_slopes(pt, data) else SlopeObjective(pt, spec, data))
    check_conditioned(pt.records, obj.layout.cond + obj.layout.w)
    theta0 = control.get("start")
    if theta0 is None:
        theta0 = start_values(pt, spec, data)
    fit = _maximize(obj, pt, np.asarray(theta0, dtype=float), lin, control, "observed",
                    CholeskyMap.for_model(pt, spec, obj.layout) if lin is None else None)
    return Estimation(spec, obj, fit.theta, fit.loglik, 0.0, fit.hessian, fit.vcov,
                      fit.converged, fit.iterations, fit.evaluations, fit.message,
                      fixed_values, sat_x, fit.n_constraints, h1, boundary_notes(obj, fit.theta))


@dataclass(frozen=True, eq=False)
class _Fit:
    theta: np.ndarray
    loglik: float
    hessian: np.ndarray | None
    vcov: np.ndarray | None
    converged: bool
    iterations: int
    evaluations: int
    message: str
    n_constraints: int


def _maximize(obj: Objective | SlopeObjective | ThreeLevelObjective
              | MultiGroupObjective, pt: ParTable,
              theta0: np.ndarray, lin: tuple[np.ndarray, np.ndarray] | None,
              control: Mapping[str, Any], information: str,
              cmap: CholeskyMap | None) -> _Fit:
    """Maximise ``obj.loglik`` from theta0 under ``C theta = c`` (lin), with the covariance
    matrix of the estimates from the `information` matrix; warns as the caller's fit."""
    npar = obj.spec.npar
    slopes = isinstance(obj, SlopeObjective)
    if lin is None:
        theta_p, K = np.zeros(npar), np.eye(npar)
        xi0 = theta0 if cmap is None else cmap.inverse(theta0)
    else:
        theta_p, K = null_space(*lin)
        xi0 = np.linalg.lstsq(K, theta0 - theta_p, rcond=None)[0]

    def fun_grad(xi: np.ndarray) -> tuple[float, np.ndarray | None]:
        if cmap is not None:
            ll, g = obj.loglik(cmap.forward(xi), gradient=True)
            return ll, (None if g is None else cmap.pullback(xi, g))
        theta = theta_p + K @ xi
        ll, g = obj.loglik(theta, gradient=True)
        return ll, (None if g is None else K.T @ g)

    # The Newton finish and the observed information use the analytic Hessian
    # for complete-data random-intercept models; FIML and random slopes keep
    # the differenced one (optimize.numeric_hessian).
    # The information at the start makes the optimiser's gradient tolerance
    # independent of the units of the variables.
    hess: HessianFun | None = None
    metric: np.ndarray | None = None
    res: OptimResult | None = None
    if cmap is None and analytic_available(obj):
        aobj = obj

        def analytic_hess(xi: np.ndarray) -> np.ndarray | None:
            info = observed_information(aobj, theta_p + K @ xi)
            return None if info is None else -(K.T @ info @ K)
        hess = analytic_hess

        def evaluate(xi: np.ndarray, kind: str | None
                     ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
            if lin is None:     # theta is xi
                if kind is None:
                    ll, g = aobj.loglik(xi, gradient=True)
                    return ll, g, None
                return loglik_information(aobj, xi, kind)
            theta = theta_p + K @ xi
            if kind is None:
                ll, g = aobj.loglik(theta, gradient=True)
                return ll, (None if g is None else K.T @ g), None
            ll, g, info = loglik_information(aobj, theta, kind)
            if g is None or info is None:
                return ll, None, None
            return ll, K.T @ g, K.T @ info @ K

        # Fisher scoring and Newton with both analytic information matrices;
        # BFGS (below) where they do not converge as they should
        # (maxiter bounds all iterations: scoring's, then BFGS's after 40)
        maxiter = int(control.get("maxiter", 2000))
        res = maximize_scoring(evaluate, xi0, scale=obj.data.nobs,
                               max_steps=min(_SCORING_STEPS, maxiter))
        if res is not None and not res.converged and maxiter > _SCORING_STEPS:
            res = None
        if res is None:
            info0 = analytic_expected(aobj, theta_p + K @ xi0)
            metric = None if info0 is None else K.T @ info0 @ K

    want_se = control.get("se", True)
    hinv0 = None
    if isinstance(obj, ThreeLevelObjective):
        # No information matrix in closed form: BFGS starts from the inverse diagonal of
        # the schools' score outer products, so that its steps do not depend on the
        # parameters' scales (from identity steps it takes several times as many)
        # (none at a start outside the positive definite region: maximize says so)
        try:
            S = obj.unit_scores(theta_p + K @ xi0) @ K
        except FloatingPointError:
            S = np.zeros((0, len(xi0)))
        d = np.einsum("kp,kp->p", S, S)
        hinv0 = np.diag(1.0 / d) if np.all(np.isfinite(d)) and np.all(d > 0) else None
    if res is None:
        # (FIML's and three levels' differenced Hessian by central differences: z-values
        # that do not depend on the units need them; random slopes keep forward ones)
        res = maximize(fun_grad, xi0, scale=obj.data.nobs, maxiter=control.get("maxiter", 2000),
                       gtol=control.get("gtol", 1e-5), hessian=bool(want_se), hess=hess,
                       metric=metric, central=not slopes, hinv0=hinv0)
    if cmap is not None:
        theta = cmap.forward(res.x)
        # standard errors by the delta method from the Cholesky coordinates,
        # where the maximum is a stationary point even at the boundary
        K = cmap.jacobian(res.x)
    else:
        theta = theta_p + K @ res.x

    vcov = None
    if res.hessian is not None and npar and want_se:
        if information == "observed":
            info = -res.hessian
        elif isinstance(obj, (Objective, MultiGroupObjective)):
            info = expected_information(obj, theta, K)
        else:  # pragma: no cover - refused in estimate for random slopes
            raise ModelSpecificationError("information='expected' is not available for "
                                          "random-slope models")
        # Judge singularity on the correlation-scaled information, so that
        # parameters on very different scales do not look unidentified.
        dscale = np.sqrt(np.clip(np.abs(np.diag(info)), 1e-300, None))
        ws, Vs = np.linalg.eigh(info / np.outer(dscale, dscale))
        # (random-slope models: a tiny eigenvalue is the boundary of the
        # random-effect covariance, reported below, not a lack of identification)
        # A clearly negative eigenvalue is not a lack of identification but an
        # improper solution (typically a negative variance): warned about below.
        if res.converged and abs(ws.min()) <= 1e-6 and not slopes:
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
        # inverted on the same scaled form: an eigen-decomposition of the raw
        # matrix would lose digits (and make z-values depend on units) when
        # parameters differ in scale by orders of magnitude
        if ws.min() > 0:
            vcov = K @ (((Vs / ws) @ Vs.T) / np.outer(dscale, dscale)) @ K.T
        elif res.converged and not slopes:
            notify(
                "the information matrix is not positive definite at the solution, so standard "
                "errors are not available; this usually means an improper solution (a negative "
                "variance or a correlation beyond 1): inspect the estimates, and consider "
                "fixing that variance or simplifying the model", ConvergenceWarning, stacklevel=4)
    if not res.converged:
        notify(
            f"the optimizer did not converge ({res.message}) after {res.iterations} iterations; "
            "the estimates are not maximum likelihood estimates. Check the model (scale of "
            "variables, starting values, identification) or raise control={'maxiter': ...}",
            ConvergenceWarning, stacklevel=4)
    return _Fit(theta, res.fun, res.hessian, vcov, res.converged, res.iterations,
                res.evaluations, res.message, 0 if cmap is not None else npar - K.shape[1])


#: Most Fisher scoring and Newton steps before BFGS takes over (5-10 are usual).
_SCORING_STEPS = 40


def _param_names(pt: ParTable) -> list[str]:
    tab = pt.table
    rec = pt.records
    names: dict[int, str] = {}
    for i in range(len(tab)):
        k = int(rec[i]["free"]) - 1
        if k >= 0 and k not in names:
            lvl = rec[i]["level"]
            names[k] = f"{rec[i]['lhs']} {rec[i]['op']} {rec[i]['rhs']}".strip() + \
                (f" [{lvl}]" if lvl else "")
    return [names[k] for k in range(len(names))]