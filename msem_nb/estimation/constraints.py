"""Labels and linear equality constraints.

``label_values`` maps labels to values at a parameter vector.
``linear_constraints`` turns ``==`` statements other than plain label
equalities into ``C theta = c`` (checked to be linear by differencing at two
random points); ``null_space`` gives ``theta = theta_p + K xi`` so that the
optimiser works over the free coordinates ``xi`` and standard errors stay
exact (vcov(theta) = K vcov(xi) K').
"""

from __future__ import annotations



import numpy as np
from msem_nb.errors import ModelSpecificationError
from msem_nb.model.partable import ParTable
from msem_nb.model.partable import simple_equalities
from msem_nb.syntax.expressions import Expression


def label_values(pt: ParTable, theta: np.ndarray) -> dict[str, float]:
    """Label -> value, for free rows from theta and for fixed rows from ustart."""
    env: dict[str, float] = {}
    tab = pt.table
    rec = pt.records
    for i in range(len(tab)):
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
    are not plain label equalities (those are merged in the table)."""
    simple = set(simple_equalities(pt.constraints))
    rows_C, rows_c = [], []
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
            return lhs.evaluate(env) - rhs.evaluate(env)

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
        if not np.allclose(g0, g1, atol=1e-6):
            raise ModelSpecificationError(
                f"line {con.line}: only linear equality constraints are supported; "
                f"'{lhs.text} == {rhs.text}' is not linear")
        rows_C.append(g0)
        rows_c.append(g0 @ t0 - h(t0))
    if not rows_C:
        return None
    return np.array(rows_C), np.array(rows_c)


def null_space(C: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    U, s, Vt = np.linalg.svd(C)
    rank = int((s > 1e-10 * s.max()).sum())
    K = Vt[rank:].T
    theta_p = np.linalg.lstsq(C, c, rcond=None)[0]
    return theta_p, K
