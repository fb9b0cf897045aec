"""Model-implied moments per block, and the chain rule back to the parameters.

Pure numpy functions of the parameter vector. For a block in RAM form with
``B = (I - A)^-1``, the implied covariance of all its variables is
``C = B S B'`` and their means ``m = B alpha``; the observed variables are
the first ``n_ov`` of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from msem_nb.model.spec import BlockSpec, ModelSpec

__all__ = ["BlockMoments", "block_moments", "model_moments", "block_gradient"]


@dataclass(frozen=True, eq=False)
class BlockMoments:
    """Implied moments of one block (all variables) with what the gradient needs."""

    B: np.ndarray
    S: np.ndarray
    alpha: np.ndarray
    cov_all: np.ndarray
    mean_all: np.ndarray
    n_ov: int

    @property
    def cov(self) -> np.ndarray:
        n = self.n_ov
        return self.cov_all[:n, :n]

    @property
    def mean(self) -> np.ndarray:
        return self.mean_all[: self.n_ov]


def block_moments(bs: BlockSpec, theta: np.ndarray) -> BlockMoments:
    """Implied covariance and mean of the variables of one block."""
    A, S, alpha = bs.matrices(theta)
    k = bs.k
    nil = bs.nilpotency
    if 0 < nil <= 4:
        # recursive models: the Neumann series ends, and a few small products
        # are cheaper than a general inverse
        B = np.eye(k) + A
        Ap = A
        for _ in range(nil - 2):
            Ap = Ap @ A
            B += Ap
    else:
        B = np.linalg.inv(np.eye(k) - A)
    BS = B @ S
    cov_all = BS @ B.T
    mean_all = B @ alpha
    return BlockMoments(B, S, alpha, cov_all, mean_all, bs.n_ov)


def model_moments(spec: ModelSpec, theta: np.ndarray) -> list[BlockMoments]:
    """Implied moments of every block."""
    return [block_moments(bs, theta) for bs in spec.blocks]


def block_gradient(bs: BlockSpec, bm: BlockMoments, G_cov: np.ndarray,
                   g_mean: np.ndarray | None, out: np.ndarray) -> None:
    """Add d f / d theta for one block to `out`.

    Parameters
    ----------
    G_cov : (n_ov, n_ov) array
        Derivative of f with respect to the implied observed covariance,
        treated as an unconstrained symmetric matrix.
    g_mean : (n_ov,) array or None
        Derivative of f with respect to the implied observed mean.
    """
    n = bs.n_ov
    B = bm.B
    Bo = B[:n]                      # F B
    H = Bo.T @ G_cov @ Bo           # gradient w.r.t. S (full matrix)
    npar = len(out)
    r, c, p = bs.S_free
    if len(p):
        out += np.bincount(p, H[r, c], npar)
    r, c, p = bs.A_free
    galpha = Bo.T @ g_mean if g_mean is not None else None
    if len(p):
        gA = 2.0 * H @ (bm.S @ B.T)
        if galpha is not None:
            gA += np.outer(galpha, bm.mean_all)
        out += np.bincount(p, gA[r, c], npar)
    if galpha is not None:
        r, p = bs.alpha_free
        if len(p):
            out += np.bincount(p, galpha[r], npar)
