"""``ms.Panel``: the notebook panel that builds, fits and reports a one-, two- or three-level
SEM.

The panel is a thin layer: screens (:mod:`msem_nb.widget.screens`, one
per tab) hold the widgets, the controller (:mod:`msem_nb.widget.controller`)
holds the state and decides, and this module connects the two - widget
events call the controller, and the controller's ``show_*`` calls (the
:class:`~msem_nb.widget.view.PanelView` protocol, which :class:`Panel`
satisfies) reach the screens. The tabs are built by iterating the screens.
Fits run on a worker thread; nothing statistical happens in the browser,
and the data never go there (only summaries: ICCs, correlations, estimates).

Constructing a panel is quick: it builds the widgets and queues the work
(the data summary, the first fit); its status line says "Loading" until the
first results arrive, and heavy tabs (the decomposition's figures, Compare,
the Results tables, modification indices and residuals) compute when they
are opened.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as W
import pandas as pd

from msem_nb.errors import DataError
from msem_nb.widget import tables
from msem_nb.widget.checks import ResultChecks
from msem_nb.widget.controller import PanelController
from msem_nb.widget.describe import diagram_text
from msem_nb.widget.frontend import StatusLine
from msem_nb.widget.groups import GroupPanel
from msem_nb.widget.panel_export import PanelExport
from msem_nb.widget.screens.base import STYLE, Screen
from msem_nb.widget.screens.compare import CompareScreen
from msem_nb.widget.screens.data import DataScreen
from msem_nb.widget.screens.decomposition import TITLES, DecompositionScreen
from msem_nb.widget.screens.export import ExportScreen
from msem_nb.widget.screens.model_builder import ModelScreen
from msem_nb.widget.screens.plan import PlanScreen
from msem_nb.widget.screens.results import ResultsScreen

__all__ = ["Panel"]


class Panel(GroupPanel, PanelExport):
    """Interactive one-, two- or three-level SEM in a notebook.

    Parameters
    ----------
    data : pandas.DataFrame or str or path
        The data (one row per level-1 unit), or a CSV file to read.
    cluster : str or list of two str, optional
        Cluster column. None guesses one from the column names and values
        (unless `single_level`); it can be chosen or changed on the Data
        screen. Two columns (classes, then the schools they are nested in)
        make a three-level panel; the higher one can also be chosen there.
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
        ``status.state`` ("loading", "idle", "fitting", "ok", "warn",
        "error"), ``status.message`` and ``status.detail`` (plain text).
        "ok" (green) only for a converged fit without any warning and with
        standard errors.
    tabs : ipywidgets.Tab
        One tab per screen: Data, Decomposition (Correlations without a
        cluster column), Model, Results, Compare, Plan, Export.
    screens : list of Screen
        The screens in tab order (:class:`msem_nb.widget.screens.Screen`).
    checks : ResultChecks
        The Results screen's modification indices (``checks.table``, ``checks.freed``)
        and comparison with the previous fit (``checks.comparison``).

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
        self._stale = False
        self.status = StatusLine(state="loading",
                                 message="Loading: summarising the data and fitting the "
                                         "first model \u2026")
        self._ctl = PanelController(
            data, "auto" if cluster is None and not single_level else cluster, model,
            variables=variables, view=self, estimator=estimator, missing=missing,
            debounce=debounce)
        self._build_screens(estimator, missing, debounce)
        self._wire()
        self._show_mode()
        self._ctl.start()

    # -- construction ---------------------------------------------------------
    def _build_screens(self, estimator, missing, debounce) -> None:
        ctl = self._ctl
        numeric = [str(c) for c in ctl.data.select_dtypes("number").columns]
        self._data = DataScreen(ctl.columns, numeric, ctl.cluster, ctl.variables, ctl.higher)
        if ctl.cluster_problem:
            self._data.problem.value = tables.note_html(ctl.cluster_problem, bad=True)
        self._dec = DecompositionScreen(ctl.want_figures)
        self._model = ModelScreen(estimator, missing)
        self._results = ResultsScreen()
        self.checks = ResultChecks(ctl, self._results, debounce)
        self._cmp = CompareScreen(ctl, debounce)
        self._plan = PlanScreen(ctl, lambda code: self._export.bridge.insert_cell(code))
        self._export = ExportScreen(self.export_state)
        self.screens: list[Screen] = [self._data, self._dec, self._model, self._results,
                                      self._cmp, self._plan, self._export]
        self.tabs = W.Tab(children=[s.box for s in self.screens])
        for i, screen in enumerate(self.screens):
            self.tabs.set_title(i, screen.title)
        self.tabs.selected_index = self.screens.index(self._model)
        self.header = W.HTML()
        self.widget = W.VBox([W.HTML(STYLE), self.header, self.status, self.tabs],
                             layout=W.Layout(width="100%"))
        self.widget.add_class("msem-panel")
        self._export.bridge.host_model_id = self.widget.model_id

    def _show_mode(self) -> None:
        """Header, tab title and hints for a two-level or a single-level model."""
        cluster, higher = self._ctl.cluster, self._ctl.higher
        if cluster is None:
            text = ("<b>msem_nb</b> single-level SEM panel <span style='color:#666'>(no "
                    "cluster column: choose one on the Data tab for a two-level model)</span>")
        elif higher is not None:
            text = (f"<b>msem_nb</b> three-level SEM panel <span style='color:#666'>(clusters: "
                    f"{tables.esc(cluster)} in {tables.esc(higher)})</span>")
        else:
            text = (f"<b>msem_nb</b> two-level SEM panel <span style='color:#666'>(clusters: "
                    f"{tables.esc(cluster)})</span>")
        self.header.value = f"<div class='msem-header' style='margin:2px 0'>{text}</div>"
        self._dec.title = TITLES[cluster is not None]
        self.tabs.set_title(self.screens.index(self._dec), self._dec.title)
        self._model.set_single(cluster is None, higher is not None)

    def _wire(self) -> None:
        m = self._model
        m.grid.on_toggle(self._on_grid_toggle)
        m.on_syntax_typed(self._on_syntax_typed)
        m.estimator.observe(lambda ch: self._ctl.set_options(estimator=ch["new"]), "value")
        m.missing.observe(lambda ch: self._ctl.set_options(missing=ch["new"]), "value")
        m.refit.on_click(lambda _b: self._ctl.refit())
        m.lat_add.on_click(self._on_latent_add)
        m.lat_remove.on_click(self._on_latent_remove)
        self._data.on_cluster(self._on_cluster)
        self._data.on_higher(self._on_higher)
        self._wire_groups()     # the Data tab's Groups dropdown (msem_nb.widget.groups)
        self._data.on_variables(self._on_variables)
        self._results.checks.on_free(self._on_free)
        self._results.checks.on_compare(self.checks.compare)
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

    # -- the view interface (PanelView: called by the controller, under its lock) -------
    def show_syntax(self, text: str) -> None:
        self._model.show_syntax(text)
        self._update_export()

    def show_grid(self, spec: dict) -> None:
        self._model.update(spec, self._ctl.model)

    def show_status(self, state: str, message: str, detail: str = "") -> None:
        with self.status.hold_sync():
            self.status.state = state
            self.status.message = message
            self.status.detail = detail
        self._mark_stale(state == "fitting")
        if state == "error":
            self.checks.refresh()     # nothing to free until a refit; a freed one keeps its Undo
        self._update_export()

    def _update_export(self) -> None:
        # the Export tab is brought up to date when it is opened, and while it is open
        if self._shown() is self._export:
            self._export.update()

    def show_editor_error(self, line: int, col: int, message: str) -> None:
        self._model.show_error(line, col, message)

    def _mark_stale(self, stale: bool) -> None:
        # dim what belongs to the previous model until the new fit is shown
        if stale == self._stale:
            return
        self._stale = stale
        for w in (self._model.diagram_box, self._results.box):
            (w.add_class if stale else w.remove_class)("msem-stale")

    def show_preview(self, figure, description: str) -> None:
        self._model.show_diagram(figure, None, description)

    def show_fit(self, fit, figure, diagram_error) -> None:
        text = diagram_text(fit.partable, fit.estimates)
        self._model.show_diagram(figure, diagram_error, text)
        shown = self._shown() is self._results
        if figure is not None:
            self._results.set_diagram(figure, shown=shown, description=text)
        # modification indices and residuals only while the Results screen is open
        self.checks.fit_changed(fit, shown)

    def show_results(self, parts: dict) -> None:
        self._results.update(parts)

    def show_data(self, html: str) -> None:
        self._data.update(html)

    def show_decomposition(self, dec, figures: dict, roles_html: str, note) -> None:
        self._dec.update(dec, figures, roles_html, note)

    def _shown(self) -> Screen | None:
        i = self.tabs.selected_index
        return None if i is None else self.screens[i]

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

    def _on_syntax_typed(self, text: str) -> None:
        self._ctl.set_syntax(text, immediate=False)
        self._update_export()

    def _on_cluster(self, cluster) -> None:
        previous = self._ctl.cluster
        try:
            self._ctl.set_cluster(cluster)
        except Exception as err:  # noqa: BLE001 - shown, the panel stays usable
            why = f"Cannot use '{cluster}' as the cluster column: {err}" \
                if isinstance(err, DataError) else f"Cannot use that cluster column: {err}"
            self._data.refuse_cluster(previous, why)
            self.show_status("warn", why + " The cluster column is unchanged.")
            return
        self._clusters_changed()

    def _on_higher(self, higher) -> None:
        previous = self._ctl.higher
        try:
            self._ctl.set_higher_cluster(higher)
        except Exception as err:  # noqa: BLE001 - shown, the panel stays usable
            why = f"Cannot use '{higher}' as the higher cluster column: {err}"
            self._data.refuse_higher(previous, why)
            self.show_status("warn", why + " The cluster columns are unchanged.")
            return
        self._clusters_changed()

    def _clusters_changed(self) -> None:
        ctl = self._ctl
        self._data.clear_problem()
        self._data.show_clusters(ctl.cluster, ctl.higher)
        self._data.offer_variables([c for c in ctl.data.select_dtypes("number").columns
                                    if c not in (ctl.cluster, ctl.higher)])
        self._show_mode()
        self._cmp.update(rerun=True)

    def _on_variables(self, variables: list) -> None:
        self._ctl.set_variables(variables)
        self._cmp.update()

    def _on_tab(self, change) -> None:
        screen = self._shown()
        with self._ctl.lock:
            # the Results tables are computed only while someone looks at them
            self._ctl.results_wanted = screen is self._results
            if screen is self._results:
                parts = self._ctl.results_parts()
                if parts is not None:
                    self._results.update(parts)
                self.checks.want(self._ctl.result)
            if screen is not None:
                screen.on_show()

    def _on_free(self, ident: str, on: bool) -> None:
        try:
            self.checks.free_id(ident, on)
        except ValueError as err:
            self.show_status("warn", f"Cannot change that parameter: {err}")
            self.checks.refresh()

    def _on_latent_add(self, _btn) -> None:
        m = self._model
        try:
            self.add_latent(m.lat_name.value, list(m.lat_ind.value), m.latent_level())
        except ValueError as err:
            m.latent_note(str(err))
            return
        m.latent_note("")
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
        self._model.show_syntax(text)
        self._ctl.set_syntax(text, immediate=None)
        self._update_export()

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
        """The cluster column (None: single-level); ``[cluster, higher]`` with three levels."""
        ctl = self._ctl
        return ctl.cluster if ctl.higher is None else [ctl.cluster, ctl.higher]

    @property
    def decomposition(self):
        """The :class:`~msem_nb.inference.decompose.Decomposition` of the chosen variables,
        or None."""
        return self._ctl.decomposition

    def toggle_path(self, lhs: str, rhs: str, level: str | None = "within",
                    on: bool | None = None) -> bool:
        """Switch the regression ``lhs ~ rhs`` on (True), off (False) or over (None).

        Parameters
        ----------
        lhs, rhs : str
            Outcome and predictor.
        level : str or None
            Level of the path, one of the model's levels ("within",
            "between"); ignored for a single-level model.
        on : bool, optional

        Returns
        -------
        bool
            Whether the path is on now. A refit follows.
        """
        level = level if self._ctl.model.multilevel else None
        return self._ctl.toggle_path(lhs, rhs, level, on)

    def toggle_covariance(self, a: str, b: str, level: str | None = "within",
                          on: bool | None = None) -> bool:
        """Switch the (residual) covariance ``a ~~ b``; a == b is the variance."""
        level = level if self._ctl.model.multilevel else None
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
        level = level if self._ctl.model.multilevel else None
        self._ctl.set_latent(name, list(indicators), level)

    def remove_latent(self, name: str, level: str | None = "within") -> None:
        """Remove latent variable `name` and every statement that names it."""
        level = level if self._ctl.model.multilevel else None
        self._ctl.remove_latent(name, level)

    def free_parameter(self, lhs: str, op: str, rhs: str, level: str | None = None,
                       on: bool | None = None) -> bool:
        """Free ``lhs op rhs`` (``~~``, ``~``, ``=~``) at `level` as the Results screen's "Free"
        button does (`on`: True frees, False fixes again, None flips); returns whether it is
        free now (a refit follows). ValueError says why a parameter cannot be freed."""
        return self.checks.free_parameter(lhs, op, rhs, level, on)

    def compare_previous(self, timeout: float | None = 60):
        """The :class:`~msem_nb.inference.compare.ModelComparison` of the previous fit and the
        current one, as "Compare with previous fit" shows it; raises the reason (also shown
        in the panel) when they cannot be compared."""
        self.wait(timeout)
        return self.checks.compare_now(timeout)

    def set_cluster(self, cluster) -> None:
        """Change the cluster column (None for a single-level model), as the Data tab does;
        ``[cluster, higher]`` also sets the higher cluster column (three levels).

        A column that cannot be a cluster column (a row id, a continuous
        variable) is refused: the cluster column stays, and the Data tab and
        the status line say why (:attr:`cluster` tells which one is in use).
        """
        if isinstance(cluster, (list, tuple)):
            cluster, higher = (list(cluster) + [None])[:2]
            if higher is None or cluster != self._ctl.cluster:
                self._data.higher.value = None
            self._data.cluster.value = cluster
            if higher is not None:
                self._data.higher.value = higher
            return
        self._data.cluster.value = cluster

    def set_higher_cluster(self, higher) -> None:
        """Choose the higher cluster column (None: two levels), as the Data tab does; a column
        the clusters are not nested in is refused with the library's message, shown."""
        self._data.higher.value = higher

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
        self.checks.close()
        self._plan.cancel()
        _close_tree(self.widget)


def _close_tree(widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
