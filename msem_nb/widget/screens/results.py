"""The Results tab: convergence and fit measures, estimates by level, indirect effects, diagram."""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from msem_nb.widget.screens.figures import empty_figure, replace_figure

__all__ = ["ResultsScreen"]


def _heading(text: str) -> W.HTML:
    return W.HTML(f"<h4 style='margin:4px 0'>{text}</h4>")


class ResultsScreen:
    """The latest fit as tables, with its own path diagram.

    The diagram is redrawn only while the screen is shown (or when it is
    opened), so that a switch click redraws one diagram in the browser, not
    two.
    """

    title = "Results"

    def __init__(self) -> None:
        self.fit = W.HTML("<p>No results yet.</p>")
        self.estimates = W.HTML()
        self.indirect = W.HTML()
        self.diagram = empty_figure()
        self.diagram.add_class("msem-results-diagram")
        self.box = W.VBox([_heading("Estimation and fit"), self.fit,
                           _heading("Estimates"), self.estimates,
                           _heading("Indirect effects"), self.indirect,
                           _heading("Path diagram"), self.diagram])
        self._figure: Any = None     # the latest diagram
        self._drawn: Any = None      # the one on the screen

    def update(self, parts: dict[str, str]) -> None:
        """Show the HTML parts ``fit``, ``estimates`` and ``indirect``
        (:func:`msem_nb.widget.tables.results_parts`)."""
        self.fit.value = parts.get("fit", "")
        self.estimates.value = parts.get("estimates", "")
        self.indirect.value = parts.get("indirect", "")

    def set_diagram(self, figure: Any, shown: bool) -> None:
        """A new diagram: drawn now if the screen is `shown`, else when it is opened."""
        self._figure = figure
        if shown:
            self.on_show()

    def on_show(self) -> None:
        """Draw the latest diagram unless it is already drawn."""
        if self._figure is not None and self._drawn is not self._figure:
            replace_figure(self.diagram, self._figure)
            self._drawn = self._figure
