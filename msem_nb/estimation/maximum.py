"""The maximum of a model's log-likelihood under linear equality constraints, with the
covariance matrix of the estimates.

``find_maximum`` optimises over ``theta = theta_p + K xi`` (K spanning the null
space of the constraints ``C theta = c``) or, for random slopes, over the
Cholesky coordinates of their covariance (``CholeskyMap``). Complete-data
random-intercept models go by Fisher scoring then Newton with both analytic
information matrices, everything else by BFGS (random slopes by quadrature: then
Newton steps on the Hessian differenced from the analytic gradient with the
quadrature adapted at BFGS's end, ``_quadrature_finish``). The covariance matrix is the
inverse information, inverted on its correlation-scaled form so that it does
not lose digits when parameters differ in scale; a singular information raises
``NotIdentifiedError`` naming the parameters that trade off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from msem_nb.data.complete import SingleData
from msem_nb.errors import ConvergenceWarning, ModelSpecificationError, NotIdentifiedError
from msem_nb.estimation.constraints import null_space
from msem_nb.estimation.information import (
    analytic_available,
    loglik_information,
    observed_information,
)
from msem_nb.estimation.information import expected_information as analytic_expected
from msem_nb.estimation.optimize import (
    FunGrad,
    HessianFun,
    OptimResult,
    maximize,
    maximize_scoring,
    numeric_hessian,
)
from msem_nb.likelihood.multigroup import MultiGroupObjective
from msem_nb.likelihood.objective import Objective
from msem_nb.likelihood.slopes import CholeskyMap, SlopeObjective
from msem_nb.likelihood.slopes_latent import LatentSlopeObjective
from msem_nb.likelihood.threelevel_objective import ThreeLevelObjective
from msem_nb.messages import notify
from msem_nb.model.partable import ParTable

__all__ = ["Fit", "find_maximum", "expected_information", "param_names", "SCORING_STEPS"]


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


@dataclass(frozen=True, eq=False)
class Fit:
    """Where the optimiser stopped, with the covariance matrix of the estimates."""

    theta: np.ndarray
    loglik: float
    hessian: np.ndarray | None
    vcov: np.ndarray | None
    converged: bool
    iterations: int
    evaluations: int
    message: str
    n_constraints: int


def find_maximum(obj: Objective | SlopeObjective | ThreeLevelObjective
              | MultiGroupObjective, pt: ParTable,
              theta0: np.ndarray, lin: tuple[np.ndarray, np.ndarray] | None,
              control: Mapping[str, Any], information: str,
              cmap: CholeskyMap | None) -> Fit:
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
                               max_steps=min(SCORING_STEPS, maxiter))
        if res is not None and not res.converged and maxiter > SCORING_STEPS:
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
        # (quadrature: BFGS only; the Newton finish below, with the adaptation there)
        quad = isinstance(obj, LatentSlopeObjective)
        res = maximize(fun_grad, xi0, scale=obj.data.nobs, maxiter=control.get("maxiter", 2000),
                       gtol=control.get("gtol", 1e-5), hessian=bool(want_se) and not quad,
                       hess=hess, metric=metric, central=not slopes, hinv0=hinv0,
                       newton_steps=0 if quad else 3)
        if isinstance(obj, LatentSlopeObjective) and \
                np.abs(res.grad).max() < 1e3 * control.get("gtol", 1e-5) * obj.data.nobs:
            res = _quadrature_finish(obj, fun_grad, res, cmap, theta_p + K @ res.x,
                                     control.get("gtol", 1e-5), bool(want_se))
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
            names = param_names(pt)
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
    return Fit(theta, res.fun, res.hessian, vcov, res.converged, res.iterations,
                res.evaluations, res.message, 0 if cmap is not None else npar - K.shape[1])


def _quadrature_finish(obj: LatentSlopeObjective, fun_grad: FunGrad, res: OptimResult,
                       cmap: CholeskyMap | None, theta_lin: np.ndarray, gtol: float,
                       want_se: bool) -> OptimResult:
    """Newton steps from BFGS's end with the quadrature adapted there and held fixed:
    the Hessian by central differences of the analytic gradient (2 npar gradients),
    taken once (it moves linearly with steps this small); the log-likelihood and the
    Hessian returned are those of that adaptation.

    In Cholesky coordinates xi the Hessian at a point where the gradient g (in theta)
    is not yet zero has the extra term ``sum_k g_k d2 theta_k / dxi2``; it is taken
    off (differences of ``J(xi)' g``, linear in xi), so that what is returned is
    ``J' H_theta J``, the Hessian at the maximum up to the Hessian's own change.
    """
    theta = theta_lin if cmap is None else cmap.forward(res.x)
    try:
        obj.adaptation(theta, refresh=True)
    except np.linalg.LinAlgError:
        return res

    def grad(x: np.ndarray) -> np.ndarray:
        g = fun_grad(x)[1]
        if g is None:
            raise FloatingPointError("gradient not finite near the solution")
        return g

    try:
        H = numeric_hessian(grad, res.x)
    except FloatingPointError:
        return res
    if cmap is not None:
        g_theta = obj.loglik(theta, gradient=True)[1]
        if g_theta is None:
            return res
        H = H - numeric_hessian(lambda xi: cmap.pullback(xi, g_theta), res.x)
    x = res.x
    f, g = fun_grad(x)
    nev = res.evaluations + 2 * len(x) + 1
    it = res.iterations
    for _ in range(3):
        if g is None:
            break
        try:
            dx = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(dx)):
            break
        fn, gn = fun_grad(x + dx)
        nev += 1
        if gn is None or fn < f - 1e-10 * max(1.0, abs(f)):
            break
        x, f, g, it = x + dx, fn, gn, it + 1
        if np.abs(g).max() < 1e-9 * obj.data.nobs:
            break
    if g is None:
        return res
    converged = bool(np.abs(g).max() < gtol * obj.data.nobs)
    return replace(res, x=x, fun=f, grad=g, hessian=H if want_se else None, iterations=it,
                   evaluations=nev, converged=converged,
                   message="converged" if converged else res.message)


#: Most Fisher scoring and Newton steps before BFGS takes over (5-10 are usual).
SCORING_STEPS = 40


def param_names(pt: ParTable) -> list[str]:
    """The free parameters as "lhs op rhs [level]", in the order of theta."""
    rec = pt.records
    names: dict[int, str] = {}
    for i in range(len(rec)):
        k = int(rec[i]["free"]) - 1
        if k >= 0 and k not in names:
            lvl = rec[i]["level"]
            names[k] = f"{rec[i]['lhs']} {rec[i]['op']} {rec[i]['rhs']}".strip() + \
                (f" [{lvl}]" if lvl else "")
    return [names[k] for k in range(len(names))]
