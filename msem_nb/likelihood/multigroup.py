"""The log-likelihood of a multigroup model: the sum of the groups' log-likelihoods.

Groups are independent samples, so

    l(theta) = sum_g l_g(theta),   dl/dtheta = sum_g dl_g/dtheta,

and so are the information matrices and (stacked, unit by unit) the score
contributions. Each group's part is an ordinary
:class:`~msem_nb.likelihood.objective.Objective` over the group's blocks
(:func:`msem_nb.model.groups.group_spec`: keyed as group 1, over the global
parameter vector) and the group's data; equality across groups is shared
entries of theta.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import numpy as np

from msem_nb.data.groups import MultiGroupData
from msem_nb.likelihood.objective import Objective
from msem_nb.likelihood.protocol import DataMoments
from msem_nb.model.groups import group_spec
from msem_nb.model.implied import BlockMoments
from msem_nb.model.spec import ModelSpec

__all__ = ["MultiGroupObjective", "group_objective"]


@dataclass(frozen=True, eq=False)
class MultiGroupObjective:
    """Sum of the groups' log-likelihoods (module docstring).

    ``parts[g]`` is group g + 1's objective; ``blocks[g]`` the positions of its
    blocks in ``spec.blocks``.
    """

    spec: ModelSpec
    data: MultiGroupData
    meanstructure: bool
    parts: tuple[Objective, ...]
    blocks: tuple[tuple[int, ...], ...]

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
        """Sum of the groups' values (and gradients)."""
        if not gradient:
            return float(sum(p.loglik(theta) for p in self.parts))
        total, grad = 0.0, np.zeros(self.spec.npar)
        for p in self.parts:
            ll, g = p.loglik(theta, gradient=True)
            if g is None:
                return ll, None
            total += ll
            grad += g
        return total, grad

    def moments(self, theta: np.ndarray) -> tuple[list[BlockMoments], DataMoments | None]:
        """Block moments in the whole model's block order; no single data-level
        moment set (each group has its own: :meth:`group_moments`)."""
        out: list[BlockMoments | None] = [None] * len(self.spec.blocks)
        for p, idx in zip(self.parts, self.blocks):
            bm, _ = p.moments(theta)
            for b, m in zip(idx, bm):
                out[b] = m
        return [m for m in out if m is not None], None

    def group_moments(self, theta: np.ndarray) -> list[DataMoments]:
        """Each group's data-level implied moments."""
        return [p.moments(theta)[1] for p in self.parts]


def group_objective(spec: ModelSpec, data: MultiGroupData,
                    meanstructure: bool) -> MultiGroupObjective:
    """The multigroup objective of `spec` on `data` (one part per group)."""
    parts = []
    blocks = []
    for g, d in enumerate(data.parts, start=1):
        parts.append(Objective(group_spec(spec, g), d, meanstructure))
        blocks.append(tuple(b for b, k in enumerate(spec.block_keys) if k.group == g))
    return MultiGroupObjective(spec, data, meanstructure, tuple(parts), tuple(blocks))
