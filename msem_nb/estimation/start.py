"""Start values: moment-based guesses for loadings, variances and means per block.
"""

from __future__ import annotations

import functools
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
    if data.incomplete:
        mu, s_pw, s_b = moment_starts(data)
    else:
        # moment_starts without the missing-value handling complete data do not need
        s_pw = data.within_sscp / max(data.nobs - data.nclusters, 1)
        x = data.cluster_vectors
        mu = x.mean(axis=0)
        s_b = (x - mu).T @ (x - mu) / len(x)
        s_b[:data.p_within, :data.p_within] -= s_pw / (data.nobs / data.nclusters)
    pw = data.p_within
    d = np.diag(s_b).copy()
    tot = np.diag(s_b)[:pw] + np.diag(s_pw) / (data.nobs / data.nclusters)
    d[:pw] = np.maximum(d[:pw], 0.05 * tot)
    s_b = s_b.copy()
    s_b[np.diag_indices_from(s_b)] = d
    return {1: (data.within, mu[:pw], s_pw), 2: (data.names, mu, s_b)}


def user_starts(pt: ParTable) -> dict[int, float]:
    """The start values written in the model (``start(0.5)*x``): free parameter -> value."""
    out: dict[int, float] = {}
    for r in pt.records:
        k = int(r["free"]) - 1
        start = r["start"]
        if k >= 0 and k not in out and start is not None \
                and not (isinstance(start, float) and np.isnan(start)):
            out[k] = float(start)
    return out


