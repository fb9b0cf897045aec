"""The Results tab: one fit line, the estimates (levels side by side), indirect effects,
all fit measures (collapsed), what to change (modification indices, each with a
"Free" button; the comparison with the previous fit), the correlation residuals
and the path diagram.

It leads with what a reader looks for first - is the fit usable, what are
the estimates - in one line and the estimates tables; the full fit table is
one click away. The tables are computed when the tab is open (the panel
asks the controller for them), not after every fit behind a closed tab; so
are the modification indices and the residual heatmaps
(:class:`~msem_nb.widget.checks.ResultChecks`, which calls this screen's
``show_modindices``, ``show_residuals``, ``show_comparison`` and ``show_slopes``). With
two levels a selector chooses the level of the heatmap; with random slopes a section
shows the clusters' own estimates (caterpillar plots, lines per cluster).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from msem_nb.widget import tables
from msem_nb.widget.frontend import ModelChecks
from msem_nb.widget.screens.figures import plot_view

__all__ = ["ResultsScreen"]


def _heading(text: str) -> W.HTML:
    return W.HTML(f"<h4 style='margin:6px 0 2px'>{text}</h4>")


class ResultsScreen:
    """The latest fit as tables, with its own path diagram.

    The diagram is redrawn only while the screen is shown (or when it is
    opened), so that a switch click redraws one diagram in the browser, not
    two.
    """

    title = "Results"

    def __init__(self) -> None:
        self.line = W.HTML("<p>No results yet.</p>")
        self.estimates = W.HTML()
        self.indirect = W.HTML()
        # several groups: the measurement-invariance steps (msem_nb.widget.groups)
        self.invariance = W.HTML()
        self.invariance_box = W.VBox([_heading("Measurement invariance across groups"),
                                      self.invariance], layout=W.Layout(display="none"))
        self.fit = W.HTML()
        self.fit_details = W.Accordion(children=[self.fit], selected_index=None,
                                       layout=W.Layout(width="100%"))
        self.fit_details.set_title(0, "All fit measures")
        self.diagram = plot_view("msem-results-diagram", "Path diagram of the fitted model",
                                 "The diagram appears once the model is fitted.",
                                 keep_aspect=True)
        self.checks = ModelChecks()
        self.residual_level = W.ToggleButtons(options=[], description="Level",
                                              layout=W.Layout(display="none"))
        self._quiet = False
        self.residual_level.observe(lambda _ch: self._quiet or self._draw_residuals(), "value")
        self.residual_note = W.HTML()
        self.residuals = plot_view("msem-residuals", "Heatmap of the correlation residuals "
                                   "(observed minus model-implied)",
                                   "The residuals appear once the model is fitted.")
        # random slopes: the clusters' estimates (msem_nb.widget.slope_figures)
        self.slope_choice = W.ToggleButtons(options=[], description="Figure",
                                            layout=W.Layout(display="none"))
        self.slope_choice.observe(lambda _ch: self._quiet or self._draw_slopes(), "value")
        self.slope_note = W.HTML()
        self.slope_plot = plot_view("msem-slopes", "The clusters' estimates of the random "
                                    "slopes", "The figures appear once the model is fitted.")
        self.slopes_box = W.VBox([_heading("Random slopes: the clusters' own estimates"),
                                  self.slope_choice, self.slope_note, self.slope_plot],
                                 layout=W.Layout(display="none"))
        self._slope_figures: dict[str, Any] = {}
        self.box = W.VBox([self.line, _heading("Estimates"), self.estimates,
                           _heading("Indirect effects"), self.indirect, self.invariance_box,
                           self.fit_details,
                           self.checks, _heading("Correlation residuals"), self.residual_level,
                           self.residual_note, self.residuals, self.slopes_box,
                           _heading("Path diagram"), self.diagram],
                          layout=W.Layout(width="100%"))
        self._figure: Any = None     # the latest diagram
        self._text = ""
        self._drawn: Any = None      # the one on the screen
        self._heatmaps: dict[str, Any] = {}

    def update(self, parts: dict[str, str]) -> None:
        """Show the HTML parts ``line``, ``estimates``, ``indirect``, ``fit`` and, with
        groups, ``invariance`` (:func:`msem_nb.widget.tables.results_parts`)."""
        self.line.value = parts.get("line", "")
        self.estimates.value = parts.get("estimates", "")
        self.indirect.value = parts.get("indirect", "")
        self.invariance.value = parts.get("invariance", "")
        self.invariance_box.layout.display = "flex" if parts.get("invariance") else "none"
        self.fit.value = parts.get("fit", "")

    def set_diagram(self, figure: Any, shown: bool, description: str = "") -> None:
        """A new diagram: drawn now if the screen is `shown`, else when it is opened."""
        self._figure, self._text = figure, description
        if shown:
            self.on_show()

    def on_show(self) -> None:
        """Draw the latest diagram unless it is already drawn."""
        if self._figure is not None and self._drawn is not self._figure:
            self.diagram.show(self._figure, self._text)
            self._drawn = self._figure

    # -- what ResultChecks shows (ChecksView) ----------------------------------------------
    def show_modindices(self, spec: dict) -> None:
        """The modification indices (:func:`msem_nb.widget.modindex.modindex_spec`)."""
        self.checks.modindices = spec

    def show_comparison(self, spec: dict) -> None:
        """The comparison with the previous fit, or why there is none."""
        self.checks.comparison = spec

    def show_residuals(self, figures: dict, note: str | None) -> None:
        """Heatmaps by level name; a selector when there are two levels."""
        self._heatmaps = dict(figures)
        levels = list(figures)
        sel = self.residual_level
        if list(sel.options) != levels:
            keep = sel.value if sel.value in levels else (levels[0] if levels else None)
            self._quiet = True      # one drawing below, not one per trait change
            try:
                sel.options = levels
                sel.value = keep
            finally:
                self._quiet = False
        sel.layout.display = "" if len(levels) > 1 else "none"
        self.residual_note.value = tables.note_html(note, bad=True) if note else ""
        self._draw_residuals()

    def _draw_residuals(self) -> None:
        level = self.residual_level.value
        fig = self._heatmaps.get(level) if self._heatmaps else None
        if fig is self.residuals.shown:
            return
        where = f" at the {level} level" if level else ""
        self.residuals.show(fig, f"Correlation residuals{where} (observed minus model-implied); "
                                 "the largest are outlined." if fig is not None else "")

    def show_slopes(self, figures: dict, note: str | None) -> None:
        """The clusters' estimates of a random-slope fit; the section is hidden without."""
        self._slope_figures = dict(figures)
        labels = list(figures)
        sel = self.slope_choice
        if list(sel.options) != labels:
            keep = sel.value if sel.value in labels else (labels[0] if labels else None)
            self._quiet = True
            try:
                sel.options = labels
                sel.value = keep
            finally:
                self._quiet = False
        sel.layout.display = "" if len(labels) > 1 else "none"
        self.slope_note.value = tables.note_html(note) if note else ""
        self.slopes_box.layout.display = "" if labels or note else "none"
        self._draw_slopes()

    def _draw_slopes(self) -> None:
        label = self.slope_choice.value
        fig = self._slope_figures.get(label) if label else None
        if fig is self.slope_plot.shown:
            return
        self.slope_plot.show(fig, (f"{label}: the posterior mean of each cluster with its "
                                   "interval, or its regression line.") if fig is not None
                             else "")
