"""Defined (``:=``) parameters evaluated on many parameter vectors at once.

Monte Carlo intervals evaluate every ``:=`` expression on tens of thousands
of parameter draws. The parser's own ``Expression.evaluate`` works on one
float at a time (it uses ``math``), so this module walks the same expression
tree with numpy arrays instead. The arithmetic follows the scalar evaluator:
where ``math`` would raise (``log(-1)``, ``1/0``, overflow), the value is
NaN, and callers count such draws as failed.

A tree node the walker does not know (a future syntax addition) makes it
fall back to the scalar evaluator, one draw at a time, so results stay
correct, only slower.
"""

from __future__ import annotations

import numpy as np

from msem_nb.estimation.constraints import label_values
from msem_nb.messages import notify
from msem_nb.syntax.expressions import BinaryNode, CallNode, NameNode, NegNode, NumNode

__all__ = ["defined_draws", "defined_delta", "defined_values", "notify_undefined",
           "evaluate_array", "label_arrays"]

_FUNCTIONS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs,
              "sin": np.sin, "cos": np.cos, "tan": np.tan}

_BINARY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power}


class _Unsupported(Exception):
    """The expression tree has a node the array walker does not handle."""


def _finite(x):
    # The scalar evaluator raises where numpy returns inf or nan; NaN marks
    # those draws so that later arithmetic cannot turn them finite again.
    x = np.asarray(x, dtype=float)
    return np.where(np.isfinite(x), x, np.nan)


def _walk(node, env):
    if isinstance(node, NumNode):
        return float(node.value)
    if isinstance(node, NameNode):
        return env[node.name]
    if isinstance(node, NegNode):
        return -_walk(node.operand, env)
    if isinstance(node, BinaryNode) and node.op in _BINARY:
        return _finite(_BINARY[node.op](_walk(node.left, env), _walk(node.right, env)))
    if isinstance(node, CallNode) and node.func in _FUNCTIONS:
        return _finite(_FUNCTIONS[node.func](_walk(node.arg, env)))
    raise _Unsupported(type(node).__name__)


def _tree(expr):
    if expr.tree is None:
        # Expression builds its tree lazily on first evaluation; any
        # environment with every name set triggers it.
        try:
            expr.evaluate({name: 1.0 for name in expr.names})
        except (ValueError, ZeroDivisionError, OverflowError):
            pass
    return expr.tree


def evaluate_array(expr, env: dict, size: int) -> np.ndarray:
    """Evaluate an :class:`~msem_nb.syntax.Expression` on arrays.

    Parameters
    ----------
    expr : Expression
    env : dict
        Label -> float or array of shape ``(size,)``.
    size : int
        Number of draws.

    Returns
    -------
    numpy.ndarray
        Shape ``(size,)``; NaN where the value is undefined.
    """
    tree = _tree(expr)
    with np.errstate(all="ignore"):
        try:
            if tree is None:
                raise _Unsupported("no tree")
            return np.broadcast_to(_finite(_walk(tree, env)), (size,)).copy()
        except _Unsupported:
            pass
    out = np.empty(size)
    arrays = {k: np.broadcast_to(np.asarray(v, dtype=float), (size,)) for k, v in env.items()}
    for i in range(size):
        try:
            out[i] = expr.evaluate({k: v[i] for k, v in arrays.items()})
        except (ValueError, ZeroDivisionError, OverflowError):
            out[i] = np.nan
    return _finite(out)


def label_arrays(pt, thetas: np.ndarray, fixed_values: dict | None = None) -> dict:
    """Label -> values over draws: a column of `thetas` for free rows, a constant
    (the fixed value, else the user's value, else 0) for fixed ones, as
    :func:`msem_nb.estimation.estimate.label_values` does for one vector."""
    fixed_values = fixed_values or {}
    env = {}
    for i, r in enumerate(pt.records):
        lab = r["label"]
        if not lab:
            continue
        k = int(r["free"]) - 1
        if k >= 0:
            env[lab] = thetas[:, k]
        elif i in fixed_values:
            env[lab] = float(fixed_values[i])
        else:
            u = r["ustart"]
            env[lab] = float(u) if u is not None and np.isfinite(u) else 0.0
    return env


