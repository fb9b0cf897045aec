"""The seam between a likelihood and the estimation: :class:`LogLikelihood`.

A log-likelihood is a frozen object built from a model specification and a
prepared data set; ``loglik(theta)`` is a pure function of the free
parameter vector. The optimiser, standard errors, the MLR sandwich and the
resampling code use only this interface, so a new data situation or
estimator adds an implementation here, not a branch there.

The data-level implied moments have one shape per number of levels
(:data:`SingleMoments`, :data:`TwoLevelMoments`); callers tell them apart by
their length (mypy narrows the union on ``len(moments) == 2``).
"""

from __future__ import annotations

from typing import Literal, Protocol, TypeAlias, overload, runtime_checkable

import numpy as np

from msem_nb.data.protocol import ModelData
from msem_nb.model.implied import BlockMoments
from msem_nb.model.spec import ModelSpec

__all__ = ["LogLikelihood", "SingleMoments", "TwoLevelMoments", "DataMoments"]

#: one level: ``(mu, sigma)``; mu is None without a mean structure
SingleMoments: TypeAlias = tuple[np.ndarray | None, np.ndarray]
#: two levels: ``(mu, sigma_w, sigma_b)`` in the data vector's order
#: (sigma_b has zero rows for within-only variables)
TwoLevelMoments: TypeAlias = tuple[np.ndarray, np.ndarray, np.ndarray]
#: the implied moments at the data's level, as the likelihoods take them
DataMoments: TypeAlias = SingleMoments | TwoLevelMoments


@runtime_checkable
class LogLikelihood(Protocol):
    """A log-likelihood (or an ML-type fit function) of the free parameters."""

    @property
    def spec(self) -> ModelSpec:
        """The model's RAM templates and the parameter-to-cell map."""
        ...

    @property
    def data(self) -> ModelData:
        """The prepared sample."""
        ...

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
        """The value at `theta`; with ``gradient=True`` the pair (value, gradient),
        the gradient None where the value is not finite."""
        ...

    def moments(self, theta: np.ndarray) -> tuple[list[BlockMoments], DataMoments | None]:
        """Implied moments at `theta`: per block, and assembled at the data's level
        (None when the likelihood has no data-level moments, as with random slopes)."""
        ...
