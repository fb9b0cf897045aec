"""What the panel says about an exception: one line for the status, detail for the reader."""

from __future__ import annotations

import traceback

from msem_nb.errors import DataError, ModelSpecificationError, MsemError, NotIdentifiedError
from msem_nb.syntax.parser import ModelSyntaxError

__all__ = ["describe_error"]


def describe_error(exc: BaseException) -> tuple[str, str]:
    """A one-line message and a multi-line detail for an exception.

    Returns
    -------
    (message, detail) : tuple of str
        Plain text (the status line shows it as text).
    """
    if isinstance(exc, ModelSyntaxError):
        return (f"Syntax error at line {exc.line}, column {exc.col}: {exc.msg}", str(exc))
    if isinstance(exc, NotIdentifiedError):
        return f"Model not identified: {exc}", ""
    if isinstance(exc, ModelSpecificationError):
        return f"Model cannot be estimated as written: {exc}", ""
    if isinstance(exc, DataError):
        return f"Problem with the data: {exc}", ""
    if isinstance(exc, MsemError):
        return str(exc), ""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
    return f"Unexpected error ({type(exc).__name__}): {exc}", tb
