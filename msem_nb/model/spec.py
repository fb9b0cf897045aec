"""Model matrices per block and the map between the free parameter vector and them.

Each block uses the RAM form: all its variables (observed first, then latent)
form a vector v with v = alpha + A v + e, cov(e) = S. A regression
``y ~ x`` and a loading ``f =~ y`` are both cells of A (row = outcome), a
(co)variance is a symmetric pair of cells of S, an intercept a cell of alpha.
The implied moments of the observed variables are
``F (I - A)^-1 S (I - A)^-T F'`` and ``F (I - A)^-1 alpha``.

Blocks are in the parameter table's order and carry its block keys
(:mod:`msem_nb.model.blocks`), so the same block queries work on both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from msem_nb.model.blocks import BlockKey, BlockQueries, ov_positions
from msem_nb.model.partable import ParTable

__all__ = ["BlockSpec", "ModelSpec", "build_spec"]


@dataclass(frozen=True, eq=False)
class BlockSpec:
    """Matrix templates and free-cell index arrays of one block."""

    key: BlockKey               # group and level of the block
    names: tuple[str, ...]      # observed then latent
    n_ov: int
    A0: np.ndarray
    S0: np.ndarray
    alpha0: np.ndarray
    # free cells: (row, col, parameter index 0-based)
    A_free: tuple[np.ndarray, np.ndarray, np.ndarray]
    S_free: tuple[np.ndarray, np.ndarray, np.ndarray]   # both triangles listed
    alpha_free: tuple[np.ndarray, np.ndarray]
    # smallest k with A^k = 0 when the paths have no loop (then
    # (I - A)^-1 = I + A + ... + A^(k-1)), else 0
    nilpotency: int

    @property
    def k(self) -> int:
        return len(self.names)

    @property
    def ov(self) -> tuple[str, ...]:
        """The block's observed variables."""
        return self.names[: self.n_ov]

    def matrices(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A, S, alpha at parameter vector theta."""
        A = self.A0.copy()
        r, c, p = self.A_free
        A[r, c] = theta[p]
        S = self.S0.copy()
        r, c, p = self.S_free
        S[r, c] = theta[p]
        alpha = self.alpha0.copy()
        r, p = self.alpha_free
        alpha[r] = theta[p]
        return A, S, alpha


@dataclass(frozen=True, eq=False)
class ModelSpec(BlockQueries):
    """All blocks plus the row -> cell map used to write estimates back."""

    blocks: tuple[BlockSpec, ...]
    npar: int
    # for every partable row: (block, matrix code, i, j); matrix code in
    # {"A", "S", "alpha"}; None for a row that is no matrix cell (a random
    # slope's declaration '|~': the slope is a latent variable of the between block)
    cells: tuple[tuple[int, str, int, int] | None, ...]

    @property
    def block_keys(self) -> tuple[BlockKey, ...]:
        """(group, level) key of every block, in block order."""
        return tuple(bs.key for bs in self.blocks)

    def ov_positions(self, b: int, names: Sequence[str]) -> np.ndarray:
        """Positions of block `b`'s observed variables in the data vector `names`."""
        return ov_positions(self.blocks[b].ov, names)


def build_spec(pt: ParTable, fixed_values: Mapping[int, float] | None = None) -> ModelSpec:
    """Translate a parameter table into per-block RAM templates.

    Parameters
    ----------
    pt : ParTable
    fixed_values : dict, optional
        Values for fixed rows without a user value, keyed by row position
        (exogenous covariate moments). Missing ones are zero.
    """
    rec = pt.records
    fixed_values = fixed_values or {}
    blocks: list[BlockSpec] = []
    cells: list[tuple[int, str, int, int] | None] = [None] * len(rec)
    npar = pt.npar
    for b, bv in enumerate(pt.blocks):
        names = bv.ov + bv.lv
        pos = {v: i for i, v in enumerate(names)}
        k = len(names)
        A0 = np.zeros((k, k))
        S0 = np.zeros((k, k))
        alpha0 = np.zeros(k)
        Af: tuple[list[int], list[int], list[int]] = ([], [], [])
        Sf: tuple[list[int], list[int], list[int]] = ([], [], [])
        af: tuple[list[int], list[int]] = ([], [])
        rows = np.where(pt.column("block") == b)[0]
        for i in rows:
            lhs, op, rhs = rec[i]["lhs"], rec[i]["op"], rec[i]["rhs"]
            free = int(rec[i]["free"]) - 1
            ustart = rec[i]["ustart"]
            value = fixed_values.get(i, ustart if ustart is not None and not _isnan(ustart) else 0.0)
            if op == "=~":
                r, c, mat = pos[rhs], pos[lhs], "A"
            elif op == "~":
                r, c, mat = pos[lhs], pos[rhs], "A"
            elif op == "~~":
                r, c, mat = pos[lhs], pos[rhs], "S"
            elif op == "~1":
                r, c, mat = pos[lhs], 0, "alpha"
            else:  # '|~': declares a random slope, no matrix cell of its own
                continue
            cells[i] = (b, mat, r, c)
            if mat == "A":
                if free >= 0:
                    Af[0].append(r)
                    Af[1].append(c)
                    Af[2].append(free)
                else:
                    A0[r, c] = value
            elif mat == "S":
                if free >= 0:
                    Sf[0].append(r)
                    Sf[1].append(c)
                    Sf[2].append(free)
                    if r != c:
                        Sf[0].append(c)
                        Sf[1].append(r)
                        Sf[2].append(free)
                else:
                    S0[r, c] = S0[c, r] = value
            else:
                if free >= 0:
                    af[0].append(r)
                    af[1].append(free)
                else:
                    alpha0[r] = value
        Apattern = A0 != 0
        Apattern[np.asarray(Af[0], dtype=int), np.asarray(Af[1], dtype=int)] = True
        blocks.append(BlockSpec(bv.key, tuple(names), len(bv.ov), A0, S0, alpha0,
                                (_ints(Af[0]), _ints(Af[1]), _ints(Af[2])),
                                (_ints(Sf[0]), _ints(Sf[1]), _ints(Sf[2])),
                                (_ints(af[0]), _ints(af[1])), _nilpotency(Apattern)))
    return ModelSpec(tuple(blocks), npar, tuple(cells))


def _ints(values: list[int]) -> np.ndarray:
    return np.asarray(values, dtype=int)


def _isnan(x: float) -> bool:
    # NaN is the one value unequal to itself (np.isnan per row costs a ufunc call)
    try:
        return bool(x != x)
    except TypeError:   # pandas.NA, as np.isnan's answer to it
        return False


def _nilpotency(pattern: np.ndarray) -> int:
    """Smallest power at which the path pattern vanishes (0 if it has a loop)."""
    k = len(pattern)
    P = pattern.astype(float)
    M = np.eye(k)
    for power in range(1, k + 1):
        M = M @ P
        if not M.any():
            return power
    return 0