@functools.lru_cache(maxsize=64)
def _upper_pairs(k: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(k, 1)``, built once per size (read only)."""
    ia, ib = np.triu_indices(k, 1)
    ia.flags.writeable = False
    ib.flags.writeable = False
    return ia, ib


def _factor_moments(C: np.ndarray) -> tuple[np.ndarray, float]:
    """Loadings (the first indicator's 1) and variance of one factor from the
    covariances `C` of its indicators.

    Three or more indicators: each loading from the indicator's covariances with
    the others over the marker's (``lambda_k = sum_j C_kj / sum_j C_1j`` over
    ``j`` not 1 or k, which the one-factor model makes exact), the variance the
    mean of ``C_jl / (lambda_j lambda_l)`` over pairs. Two: equal loadings.
    """
    K = len(C)
    lam = np.ones(K)
    if K >= 3:
        # sums over j not in (marker, k): row sums less the diagonal and the marker's
        rows = C.sum(axis=1) - np.diag(C)
        num = rows - C[:, 0]
        ref = rows[0] - C[0]
        ok = ref > 0
        ok[0] = False
        lam[ok] = np.clip(num[ok] / ref[ok], -5.0, 5.0)
    ia, ib = _upper_pairs(K)
    prod = lam[ia] * lam[ib]
    keep = prod > 0
    psi = float(np.mean(C[ia, ib][keep] / prod[keep])) if keep.any() else 0.0
    return lam, max(psi, 0.05 * float(C[0, 0]))


def _paths(pt: ParTable, b: int, names: tuple[str, ...], cov: np.ndarray,
           factors: dict[str, tuple[list[str], np.ndarray, float]]
           ) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """Regression starts of one block: each outcome on its predictors by least squares
    on the moments, with a factor standing in as the loading-weighted mean of its
    indicators; and the residual variance left. Returns ({(lhs, rhs): slope},
    {outcome: residual variance})."""
    rows = [r for r in pt.records if r["block"] == b and r["op"] == "~"]
    if not rows:
        return {}, {}
    pos = {v: i for i, v in enumerate(names)}
    weights: dict[str, np.ndarray] = {}
    for f, (inds, lam, _) in factors.items():
        w = np.zeros(len(names))
        w[[pos[v] for v in inds]] = 1.0 / (len(inds) * lam)
        weights[f] = w

    def vec(v: str) -> np.ndarray | None:
        if v in pos:
            e = np.zeros(len(names))
            e[pos[v]] = 1.0
            return e
        return weights.get(v)

    def var(v: str) -> float:
        return factors[v][2] if v in factors else float(cov[pos[v], pos[v]])

    slopes: dict[tuple[str, str], float] = {}
    resid: dict[str, float] = {}
    for y in dict.fromkeys(r["lhs"] for r in rows):
        preds = [r["rhs"] for r in rows if r["lhs"] == y]
        vy = vec(y)
        vp = [vec(x) for x in preds]
        if vy is None or any(v is None for v in vp):
            continue
        P = np.array(vp)
        Spp = P @ cov @ P.T
        # a factor's own variance, not that of its indicators' mean (which has their noise)
        for i, x in enumerate(preds):
            if x in factors:
                Spp[i, i] = var(x)
        spy = P @ cov @ vy
        try:
            beta = np.linalg.solve(Spp, spy)
        except np.linalg.LinAlgError:
            continue
        if not np.all(np.isfinite(beta)):
            continue
        slopes.update({(y, x): float(c) for x, c in zip(preds, beta)})
        total = var(y)
        resid[y] = max(total - float(beta @ Spp @ beta), 0.1 * total)
    return slopes, resid


def start_values(pt: ParTable, spec: ModelSpec,
                 data: SingleData | ClusterData | ThreeLevelData,
                 user: bool = True) -> np.ndarray:
    """Start values from the sample moments of each level.

    Loadings and factor variances from the indicators' covariances
    (:func:`_factor_moments`), regression paths by least squares on the
    moments (:func:`_paths`), residual variances what the factor or the paths
    leave (at least a tenth of the variance), other variances half the sample
    variance, sample means for intercepts, and user starts where given
    (unless `user` is False: then the caller puts them in, e.g. in other units).
    """
    rec = pt.records
    by_level = _level_moments(data)
    moments = [by_level[k.level] for k in pt.block_keys]
    theta = np.zeros(spec.npar)
    seen: set[int] = set()
    lvvar: dict[tuple[int, str], float] = {}
    loadings: dict[tuple[int, str, str], float] = {}
    resvar: dict[tuple[int, str], float] = {}
    paths: dict[tuple[int, str, str], float] = {}
    lvcov: dict[tuple[int, str, str], float] = {}
    # a random loading's average starts at the loading its indicator would have
    random_loads = {(r["block"], r["rhs"], r["lhs"]): r["slope"] for r in rec
                    if r["op"] == "|~" and r.get("loading", False)}
    load_means: dict[str, float] = {}
    for b, bv in enumerate(pt.blocks):
        names, _, cov = moments[b]
        factors: dict[str, tuple[list[str], np.ndarray, float]] = {}
        for f in bv.lv:
            ind_names = [r["rhs"] for r in rec if r["block"] == b and r["op"] == "=~"
                         and r["lhs"] == f and r["rhs"] in names]
            ind_names += [y for (bb, g, y) in random_loads if bb == b and g == f and y in names]
            if len(ind_names) >= 2:
                idx = [names.index(v) for v in ind_names]
                C = cov[np.ix_(idx, idx)]
                lam, psi = _factor_moments(C)
                factors[f] = (ind_names, lam, psi)
                lvvar[(b, f)] = psi
                for k, name in enumerate(ind_names):
                    resvar[(b, name)] = max(float(C[k, k] - lam[k] ** 2 * psi),
                                            0.1 * float(C[k, k]))
                    if k:
                        loadings[(b, f, name)] = float(lam[k])
                    if (b, f, name) in random_loads:
                        load_means[random_loads[(b, f, name)]] = float(lam[k])
        # factor covariances through the indicators' means, as a correlation at most .9
        for i, f in enumerate(factors):
            for g in list(factors)[:i]:
                (fi, li, vf), (gi, lg, vg) = factors[f], factors[g]
                if set(fi) & set(gi):
                    continue
                c = float(np.mean([cov[names.index(u), names.index(v)] / (a * e)
                                   for u, a in zip(fi, li) for v, e in zip(gi, lg)]))
                bound = 0.9 * np.sqrt(vf * vg)
                lvcov[(b, f, g)] = lvcov[(b, g, f)] = float(np.clip(c, -bound, bound))
        slopes, resid = _paths(pt, b, tuple(names), cov, factors)
        paths.update({(b, y, x): v for (y, x), v in slopes.items()})
        for y, v in resid.items():
            if y in factors:
                lvvar[(b, y)] = v
            else:
                resvar[(b, y)] = v
    for i in range(len(rec)):
        k = int(rec[i]["free"]) - 1
        if k < 0 or k in seen:
            continue
        seen.add(k)
        start = rec[i]["start"]
        if user and start is not None and not (isinstance(start, float) and np.isnan(start)):
            theta[k] = float(start)
            continue
        lhs, op, rhs, b = rec[i]["lhs"], rec[i]["op"], rec[i]["rhs"], int(rec[i]["block"])
        names, mean, cov = moments[b]
        if op == "=~":
            theta[k] = loadings.get((b, lhs, rhs), 1.0)
        elif op == "~":
            theta[k] = paths.get((b, lhs, rhs), 0.0)
        elif op == "~~" and lhs in pt.blocks[b].ov_x and rhs in pt.blocks[b].ov_x \
                and lhs in names and rhs in names:
            # covariates treated as random start at their sample moments
            theta[k] = cov[names.index(lhs), names.index(rhs)]
        elif op == "~~" and (b, lhs, rhs) in lvcov:
            theta[k] = lvcov[(b, lhs, rhs)]
        elif op == "~~" and lhs == rhs:
            if (b, lhs) in resvar:
                theta[k] = resvar[(b, lhs)]
            elif lhs in names:
                theta[k] = 0.5 * cov[names.index(lhs), names.index(lhs)]
            else:
                theta[k] = lvvar.get((b, lhs), 0.05)
        elif op == "~1" and lhs in load_means:
            theta[k] = load_means[lhs]
        elif op == "~1" and lhs in names:
            theta[k] = mean[names.index(lhs)]
    return theta
