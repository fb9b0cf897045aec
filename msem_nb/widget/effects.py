"""Indirect effects along regression chains, with delta-method standard errors.

For every chain ``x -> m -> ... -> y`` of regression paths within one level,
the indirect effect is the product of the path coefficients; its standard
error comes from the delta method with the fit's covariance matrix of the
free parameters (gradient: for each free parameter, the sum over the links
that carry it of the product of the other links). This is what lavaan
reports for ``ab := a*b`` and what the panel shows without asking the user to
label paths.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from msem_nb.inference.wald import wald_table

__all__ = ["indirect_effects"]

_COLUMNS = ["level", "path", "from", "to", "est", "se", "z", "pvalue", "ci_lower", "ci_upper"]


def _chains(edges: dict, max_links: int):
    """Simple chains of 2..max_links links; edges: node -> [(next node, link)]."""
    out = []

    def walk(node, seen, links):
        if len(links) >= 2:
            out.append((list(seen), list(links)))
        if len(links) == max_links:
            return
        for nxt, link in edges.get(node, ()):
            if nxt not in seen:
                seen.append(nxt)
                links.append(link)
                walk(nxt, seen, links)
                seen.pop()
                links.pop()

    for start in list(edges):
        walk(start, [start], [])
    return out


def indirect_effects(fit, max_links: int = 4, max_rows: int = 200) -> pd.DataFrame:
    """Indirect effects of a fitted model, level by level.

    Parameters
    ----------
    fit : FitResult
    max_links : int
        Longest chain considered (number of regression paths).
    max_rows : int
        At most this many effects (the first ones found).

    Returns
    -------
    pandas.DataFrame
        Columns level, path (``"x -> m -> y"``), from, to, est, se, z,
        pvalue, ci_lower, ci_upper; empty when the model has no chain of
        two or more regressions.
    """
    tab = fit.partable.table
    est = fit.estimates["est"].to_numpy()[: len(tab)]
    free = tab["free"].to_numpy().astype(int) - 1
    vcov = fit.estimation.vcov
    rows = []
    for level in dict.fromkeys(tab["level"].tolist()):
        sel = np.flatnonzero((tab["op"].to_numpy() == "~") & (tab["level"].to_numpy() == level))
        edges: dict[str, list] = {}
        for i in sel:
            edges.setdefault(tab["rhs"].iat[i], []).append((tab["lhs"].iat[i], i))
        for nodes, links in _chains(edges, max_links):
            vals = est[links]
            value = float(np.prod(vals))
            se = math.nan
            if vcov is not None:
                grad = np.zeros(vcov.shape[0])
                for k, i in enumerate(links):
                    if free[i] >= 0:
                        grad[free[i]] += float(np.prod(np.delete(vals, k)))
                se = float(np.sqrt(max(grad @ vcov @ grad, 0.0)))
            rows.append({"level": level, "path": " -> ".join(nodes), "from": nodes[0],
                         "to": nodes[-1], "est": value, "se": se})
    df = pd.DataFrame(rows, columns=_COLUMNS[:6])
    wald = wald_table(df["est"], df["se"], ci_level=fit.ci_level)
    for col in wald.columns:
        df[col] = wald[col].to_numpy()
    return df[_COLUMNS].head(max_rows)
