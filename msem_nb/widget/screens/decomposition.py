"""The Decomposition tab: ICC bars, correlation heatmaps and suggested roles.

Without a cluster column it is the Correlations tab: the plain correlations
of the chosen variables (a single-level model has no within/between split).
Its figures are computed only once the tab is first opened (the panel asks
the controller for them then); until they arrive the tab says so.
"""

from __future__ import annotations

from typing import Any, Callable

import ipywidgets as W

from msem_nb.inference.decompose import Decomposition
from msem_nb.widget import tables
from msem_nb.widget.screens.figures import plot_view

__all__ = ["DecompositionScreen", "TITLES"]

#: The tab's title with a cluster column (True) and without (False).
TITLES = {True: "Decomposition", False: "Correlations"}

_WAIT = "Computing the ICCs and correlations\u2026"


class DecompositionScreen:
    """ICC bars, within/between correlations and the roles table of the chosen variables.

    Parameters
    ----------
    want_figures : callable
        Called when the tab is first opened: from then on the figures are
        computed with every change of the data or the variables.
    """

    title = TITLES[True]

    def __init__(self, want_figures: Callable[[], None] = lambda: None) -> None:
        self._want = want_figures
        self._asked = False
        self.note = W.HTML()
        self.roles = W.HTML()
        self.icc = plot_view("msem-icc-figure", "Intraclass correlations (bar chart)", _WAIT)
        self.corr = plot_view("msem-corr-figure", "Correlation heatmaps", _WAIT)
        self.box = W.VBox([self.note, self.roles, self.icc, self.corr],
                          layout=W.Layout(width="100%"))

    def on_show(self) -> None:
        """The first opening asks for the figures (they are not computed before)."""
        if not self._asked:
            self._asked = True
            self._want()

    def update(self, dec: Decomposition | None, figures: dict[str, Any], roles_html: str,
               note: str | None) -> None:
        """Show a decomposition (None: single-level correlations, or only `note`)."""
        self.note.value = tables.note_html(note, bad=dec is not None) if note else ""
        self.roles.value = roles_html
        self.icc.layout.display = None if dec is not None else "none"
        self.icc.show(figures.get("icc"))
        self.corr.show(figures.get("corr"))
        # once asked for, no figure means none can be drawn (the note says why)
        wait = _WAIT if not self._asked or figures else ""
        self.icc.placeholder = self.corr.placeholder = wait
