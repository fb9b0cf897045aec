"""Completely standardized estimates (lavaan's std.all).

Every variable (observed and latent) is scaled by its model-implied standard
deviation within its block; residual covariances are scaled by the residual
standard deviations, so they read as residual correlations.
"""

from __future__ import annotations

import numpy as np

__all__ = ["std_all"]


def std_all(table, spec, block_moments, est: np.ndarray, slopes=()) -> np.ndarray:
    """std.all for every row of a parameter table.

    Parameters
    ----------
    table : pandas.DataFrame or mapping
        Parameter table rows (lhs, op, rhs, block): the DataFrame or its
        columns by name (``ParTable.columns``).
    spec : ModelSpec
    block_moments : list of BlockMoments
    est : array
        Estimate of every row.
    slopes : collection of str
        Random slopes: rows involving them get NaN, since a slope's scale is
        set by its covariate and outcome, not by its own variance.
    """
    sds = [np.sqrt(np.clip(np.diag(bm.cov_all), 0, None)) for bm in block_moments]
    resid = [np.diag(bm.S) for bm in block_moments]
    pos = [{v: i for i, v in enumerate(bs.names)} for bs in spec.blocks]
    lhs = np.asarray(table["lhs"])
    op = np.asarray(table["op"])
    rhs = np.asarray(table["rhs"])
    block = np.asarray(table["block"])
    out = np.full(len(lhs), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(len(lhs)):
            if op[i] not in ("=~", "~", "~~", "~1") or lhs[i] in slopes or rhs[i] in slopes:
                continue
            b = int(block[i])
            sd, P = sds[b], pos[b]
            a = P[lhs[i]]
            if op[i] == "=~":
                out[i] = est[i] * sd[a] / sd[P[rhs[i]]]
            elif op[i] == "~":
                out[i] = est[i] * sd[P[rhs[i]]] / sd[a]
            elif op[i] == "~1":
                out[i] = est[i] / sd[a]
            elif lhs[i] == rhs[i]:
                out[i] = est[i] / sd[a] ** 2
            else:
                c = P[rhs[i]]
                r = resid[b]
                out[i] = est[i] / np.sqrt(r[a] * r[c])
    out[~np.isfinite(out)] = np.nan
    return out
