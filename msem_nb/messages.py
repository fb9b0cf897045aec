"""Warnings that are also recorded on the result of the fit that raised them.

``warnings.catch_warnings`` changes process-wide state, so code that fits in a
worker thread (the panel) cannot use it safely. Every warning of the core
goes through :func:`notify`, which issues it as usual and also appends it to
the collector of the current context (a ``ContextVar``, so each thread and
each fit has its own). ``fit()`` stores what was collected in
``FitResult.messages``; with ``quiet=True`` nothing is issued, only recorded.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["Message", "notify", "collecting"]


class Message(str):
    """A recorded warning: its text, with the warning category attached."""

    category: type[Warning]

    def __new__(cls, text: str, category: type[Warning] = UserWarning) -> Message:
        obj = super().__new__(cls, text)
        obj.category = category
        return obj

_sink: ContextVar[list[Message] | None] = ContextVar("msem_nb_messages", default=None)
_quiet: ContextVar[bool] = ContextVar("msem_nb_quiet", default=False)


def notify(message: str, category: type[Warning] = UserWarning, stacklevel: int = 2) -> None:
    """Issue a warning (unless quiet) and record it for the current fit."""
    sink = _sink.get()
    if sink is not None:
        sink.append(Message(message, category))
    if not _quiet.get():
        warnings.warn(message, category, stacklevel=stacklevel + 1)


@contextmanager
def collecting(quiet: bool = False, forward: bool = True) -> Iterator[list[Message]]:
    """Collect the messages of the enclosed code; yields the list they go to. They are
    also added to an enclosing collection unless `forward` is False (the caller then
    decides, e.g. drops the messages of a fit it redoes)."""
    outer = _sink.get()
    sink: list[Message] = []
    t1, t2 = _sink.set(sink), _quiet.set(quiet or _quiet.get())
    try:
        yield sink
    finally:
        _sink.reset(t1)
        _quiet.reset(t2)
        if outer is not None and forward:
            outer.extend(sink)
