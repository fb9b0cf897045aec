"""MUML estimation: Muthen's fit function minimised over the model's parameters.

:func:`estimate_muml` is what :func:`msem_nb.estimation.pipeline.fit_prepared`
runs for ``FitOptions(estimator="MUML")``. It differs from the ML path
(:func:`msem_nb.estimation.estimate.estimate`) in four ways:

* **Covariate moments are free.** A covariate named in both blocks has a
  latent between part, so the outcomes' distribution given the observed
  covariate values depends on the covariate's within and between variances:
  they are estimated (:func:`muml_partable`), not fixed as in the ML fit
  with ``fixed_x=True``, and their uncertainty enters the standard errors.
  The returned :class:`MumlEstimation` carries that table (``partable``);
  its ``theta`` refers to it.
* **Two-stage start.** From generic starts a covariate with a small between
  variance can be pushed through zero, where its between slope runs off to
  infinity; so the first stage holds the covariate moments at their
  saturated ML values (as the ML fit holds them) and the second frees them.
  A user ``start`` skips the first stage.
* **Constraints** (``==`` other than shared labels) by the null space
  ``theta = theta_p + K xi`` (:mod:`msem_nb.estimation.constraints`), in both
  stages; the first stage adds the rows ``theta_k = saturated value``.
* **Standard errors** from minus the Hessian of -F / 2 in ``xi``, mapped
  back: ``vcov = K info^-1 K'``, when the information's smallest eigenvalue
  exceeds ``1e-10 max(1, largest)`` (else None).

F is not a log-likelihood: ``loglik_joint`` is NaN and F itself is kept in
``fmin`` (with the cluster-size scaling ``c``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from msem_nb.data.complete import ClusterData
from msem_nb.data.protocol import ModelData
from msem_nb.errors import ConvergenceWarning, ModelSpecificationError
from msem_nb.estimation.constraints import linear_constraints, null_space
from msem_nb.estimation.estimate import Estimation, check_start
from msem_nb.estimation.exogenous import exogenous_values
from msem_nb.estimation.optimize import maximize
from msem_nb.estimation.start import start_values
from msem_nb.likelihood.muml import MumlObjective, muml_moments
from msem_nb.likelihood.objective import Objective
from msem_nb.messages import notify
from msem_nb.model.partable import ParTable
from msem_nb.model.spec import build_spec

__all__ = ["MumlEstimation", "estimate_muml", "muml_partable", "check_muml_table",
           "check_muml_data"]


@dataclass(frozen=True, eq=False)
class MumlEstimation(Estimation):
    """An :class:`Estimation` by MUML: ``fmin`` is the minimised F, ``c`` the
    cluster-size scaling (the common cluster size when balanced)."""

    fmin: float = float("nan")
    c: float = float("nan")


def check_muml_table(pt: ParTable) -> None:
    """MUML needs a two-level table without random slopes."""
    if pt.nlevels != 2:
        raise ModelSpecificationError("MUML is a two-level estimator; write the model with "
                                      "'level: within' and 'level: between' blocks")
    if pt.slopes:
        raise ModelSpecificationError("MUML cannot fit random slopes; use msem_nb.fit (ML)")


def check_muml_data(data: ModelData) -> ClusterData:
    """`data` if MUML can use it: complete two-level data with at least two clusters."""
    if data.incomplete:
        raise ModelSpecificationError("MUML uses complete rows only; use missing='listwise', "
                                      "or estimator='ML' with missing='fiml'")
    if not isinstance(data, ClusterData):
        raise ModelSpecificationError("MUML is a two-level estimator; it needs clustered data "
                                      "(cluster='...')")
    if data.nclusters < 2:
        raise ModelSpecificationError("MUML needs at least two clusters")
    return data


def muml_partable(pt: ParTable) -> ParTable:
    """The table with the fixed covariate moments turned into free parameters.

    The new parameters are numbered after the existing ones, in table order;
    a table without fixed covariate moments is returned as it is (so the
    function is idempotent and a refit reuses the table).
    """
    tab = pt.table
    exo = tab["exo"].to_numpy().astype(bool)
    fixed = exo & (tab["free"].to_numpy() == 0)
    if not fixed.any():
        return pt
    tab = tab.copy()
    nxt = pt.npar
    free = tab["free"].to_numpy().copy()
    for i in np.flatnonzero(fixed):
        nxt += 1
        free[i] = nxt
    tab["free"] = free
    tab["ustart"] = np.where(exo, np.nan, tab["ustart"].to_numpy())
    return ParTable(tab, pt.blocks, pt.meanstructure, pt.nlevels, pt.defined, pt.constraints)


# control: as for estimate.estimate (values of several types, options.CONTROL_KEYS)
def estimate_muml(pt: ParTable, data: ModelData, *,
                  control: Mapping[str, Any] | None = None) -> MumlEstimation:
    """MUML estimates of a two-level table on complete clustered data.

    Parameters
    ----------
    pt : ParTable
        Two-level, no random slopes; fixed covariate moments are freed
        (:func:`muml_partable`).
    data : ClusterData
        Complete (listwise) two-level data; anything else is refused
        (:func:`check_muml_data`).
    control : mapping, optional
        ``maxiter``, ``gtol``, ``start`` (a full start vector of the freed
        table's parameters; skips the first stage), ``se`` (False: no
        Hessian, no vcov).

    Returns
    -------
    MumlEstimation
        ``partable`` is the freed table, ``loglik_joint`` NaN, ``fmin`` F.
    """
    check_muml_table(pt)
    cd = check_muml_data(data)
    control = dict(control or {})
    ptf = muml_partable(pt)
    spec = build_spec(ptf)
    mom = muml_moments(cd)
    fobj = MumlObjective(Objective(spec, cd, True), mom)

    npar = spec.npar
    lin = linear_constraints(ptf, npar)
    C, cvec = lin if lin is not None else (np.zeros((0, npar)), np.zeros(0))
    start = control.get("start")
    if start is not None:
        start = check_start(start, ptf, spec.npar)
    theta = np.asarray(start if start is not None else start_values(ptf, spec, cd),
                       dtype=float)
    stages = [(C, cvec)]
    exo_vals = exogenous_values(ptf, cd)[0] if start is None else {}
    if exo_vals:
        rows = sorted(exo_vals)
        E = np.zeros((len(rows), npar))
        E[np.arange(len(rows)), ptf.table["free"].to_numpy()[rows] - 1] = 1.0
        stages.insert(0, (np.vstack([C, E]), np.concatenate([cvec, [exo_vals[i] for i in rows]])))
    want_se = bool(control.get("se", True))
    iterations = evaluations = 0
    for k, (Cs, cs) in enumerate(stages):
        if len(Cs):
            theta_p, K = null_space(Cs, cs)
        else:
            theta_p, K = np.zeros(npar), np.eye(npar)
        xi0 = np.linalg.lstsq(K, theta - theta_p, rcond=None)[0]

        def fun_grad(xi: np.ndarray, theta_p: np.ndarray = theta_p,
                     K: np.ndarray = K) -> tuple[float, np.ndarray | None]:
            ll, g = fobj.loglik(theta_p + K @ xi, gradient=True)
            return ll, (None if g is None else K.T @ g)

        # only the last stage's Hessian is used (it does not move the solution)
        res = maximize(fun_grad, xi0, scale=cd.nobs, maxiter=control.get("maxiter", 2000),
                       gtol=control.get("gtol", 1e-5),
                       hessian=want_se and k == len(stages) - 1)
        theta = theta_p + K @ res.x
        iterations += res.iterations
        evaluations += res.evaluations
    vcov = None
    if res.hessian is not None:
        info = -res.hessian
        w, V = np.linalg.eigh(info)
        if w.min() > 1e-10 * max(1.0, w.max()):
            vcov = K @ ((V / w) @ V.T) @ K.T
        elif res.converged:
            notify("the information matrix of the MUML fit is not positive definite at the "
                   "solution, so standard errors are not available; inspect the estimates "
                   "(a variance near zero?) or simplify the model", ConvergenceWarning,
                   stacklevel=3)
    if not res.converged:
        notify(f"the MUML optimizer did not converge ({res.message}); the estimates are not "
               "trustworthy. Check the model or raise control={'maxiter': ...}",
               ConvergenceWarning, stacklevel=3)
    return MumlEstimation(spec, fobj, theta, float("nan"), 0.0, res.hessian, vcov,
                          bool(res.converged), iterations, evaluations, res.message, {}, None,
                          npar - K.shape[1], partable=ptf, fmin=-2.0 * res.fun, c=mom.c)
