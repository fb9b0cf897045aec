"""Start values: moment-based guesses for loadings, variances and means per block.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.estimation.saturated import moment_starts
from msem_nb.estimation.saturated_threelevel import moment_starts as threelevel_starts
from msem_nb.model.partable import ParTable
from msem_nb.model.spec import ModelSpec

#: one level's sample moments for start values: (names, mean, covariance)
LevelMoments: TypeAlias = tuple[tuple[str, ...], np.ndarray, np.ndarray]


def _level_moments(data: SingleData | ClusterData | ThreeLevelData) -> dict[int, LevelMoments]:
    """Sample moments per level used for start values: {level: (names, mean, cov)}.

    Levels are numbered as in the block keys (1 = lowest).
    """
    if isinstance(data, ThreeLevelData):
        mu3, s_w, s_2, s_3 = threelevel_starts(data)
        return {1: (data.within, mu3[:data.p1], s_w), 2: (data.names, mu3, s_2),
                3: (data.names, mu3, s_3)}
    if isinstance(data, SingleData):
        return {1: (data.names, data.mean, data.cov)}
    mu, s_pw, s_b = moment_starts(data)
    pw = data.p_within
    d = np.diag(s_b).copy()
    tot = np.diag(s_b)[:pw] + np.diag(s_pw) / (data.nobs / data.nclusters)
    d[:pw] = np.maximum(d[:pw], 0.05 * tot)
    s_b = s_b.copy()
    s_b[np.diag_indices_from(s_b)] = d
    return {1: (data.within, mu[:pw], s_pw), 2: (data.names, mu, s_b)}


def start_values(pt: ParTable, spec: ModelSpec,
                 data: SingleData | ClusterData | ThreeLevelData) -> np.ndarray:
    """Start values: half the sample variance for residual variances, factor
    variances and loadings from the indicators' covariances, zero paths,
    sample means for intercepts, and user starts where given."""
    tab = pt.table
    rec = pt.records
    by_level = _level_moments(data)
    moments = [by_level[k.level] for k in pt.block_keys]
    theta = np.zeros(spec.npar)
    seen: set[int] = set()
    lvvar: dict[tuple[int, str], float] = {}
    loadings: dict[tuple[int, str, str], float] = {}
    for b, bv in enumerate(pt.blocks):
        names, _, cov = moments[b]
        for f in bv.lv:
            ind_names = [r["rhs"] for r in rec if r["block"] == b and r["op"] == "=~"
                         and r["lhs"] == f and r["rhs"] in names]
            if len(ind_names) >= 2:
                idx = [names.index(v) for v in ind_names]
                C = cov[np.ix_(idx, idx)]
                off = C[~np.eye(len(idx), dtype=bool)]
                marker_cov = np.delete(C[0], 0).mean()
                v = float(np.clip(marker_cov, 0.05 * C[0, 0], None))
                lvvar[(b, f)] = v
                for k, name in enumerate(ind_names):
                    if k == 0:
                        continue
                    others = np.delete(C[k], k).mean() if len(idx) > 2 else C[k, 0]
                    ref = off.mean() if off.size else v
                    loadings[(b, f, name)] = float(np.clip(others / ref if ref > 0 else 1.0, -3, 3))
    for i in range(len(tab)):
        k = int(rec[i]["free"]) - 1
        if k < 0 or k in seen:
            continue
        seen.add(k)
        start = rec[i]["start"]
        if start is not None and not (isinstance(start, float) and np.isnan(start)):
            theta[k] = float(start)
            continue
        lhs, op, rhs, b = rec[i]["lhs"], rec[i]["op"], rec[i]["rhs"], int(rec[i]["block"])
        names, mean, cov = moments[b]
        if op == "=~":
            theta[k] = loadings.get((b, lhs, rhs), 1.0)
        elif op == "~~" and lhs in pt.blocks[b].ov_x and rhs in pt.blocks[b].ov_x \
                and lhs in names and rhs in names:
            # covariates treated as random start at their sample moments
            theta[k] = cov[names.index(lhs), names.index(rhs)]
        elif op == "~~" and lhs == rhs:
            if lhs in names:
                theta[k] = 0.5 * cov[names.index(lhs), names.index(lhs)]
            else:
                theta[k] = lvvar.get((b, lhs), 0.05)
        elif op == "~1" and lhs in names:
            theta[k] = mean[names.index(lhs)]
    return theta
