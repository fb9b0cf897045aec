"""Labels and linear equality constraints.

``label_values`` maps labels to values at a parameter vector.
``linear_constraints`` turns ``==`` statements other than plain label
equalities into ``C theta = c`` (checked to be linear by differencing at two
random points, and to have a solution: rank([C | c]) == rank(C), see
``check_consistent``); ``null_space`` gives ``theta = theta_p + K xi`` so that the
optimiser works over the free coordinates ``xi`` and standard errors stay
exact (vcov(theta) = K vcov(xi) K').
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from msem_nb.errors import ModelSpecificationError
from msem_nb.model.partable import ParTable, simple_equalities
from msem_nb.syntax.expressions import Expression
from msem_nb.syntax.statements import Statement


def label_values(pt: ParTable, theta: np.ndarray) -> dict[str, float]:
    """Label -> value, for free rows from theta and for fixed rows from ustart."""
    env: dict[str, float] = {}
    rec = pt.records
    for i in range(len(rec)):
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


def linear_constraints(pt: ParTable, npar: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Constraint matrix C and vector c (C theta = c) from '==' statements that
    are not plain equalities of free labels (those are merged in the table).

    Raises ModelSpecificationError when a constraint is not linear or the
    constraints contradict each other (:func:`check_consistent`).
    """
    # 'a == b' between labels of free rows is merged into one parameter in
    # the table; with a fixed label it is an ordinary linear constraint here
    free_labels = {r["label"] for r in pt.records if r["label"] and r["free"] > 0}
    simple = {(a, b) for a, b in simple_equalities(pt.constraints)
              if a in free_labels and b in free_labels}
    rows_C, rows_c, used = [], [], []
    rng = np.random.default_rng(0)
    for con in pt.constraints:
        if con.op in ("<", ">"):
            raise ModelSpecificationError(
                f"line {con.line}: inequality constraints ('{con.op}') are not supported yet; "
                "remove it or fix the parameter instead")
        lhs, rhs = con.lhs_expr, con.expr
        if lhs is None or rhs is None:  # pragma: no cover - the parser sets both sides
            raise ModelSpecificationError(f"line {con.line}: a constraint needs two sides")
        if (lhs.text, rhs.text) in simple:
            continue

        def h(theta: np.ndarray, lhs: Expression = lhs, rhs: Expression = rhs) -> float:
            env = label_values(pt, theta)
            try:
                return lhs.evaluate(env) - rhs.evaluate(env)
            except (ValueError, ZeroDivisionError, OverflowError):
                # log, sqrt, division: not linear, said below (NaN gradients differ)
                return float("nan")

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
        if not np.allclose(g0, g1, atol=1e-6) or not np.all(np.isfinite(g0)):
            raise ModelSpecificationError(
                f"line {con.line}: only linear equality constraints are supported; "
                f"'{lhs.text} == {rhs.text}' is not linear")
        rows_C.append(g0)
        rows_c.append(g0 @ t0 - h(t0))
        used.append(con)
    if not rows_C:
        return None
    C, c = np.array(rows_C), np.array(rows_c)
    merged = [con for con in pt.constraints if con.lhs_expr is not None
              and con.expr is not None and (con.lhs_expr.text, con.expr.text) in simple]
    check_consistent(C, c, used, merged)
    return C, c


def _names(expr: Expression | None) -> tuple[str, ...]:
    return () if expr is None else tuple(expr.names)


def _text(expr: Expression | None) -> str:
    return "" if expr is None else expr.text


def _rank(M: np.ndarray) -> int:
    if not M.size:
        return 0
    s = np.linalg.svd(M, compute_uv=False)
    return int((s > 1e-8 * max(1.0, s.max())).sum())


def check_consistent(C: np.ndarray, c: np.ndarray, constraints: Sequence[Statement],
                     merged: Sequence[Statement] = ()) -> None:
    """Raise if ``C theta = c`` has no solution, naming the constraints that
    contradict each other.

    The system is solvable exactly when rank([C | c]) == rank(C). Adding the
    constraints one at a time, the first whose row raises the rank of
    [C | c] but not that of C contradicts earlier ones: those with a nonzero
    weight when its row of C is written as a combination of theirs (a row of
    zeros, a constraint among fixed values only, contradicts itself).

    Parameters
    ----------
    C, c : numpy.ndarray
        One row per constraint, as :func:`linear_constraints` builds them.
    constraints : sequence of Statement
        The ``==`` statements of the rows (for their text and line).
    merged : sequence of Statement
        Plain label equalities (``a == b``, merged into one parameter in the
        table); those that share a label with a contradicting constraint are
        named with it.
    """
    aug = np.column_stack([C, c])
    for k in range(len(C)):
        if _rank(aug[: k + 1]) == _rank(C[: k + 1]):
            continue
        involved = []
        if k:
            w = np.linalg.lstsq(C[:k].T, C[k], rcond=None)[0]
            involved = [i for i in range(k) if abs(w[i]) > 1e-8 * max(1.0, np.abs(w).max())]
        involved.append(k)
        stmts = [constraints[i] for i in involved]
        names = {n for st in stmts for n in (*_names(st.lhs_expr), *_names(st.expr))}
        stmts += [st for st in merged if names & {*_names(st.lhs_expr), *_names(st.expr)}]
        stmts.sort(key=lambda st: st.line)
        text = "; ".join(f"line {st.line}: '{_text(st.lhs_expr)} == {_text(st.expr)}'"
                         for st in stmts)
        if len(stmts) == 1:
            raise ModelSpecificationError(
                f"the equality constraint {text} cannot hold: its parameters are fixed at "
                "values that do not satisfy it; remove it or free the parameters")
        raise ModelSpecificationError(
            f"the equality constraints contradict each other, so no parameter values satisfy "
            f"them all: {text}; remove or correct one of them")


def null_space(C: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    U, s, Vt = np.linalg.svd(C)
    rank = int((s > 1e-10 * s.max()).sum())
    K = Vt[rank:].T
    theta_p = np.linalg.lstsq(C, c, rcond=None)[0]
    return theta_p, K
