"""A small quasi-Newton maximiser with a Newton finish, for smooth log-likelihoods.

BFGS with backtracking handles the non-finite values that occur when a trial
step leaves the positive definite region (scipy's line searches do not).
Near the optimum a few Newton steps make the solution exact to the last
digits that matter and give the Hessian the standard errors need: the
analytic Hessian when the caller has one (``hess``), else differences of the
analytic gradient. An analytic Hessian is cheap enough to hand over to Newton
early (scaled gradient below ``newton_from``), where BFGS would still take
many small steps; a Newton step that does not go uphill on -f falls back to
BFGS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OptimResult", "maximize", "numeric_hessian"]


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


def numeric_hessian(grad_fun, x: np.ndarray, g0: np.ndarray | None = None,
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


def maximize(fun_grad, x0, *, scale: float = 1.0, maxiter: int = 2000,
             gtol: float = 1e-5, final_gtol: float = 1e-9, newton_steps: int = 3,
             hessian: bool = True, hess=None, newton_from: float = 1e-2) -> OptimResult:
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
        Gradient tolerance the Newton steps aim for.
    newton_steps : int
        Newton iterations after BFGS.
    hessian : bool
        Return the Hessian of f at the solution.
    hess : callable, optional
        ``hess(x)``: the analytic Hessian of f (None when it cannot be
        evaluated there). Without it the Hessian is differenced from the
        gradient.
    newton_from : float
        With ``hess``: the scaled gradient below which Newton steps (with a
        backtracking line search) replace BFGS steps.
    """
    nev = 0

    def fg(x):
        nonlocal nev
        nev += 1
        f, g = fun_grad(x)
        if not np.isfinite(f) or g is None or not np.all(np.isfinite(g)):
            return np.inf, None
        return -f / scale, -np.asarray(g) / scale

    def grad_only(x):
        f, g = fg(x)
        if g is None:
            raise FloatingPointError("gradient not finite near the solution")
        return g

    def hessian_at(x, g):
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
    it = 0
    converged = False
    message = "maximum number of iterations reached"
    stall = 0
    # with an analytic Hessian, Newton is tried below newton_from, and again
    # after each tenfold fall of the gradient should BFGS have to take over
    newton_below = newton_from if hess is not None else -1.0
    while it < maxiter:
        if np.abs(g).max() < gtol:
            converged, message = True, "gradient below tolerance"
            break
        if np.abs(g).max() < newton_below:
            x, f, g, steps, Hn = _newton_phase(fg, hessian_at, x, f, g, final_gtol)
            newton_below = 0.1 * np.abs(g).max()
            it += steps
            if Hn is not None:
                # the exact curvature is the best start for any BFGS steps still needed
                try:
                    Hinv = np.linalg.inv(Hn)
                except np.linalg.LinAlgError:
                    pass
            continue
        it += 1
        p = -Hinv @ g
        slope = g @ p
        if not slope < 0:
            Hinv = np.eye(n) / max(1.0, np.abs(g).max())
            p = -Hinv @ g
            slope = g @ p
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
            converged = np.abs(g).max() < 1e3 * gtol
            message = "no further progress" if not converged else "function value converged"
            break

    H = None
    if converged or np.abs(g).max() < 1e3 * gtol:
        try:
            for _ in range(newton_steps):
                if hess is not None and np.abs(g).max() < final_gtol:
                    break
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
                # small it is still exact to the digits standard errors need
                # (an analytic one costs little, so it is taken at the end point).
                if np.abs(dx).max() < 1e-2 * max(1.0, np.abs(x).max()) and \
                        np.abs(g).max() < final_gtol:
                    if hess is not None:
                        H = None
                    break
                H = None
            if hessian and H is None:
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


def _newton_phase(fg, hessian_at, x, f, g, final_gtol, max_steps=10):
    """Newton steps on the minimised -f/scale with backtracking, while each is a
    descent direction. Returns (x, f, g, steps taken, last positive definite Hessian)."""
    steps = 0
    Hgood = None
    for _ in range(max_steps):
        if np.abs(g).max() < final_gtol:
            break
        H = hessian_at(x, g)
        try:
            np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            break          # not locally convex yet: leave it to BFGS
        dx = -np.linalg.solve(H, g)
        slope = g @ dx
        if not (np.all(np.isfinite(dx)) and slope < 0):
            break
        Hgood = H
        step = 1.0
        for _ in range(30):
            fn, gn = fg(x + step * dx)
            if gn is not None and fn <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        x, f, g = x + step * dx, fn, gn
        steps += 1
    return x, f, g, steps, Hgood
