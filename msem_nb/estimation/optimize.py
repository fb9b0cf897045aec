"""A small quasi-Newton maximiser with a Newton finish, for smooth log-likelihoods.

BFGS with backtracking handles the non-finite values that occur when a trial
step leaves the positive definite region (scipy's line searches do not).
Near the optimum a few Newton steps make the solution exact to the last
digits that matter and give the Hessian the standard errors need: the
analytic Hessian when the caller has one (``hess``), else differences of the
analytic gradient. An analytic Hessian is cheap enough to hand over to Newton
early, where BFGS would still take many small steps, and to stop on the Newton
decrement ``g' H^-1 g``, which does not depend on the units of the parameters;
where the Hessian is not negative definite, or Newton does not converge as it
should, BFGS carries on. Given the information at the start (``metric``) the
gradient tolerances are units-free as well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["OptimResult", "maximize", "maximize_scoring", "numeric_hessian", "FunGrad",
           "HessianFun"]

#: ``fun_grad(x) -> (f, g)``: the value and its gradient (None where f is not finite)
FunGrad: TypeAlias = Callable[[np.ndarray], tuple[float, np.ndarray | None]]
#: ``hess(x)``: the analytic Hessian, or None where it cannot be evaluated
HessianFun: TypeAlias = Callable[[np.ndarray], np.ndarray | None]


@dataclass(frozen=True)
class OptimResult:
    x: np.ndarray
    fun: float                 # maximised value
    grad: np.ndarray
    hessian: np.ndarray | None
    iterations: int
    evaluations: int
    converged: bool
    message: str


def numeric_hessian(grad_fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                    g0: np.ndarray | None = None,
                    rel_step: float | None = None) -> np.ndarray:
    """Differences of an analytic gradient, symmetrised.

    With ``g0`` (the gradient at x) forward differences are used, costing one
    gradient per parameter; their error (relative step 1e-6) is far below what
    standard errors and a Newton step need. Without it, central differences.
    """
    n = len(x)
    H = np.empty((n, n))
    central = g0 is None
    step = rel_step if rel_step is not None else (1e-5 if central else 2e-6)
    for i in range(n):
        h = step * max(1.0, abs(x[i]))
        e = np.zeros(n)
        e[i] = h
        if central:
            H[:, i] = (grad_fun(x + e) - grad_fun(x - e)) / (2.0 * h)
        else:
            H[:, i] = (grad_fun(x + e) - g0) / h
    return 0.5 * (H + H.T)


def maximize(fun_grad: FunGrad, x0: ArrayLike, *, scale: float = 1.0, maxiter: int = 2000,
             gtol: float = 1e-5, final_gtol: float = 1e-9, newton_steps: int = 3,
             hessian: bool = True, hess: HessianFun | None = None,
             metric: np.ndarray | None = None,
             newton_from: float = 1e-2, central: bool = False) -> OptimResult:
    """Maximise ``f`` given ``fun_grad(x) -> (f, g)`` (g None when f is not finite).

    Parameters
    ----------
    scale : float
        f and g are divided by it internally (use the sample size) so that
        tolerances are per observation.
    gtol : float
        BFGS hands over to Newton when the largest scaled gradient element is
        below it.
    final_gtol : float
        Gradient tolerance the Newton steps aim for (differenced Hessian).
    newton_steps : int
        Newton iterations after BFGS (differenced Hessian).
    hessian : bool
        Return the Hessian of f at the solution.
    hess : callable, optional
        ``hess(x)``: the analytic Hessian of f (None when it cannot be
        evaluated there). Newton steps then take over once BFGS's estimate of
        the Newton decrement ``g' H^-1 g`` (per observation) is below
        ``newton_from**2``, and run until the decrement is negligible: an
        affine-invariant stopping rule, so the units of the parameters do not
        matter. Without it the Hessian is differenced from the gradient.
    metric : (n, n) array, optional
        An approximation of minus the Hessian of f at x0 (e.g. the expected
        information). The gradient tolerances then apply to the gradient per
        unit of each parameter's information (``g_i / sqrt(metric_ii)``), which
        does not depend on the units of the parameters.
    central : bool
        Without `hess`: the Hessian returned is central differences at the end
        point (relative error near 1e-8, at n more gradients) instead of the
        forward differences of the Newton polish (near 1e-5).
    """
    nev = 0

    def fg(x: np.ndarray) -> tuple[float, np.ndarray | None]:
        nonlocal nev
        nev += 1
        f, g = fun_grad(x)
        if not np.isfinite(f) or g is None or not np.all(np.isfinite(g)):
            return np.inf, None
        return -f / scale, -np.asarray(g) / scale

    def grad_only(x: np.ndarray) -> np.ndarray:
        f, g = fg(x)
        if g is None:
            raise FloatingPointError("gradient not finite near the solution")
        return g

    def hessian_at(x: np.ndarray, g: np.ndarray) -> np.ndarray:
        if hess is not None:
            Hx = hess(x)
            if Hx is not None and np.all(np.isfinite(Hx)):
                return -np.asarray(Hx) / scale
        return numeric_hessian(grad_only, x, g)

    x = np.array(x0, dtype=float)
    n = len(x)
    f, g = fg(x)
    if g is None:
        return OptimResult(x, -np.inf, np.full(n, np.nan), None, 0, nev, False,
                           "the starting values give a non-positive definite implied matrix")
    Hinv = np.eye(n) / max(1.0, np.abs(g).max())
    # Gradient tolerances apply per observation and, given a metric, per unit
    # of each parameter's information at the start, so that they do not depend
    # on the units of the parameters either.
    gunit = np.ones(n)
    if metric is not None:
        d = np.diag(np.asarray(metric)) / scale
        if np.all(np.isfinite(d)) and np.all(d > 0):
            gunit = np.sqrt(d)

    def gmax(g: np.ndarray) -> float:
        return float(np.abs(g / gunit).max())

    it = 0
    converged = False
    message = "maximum number of iterations reached"
    stall = 0
    # with an analytic Hessian, Newton is tried once the estimated decrement is
    # below newton_from**2, and again after each hundredfold fall of it should
    # BFGS have to take over; at the gradient tolerance it polishes once more
    newton_below = newton_from ** 2 if hess is not None else -1.0
    newton_done = False
    polished = hess is None
    while it < maxiter:
        if gmax(g) < gtol:
            converged, message = True, "gradient below tolerance"
            if polished:
                break
            polished = True
            x, f, g, steps, _, newton_done = _newton_phase(fg, hessian_at, x, f, g)
            it += steps
            if newton_done:
                message = "converged"
                break
            continue
        p = -Hinv @ g
        slope = g @ p
        if not slope < 0:
            Hinv = np.eye(n) / max(1.0, np.abs(g).max())
            p = -Hinv @ g
            slope = g @ p
        if -slope < newton_below:
            x, f, g, steps, Hn, newton_done = _newton_phase(fg, hessian_at, x, f, g)
            it += steps
            if newton_done:
                converged, message = True, "converged"
                break
            Hn_inv = None if Hn is None else _spd_inverse(Hn)
            if Hn_inv is not None:
                # the exact curvature is the best start for the BFGS steps still needed
                Hinv = Hn_inv
            newton_below = 0.01 * float(g @ Hinv @ g)
            continue
        converged = False
        it += 1
        step = 1.0
        for _ in range(60):
            xn = x + step * p
            fn, gn = fg(xn)
            if gn is not None and fn <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            message = "line search failed"
            break
        s = xn - x
        y = gn - g
        sy = s @ y
        if sy > 1e-12 * np.sqrt((s @ s) * (y @ y)):
            if it == 1:
                Hinv = np.eye(n) * (sy / (y @ y))
            rho = 1.0 / sy
            Hy = Hinv @ y
            Hinv = Hinv + (rho * rho * (y @ Hy) + rho) * np.outer(s, s) \
                - rho * (np.outer(Hy, s) + np.outer(s, Hy))
        stall = stall + 1 if abs(f - fn) < 1e-15 * max(1.0, abs(f)) else 0
        x, f, g = xn, fn, gn
        if stall >= 3:
            converged = gmax(g) < 1e3 * gtol
            message = "no further progress" if not converged else "function value converged"
            break

    H = None
    if hess is not None:
        # the Newton phase above is the finish; the Hessian is taken at the end point
        if not converged and not polished and gmax(g) < 1e3 * gtol:
            x, f, g, steps, _, newton_done = _newton_phase(fg, hessian_at, x, f, g)
            it += steps
            converged = newton_done or gmax(g) < gtol
            if converged:
                message = "converged"
        if hessian and (converged or gmax(g) < 1e3 * gtol):
            try:
                H = hessian_at(x, g)
            except FloatingPointError:
                H = None
    elif converged or gmax(g) < 1e3 * gtol:
        try:
            for _ in range(newton_steps):
                H = hessian_at(x, g)
                try:
                    dx = -np.linalg.solve(H, g)
                except np.linalg.LinAlgError:
                    break
                if not np.all(np.isfinite(dx)):
                    break
                xn = x + dx
                fn, gn = fg(xn)
                if gn is None or fn > f + 1e-10 * max(1.0, abs(f)):
                    break
                x, f, g = xn, fn, gn
                # The Hessian moves linearly with the step: after a step this
                # small it is still exact to the digits standard errors need.
                if np.abs(dx).max() < 1e-2 * max(1.0, np.abs(x).max()) and \
                        np.abs(g).max() < final_gtol:
                    break
                H = None
            if hessian and central:
                # central differences at the end point: their error (second order
                # in the step) stays far below the 1e-6 that z-values need
                H = numeric_hessian(grad_only, x)
            elif hessian and H is None:
                H = hessian_at(x, g)
            # Newton only polishes: the BFGS criterion decides convergence.
            converged = np.abs(g).max() < gtol
            if converged:
                message = "converged"
        except FloatingPointError as e:
            message = str(e)
    elif hessian:
        try:
            H = hessian_at(x, g)
        except FloatingPointError:
            H = None
    Hout = None if H is None else -H * scale
    return OptimResult(x, -f * scale, -g * scale, Hout, it, nev, bool(converged), message)


def _spd_inverse(H: np.ndarray) -> np.ndarray | None:
    """Inverse of a symmetric positive definite matrix, equilibrated first so that
    parameters on very different scales lose no accuracy; None if not SPD."""
    d = np.diag(H)
    if not np.all(d > 0):
        return None
    s = 1.0 / np.sqrt(d)
    ss = np.outer(s, s)
    Hs = H * ss
    try:
        np.linalg.cholesky(Hs)      # positive definite?
        return np.linalg.inv(Hs) * ss
    except np.linalg.LinAlgError:
        return None


# Newton decrement g' H^-1 g (per observation) below which the maximum is taken
# as found: the distance to it is then below 1e-10 standard errors for any
# sample size up to 1e8, whatever the units of the parameters.
_DECREMENT_DONE = 1e-28
# The Newton decrement over all observations (the squared distance to the maximum in
# standard errors) below which maximize_scoring takes the maximum as found.
_DISTANCE_DONE = 1e-20
# Once the decrement is this small the quadratic model is trusted and full
# steps are taken: the function value changes less than its rounding error.
_DECREMENT_QUADRATIC = 1e-10


def _newton_phase(fg: FunGrad,
                  hessian_at: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  x: np.ndarray, f: float, g: np.ndarray, max_steps: int = 20
                  ) -> tuple[np.ndarray, float, np.ndarray, int, np.ndarray | None, bool]:
    """Newton steps on the minimised -f/scale while they converge as Newton should.

    Backtracking on f for the first step; after that each step must cut the
    decrement at least fourfold (quadratic convergence), else the phase ends
    and BFGS carries on: on a nearly flat ridge (a model identified only in
    name) Newton would otherwise wander along it. In the quadratic regime full
    steps are taken until the decrement stops falling (rounding level).
    Returns (x, f, g, steps taken, last positive definite Hessian or None,
    whether the maximum was reached).
    """
    steps = 0
    Hgood = None
    last = np.inf
    for _ in range(max_steps):
        H = hessian_at(x, g)
        Hinv = _spd_inverse(H)
        if Hinv is None:
            break          # not locally concave (in f): leave it to BFGS
        Hgood = H
        dx = -Hinv @ g
        dec = float(-(g @ dx))
        if not (np.all(np.isfinite(dx)) and dec >= 0):
            break
        if dec < _DECREMENT_DONE:
            return x, f, g, steps, Hgood, True
        if dec < _DECREMENT_QUADRATIC:
            if dec >= 0.5 * last:
                # rounding level reached: the remaining distance is noise
                return x, f, g, steps, Hgood, dec < 1e-6 * _DECREMENT_QUADRATIC
        elif dec > 0.25 * last:
            break
        step = 1.0
        for _ in range(30):
            fn, gn = fg(x + step * dx)
            if gn is not None and (fn <= f - 1e-4 * step * dec or
                                   (dec < _DECREMENT_QUADRATIC and step == 1.0)):
                break
            if steps:
                step = 0.0     # only the first step may need a line search
                break
            step *= 0.5
        if step == 0.0 or gn is None:
            break
        x, f, g = x + step * dx, fn, gn
        last = dec
        steps += 1
    return x, f, g, steps, Hgood, False


def maximize_scoring(evaluate: Callable[[np.ndarray, str | None],
                                         tuple[float, np.ndarray | None, np.ndarray | None]],
                     x0: np.ndarray, *, scale: float = 1.0, switch: float = 1e-2,
                     max_steps: int = 40) -> OptimResult | None:
    """Fisher scoring, then Newton: for log-likelihoods with both information matrices.

    ``evaluate(x, kind)`` returns the log-likelihood, its gradient and, for
    `kind` ``"expected"`` or ``"observed"``, that information matrix (None
    for `kind` None); ``(-inf, None, None)`` outside the domain. One call
    gives all three, so a step costs one evaluation where its full length is
    taken. Scoring steps (expected information, positive definite wherever
    the model is identified; line search on f) are taken until the decrement
    ``g' I^-1 g`` per observation is below `switch`, Newton steps (observed
    information) from there, each of which must cut the decrement at least
    fourfold (quadratic convergence). The maximum is reached when the Newton
    decrement over all observations, the squared distance to it in standard
    errors, is below 1e-20 (or stops falling at rounding level); the Hessian
    returned is the one at the returned point.

    Returns None where this does not go as it should (an information matrix
    not positive definite, a line search that fails, Newton not converging
    quadratically): the caller then runs :func:`maximize` (BFGS), which copes
    with such models and reports on them. After `max_steps` steps the result
    says it did not converge (no Hessian).
    """
    nev = 0

    def ev(x: np.ndarray, kind: str | None
           ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        nonlocal nev
        nev += 1
        f, g, info = evaluate(x, kind)
        if not np.isfinite(f) or g is None or not np.all(np.isfinite(g)):
            return np.inf, None, None
        return -f / scale, -np.asarray(g) / scale, \
            None if info is None else np.asarray(info) / scale

    def spd_inverse(M: np.ndarray | None) -> np.ndarray | None:
        if M is None or not np.all(np.isfinite(M)):
            return None
        return _spd_inverse(M)

    x = np.array(x0, dtype=float)
    kind = "expected"
    f, g, info = ev(x, kind)
    if g is None:
        return None
    newton = False
    last = np.inf
    for step_no in range(max_steps):
        Hinv = spd_inverse(info)
        used_newton = kind == "observed" and Hinv is not None
        if Hinv is None:
            if kind == "observed":
                # not concave here: a scoring step instead
                info = ev(x, "expected")[2]
                Hinv = spd_inverse(info)
            if Hinv is None:
                return None
        dx = -Hinv @ g
        dec = float(-(g @ dx))
        if not (np.isfinite(dec) and dec >= 0):
            return None
        if used_newton:
            if dec * scale < _DISTANCE_DONE or (dec < _DECREMENT_QUADRATIC and dec >= 0.5 * last):
                # the maximum, or the rounding level just above it
                if dec >= 1e-6 * _DECREMENT_QUADRATIC:
                    return None
                assert info is not None
                return OptimResult(x, -f * scale, -g * scale, -info * scale, step_no, nev,
                                   True, "converged")
            if dec > 0.25 * last and dec > _DECREMENT_QUADRATIC:
                return None
            last = dec
        elif dec < switch:
            newton = True
        kind = "observed" if newton else "expected"
        fn, gn, info_n = ev(x + dx, kind)
        step = 1.0
        if gn is None or not (fn <= f - 1e-4 * dec or dec < _DECREMENT_QUADRATIC):
            for _ in range(40):
                step *= 0.5
                fn, gn, _ = ev(x + step * dx, None)
                if gn is not None and fn <= f - 1e-4 * step * dec:
                    break
            else:
                return None
            if used_newton:
                # Newton needs its full steps near the maximum; far from it scoring is safer
                newton, last, kind = False, np.inf, "expected"
            info_n = ev(x + step * dx, kind)[2]
        x, f, g, info = x + step * dx, fn, gn, info_n
    return OptimResult(x, -f * scale, -g * scale, None, max_steps, nev, False,
                       "maximum number of iterations reached")
