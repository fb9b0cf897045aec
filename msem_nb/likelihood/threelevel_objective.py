"""The three-level log-likelihood as a function of the free parameter vector.

Joins the implied moments of the three blocks (:mod:`msem_nb.model.implied`)
to the three-level data layout (:mod:`msem_nb.data.threelevel`) and the
moment likelihood (:mod:`msem_nb.likelihood.threelevel`):

* the total mean of a variable is the sum of the means of the blocks it is in;
* the level-1 block's covariance is ``sigma_w`` (its variables are the first
  ``p1`` of the data vector); the level-2 and level-3 blocks' covariances,
  placed at their positions, are ``sigma_2`` and ``sigma_3``.

The derivative with respect to the parameters goes back block by block
(:func:`msem_nb.model.implied.block_gradient`). The per-school scores (MLR)
use the dense Jacobian of each block's moments, from the rank-one terms of
``model.implied``: an A cell (r, c) moves the observed covariance by
``Bo[:, r] C[:, c]' + C[:, c] Bo[:, r]'`` and the mean by ``Bo[:, r] m[c]``, an
S cell (s, t) the covariance by ``Bo[:, s] Bo[:, t]'``, an alpha cell a the
mean by ``Bo[:, a]`` (``Bo`` the observed rows of ``(I - A)^-1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal, overload

import numpy as np

from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.likelihood.threelevel import (
    ThreeLevelMoments,
    loglik_threelevel,
    schoolwise_threelevel,
)
from msem_nb.model.implied import BlockMoments, block_gradient, model_moments
from msem_nb.model.spec import BlockSpec, ModelSpec

__all__ = ["ThreeLevelObjective", "block_jacobian"]


def block_jacobian(bs: BlockSpec, bm: BlockMoments,
                   npar: int) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives of one block's observed covariance (n, n, npar) and mean (n, npar)."""
    n = bs.n_ov
    Bo = bm.B[:n]
    Co = bm.cov_all[:n]
    dC = np.zeros((n, n, npar))
    dm = np.zeros((n, npar))
    r, c, k = bs.A_free
    if len(k):
        outer = Bo[:, r].T[:, :, None] * Co[:, c].T[:, None, :]
        np.add.at(dC.transpose(2, 0, 1), k, outer + outer.transpose(0, 2, 1))
        np.add.at(dm.T, k, (Bo[:, r] * bm.mean_all[c]).T)
    r, c, k = bs.S_free
    if len(k):
        np.add.at(dC.transpose(2, 0, 1), k, Bo[:, r].T[:, :, None] * Bo[:, c].T[:, None, :])
    a, k = bs.alpha_free
    if len(k):
        np.add.at(dm.T, k, Bo[:, a].T)
    return dC, dm


@dataclass(frozen=True, eq=False)
class ThreeLevelObjective:
    """Log-likelihood of a three-level model specification on three-level data."""

    spec: ModelSpec
    data: ThreeLevelData
    meanstructure: bool = True

    @cached_property
    def positions(self) -> tuple[np.ndarray, ...]:
        """Per block: positions of its observed variables in ``data.names``."""
        names = self.data.names
        return tuple(self.spec.ov_positions(b, names) for b in range(len(self.spec.blocks)))

    @cached_property
    def level_blocks(self) -> tuple[int, int, int]:
        """The blocks of levels 1, 2 and 3."""
        return (self.spec.block_of(1), self.spec.block_of(2), self.spec.block_of(3))

    def level_moments(self, theta: np.ndarray) -> tuple[list[BlockMoments], ThreeLevelMoments]:
        """Block moments and ``(mu, sigma_w, sigma_2, sigma_3)`` in the data order."""
        bm = model_moments(self.spec, np.asarray(theta, dtype=float))
        p = len(self.data.names)
        mu = np.zeros(p)
        for k, m in enumerate(bm):
            mu[self.positions[k]] += m.mean
        l1, l2, l3 = self.level_blocks
        s2 = np.zeros((p, p))
        s3 = np.zeros((p, p))
        s2[np.ix_(self.positions[l2], self.positions[l2])] = bm[l2].cov
        s3[np.ix_(self.positions[l3], self.positions[l3])] = bm[l3].cov
        return bm, (mu, bm[l1].cov, s2, s3)

    def moments(self, theta: np.ndarray) -> tuple[list[BlockMoments], None]:
        """Block moments; the data-level moments (a 4-tuple) come from
        :meth:`level_moments`, so the two-level shapes of ``DataMoments`` stay
        what the callers that unpack them expect."""
        bm, _ = self.level_moments(theta)
        return bm, None

    @overload
    def loglik(self, theta: np.ndarray, gradient: Literal[False] = False) -> float: ...

    @overload
    def loglik(self, theta: np.ndarray,
               gradient: Literal[True]) -> tuple[float, np.ndarray | None]: ...

    @overload
    def loglik(self, theta: np.ndarray,
               gradient: bool) -> float | tuple[float, np.ndarray | None]: ...

    def loglik(self, theta: np.ndarray,
               gradient: bool = False) -> float | tuple[float, np.ndarray | None]:
        """Log-likelihood at theta, and its gradient when asked."""
        bm, (mu, sw, s2, s3) = self.level_moments(theta)
        ll, g = loglik_threelevel(self.data, mu, sw, s2, s3, gradient)
        if not gradient:
            return ll
        if g is None:
            return ll, None
        g_mu, G_w, G_2, G_3 = g
        out = np.zeros(self.spec.npar)
        l1, l2, l3 = self.level_blocks
        for b, bs in enumerate(self.spec.blocks):
            pos = self.positions[b]
            G = G_w if b == l1 else (G_2 if b == l2 else G_3)[np.ix_(pos, pos)]
            block_gradient(bs, bm[b], G, g_mu[pos], out)
        return ll, out

    def unit_scores(self, theta: np.ndarray) -> np.ndarray:
        """Score contributions of the schools, the independent units: (K, npar),
        whose column sums are the gradient."""
        bm, (mu, sw, s2, s3) = self.level_moments(theta)
        _, (g_mu, G_w, G_2, G_3) = schoolwise_threelevel(self.data, mu, sw, s2, s3)
        npar = self.spec.npar
        out = np.zeros((self.data.nschools, npar))
        l1, l2, l3 = self.level_blocks
        for b, bs in enumerate(self.spec.blocks):
            pos = self.positions[b]
            G = G_w if b == l1 else (G_2 if b == l2 else G_3)[:, pos[:, None], pos[None, :]]
            dC, dm = block_jacobian(bs, bm[b], npar)
            out += np.einsum("kij,ijp->kp", G, dC) + g_mu[:, pos] @ dm
        return out
