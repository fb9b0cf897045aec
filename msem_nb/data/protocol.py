"""The seam between data and likelihood: what every data container offers.

The complete-data statistics (:mod:`msem_nb.data.complete`) and the
incomplete-data containers (:mod:`msem_nb.data.missing`) satisfy
:class:`ModelData`; likelihoods, estimation and inference ask
``data.incomplete`` and ``data.nlevels`` instead of testing types.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["ModelData"]


@runtime_checkable
class ModelData(Protocol):
    """A prepared sample, ready for a likelihood."""

    #: observed variables in the order of the likelihood's moments
    @property
    def names(self) -> tuple[str, ...]: ...

    @property
    def nobs(self) -> int:
        """Rows (level-1 units) used."""
        ...

    @property
    def n_dropped(self) -> int:
        """Rows dropped before the fit (listwise deletion, rows with nothing observed)."""
        ...

    @property
    def incomplete(self) -> bool:
        """True when values are missing and the likelihood is FIML."""
        ...

    @property
    def nlevels(self) -> int:
        """1 for single-level data, 2 for clustered data."""
        ...
