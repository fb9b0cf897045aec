"""The Export tab: write a code cell, a static report cell or an HTML file; the code to copy.

What is exported is what the panel shows: the model of the fit on the
screen (diagram, results), refitted by the code. When the syntax box does
not hold that model - it has an error, the model is empty, or the new fit
is still running - the buttons are disabled and the tab says why, so that
no export can quietly be of another model than the one in the box.
"""

from __future__ import annotations

from typing import Callable

import ipywidgets as W

from msem_nb.widget import tables
from msem_nb.widget.frontend import NotebookBridge, SyntaxEditor

__all__ = ["ExportScreen"]


class ExportScreen:
    """Buttons that reach the notebook through a :class:`NotebookBridge`, and the code.

    Parameters
    ----------
    state_fn : callable
        ``state_fn()`` -> ``(code, problem)``: the Python code that
        reproduces the model shown, and why it cannot be exported now (None
        when it can).
    """

    title = "Export"

    def __init__(self, state_fn: Callable[[], tuple[str, str | None]]) -> None:
        self._state_fn = state_fn
        width = W.Layout(width="230px")
        self.code_btn = W.Button(description="Insert code cell below", icon="code",
                                 layout=width)
        self.report_btn = W.Button(description="Insert static report below", icon="file-text",
                                   layout=width)
        self.download_btn = W.Button(description="Download HTML report", icon="download",
                                     layout=width)
        self.problem = W.HTML()
        self.status = W.HTML()
        self.code = SyntaxEditor(label="Code that reproduces the model shown",
                                 hint="(copy it if the buttons cannot reach the notebook)",
                                 rows=12)
        self.code.add_class("msem-export-code")
        self.bridge = NotebookBridge()
        self.problem_text: str | None = None
        self.box = W.VBox([W.HBox([self.code_btn, self.report_btn, self.download_btn]),
                           self.problem, self.status, self.bridge, self.code],
                          layout=W.Layout(width="100%"))

    def on_show(self) -> None:
        """Show the code of the model as it is now."""
        self.update()

    def update(self) -> None:
        """Write the current code, and enable the buttons only if it is the model shown."""
        code, problem = self._state_fn()
        self.problem_text = problem
        if self.code.value != code:
            self.code.value = code
        for b in (self.code_btn, self.report_btn, self.download_btn):
            b.disabled = problem is not None
        self.problem.value = tables.note_html(problem, bad=True) if problem else ""

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
