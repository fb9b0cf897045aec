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


class ImproperSolutionWarning(UserWarning):
    """The estimates are, or may be, an improper solution: a negative variance, a
    correlation beyond +/-1, a covariance matrix that is not positive definite, an
    estimate at the boundary of its space, or a std.all beyond +/-1 (improper for
    a variance, correlation or single loading; possible with correlated
    predictors). See ``FitResult.improper``."""


class DataWarning(UserWarning):
    """Something about the data deserves attention but does not stop the fit."""
