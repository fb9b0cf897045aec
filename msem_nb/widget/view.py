"""The seam between the panel's controller and what shows its state: :class:`PanelView`.

:class:`~msem_nb.widget.controller.PanelController` decides and computes;
a view only shows. The widget panel (:class:`msem_nb.widget.panel.Panel`)
is one view, a recorder in the tests is another. The controller calls these
methods under its display lock, from the kernel's thread or from a worker
thread, so a view must not block and must not call back into the
controller's fitting.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from msem_nb.inference.decompose import Decomposition
from msem_nb.results import FitResult

__all__ = ["PanelView"]


@runtime_checkable
class PanelView(Protocol):
    """What the controller tells the panel's display."""

    def show_syntax(self, text: str) -> None:
        """The model text changed (a switch, a cluster column); put it in the syntax box."""
        ...

    def show_grid(self, spec: dict[str, Any]) -> None:
        """Draw the switch grids (:func:`msem_nb.widget.gridspec.grid_spec`)."""
        ...

    def show_status(self, state: str, message: str, detail: str = "") -> None:
        """The status line: `state` is "idle", "fitting", "ok", "warn" or "error"."""
        ...

    def show_editor_error(self, line: int, col: int, message: str) -> None:
        """Mark `line` (1-based) of the syntax box with `message`; line 0 and "" clear it."""
        ...

    def show_preview(self, figure: Any, description: str) -> None:
        """The diagram of a model about to be fitted (a switch was clicked), and its text."""
        ...

    def show_fit(self, fit: FitResult, figure: Any, diagram_error: str | None) -> None:
        """A new fit and its path diagram (None when it could not be drawn, and why)."""
        ...

    def show_results(self, parts: dict[str, str]) -> None:
        """HTML of the Results screen: ``fit``, ``estimates``, ``indirect``."""
        ...

    def show_data(self, html: str) -> None:
        """HTML summary of the data (rows, clusters, missing values)."""
        ...

    def show_decomposition(self, dec: Decomposition | None, figures: dict[str, Any],
                           roles_html: str, note: str | None) -> None:
        """The decomposition (None without a cluster column or variables), its
        figures (``icc``, ``corr``), its roles table and a note."""
        ...
