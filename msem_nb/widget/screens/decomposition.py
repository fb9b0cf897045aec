"""The Decomposition tab: ICC bars, correlation heatmaps and suggested roles."""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from msem_nb.inference.decompose import Decomposition
from msem_nb.widget import tables
from msem_nb.widget.screens.figures import empty_figure, replace_figure

__all__ = ["DecompositionScreen"]


class DecompositionScreen:
    """ICC bars, within/between correlations and the roles table of the chosen variables."""

    title = "Decomposition"

    def __init__(self) -> None:
        self.note = W.HTML()
        self.roles = W.HTML()
        self.icc = empty_figure()
        self.corr = empty_figure()
        self.box = W.VBox([self.note, self.roles, self.icc, self.corr])

    def on_show(self) -> None:
        """Nothing to draw late."""

    def update(self, dec: Decomposition | None, figures: dict[str, Any], roles_html: str,
               note: str | None) -> None:
        """Show a decomposition (None: only `note`, e.g. choose a cluster column)."""
        self.note.value = tables.note_html(note, bad=dec is not None) if note else ""
        self.roles.value = roles_html
        replace_figure(self.icc, figures.get("icc"))
        replace_figure(self.corr, figures.get("corr"))
