"""The saturated model's part of MLR's scaled test for three-level data.

As :func:`msem_nb.inference.robust.h1_trace` for one and two levels: the
Yuan-Bentler scaling factor needs ``tr(A1^-1 B1)`` of the saturated model at
its estimates, with ``A1`` its observed information (minus the Hessian of
:func:`msem_nb.likelihood.threelevel.loglik_threelevel`, differenced from the
analytic gradient) and ``B1`` the sum over schools, the independent units, of
the outer products of their scores (:func:`~msem_nb.likelihood.threelevel.schoolwise_threelevel`).
The coordinates are the free saturated moments: the means, and the lower
triangles of the level-1, level-2 and level-3 covariances (of the variables
with a part at each level), leaving out moments among fixed covariates only.
The trace does not depend on the coordinates, so it is computed on centred and
scaled data (:func:`~msem_nb.estimation.saturated_threelevel.threelevel_units`),
where the differenced Hessian's steps suit every moment whatever the units.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.estimation.optimize import numeric_hessian
from msem_nb.estimation.saturated_threelevel import ThreeLevelSaturated, threelevel_units
from msem_nb.likelihood.threelevel import loglik_threelevel, schoolwise_threelevel

__all__ = ["h1_trace_threelevel"]


def _pairs(idx: np.ndarray, isx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r, c = np.tril_indices(len(idx))
    a, b = idx[r], idx[c]
    keep = ~(isx[a] & isx[b])
    return a[keep], b[keep]


def h1_trace_threelevel(data: ThreeLevelData, h1: ThreeLevelSaturated,
                        exo: Iterable[str]) -> tuple[float, int]:
    """tr(A1^-1 B1) of the saturated three-level model, and its number of moments."""
    loc, scale = threelevel_units(data)
    data, h1 = data.affine(loc, scale), h1.affine(loc, scale, data.value_counts())
    exo = set(exo)
    isx = np.array([v in exo for v in data.names])
    mean_idx = np.where(~isx)[0]
    coords = [_pairs(idx, isx) for idx in (np.arange(data.p1), data.index2, data.index3)]
    mu0 = np.asarray(h1.mu, dtype=float)
    mats0 = [np.array(h1.level_cov(k), dtype=float) for k in (1, 2, 3)]
    sizes = [len(mean_idx)] + [len(a) for a, _ in coords]
    cuts = np.cumsum(sizes)[:-1]

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        parts = np.split(x, cuts)
        mu = mu0.copy()
        mu[mean_idx] = parts[0]
        mats = [m.copy() for m in mats0]
        for M, (a, b), v in zip(mats, coords, parts[1:]):
            M[a, b] = M[b, a] = v
        return mu, mats[0], mats[1], mats[2]

    def vector(g_mu: np.ndarray, G: list[np.ndarray]) -> np.ndarray:
        out = [g_mu[..., mean_idx]]
        for M, (a, b) in zip(G, coords):
            out.append(M[..., a, b] * np.where(a == b, 1.0, 2.0))
        return np.concatenate(out, axis=-1)

    def grad(x: np.ndarray) -> np.ndarray:
        _, g = loglik_threelevel(data, *unpack(x))
        if g is None:
            raise FloatingPointError("saturated covariances not positive definite")
        return vector(g[0], [g[1], g[2], g[3]])

    x0 = np.concatenate([mu0[mean_idx]] + [M[a, b] for M, (a, b) in zip(mats0, coords)])
    A1 = -numeric_hessian(grad, x0)
    _, (g_mu, G_w, G_2, G_3) = schoolwise_threelevel(data, *unpack(x0))
    S = vector(g_mu, [G_w, G_2, G_3])
    B1 = S.T @ S
    return float(np.trace(np.linalg.solve(A1, B1))), len(x0)
