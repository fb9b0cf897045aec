"""MLR's standard errors: the Huber-White (cluster-robust) sandwich.

The meat of the sandwich is the sum of outer products of score contributions
of the independent units: clusters in a two-level model, rows in a
single-level one, schools (the highest clusters) in a three-level one
(``ThreeLevelObjective.unit_scores``). A unit's score in the parameters is its derivative with
respect to the implied moments (per cluster / per row, vectorised, from
:mod:`msem_nb.likelihood.missing`) times the Jacobian of the moments with
respect to the parameters
(:func:`msem_nb.estimation.moment_terms.moment_jacobian`).

With ``V`` the model-based covariance of the estimates (inverse observed
information) and ``B`` the meat, the robust covariance is ``V B V``; with
equality constraints ``V`` already lives in the constrained space, so this
stays exact. The scaled test that uses ``B`` is in
:mod:`msem_nb.inference.robust`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.data.weights import WeightedClusterData, row_weights
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.estimate import Estimation, RobustInfo
from msem_nb.estimation.moment_terms import moment_jacobian
from msem_nb.likelihood.missing import casewise_single, clusterwise_twolevel
from msem_nb.likelihood.multigroup import MultiGroupObjective
from msem_nb.likelihood.objective import Objective
from msem_nb.likelihood.protocol import DataMoments
from msem_nb.likelihood.slopes import SlopeObjective
from msem_nb.likelihood.threelevel_objective import ThreeLevelObjective
from msem_nb.likelihood.weighted import weighted_cluster_scores

# RobustInfo lives with Estimation (its ``robust`` field) and is kept importable from here
__all__ = ["RobustInfo", "unit_scores", "mlr_estimation", "vech_units"]


# ----------------------------------------------------------------------------
# scores
# ----------------------------------------------------------------------------

def vech_units(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower-triangle index pairs of an n x n symmetric matrix."""
    r, c = np.tril_indices(n)
    return r, c


def _unit_moment_scores(obj: Objective, moments: DataMoments) -> np.ndarray:
    """Per-unit derivatives in the coordinates of ``moment_jacobian``.

    A symmetric matrix derivative G contributes G[a, b] for each a >= b,
    paired with the unit direction E_ab + E_ba (E_aa on the diagonal).
    Two levels: the lowest level's block takes the within covariance's
    derivative, the between block its part of the between one.
    """
    data, meanstructure = obj.data, obj.meanstructure
    if isinstance(data, SingleData) and len(moments) == 2:
        mu, sigma = moments
        _, g_rows, G = casewise_single(data, mu if meanstructure else None, sigma)
        r, c = vech_units(G.shape[1])
        parts = [G[:, r, c]]
        if meanstructure:
            if g_rows is None:  # pragma: no cover - casewise_single gives it when mu is given
                raise ValueError("no mean derivative for a model with a mean structure")
            parts.insert(0, g_rows)
        return np.hstack(parts)
    if not isinstance(data, ClusterData) or len(moments) != 3:  # pragma: no cover
        raise ValueError("the moments do not match the data's number of levels")
    mu, sw, sb = moments
    if isinstance(data, WeightedClusterData):   # sampling weights: v_j d l_j per cluster
        g_mu, G_w, G_b = weighted_cluster_scores(data, mu, sw, sb)
    else:
        _, (g_mu, G_w, G_b) = clusterwise_twolevel(data, mu, sw, sb)
    parts = [g_mu]
    for b, pos in enumerate(obj.positions):
        r, c = vech_units(len(pos))
        if obj.spec.is_lowest(b):
            parts.append(G_w[:, r, c])
        else:
            parts.append(G_b[:, pos][:, :, pos][:, r, c])
    return np.hstack(parts)


def unit_scores(obj: Objective | MultiGroupObjective, theta: ArrayLike) -> np.ndarray:
    """Score contributions of the independent units (rows or clusters).

    Returns
    -------
    (n_units, npar) array whose column sums are the gradient of the
    log-likelihood at `theta`.
    """
    th = np.asarray(theta, dtype=float)
    if isinstance(obj, MultiGroupObjective):    # the units of all groups, group by group
        return np.vstack([unit_scores(p, th) for p in obj.parts])
    _, mom = obj.moments(th)
    M = _unit_moment_scores(obj, mom)
    w = row_weights(obj.data)
    if w is not None:       # sampling weights (msem_nb.data.weights): weighted row scores
        M = M * w[:, None]
    return M @ moment_jacobian(obj, th)


def mlr_estimation(est: Estimation) -> Estimation:
    """An Estimation whose ``vcov`` is the Huber-White sandwich.

    The model-based covariance and the meat are kept in ``est.robust``.
    """
    obj = est.objective
    if isinstance(obj, SlopeObjective):
        # random slopes: cluster scores by central differences of the per-cluster
        # log-likelihood terms, at the estimates in the caller's parameters
        if est.vcov is None:
            return est
        Sc = obj.cluster_scores(est.theta)
        if Sc is None:
            return dataclasses.replace(est, vcov=None)
        meat = Sc.T @ Sc
        return dataclasses.replace(est, vcov=est.vcov @ meat @ est.vcov,
                                   robust=RobustInfo(meat, est.vcov, len(Sc)))
    if not isinstance(obj, (Objective, ThreeLevelObjective, MultiGroupObjective)):
        raise ModelSpecificationError("estimator='MLR' is not available for this "
                                      "objective; use estimator='ML'")
    if est.vcov is None:
        return est
    inner = est.internal
    if inner is not None and inner.vcov is not None:
        # The sandwich where scores and information are well conditioned (the
        # centred and scaled data, msem_nb.estimation.units), mapped back by the
        # Jacobian J of the caller's parameters: vcov = J (V' B' V') J'. The meat
        # and the bread are kept in those coordinates, where tr(V B) (which does
        # not depend on the parameterisation) loses no digits.
        iobj = inner.objective
        S = (iobj.unit_scores(inner.theta) if isinstance(iobj, ThreeLevelObjective)
             else unit_scores(iobj, inner.theta))
        meat = S.T @ S
        V = inner.vcov
        J = inner.jacobian
        return dataclasses.replace(est, vcov=J @ (V @ meat @ V) @ J.T,
                                   robust=RobustInfo(meat, V, len(S)))
    # three levels: the schools are the independent units
    S = (obj.unit_scores(est.theta) if isinstance(obj, ThreeLevelObjective)
         else unit_scores(obj, est.theta))
    meat = S.T @ S
    V = est.vcov
    info = RobustInfo(meat, V, len(S))
    return dataclasses.replace(est, vcov=V @ meat @ V, robust=info)