def defined_draws(pt, thetas: np.ndarray, fixed_values: dict | None = None) -> np.ndarray:
    """Every ``:=`` parameter of `pt` on every row of `thetas`.

    Parameters
    ----------
    pt : ParTable
    thetas : numpy.ndarray
        Shape ``(n, npar)``: free parameter vectors.
    fixed_values : dict, optional
        Table row -> value of fixed rows (e.g. covariate moments).

    Returns
    -------
    numpy.ndarray
        Shape ``(n, len(pt.defined))``, in the order of the statements; a
        definition may use earlier ones.
    """
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    n = thetas.shape[0]
    env = label_arrays(pt, thetas, fixed_values)
    out = np.empty((n, len(pt.defined)))
    for j, d in enumerate(pt.defined):
        out[:, j] = evaluate_array(d.expr, env, n)
        env[d.lhs] = out[:, j]
    return out


def defined_values(pt, theta: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Values of the ``:=`` parameters at one parameter vector, never raising.

    Parameters
    ----------
    pt : ParTable
    theta : numpy.ndarray
        Free parameter vector.

    Returns
    -------
    values : numpy.ndarray
        One per defined parameter, NaN where it cannot be evaluated (the log
        or square root of a negative number, a division by zero, an
        overflow, or an earlier defined parameter that is NaN).
    problems : list of str
        Why, one sentence per NaN value, naming the statement and its line.
    """
    env = label_values(pt, theta)
    out, problems = [], []
    for d in pt.defined:
        why = ""
        try:
            v = float(d.expr.evaluate(env))
        except ZeroDivisionError:
            v, why = np.nan, "a division by zero"
        except OverflowError:
            v, why = np.nan, "the value overflows"
        except ValueError:
            v, why = np.nan, ("a value outside a function's domain, such as the log or square "
                              "root of a negative number")
        if not why and not np.isfinite(v):
            bad = [n for n in d.expr.names if not np.isfinite(env.get(n, np.nan))]
            why = (f"it uses {', '.join(bad)}, which cannot be evaluated" if bad
                   else "the value is not finite")
            v = np.nan
        if why:
            at = ", ".join(f"{n} = {env[n]:.4g}" for n in d.expr.names
                           if n in env and np.isfinite(env[n]))
            problems.append(
                f"line {d.line}: the defined parameter '{d.lhs} := {d.expr.text}' cannot be "
                f"evaluated at the estimates{f' ({at})' if at else ''}: {why}; its value, "
                "standard error and interval are NaN")
        env[d.lhs] = v
        out.append(v)
    return np.array(out, dtype=float), problems


def notify_undefined(pt, theta: np.ndarray) -> None:
    """Record (and, unless quiet, issue) a warning for each ``:=`` parameter
    that cannot be evaluated at `theta` (see :func:`defined_values`)."""
    # stack: notify_undefined, fit_partable, fit, the caller of fit
    for text in defined_values(pt, theta)[1]:
        notify(text, UserWarning, stacklevel=4)


def defined_delta(pt, theta: np.ndarray, vcov: np.ndarray | None):
    """Values of the ``:=`` parameters and their delta-method standard errors.

    The Jacobian is taken by central differences of the expressions, which
    are cheap closed forms of the labelled parameters. A parameter that
    cannot be evaluated at `theta` (or next to it) gets NaN, not an error.

    Returns
    -------
    values, se : arrays, one entry per defined parameter (se NaN without vcov)
    """
    val = defined_values(pt, theta)[0]
    se = np.full(len(val), np.nan)
    if vcov is not None:
        J = np.empty((len(val), len(theta)))
        for j in range(len(theta)):
            h = 1e-6 * max(1.0, abs(theta[j]))
            e = np.zeros(len(theta))
            e[j] = h
            J[:, j] = (defined_values(pt, theta + e)[0]
                       - defined_values(pt, theta - e)[0]) / (2 * h)
        with np.errstate(invalid="ignore"):
            se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, vcov, J), 0, None))
    return val, se
