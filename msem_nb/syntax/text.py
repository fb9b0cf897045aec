"""The model text itself: checked to be a string, without a byte order mark.

:func:`model_text` is the first thing :func:`msem_nb.syntax.tokens.tokenize`,
:class:`~msem_nb.syntax.tokens.SourceText` and :func:`msem_nb.fit` do with a
model, so that ``None``, bytes or a file path get an error saying that a
model is lavaan-style text, and a byte order mark that an editor saved at the
start of a file is dropped before any position is counted.
"""

from __future__ import annotations

from pathlib import PurePath

from msem_nb.errors import ModelSpecificationError

__all__ = ["strip_bom", "model_text"]

# A byte order mark that an editor saved at the start of a file.
_BOM = "\ufeff"


def strip_bom(text: str) -> str:
    """`text` without a byte order mark at its start (some editors save one)."""
    return text[1:] if text.startswith(_BOM) else text


def model_text(model: object) -> str:
    """The model text, checked to be a string, without a leading byte order mark.

    Parameters
    ----------
    model : object
        What the caller passed as a model.

    Returns
    -------
    str

    Raises
    ------
    ModelSpecificationError
        When `model` is not a str (None, bytes, a number, a path, ...); the
        message says that a model is lavaan-style text and how to get it.
    """
    if isinstance(model, str):
        return strip_bom(model)
    kind = type(model).__name__
    if isinstance(model, (bytes, bytearray)):
        how = "decode it first: model.decode('utf-8')"
    elif isinstance(model, PurePath):
        how = "to read a model file, pass its text: pathlib.Path(...).read_text()"
    elif model is None:
        how = "the model is missing (None)"
    else:
        how = f"got {model!r:.60}"
    raise ModelSpecificationError(
        f"a model is lavaan-style text (a str such as 'y ~ x1 + x2'), not {kind}: {how}")
