"""``ms.Panel``: the notebook panel that builds, fits and reports a two-level SEM.

The panel is a thin layer: screens (:mod:`.screens`) hold the widgets, the
controller (:mod:`.controller`) holds the state and decides, and this module
connects the two - widget events call the controller, and the controller's
``show_*`` calls set widget values. Fits run on a worker thread through
:func:`msem_nb.fit`; nothing statistical happens in the browser, and the
data never go there (only summaries: ICCs, correlations, estimates).
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as W
import pandas as pd

from msem_nb.widget import screens, tables
from msem_nb.widget.compare_screen import CompareScreen
from msem_nb.widget.controller import PanelController
from msem_nb.widget.export import (
    find_variable_name,
    report_cell_outputs,
    report_html_document,
    reproduction_code)
from msem_nb.widget.frontend import StatusLine

__all__ = ["Panel"]

_TABS = ("Data", "Decomposition", "Model", "Results", "Compare", "Export")


class Panel:
    """Interactive two-level SEM in a notebook.

    Parameters
    ----------
    data : pandas.DataFrame or str or path
        The data (one row per level-1 unit), or a CSV file to read.
    cluster : str, optional
        Cluster column. None guesses one from the column names and values
        (unless `single_level`); it can be chosen or changed on the Data
        screen.
    model : str, optional
        Starting model syntax.
    variables : list of str, optional
        Variables offered on the Model screen (default: numeric columns).
    estimator, missing : str
        As in :func:`msem_nb.fit`.
    single_level : bool
        Do not guess a cluster column when `cluster` is None.
    data_name : str, optional
        How exported code refers to the data (a notebook variable name);
        found automatically when a notebook variable holds the DataFrame.
    debounce : float
        Seconds of quiet after which a change refits at once; changes that
        follow each other more closely are fitted together.

    Attributes
    ----------
    widget : ipywidgets.VBox
        What the notebook displays.
    status : StatusLine
        ``status.state`` ("idle", "fitting", "ok", "warn", "error"),
        ``status.message`` and ``status.detail`` (plain text).
    tabs : ipywidgets.Tab
        Data, Decomposition, Model, Results, Compare, Export.

    Examples
    --------
    >>> import msem_nb as ms
    >>> df = ms.load_example("classrooms")
    >>> panel = ms.Panel(df, cluster="class_id")       # doctest: +SKIP
    >>> panel.toggle_path("math", "ses", "within")      # doctest: +SKIP
    >>> panel.wait().estimates                          # doctest: +SKIP
    """

    def __init__(self, data, cluster=None, model: str | None = None, *, variables=None,
                 estimator: str = "ML", missing: str = "listwise", single_level: bool = False,
                 data_name: str | None = None, debounce: float = 0.15):
        self._data_code = None
        if isinstance(data, (str, Path)):
            path = Path(data)
            self._data_code = f"pd.read_csv({str(path)!r})"
            data = pd.read_csv(path)
        self._data_name = data_name
        self._echo = False       # True while Python writes the syntax box
        self._figure = None      # the latest diagram, for the Results screen
        self._results_drawn = None
        self._stale = False
        self._build_widgets(estimator, missing)
        self._ctl = PanelController(
            data, "auto" if cluster is None and not single_level else cluster, model,
            variables=variables, view=self, estimator=estimator, missing=missing,
            debounce=debounce)
        self._cmp = CompareScreen(self._ctl, debounce)
        self._fill_data_screen()
        self._wire()
        self._ctl.start()

    # -- construction ---------------------------------------------------------
    def _build_widgets(self, estimator, missing) -> None:
        self.status = StatusLine()
        self._model = screens.model_screen(estimator, missing)
        self._results = screens.results_screen()
        self._export = screens.export_screen()
        self._dec = screens.decomposition_screen()
        self._data = None   # needs the data: see _fill_data_screen

    def _fill_data_screen(self) -> None:
        ctl = self._ctl
        numeric = [str(c) for c in ctl.data.select_dtypes("number").columns]
        self._data = screens.data_screen(ctl.columns, numeric, ctl.cluster, ctl.variables)
        self.tabs = W.Tab(children=[self._data.box, self._dec.box, self._model.box,
                                    self._results.box, self._cmp.box, self._export.box])
        for i, t in enumerate(_TABS):
            self.tabs.set_title(i, t)
        self.tabs.selected_index = 2
        self.widget = W.VBox([W.HTML(screens.STYLE + "<b>msem_nb</b> two-level SEM panel"),
                              self.status, self.tabs])
        self.widget.add_class("msem-panel")
        self._export.bridge.host_model_id = self.widget.model_id
        self._refresh_latent_editor()

    def _wire(self) -> None:
        m = self._model
        m.grid.on_toggle(self._on_grid_toggle)
        m.syntax.observe(self._on_syntax_typed, "value")
        m.estimator.observe(lambda ch: self._ctl.set_options(estimator=ch["new"]), "value")
        m.missing.observe(lambda ch: self._ctl.set_options(missing=ch["new"]), "value")
        m.refit.on_click(lambda _b: self._ctl.refit())
        m.lat_add.on_click(self._on_latent_add)
        m.lat_remove.on_click(self._on_latent_remove)
        m.lat_level.observe(lambda _ch: self._refresh_latent_editor(), "value")
        self._data.cluster.observe(self._on_cluster, "value")
        self._data.variables.observe(self._on_variables, "value")
        e = self._export
        e.code_btn.on_click(lambda _b: self.insert_code_cell())
        e.report_btn.on_click(lambda _b: self.insert_report_cell())
        e.download_btn.on_click(lambda _b: self.download_report())
        self.tabs.observe(self._on_tab, "selected_index")

    # -- display ----------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    # -- the view interface (called by the controller, under its lock) ----------------
    def show_syntax(self, text: str) -> None:
        if self._model.syntax.value != text:
            self._echo = True
            try:
                self._model.syntax.value = text
            finally:
                self._echo = False
        self._export.code.value = self.export_code()

    def show_grid(self, spec: dict) -> None:
        self._model.grid.spec = spec
        self._refresh_latent_editor()

    def show_status(self, state: str, message: str, detail: str = "") -> None:
        with self.status.hold_sync():
            self.status.state = state
            self.status.message = message
            self.status.detail = detail
        self._mark_stale(state == "fitting")

    def _mark_stale(self, stale: bool) -> None:
        # dim what belongs to the previous model until the new fit is shown
        if stale == self._stale:
            return
        self._stale = stale
        for w in (self._model.diagram_box, self._results.box):
            (w.add_class if stale else w.remove_class)("msem-stale")

    def show_fit(self, fit, figure, diagram_error) -> None:
        m = self._model
        m.diagram_note.value = tables.note_html(diagram_error, bad=True) if diagram_error else ""
        if figure is not None:
            screens.replace_figure(m.diagram, figure)
            self._figure = figure
            if self.tabs.selected_index == _TABS.index("Results"):
                self._draw_results_diagram()

    def _draw_results_diagram(self) -> None:
        if self._figure is not None and self._results_drawn is not self._figure:
            screens.replace_figure(self._results.diagram, self._figure)
            self._results_drawn = self._figure

    def show_results(self, parts: dict) -> None:
        r = self._results
        r.fit.value = parts.get("fit", "")
        r.estimates.value = parts.get("estimates", "")
        r.indirect.value = parts.get("indirect", "")

    def show_data(self, html: str) -> None:
        self._data.summary.value = html

    def show_decomposition(self, dec, figures: dict, roles_html: str, note) -> None:
        d = self._dec
        d.note.value = tables.note_html(note, bad=dec is not None) if note else ""
        d.roles.value = roles_html
        screens.replace_figure(d.icc, figures.get("icc"))
        screens.replace_figure(d.corr, figures.get("corr"))

    # -- widget events ----------------------------------------------------------------
    def _on_grid_toggle(self, kind, level, a, b) -> None:
        try:
            if kind == "path":
                self.toggle_path(a, b, level or None)
            elif kind in ("cov", "var"):
                self.toggle_covariance(a, b, level or None)
            elif kind == "slope":
                self.toggle_random_slope(a, b)
        except ValueError as err:
            # a click the model cannot take: say why, keep everything else
            self.show_status("warn", str(err))
            self.show_grid(self._ctl.grid())

    def _on_syntax_typed(self, change) -> None:
        if not self._echo:
            self._ctl.set_syntax(change["new"], immediate=False)
            self._export.code.value = self.export_code()

    def _on_cluster(self, change) -> None:
        try:
            self._ctl.set_cluster(change["new"])
        except Exception as err:  # noqa: BLE001 - shown, the panel stays usable
            self.show_status("error", f"Cannot use that cluster column: {err}")
            return
        opts = [c for c in self._ctl.data.select_dtypes("number").columns
                if c != self._ctl.cluster]
        sel = self._data.variables
        keep = tuple(v for v in sel.value if v in opts)
        sel.unobserve(self._on_variables, "value")
        try:
            sel.options = opts
            sel.value = keep
        finally:
            sel.observe(self._on_variables, "value")
        self._refresh_latent_editor()
        self._cmp.data_changed(rerun=True)

    def _on_variables(self, change) -> None:
        self._ctl.set_variables(list(change["new"]))
        self._refresh_latent_editor()
        self._cmp.data_changed()

    def _on_tab(self, change) -> None:
        if change["new"] == _TABS.index("Export"):
            self._export.code.value = self.export_code()
        elif change["new"] == _TABS.index("Results"):
            with self._ctl.lock:
                self._draw_results_diagram()
        elif change["new"] == _TABS.index("Compare"):
            self._cmp.shown()

    def _refresh_latent_editor(self) -> None:
        m = self._model
        ctl = getattr(self, "_ctl", None)
        if ctl is None:
            return
        two = ctl.model.levels == ("within", "between")
        m.lat_level.layout.display = None if two else "none"
        level = m.lat_level.value if two else None
        names = [v["name"] for lv in ctl.grid()["levels"] if lv["level"] == (level or "")
                 for v in lv["vars"] if v["kind"] == "observed"]
        if list(m.lat_ind.options) != names:
            m.lat_ind.options = names
        latents = [(f"{f} ({lv})" if lv else f, (f, lv or None)) for lv in ctl.model.levels
                   for f in ctl.model.blocks[lv].latents]
        m.lat_remove_dd.options = latents

    def _on_latent_add(self, _btn) -> None:
        m = self._model
        level = m.lat_level.value if self._ctl.model.levels == ("within", "between") else None
        try:
            self.add_latent(m.lat_name.value, list(m.lat_ind.value), level)
        except ValueError as err:
            m.lat_msg.value = tables.note_html(str(err), bad=True)
            return
        m.lat_msg.value = ""
        m.lat_name.value = ""

    def _on_latent_remove(self, _btn) -> None:
        value = self._model.lat_remove_dd.value
        if value is not None:
            self.remove_latent(*value)

    # -- scriptable surface ---------------------------------------------------------------
    @property
    def syntax(self) -> str:
        """The model syntax shown in the panel; setting it refits (and updates the switches)."""
        return self._ctl.syntax

    @syntax.setter
    def syntax(self, text: str) -> None:
        self._echo = True
        try:
            self._model.syntax.value = text
        finally:
            self._echo = False
        self._ctl.set_syntax(text, immediate=None)
        self._export.code.value = self.export_code()

    @property
    def result(self):
        """The latest successful :class:`~msem_nb.results.FitResult`, or None.

        After a failed refit this is still the last model that could be
        fitted; :attr:`error` tells whether the current syntax failed.
        """
        return self._ctl.result

    @property
    def error(self):
        """The exception of the latest fit attempt, or None if it succeeded."""
        return self._ctl.error

    @property
    def model(self):
        """The model as switchable pieces (:class:`~msem_nb.widget.model.ModelState`)."""
        return self._ctl.model

    @property
    def cluster(self):
        return self._ctl.cluster

    @property
    def decomposition(self):
        """The :class:`~msem_nb.inference.decompose.Decomposition` of the chosen variables, or None."""
        return self._ctl.decomposition

    def toggle_path(self, lhs: str, rhs: str, level: str | None = "within",
                    on: bool | None = None) -> bool:
        """Switch the regression ``lhs ~ rhs`` on (True), off (False) or over (None).

        Parameters
        ----------
        lhs, rhs : str
            Outcome and predictor.
        level : {"within", "between"} or None
            Level of the path (ignored for a single-level model).
        on : bool, optional

        Returns
        -------
        bool
            Whether the path is on now. A refit follows.
        """
        level = None if self._ctl.model.levels == ("",) else level
        return self._ctl.toggle_path(lhs, rhs, level, on)

    def toggle_covariance(self, a: str, b: str, level: str | None = "within",
                          on: bool | None = None) -> bool:
        """Switch the (residual) covariance ``a ~~ b``; a == b is the variance."""
        level = None if self._ctl.model.levels == ("",) else level
        return self._ctl.toggle_covariance(a, b, level, on)

    def toggle_random_slope(self, y: str, x: str, on: bool | None = None) -> str | None:
        """Make the within path ``y ~ x`` a random slope (True), fixed (False) or flip it.

        Returns
        -------
        str or None
            The slope's name (``s1``, ...), or None when the path is fixed.
        """
        return self._ctl.toggle_random_slope(y, x, on)

    def add_latent(self, name: str, indicators, level: str | None = "within") -> None:
        """Define (or redefine) latent variable `name` measured by `indicators`."""
        level = None if self._ctl.model.levels == ("",) else level
        self._ctl.set_latent(name, list(indicators), level)

    def remove_latent(self, name: str, level: str | None = "within") -> None:
        level = None if self._ctl.model.levels == ("",) else level
        self._ctl.remove_latent(name, level)

    def set_cluster(self, cluster) -> None:
        """Change the cluster column (None for a single-level model)."""
        self._data.cluster.value = cluster

    def compare(self, y, x, mediators=None, wait: bool = False,
                timeout: float | None = 120):
        """Compare six approaches to the effect of `x` on `y` on the Compare screen.

        Runs :func:`msem_nb.compare_approaches` on a worker thread (a newer
        request supersedes an older one) and shows the forest plot, the
        table and the notes; a failure is shown on the screen.

        Parameters
        ----------
        y, x : str
            Outcome and predictor (columns of the data).
        mediators : list of str, optional
        wait : bool
            Block until the comparison is done and return it.
        timeout : float, optional
            Seconds to wait at most (TimeoutError after).

        Returns
        -------
        Comparison or None
            The comparison when `wait`, else None (see :attr:`comparison`).

        Raises
        ------
        ValueError
            For a name that is not a column of the data.
        Exception
            With `wait`, why the comparison failed (also shown in the panel).
        """
        return self._cmp.compare(y, x, mediators, wait=wait, timeout=timeout)

    @property
    def comparison(self):
        """The :class:`~msem_nb.teaching.approaches.Comparison` on the Compare screen, or None."""
        return self._cmp.comparison

    def wait(self, timeout: float | None = 60):
        """Block until pending fits are done; returns :attr:`result`.

        Raises
        ------
        TimeoutError
            When the fits take longer than `timeout` seconds.
        """
        if not self._ctl.wait(timeout):
            raise TimeoutError(f"the panel was still fitting after {timeout} s")
        return self.result

    def close(self) -> None:
        """Stop the worker threads and close the widgets."""
        self._ctl.close()
        self._cmp.close()
        _close_tree(self.widget)

    # -- export ---------------------------------------------------------------------------
    def export_code(self, report: bool = True) -> str:
        """Python code that refits the current model (and shows its report)."""
        ctl = self._ctl
        name = self._data_name or find_variable_name(ctl.data)
        # syntax that does not parse cannot be exported; the switches hold
        # the last model that did
        syntax = ctl.model.to_syntax() if ctl.syntax_error is not None else ctl.syntax
        return reproduction_code(syntax, ctl.cluster, data_name=name,
                                 data_code=self._data_code, estimator=ctl.estimator,
                                 missing=ctl.missing, report=report)

    def _export_reply(self, what):
        def cb(reply):
            if reply.get("ok"):
                self._export.status.value = tables.note_html(f"{what}: {reply.get('how', 'done')}.")
            else:
                self._export.status.value = tables.note_html(
                    f"{what} failed: {reply.get('reason', 'unknown reason')}", bad=True)
        return cb

    def insert_code_cell(self) -> None:
        """Insert the reproducing code as a new cell below the panel (in the browser)."""
        self._export.bridge.insert_cell(self.export_code(),
                                        callback=self._export_reply("Code cell inserted"))

    def report(self, **kwargs):
        """The report of the latest fit (:class:`msem_nb.present.report.Report`)."""
        fit = self.wait()
        if fit is None:
            raise ValueError("there is no fitted model to report yet")
        kwargs.setdefault("data", self._ctl.data)
        return fit.report(**kwargs)

    def insert_report_cell(self) -> None:
        """Insert the static report (HTML output, survives nbconvert) below the panel."""
        try:
            rep = self.report()
            outputs = report_cell_outputs(rep)
        except Exception as err:  # noqa: BLE001 - say so in the panel
            self._export.status.value = tables.note_html(f"No report: {err}", bad=True)
            return
        source = ("# Static report written by the msem_nb panel; the code cell it exports\n"
                  "# reproduces it. Re-running this cell clears the report.\n")
        self._export.bridge.insert_cell(source, outputs, trusted=True,
                                        callback=self._export_reply("Report cell inserted"))

    def download_report(self, filename: str = "msem_report.html") -> None:
        """Offer the report as a self-contained HTML file in the browser."""
        try:
            doc = report_html_document(self.report())
        except Exception as err:  # noqa: BLE001
            self._export.status.value = tables.note_html(f"No report: {err}", bad=True)
            return
        self._export.bridge.download(filename, doc, "text/html",
                                     callback=self._export_reply(f"{filename}"))


def _close_tree(widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
