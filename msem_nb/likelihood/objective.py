"""The log-likelihood as a function of the free parameter vector.

Joins the implied moments of the blocks (:mod:`msem_nb.model.implied`) to
the data's layout and the moment likelihoods (:mod:`msem_nb.likelihood.complete`,
:mod:`msem_nb.likelihood.missing`). Every block's observed variables sit at
``positions[b]`` of the data vector ``data.names`` (in a two-level model the
within variables first, then the between-only ones, so the lowest block's
positions are ``0 .. p_within - 1``). The data-level moments are assembled
by iterating over the blocks:

* the total mean of a variable is the sum of the means of every block it is
  in (within mean plus between mean);
* the lowest level's block gives ``sigma_w``; the between block's covariance,
  placed at its positions, gives ``sigma_b`` (zero rows for within-only
  variables).

The likelihoods themselves are for one or two levels; which block is "the
within block" and which "the between block" is looked up by block key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, cast, overload

import numpy as np

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.data.missing import MissingClusterData, MissingSingleData
from msem_nb.data.protocol import ModelData
from msem_nb.likelihood.complete import SingleGradient, loglik_single, loglik_twolevel
from msem_nb.likelihood.missing import loglik_single_missing, loglik_twolevel_missing
from msem_nb.likelihood.protocol import DataMoments, SingleMoments, TwoLevelMoments
from msem_nb.model.blocks import BETWEEN, WITHIN
from msem_nb.model.implied import BlockMoments, block_gradient, model_moments
from msem_nb.model.spec import ModelSpec

__all__ = ["Objective", "assemble", "single_moments", "twolevel_moments", "LevelBlocks"]

#: (within block, between block, index grid ``np.ix_(pos, pos)`` of the between
#: block's positions in the data vector)
LevelBlocks = tuple[int, int, tuple[np.ndarray, ...]]


@dataclass(frozen=True, eq=False)
class Objective:
    """Log-likelihood of a model specification on a prepared data set."""

    spec: ModelSpec
    data: SingleData | ClusterData
    meanstructure: bool

    @cached_property
    def positions(self) -> tuple[np.ndarray, ...]:
        """Per block: positions of its observed variables in the data vector ``data.names``."""
        names = self.data.names
        return tuple(self.spec.ov_positions(b, names) for b in range(len(self.spec.blocks)))

    @cached_property
    def level_blocks(self) -> LevelBlocks:
        """(within block, between block, index grid of the between block into sigma_b)
        of a two-level model: where the two-level likelihood's Sigma_W and Sigma_B
        come from and go back to."""
        w, b = self.spec.block_of(WITHIN), self.spec.block_of(BETWEEN)
        pos = self.positions[b]
        return w, b, np.ix_(pos, pos)

    @property
    def between_pos(self) -> np.ndarray:
        """Positions of the between block's observed variables in the data vector.

        Kept for code written for exactly two levels; new code iterates over
        ``positions`` or uses :attr:`level_blocks`.
        """
        return self.positions[self.level_blocks[1]]

    def moments(self, theta: np.ndarray) -> tuple[list[BlockMoments], DataMoments]:
        """Block moments and the data-level moments (mu, sigma_w[, sigma_b])."""
        bm = model_moments(self.spec, theta)
        if len(bm) == 1:
            return bm, single_moments(bm, self.meanstructure)
        return bm, twolevel_moments(bm, len(self.data.names), self.positions, self.level_blocks)

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
        theta = np.asarray(theta, dtype=float)
        bm, mom = self.moments(theta)
        if len(mom) == 2:   # one block, one level: the data are SingleData (prepare)
            mu, sigma = mom
            data = cast(SingleData, self.data)
            # incomplete data (msem_nb.data.missing) carry their own likelihood
            g: SingleGradient | None
            if data.incomplete:
                ll, g = loglik_single_missing(cast(MissingSingleData, data), mu, sigma,
                                              gradient)
            else:
                ll, g = loglik_single(data, mu, sigma, gradient)
            if not gradient:
                return ll
            if g is None:
                return ll, None
            out = np.zeros(self.spec.npar)
            block_gradient(self.spec.blocks[0], bm[0], g[1], g[0], out)
            return ll, out
        mu, sw, sb = mom
        cdata = cast(ClusterData, self.data)   # two levels: the data are ClusterData
        if cdata.incomplete:
            ll, g2 = loglik_twolevel_missing(cast(MissingClusterData, cdata), mu, sw, sb,
                                             gradient)
        else:
            ll, g2 = loglik_twolevel(cdata, mu, sw, sb, gradient)
        if not gradient:
            return ll
        if g2 is None:
            return ll, None
        g_mu, G_w, G_b = g2
        w, _, ix = self.level_blocks
        out = np.zeros(self.spec.npar)
        # each block's share of the derivative: the mean at its positions;
        # the lowest level's covariance is sigma_w, a higher one a part of sigma_b
        for b, bs in enumerate(self.spec.blocks):
            G = G_w if b == w else G_b[ix]
            block_gradient(bs, bm[b], G, g_mu[self.positions[b]], out)
        return ll, out


def single_moments(bm: Sequence[BlockMoments], meanstructure: bool) -> SingleMoments:
    """``(mu, sigma)`` of a one-block model (mu None without mean structure)."""
    return (bm[0].mean if meanstructure else None), bm[0].cov


def twolevel_moments(bm: Sequence[BlockMoments], p: int, positions: Sequence[np.ndarray],
                     levels: LevelBlocks) -> TwoLevelMoments:
    """``(mu, sigma_w, sigma_b)`` of a two-level model with `p` data variables.

    The total mean of a variable is the sum of its blocks' means; sigma_w is
    the within block's covariance, sigma_b the between block's placed at its
    positions (``levels``, see :attr:`Objective.level_blocks`).
    """
    w, b, ix = levels
    mu = np.zeros(p)
    for k, m in enumerate(bm):
        mu[positions[k]] += m.mean
    sb = np.zeros((p, p))
    sb[ix] = bm[b].cov
    return mu, bm[w].cov, sb


def assemble(bm: Sequence[BlockMoments], data: ModelData,
             positions: Sequence[np.ndarray] | None, meanstructure: bool,
             levels: LevelBlocks | None = None) -> DataMoments:
    """Data-level moments from block moments.

    Parameters
    ----------
    bm : list of BlockMoments
    data : SingleData or ClusterData
    positions : sequence of arrays or None
        Per block, the positions of its observed variables in ``data.names``
        (unused for a single block).
    meanstructure : bool
    levels : (int, int, tuple), optional
        Two levels: the index of the within block, of the between block and
        the index grid ``np.ix_(pos, pos)`` of the between block's positions;
        default blocks 0 and 1.

    Returns
    -------
    ``(mu, sigma)`` for one block (mu None without mean structure) or
    ``(mu, sigma_w, sigma_b)`` for two levels.
    """
    if len(bm) == 1:
        return single_moments(bm, meanstructure)
    if positions is None:
        raise ValueError("the data-level moments of several blocks need the blocks' positions")
    if levels is None:
        pos = positions[1]
        levels = (0, 1, np.ix_(pos, pos))
    return twolevel_moments(bm, len(data.names), positions, levels)
