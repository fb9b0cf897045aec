"""The Model tab: options, switch grids, live diagram, syntax editor and latent variables.

Layout: the switch grids (their own scroll area) and the diagram side by
side, so that the diagram a click changes stays in view; on a narrow page
the diagram wraps below the grids. The syntax editor (with the line of an
error marked, the message beside it) and the latent-variable editor follow.

The switches are a :class:`~msem_nb.widget.frontend.ModelGrid` drawn from a
grid spec (:func:`msem_nb.widget.gridspec.grid_spec`), one grid per level
of the model; the latent-variable editor offers the model's levels and the
observed variables of the chosen level's grid. Nothing here changes the
model: the panel passes the user's actions to the controller.
"""

from __future__ import annotations

from typing import Any, Callable

import ipywidgets as W

from msem_nb.widget import tables
from msem_nb.widget.frontend import ModelGrid, SyntaxEditor
from msem_nb.widget.model import ModelState
from msem_nb.widget.screens.figures import plot_view

__all__ = ["ModelScreen"]

_SYNTAX_HINT = "level: within\n  y ~ x\nlevel: between\n  y ~ w"
_SYNTAX_HINT_SINGLE = "y ~ x\nm ~ x"
_SYNTAX_HINT_THREE = "level: 1\n  y ~ x\nlevel: 2\n  y ~ w\nlevel: 3\n  y ~ z"


