"""What every tab of the panel offers: the :class:`Screen` protocol, and the page styles."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import ipywidgets as W

__all__ = ["Screen", "STYLE"]

#: Page-wide styles for the ipywidgets parts (monospace syntax box, dimmed stale output).
STYLE = ("<style>.msem-syntax textarea{font-family:var(--jp-code-font-family,monospace);"
         "font-size:12px;line-height:1.35}"
         # results of the previous model while the new one is being fitted
         ".msem-stale{opacity:.45;transition:opacity .15s}</style>")


@runtime_checkable
class Screen(Protocol):
    """One tab of the panel.

    Attributes
    ----------
    title : str
        The tab's title.
    box : ipywidgets.Box
        The screen itself (the tab's child).
    """

    title: str
    box: W.Box

    def on_show(self) -> None:
        """The tab was opened (each time; a screen that draws lazily draws now)."""
        ...

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Show new content; each screen documents what it takes."""
        ...
