"""The Export tab: write a code cell, a static report cell or an HTML file; the code to copy."""

from __future__ import annotations

from typing import Callable

import ipywidgets as W

from msem_nb.widget import tables
from msem_nb.widget.frontend import NotebookBridge

__all__ = ["ExportScreen"]


class ExportScreen:
    """Buttons that reach the notebook through a :class:`NotebookBridge`, and the code.

    Parameters
    ----------
    code_fn : callable
        ``code_fn()`` -> the Python code that reproduces the panel's model.
    """

    title = "Export"

    def __init__(self, code_fn: Callable[[], str]) -> None:
        self._code_fn = code_fn
        width = W.Layout(width="230px")
        self.code_btn = W.Button(description="Insert code cell below", icon="code",
                                 layout=width)
        self.report_btn = W.Button(description="Insert static report below", icon="file-text",
                                   layout=width)
        self.download_btn = W.Button(description="Download HTML report", icon="download",
                                     layout=width)
        self.status = W.HTML()
        self.code = W.Textarea(layout=W.Layout(width="100%", height="220px"))
        self.code.add_class("msem-syntax")
        self.bridge = NotebookBridge()
        self.box = W.VBox([W.HBox([self.code_btn, self.report_btn, self.download_btn]),
                           self.status, self.bridge,
                           W.HTML("<b>Code that reproduces the current model</b> (copy it if "
                                  "the buttons cannot reach the notebook)"), self.code])

    def on_show(self) -> None:
        """Show the code of the model as it is now."""
        self.update()

    def update(self) -> None:
        """Write the current code into the code box."""
        self.code.value = self._code_fn()

    def note(self, text: str, bad: bool = False) -> None:
        """Say what happened to the last export (escaped text)."""
        self.status.value = tables.note_html(text, bad=bad)

    def reply(self, what: str) -> Callable[[dict], None]:
        """A callback for the browser's reply to an export: says `what` happened, or why not."""
        def cb(reply: dict) -> None:
            if reply.get("ok"):
                self.note(f"{what}: {reply.get('how', 'done')}.")
            else:
                self.note(f"{what} failed: {reply.get('reason', 'unknown reason')}", bad=True)
        return cb