class ModelScreen:
    """Switches, syntax and the diagram of the model being built.

    Parameters
    ----------
    estimator, missing : str
        The options chosen at the start.
    """

    title = "Model"

    def __init__(self, estimator: str, missing: str) -> None:
        self.estimator = W.Dropdown(options=["ML", "MLR"], value=estimator,
                                    description="Estimator", layout=W.Layout(width="200px"))
        self.missing = W.Dropdown(options=[("listwise", "listwise"), ("FIML", "fiml")],
                                  value=missing if missing in ("listwise", "fiml") else "listwise",
                                  description="Missing", layout=W.Layout(width="220px"))
        self.refit = W.Button(description="Refit", icon="refresh", layout=W.Layout(width="90px"),
                              tooltip="Fit the model again")
        self.grid = ModelGrid(spec={"levels": [], "loading": "Loading the variables\u2026"})
        self.syntax = SyntaxEditor(label="Model syntax", placeholder=_SYNTAX_HINT,
                                   hint="(edit freely; the switches follow when it parses)")
        self.syntax.add_class("msem-syntax-box")
        narrow = W.Layout(width="240px")
        self.lat_name = W.Text(placeholder="name, e.g. fw", description="Latent name",
                               layout=narrow, style={"description_width": "90px"})
        self.lat_level = W.Dropdown(options=["within", "between"], description="Level",
                                    layout=narrow, style={"description_width": "90px"})
        self.lat_ind = W.SelectMultiple(options=[], rows=5, description="Indicators",
                                        layout=narrow, style={"description_width": "90px"})
        self.lat_add = W.Button(description="Add / update", icon="plus",
                                layout=W.Layout(width="130px"))
        self.lat_remove_dd = W.Dropdown(options=[], description="Remove latent",
                                        layout=W.Layout(width="250px"),
                                        style={"description_width": "100px"})
        self.lat_remove = W.Button(description="Remove", icon="trash",
                                   layout=W.Layout(width="100px"))
        self.lat_msg = W.HTML()
        latent = W.VBox([W.HTML("<b>Latent variables</b>"), self.lat_name, self.lat_level,
                         self.lat_ind, self.lat_add, W.HBox([self.lat_remove_dd,
                                                             self.lat_remove]), self.lat_msg],
                        layout=W.Layout(flex="0 0 auto", margin="0 0 0 16px"))
        self.diagram_note = W.HTML()
        self.diagram = plot_view("msem-diagram", "Path diagram of the model",
                                 "The diagram appears once the model is fitted.",
                                 keep_aspect=True)
        # dimmed (a class on this box) while the next fit runs
        self.diagram_box = W.VBox([self.diagram_note, self.diagram],
                                  layout=W.Layout(flex="1 1 340px", min_width="320px",
                                                  overflow="visible"))
        self.diagram_box.add_class("msem-diagram-box")
        grid_box = W.VBox([self.grid], layout=W.Layout(flex="0 1 auto", min_width="280px",
                                                      max_width="60%", overflow="visible",
                                                      margin="0 16px 0 0"))
        grid_box.add_class("msem-grid-box")
        main = W.HBox([grid_box, self.diagram_box],
                      layout=W.Layout(flex_flow="row wrap", align_items="flex-start",
                                      width="100%", overflow="visible"))
        main.add_class("msem-model-main")
        editor = W.VBox([self.syntax], layout=W.Layout(flex="1 1 420px", min_width="320px"))
        lower = W.HBox([editor, latent],
                       layout=W.Layout(flex_flow="row wrap", align_items="flex-start",
                                       width="100%", margin="8px 0 0 0", overflow="visible"))
        self.box = W.VBox([W.HBox([self.estimator, self.missing, self.refit]), main, lower],
                          layout=W.Layout(width="100%", overflow="visible"))
        self._echo = False                  # True while Python writes the syntax box
        self._model: ModelState | None = None
        self._spec: dict[str, Any] = {"levels": []}
        self.lat_level.observe(lambda _ch: self._refresh_latents(), "value")

    # -- what the user does -------------------------------------------------------------
    def on_syntax_typed(self, fn: Callable[[str], None]) -> None:
        """Call ``fn(text)`` when the user edits the syntax (not when Python writes it)."""
        self.syntax.observe(lambda ch: None if self._echo else fn(ch["new"]), "value")

    def latent_level(self) -> str | None:
        """The level chosen in the latent-variable editor (None for a single-level model)."""
        return self.lat_level.value if self._model is not None and self._model.multilevel \
            else None

    def latent_note(self, text: str) -> None:
        """Why the latent variable could not be added ("" clears it)."""
        self.lat_msg.value = tables.note_html(text, bad=True) if text else ""

    # -- what the panel shows -----------------------------------------------------------
    def on_show(self) -> None:
        """Nothing to draw late: the diagram follows every fit."""

    def update(self, spec: dict[str, Any], model: ModelState) -> None:
        """Draw the switch grids of `spec` for `model`; the latent editor follows."""
        self.grid.spec = spec
        self._spec, self._model = spec, model
        self._refresh_latents()

    def set_single(self, single: bool, three: bool = False) -> None:
        """Hints for a single-level (no cluster column), a two-level or (`three`) a
        three-level model."""
        self.syntax.placeholder = _SYNTAX_HINT_SINGLE if single else \
            _SYNTAX_HINT_THREE if three else _SYNTAX_HINT

    def show_syntax(self, text: str) -> None:
        """Write `text` into the syntax editor without it counting as typing."""
        if self.syntax.value != text:
            self._echo = True
            try:
                self.syntax.value = text
            finally:
                self._echo = False

    def show_diagram(self, figure: Any, error: str | None, description: str = "") -> None:
        """The path diagram of a new fit (None keeps the last one), or why it is missing."""
        self.diagram_note.value = tables.note_html(error, bad=True) if error else ""
        if figure is not None:
            self.diagram.show(figure, description)

    def show_error(self, line: int, col: int, message: str) -> None:
        """Mark `line` of the syntax editor with `message` (line 0 and "" clear it)."""
        self.syntax.show_error(line, col, message)

    def _refresh_latents(self) -> None:
        model = self._model
        if model is None:
            return
        # three levels are named by number (their blocks' names are within, between, 3)
        want = [(f"level {k}", lv) for k, lv in enumerate(model.levels, start=1)] \
            if model.threelevel else list(model.levels)
        if model.multilevel and list(self.lat_level.options) != want:
            self.lat_level.options = want
        self.lat_level.layout.display = None if model.multilevel else "none"
        level = self.latent_level() or ""
        names = [v["name"] for lv in self._spec["levels"] if lv["level"] == level
                 for v in lv["vars"] if v["kind"] == "observed"]
        if list(self.lat_ind.options) != names:
            self.lat_ind.options = names
        label = {lv: (f"level {k}" if model.threelevel else lv)
                 for k, lv in enumerate(model.levels, start=1)}
        self.lat_remove_dd.options = [(f"{f} ({label[lv]})" if lv else f, (f, lv or None))
                                      for lv in model.levels for f in model.blocks[lv].latents]
