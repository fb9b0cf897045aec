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
through the Cholesky factors of their covariance; with missing outcome values by
FIML (:mod:`msem_nb.likelihood.slopes_missing`, :mod:`msem_nb.estimation.slopes_missing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.data.groups import MultiGroupData
from msem_nb.data.protocol import ModelData
from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.errors import ModelSpecificationError, NotIdentifiedError
from msem_nb.estimation.constraints import linear_constraints
from msem_nb.estimation.exogenous import exogenous_values
from msem_nb.estimation.groups import (
    group_count_moments,
    group_exogenous_values,
    group_start_values,
)
from msem_nb.estimation.maximum import expected_information, find_maximum, param_names
from msem_nb.estimation.result import Estimation, Internal, RobustInfo
from msem_nb.estimation.saturated import data_cache
from msem_nb.estimation.slopes_missing import (
    missing_slope_objective,
    note_missing_outcomes,
    slope_exogenous_values,
)
from msem_nb.estimation.start import start_values, user_starts
from msem_nb.estimation.units import Units, choose_units, with_fixed
from msem_nb.likelihood.multigroup import MultiGroupObjective, group_objective
from msem_nb.likelihood.objective import Objective
from msem_nb.likelihood.slopes import CholeskyMap, SlopeObjective, boundary_notes
from msem_nb.likelihood.slopes_latent import DEFAULT_NODES, LatentSlopeObjective, latent_slopes
from msem_nb.likelihood.threelevel_objective import ThreeLevelObjective
from msem_nb.messages import collecting, notify
from msem_nb.model.partable import ParTable
from msem_nb.model.slope_rules import check_conditioned
from msem_nb.model.spec import ModelSpec, build_spec

__all__ = ["Estimation", "Internal", "RobustInfo", "estimate", "count_moments",
           "expected_information", "check_start", "QUADRATURE_CHECK"]

#: how far the log-likelihood of a latent-slope fit may move from the default
#: quadrature rule to one with 2 n + 1 nodes before the fit is redone with those
QUADRATURE_CHECK = 1e-3


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
    return m - int(pt.column("exo").sum())



def check_start(start: object, pt: ParTable, npar: int) -> np.ndarray:
    """A user's start vector as floats, checked against the free parameters of `pt`.

    Raises
    ------
    ModelSpecificationError
        When `start` is not a flat sequence of `npar` finite numbers; the
        message gives the expected length, the parameters in order and how
        to get a valid vector from an earlier fit.
    """
    names = param_names(pt)
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
    fit = find_maximum(obj_t, pt, xi0, units.constraints(lin), control, information, None)

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
    """Random slopes: estimated in the data's units, through Cholesky coordinates;
    missing outcome values by FIML (:mod:`msem_nb.likelihood.slopes_missing`).

    A slope on a latent covariate (or a random loading) is integrated with
    ``control["quadrature"]`` Gauss-Hermite nodes; without that setting the fit
    with the default rule is checked at its estimate against ``2 n + 1`` nodes and,
    when the log-likelihood moves by more than ``QUADRATURE_CHECK``, refitted from
    there with them (a note says so): a cluster whose slope or loading is far from
    normal given its data (a small cluster, a loading near zero) needs more nodes.
    """
    if data.incomplete:
        fixed_values, sat_x, _, h1 = slope_exogenous_values(pt, data)
    else:
        fixed_values, sat_x, _, h1 = exogenous_values(pt, data)
    spec = build_spec(pt, fixed_values)
    # the random-slope likelihood is already conditional on the covariates
    obj: SlopeObjective
    nodes = control.get("quadrature")
    if data.incomplete:
        obj = missing_slope_objective(pt, spec, data, int(nodes or DEFAULT_NODES))
        note_missing_outcomes(obj)
    elif latent_slopes(pt, data):
        obj = LatentSlopeObjective(pt, spec, data, int(nodes or DEFAULT_NODES))
    else:
        obj = SlopeObjective(pt, spec, data)
    check_conditioned(pt.records, obj.layout.cond + obj.layout.w)
    theta0 = control.get("start")
    if theta0 is None:
        theta0 = start_values(pt, spec, data)
    chol = CholeskyMap.for_model(pt, spec, obj.layout) if lin is None else None
    check = isinstance(obj, LatentSlopeObjective) and nodes is None
    # a fit that the check redoes must not leave its warnings (not converged, ...)
    with collecting(quiet=check, forward=not check) as first:
        fit = find_maximum(obj, pt, np.asarray(theta0, dtype=float), lin, control, "observed",
                           chol)
    notes: tuple[str, ...] = ()
    moved = 0.0
    if check and isinstance(obj, LatentSlopeObjective) and np.isfinite(fit.loglik):
        # (the same kind of objective: FIML's when outcome values are missing)
        finer = type(obj)(pt, spec, data, 2 * obj.nodes + 1)
        # both rules at the same centres and scales: the check costs two evaluations
        ad = obj.adaptation(fit.theta)
        moved = abs(float(finer.cluster_loglik(fit.theta, ad).sum()
                          - obj.cluster_loglik(fit.theta, ad).sum()))
        moved = moved if np.isfinite(moved) else 0.0
    if moved <= QUADRATURE_CHECK:
        if check:
            for m in first:
                notify(str(m), m.category, stacklevel=3)
    else:
        obj = finer
        fit = find_maximum(obj, pt, fit.theta, lin, control, "observed", chol)
        notes = (f"the log-likelihood moved by {moved:.2g} from {DEFAULT_NODES} to "
                 f"{obj.nodes} quadrature nodes per random slope or loading (a cluster's "
                 "random effect is far from normal given its data), so the model was "
                 f"refitted with {obj.nodes}; control={{'quadrature': n}} sets them",)
    return Estimation(spec, obj, fit.theta, fit.loglik, 0.0, fit.hessian, fit.vcov,
                      fit.converged, fit.iterations, fit.evaluations, fit.message,
                      fixed_values, sat_x, fit.n_constraints, h1,
                      boundary_notes(obj, fit.theta) + notes)
