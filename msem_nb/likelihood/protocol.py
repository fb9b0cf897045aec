"""The seam between a likelihood and the estimation: :class:`LogLikelihood`.

A log-likelihood is a frozen object built from a model specification and a
prepared data set; ``loglik(theta)`` is a pure function of the free
parameter vector. The optimiser, standard errors, the MLR sandwich and the
resampling code use only this interface, so a new data situation or
estimator adds an implementation here, not a branch there.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from msem_nb.data.protocol import ModelData
from msem_nb.model.spec import ModelSpec

__all__ = ["LogLikelihood"]


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

    def loglik(self, theta: np.ndarray, gradient: bool = False) -> Any:
        """The value at `theta`; with ``gradient=True`` the pair (value, gradient),
        the gradient None where the value is not finite."""
        ...

    def moments(self, theta: np.ndarray) -> Any:
        """Implied moments at `theta`: per block, and assembled at the data's level."""
        ...
