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


def label_values(pt: ParTable, theta: np.ndarray) -> dict:
    """Label -> value, for free rows from theta and for fixed rows from ustart."""
    env = {}
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


def linear_constraints(pt: ParTable, npar: int):
    """Constraint matrix C and vector c (C theta = c) from '==' statements that
    are not plain equalities of free labels (those are merged in the table)."""
    # 'a == b' between labels of free rows is merged into one parameter in
    # the table; with a fixed label it is an ordinary linear constraint here
    free_labels = {r["label"] for r in pt.records if r["label"] and r["free"] > 0}
    simple = {(a, b) for a, b in simple_equalities(pt.constraints)
              if a in free_labels and b in free_labels}
    rows_C, rows_c = [], []
    rng = np.random.default_rng(0)
    for con in pt.constraints:
        if con.op in ("<", ">"):
            raise ModelSpecificationError(
                f"line {con.line}: inequality constraints ('{con.op}') are not supported yet; "
                "remove it or fix the parameter instead")
        if con.lhs_expr is not None and (con.lhs_expr.text, con.expr.text) in simple:
            continue

        def h(theta):
            env = label_values(pt, theta)
            return con.lhs_expr.evaluate(env) - con.expr.evaluate(env)

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
                f"'{con.lhs_expr.text} == {con.expr.text}' is not linear")
        rows_C.append(g0)
        rows_c.append(g0 @ t0 - h(t0))
    if not rows_C:
        return None
    return np.array(rows_C), np.array(rows_c)


def null_space(C: np.ndarray, c: np.ndarray):
    U, s, Vt = np.linalg.svd(C)
    rank = int((s > 1e-10 * s.max()).sum())
    K = Vt[rank:].T
    theta_p = np.linalg.lstsq(C, c, rcond=None)[0]
    return theta_p, K
