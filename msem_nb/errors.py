"""Exception and warning types raised by msem_nb.

Every error says what is wrong and what to do about it; the widget and the
command line show ``str(err)`` as is.
"""


class MsemError(ValueError):
    """Base class for user-facing problems with a model or data set."""


class DataError(MsemError):
    """The data cannot be used as given (unknown, non-numeric, constant, ...)."""


class ModelSpecificationError(MsemError):
    """The model is syntactically valid but cannot be estimated as written."""


class NotIdentifiedError(ModelSpecificationError):
    """The model has more free parameters than the data can inform."""


class ConvergenceWarning(UserWarning):
    """The optimizer stopped before reaching a maximum of the likelihood."""


class DataWarning(UserWarning):
    """Something about the data deserves attention but does not stop the fit."""
