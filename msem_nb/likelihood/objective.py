"""The log-likelihood as a function of the free parameter vector.

Joins the implied moments of the blocks (``implied``) to the data's layout
and the moment likelihoods (``likelihood``). In a two-level model the within
block's observed variables are the data's within variables in order; the
between block's observed variables sit at positions ``between_pos`` of the
data vector (within variables first, then between-only ones), and the total
mean is the within mean plus the between mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.model.implied import block_gradient, model_moments
from msem_nb.likelihood.missing import loglik_single_missing, loglik_twolevel_missing
from msem_nb.likelihood.complete import loglik_single, loglik_twolevel
from msem_nb.model.spec import ModelSpec

__all__ = ["Objective", "assemble"]


@dataclass(frozen=True, eq=False)
class Objective:
    """Log-likelihood of a model specification on a prepared data set."""

    spec: ModelSpec
    data: SingleData | ClusterData
    meanstructure: bool

    @cached_property
    def between_pos(self) -> np.ndarray:
        names = self.data.names
        bs = self.spec.blocks[1]
        return np.array([names.index(v) for v in bs.names[: bs.n_ov]], dtype=int)

    @cached_property
    def _between_ix(self):
        pos = self.between_pos
        return np.ix_(pos, pos)

    def moments(self, theta):
        """Block moments and the data-level moments (mu, sigma_w[, sigma_b])."""
        bm = model_moments(self.spec, theta)
        if len(bm) == 1:
            return bm, assemble(bm, self.data, None, self.meanstructure)
        return bm, assemble(bm, self.data, self.between_pos, self.meanstructure, self._between_ix)

    def loglik(self, theta, gradient: bool = False):
        """Log-likelihood at theta, and its gradient when asked."""
        theta = np.asarray(theta, dtype=float)
        bm, mom = self.moments(theta)
        if len(bm) == 1:
            mu, sigma = mom
            # incomplete data (msem_nb.data.missing) carry their own likelihood
            f = loglik_single_missing if self.data.incomplete else loglik_single
            ll, g = f(self.data, mu, sigma, gradient)
            if not gradient:
                return ll
            if g is None:
                return ll, None
            out = np.zeros(self.spec.npar)
            block_gradient(self.spec.blocks[0], bm[0], g[1], g[0], out)
            return ll, out
        mu, sw, sb = mom
        f = loglik_twolevel_missing if self.data.incomplete else loglik_twolevel
        ll, g = f(self.data, mu, sw, sb, gradient)
        if not gradient:
            return ll
        if g is None:
            return ll, None
        g_mu, G_w, G_b = g
        pos = self.between_pos
        pw = self.data.p_within
        out = np.zeros(self.spec.npar)
        block_gradient(self.spec.blocks[0], bm[0], G_w, g_mu[:pw], out)
        block_gradient(self.spec.blocks[1], bm[1], G_b[self._between_ix], g_mu[pos], out)
        return ll, out


def assemble(bm, data, between_pos, meanstructure: bool, between_ix=None):
    """Data-level moments from block moments.

    Returns ``(mu, sigma)`` for one block (mu None without mean structure) or
    ``(mu, sigma_w, sigma_b)`` for two.
    """
    if len(bm) == 1:
        return (bm[0].mean if meanstructure else None), bm[0].cov
    p = len(data.names)
    pw = data.p_within
    mu = np.zeros(p)
    mu[:pw] = bm[0].mean
    mu[between_pos] += bm[1].mean
    sb = np.zeros((p, p))
    sb[between_ix if between_ix is not None else np.ix_(between_pos, between_pos)] = bm[1].cov
    return mu, bm[0].cov, sb
