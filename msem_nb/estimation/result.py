"""What one estimation returns: ``Estimation``, with MLR's ``RobustInfo`` and the fit
in internal units (``Internal``); built by :mod:`msem_nb.estimation.estimate`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from msem_nb.estimation.saturated import Saturated
from msem_nb.likelihood.multigroup import MultiGroupObjective
from msem_nb.likelihood.objective import Objective
from msem_nb.likelihood.protocol import LogLikelihood
from msem_nb.likelihood.threelevel_objective import ThreeLevelObjective
from msem_nb.model.partable import ParTable
from msem_nb.model.spec import ModelSpec

__all__ = ["Estimation", "Internal", "RobustInfo"]


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
