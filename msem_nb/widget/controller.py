"""The panel's state and the rules that change it (no widgets here).

:class:`PanelController` owns the data, the cluster column, the chosen
variables, the model (:class:`~msem_nb.widget.model.ModelState`) and the
syntax text, and keeps them consistent:

* a switch changes the model through a
  :class:`~msem_nb.widget.switches.Switchboard` (so that switching it back
  restores the model exactly), the model rewrites the syntax;
* typed syntax that parses replaces the model (and so the switches); syntax
  that does not parse, or names a variable the data do not have, leaves the
  model and the last results as they were and reports the line and column
  (with the nearest column's name for a misspelt variable);
* every change of the model or of the options asks for a refit, which runs
  on a worker thread (:class:`~msem_nb.widget.scheduler.Scheduler`) so that
  a newer change supersedes an older fit. After a switch the new model's
  diagram (its structure, without numbers) is drawn first, then the fit's. A refit starts from the parsed model and goes through
  :class:`~msem_nb.widget.refit.Refitter`: the syntax is never written out
  and parsed again to fit it.
* the data summary and the variables' roles are computed on a second worker
  at once; the decomposition's figures (or, single-level, the plain
  correlations) only once asked for (:meth:`PanelController.want_figures`,
  when their tab is first opened), and the Results tables only while wanted.

The fit worker's steps (request to result, diagram and status) are in
:mod:`msem_nb.widget.fitjobs`.

What the user sees is pushed to a view (:class:`~msem_nb.widget.view.PanelView`:
the widget panel, or a recorder in tests) through its ``show_*`` methods,
always under one lock, so a view never sees half an update.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pandas as pd

from msem_nb.errors import DataError, ModelSpecificationError
from msem_nb.syntax import ModelSyntaxError, ParsedModel
from msem_nb.widget.datasummary import SINGLE_LEVEL_NOTE, DataSummaries
from msem_nb.widget.describe import describe_error
from msem_nb.widget.fitjobs import FitJobs, FitRequest, default_diagram, default_preview
from msem_nb.widget.gridspec import grid_spec, loading_spec, slope_problem
from msem_nb.widget.groups import GroupControl, check_group
from msem_nb.widget.guess import check_cluster, default_variables, detect_cluster
from msem_nb.widget.levels import check_higher, fit_clusters
from msem_nb.widget.model import SINGLE_LEVEL, THREE_LEVELS, TWO_LEVELS, ModelState, read_syntax
from msem_nb.widget.refit import Refitter
from msem_nb.widget.scheduler import Scheduler
from msem_nb.widget.switches import Switchboard
from msem_nb.widget.view import PanelView

__all__ = ["PanelController", "SINGLE_LEVEL_NOTE"]

@dataclass(frozen=True)
class _DataRequest:
    cluster: object
    variables: tuple
    figures: bool = False


class PanelController(GroupControl, FitJobs):
    """State and rules of the panel.

    Parameters
    ----------
    data : pandas.DataFrame
    cluster : str or None
        Cluster column; ``"auto"`` guesses one (:func:`detect_cluster`). A
        column that cannot be one (a row id: every value once) gives a
        single-level panel that says why (:attr:`cluster_problem`).
    model : str, optional
        Starting syntax.
    variables : list of str, optional
        Variables offered on the Model screen; default every numeric
        column except the cluster column.
    view : PanelView
        Shows what the controller decides (:class:`msem_nb.widget.view.PanelView`).
    estimator, missing : str
        As in :func:`msem_nb.fit`.
    debounce : float
        Seconds (see :class:`~msem_nb.widget.scheduler.Scheduler`).
    fit_fn, diagram_fn, preview_fn : callable, optional
        Replace the refit (then ``fit_fn(syntax, data, cluster=, estimator=,
        missing=)`` as :func:`msem_nb.fit`), the diagram of a fit and the
        diagram drawn before a fit (``preview_fn(partable)``; None with a
        replaced `diagram_fn`: no early diagram) - for tests.

    Attributes
    ----------
    results_wanted : bool
        The Results tables are computed with every fit only while True
        (the panel sets it while the Results tab is open).
    """

    def __init__(self, data: pd.DataFrame, cluster=None, model: str | None = None, *,
                 variables=None, view: PanelView, estimator: str = "ML",
                 missing: str = "listwise", debounce: float = 0.15, fit_fn=None,
                 diagram_fn=None, preview_fn=None):
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        self.cluster_problem: str | None = None
        #: the higher cluster column (schools) of a three-level panel, else None
        self.higher = None
        if isinstance(cluster, (list, tuple)):
            if not 1 <= len(cluster) <= 2:
                raise ModelSpecificationError(
                    f"the panel takes one or two cluster columns (classes, then the schools "
                    f"they are nested in), not {len(cluster)}")
            cluster, self.higher = cluster[0], (cluster[1] if len(cluster) == 2 else None)
        if isinstance(cluster, str) and cluster == "auto":
            cluster = detect_cluster(data)
        elif cluster is not None:
            if cluster not in data.columns:
                raise DataError(f"cluster column '{cluster}' is not in the data; the columns "
                                f"are: {', '.join(map(str, data.columns))}")
            try:
                check_cluster(data, cluster)
            except DataError as err:
                # the panel opens single-level and says why, rather than not at all
                self.cluster_problem = f"Cannot use '{cluster}' as the cluster column: {err}"
                cluster = None
        if self.higher is not None:
            try:
                check_higher(data, cluster, self.higher)
            except DataError as err:
                # a two-level panel that says why, rather than none
                self.cluster_problem = (f"Cannot use '{self.higher}' as the higher cluster "
                                        f"column: {err}")
                self.higher = None
        self.data = data
        self.view = view
        self.cluster = cluster
        self.columns = [str(c) for c in data.columns]
        self.variables = list(variables) if variables is not None \
            else default_variables(data, cluster)
        self.variables = [v for v in self.variables if v not in (cluster, self.higher)]
        unknown = [v for v in self.variables if v not in data.columns]
        if unknown:
            raise DataError(f"unknown variable(s): {', '.join(map(str, unknown))}")
        self.estimator = estimator
        self.missing = missing
        self.roles: dict[str, str] = {}
        self.roles_ready = cluster is None
        self._new_levels = False
        self.decomposition = None
        self.result = None
        #: the last successful fit of another model (syntax, cluster column or options)
        self.previous = None
        self.result_key: tuple | None = None
        self.error: BaseException | None = None
        self.elapsed: float | None = None
        self.results_wanted = False
        self._figures_wanted = False
        self._parts: tuple = (None, None)
        #: the data tab's summaries and the decomposition (computed once per variables)
        self.summaries = DataSummaries(data)
        self._fit_fn = fit_fn
        self._refitter = Refitter(data)
        self._diagram_fn = diagram_fn or default_diagram
        self._preview_fn = preview_fn if preview_fn is not None else (
            default_preview if diagram_fn is None else None)
        self.lock = threading.RLock()
        self._fits = Scheduler(self._fit_job, debounce, on_request=self._on_fit_request,
                               on_crash=self._on_crash, name="msem-fit", lock=self.lock)
        self._data_jobs = Scheduler(self._data_job, debounce, on_crash=self._on_crash,
                                    name="msem-data", lock=self.lock)
        levels = self._levels()
        self.syntax = model or ""
        self.syntax_error = None
        #: the parsed model the next fit uses (None: nothing to fit)
        self.parsed: ParsedModel | None = None
        try:
            self.model, self.parsed = read_syntax(self.syntax)
            if self.model.is_empty():
                self.model = ModelState(levels)
        except ModelSyntaxError as err:
            self.model = ModelState(levels)
            self.syntax_error = err
        self.switches = Switchboard(self.model, lambda: self.roles, self.columns)

    def start(self) -> None:
        """Show the syntax and queue the data summary and the first fit (nothing runs here)."""
        with self.lock:
            self.view.show_syntax(self.syntax)
            self.view.show_grid(self.grid())
            self._request_data(immediate=True)
            self._request_fit(immediate=True)

    def close(self) -> None:
        self._fits.close()
        self._data_jobs.close()

    # -- queries ----------------------------------------------------------------
    def known_names(self) -> set:
        return (set(self.columns) | set(self.model.latent_names())
                | set(self.model.slope_names()))

    @property
    def clusters(self):
        """What a fit is given as `cluster`: None, the cluster column, or (cluster, higher)."""
        return fit_clusters(self.cluster, self.higher)

    def grid(self) -> dict:
        """The switch grids, or a loading note while a two-level model waits for the roles."""
        if self.cluster is not None and not self.roles_ready:
            return loading_spec()
        return grid_spec(self.model, self.variables, self.roles if self.cluster else None,
                         self.columns, known=self.known_names())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the data and fit workers are idle; False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        for sched in (self._data_jobs, self._fits):
            left = None if end is None else max(0.0, end - time.monotonic())
            if not sched.wait(left):
                return False
        # a data job can ask for a refit while the fit worker was idle
        left = None if end is None else max(0.0, end - time.monotonic())
        return self._fits.wait(left)

    @property
    def busy(self) -> bool:
        return self._fits.busy or self._data_jobs.busy

    def current_key(self) -> tuple:
        """What a fit of the panel's current state is a fit of."""
        return (self.syntax, self.clusters, self.estimator, self.missing, self.group)

    def fit_is_current(self) -> bool:
        """Whether :attr:`result` is the fit of exactly what the panel shows now
        (its syntax, cluster column and options; a refit of the same is still it)."""
        with self.lock:
            return (self.result is not None and self.error is None
                    and self.result_key == self.current_key())

    def results_parts(self) -> dict | None:
        """The Results tables of the latest fit (computed once per fit), or None."""
        fit = self.result
        if fit is None:
            return None
        if self._parts[0] is not fit:     # with groups also the invariance steps (GroupControl)
            self._parts = (fit, self._results_of(fit))
        return self._parts[1]

    # -- changes from the user ------------------------------------------------------
    def set_syntax(self, text: str, immediate: bool | None = False) -> None:
        """The syntax box changed (typing, or ``panel.syntax = ...``)."""
        with self.lock:
            self.syntax = text
            try:
                state, parsed = read_syntax(text)
            except ModelSyntaxError as err:
                self.syntax_error = err
            else:
                self.syntax_error = None
                if state.is_empty() and state.levels != self._levels():
                    state = ModelState(self._levels())
                self.model, self.parsed = state, parsed
                # the text is the user's: nothing in it was added on a switch's behalf
                self.switches.reset(state)
                self.view.show_grid(self.grid())
            self._request_fit(immediate=immediate)

    def toggle_path(self, lhs, rhs, level=None, on=None) -> bool:
        """Switch ``lhs ~ rhs`` at `level`; returns whether it is on."""
        with self.lock:
            self._check_names(lhs, rhs)
            if lhs == rhs:
                raise ValueError(f"a variable cannot be regressed on itself ('{lhs} ~ {rhs}')")
            self._ensure_roles()
            now = self.switches.toggle(("path", self._level(level), lhs, rhs), on)
            self._model_changed(preview=True)
            return now

    def toggle_covariance(self, a, b, level=None, on=None) -> bool:
        """Switch ``a ~~ b`` (a == b: the variance) at `level`; returns whether it is on."""
        with self.lock:
            self._check_names(a, b)
            self._ensure_roles()
            now = self.switches.toggle(("cov", self._level(level), a, b), on)
            self._model_changed(preview=True)
            return now

    def toggle_loading(self, factor, indicator, level=None, on=None) -> bool:
        """Switch the loading ``factor =~ indicator`` (a cross-loading); returns whether it is on."""
        with self.lock:
            self._check_names(factor, indicator)
            if factor not in self.model.latent_names(level if self.model.multilevel else None):
                raise ValueError(f"'{factor}' is not a latent variable of this level")
            self._ensure_roles()
            now = self.switches.toggle(("load", self._level(level), factor, indicator), on)
            self._model_changed(preview=True)
            return now

    def toggle_random_slope(self, y, x, on=None) -> str | None:
        """Make the within path ``y ~ x`` random (or fixed); returns the slope's name or None."""
        with self.lock:
            if self.model.threelevel:
                raise ValueError("random slopes are not available for three-level models; "
                                 "set 'Nested in' to none on the Data tab for a two-level model")
            if self.model.cluster_level is not None:
                self._check_names(y, x)
            why = slope_problem(self.model, self.columns, y, x, on)
            if why is not None:
                raise ValueError(why)
            self._ensure_roles()
            self.switches.toggle(("slope", y, x), on)
            self._model_changed(preview=True)
            return self.model.slope_of(y, x)

    def set_latent(self, name: str, indicators, level=None) -> None:
        """Define (or redefine) a latent variable measured by `indicators`."""
        with self.lock:
            name = str(name).strip()
            if not name.isidentifier():
                raise ValueError(f"'{name}' is not a valid variable name")
            if name in self.columns:
                raise ValueError(f"'{name}' is a column of the data; a latent variable needs "
                                 "another name")
            self._check_names(*indicators)
            self._ensure_roles()
            self.switches.set_latent(name, list(indicators), self._level(level))
            self._model_changed(preview=True)

    def remove_latent(self, name: str, level=None) -> None:
        with self.lock:
            self.switches.remove_latent(name, self._level(level))
            self._model_changed(preview=True)

    def set_cluster(self, cluster) -> None:
        """Change the cluster column (None: single-level); the model follows.

        Raises
        ------
        DataError
            For a column that cannot be a cluster column (nothing changes).
        """
        with self.lock:
            if cluster is not None and cluster not in self.data.columns:
                raise DataError(f"cluster column '{cluster}' is not in the data")
            check_cluster(self.data, cluster)
            check_group(self.data, self.group, cluster)     # clusters inside one group
            # no cluster column: no higher one either
            higher = self.higher if cluster is not None else None
            check_higher(self.data, cluster, higher)
            self._set_clusters(cluster, higher)

    def set_higher_cluster(self, higher) -> None:
        """Choose the higher cluster column (schools; None: two levels); the model follows.

        Raises
        ------
        DataError
            For a column that cannot hold the clusters (a class in two
            schools, in the fit's words; nothing changes).
        """
        with self.lock:
            if higher is not None and higher not in self.data.columns:
                raise DataError(f"higher cluster column '{higher}' is not in the data")
            check_higher(self.data, self.cluster, higher)
            check_group(self.data, self.group, higher)
            self._set_clusters(self.cluster, higher)

    def _set_clusters(self, cluster, higher) -> None:
        old_levels = self._levels()
        self.cluster, self.higher = cluster, higher
        self.cluster_problem = None
        self.variables = [v for v in self.variables if v not in (cluster, higher)]
        self.roles = {}
        self.roles_ready = cluster is None
        if self._levels() != old_levels:
            self.model = self.model.with_levels(self._levels())
            self.switches.reset(self.model)
            # once the roles are known, outcomes get their cluster parts
            self._new_levels = self.model.multilevel
            self._syntax_from_model()
        self.view.show_grid(self.grid())
        self._request_data(immediate=True)
        self._request_fit()

    def set_variables(self, variables) -> None:
        """Change the variables offered on the Model screen (the model keeps its own)."""
        with self.lock:
            variables = [v for v in variables if v not in (self.cluster, self.higher)]
            self._check_names(*variables)
            self.variables = list(variables)
            self.view.show_grid(self.grid())
            self._request_data()

    def set_options(self, estimator: str | None = None, missing: str | None = None) -> None:
        with self.lock:
            if estimator is not None:
                self.estimator = estimator
            if missing is not None:
                self.missing = missing
            self._request_fit()

    def refit(self) -> None:
        """Fit the current syntax again."""
        self._request_fit(immediate=True)

    def want_figures(self) -> None:
        """Compute the decomposition's figures from now on (their tab was opened)."""
        with self.lock:
            if not self._figures_wanted:
                self._figures_wanted = True
                self._request_data(immediate=True)

    # -- helpers ------------------------------------------------------------------
    def _levels(self):
        if self.cluster is None:
            return SINGLE_LEVEL
        return TWO_LEVELS if self.higher is None else THREE_LEVELS

    def _level(self, level) -> str:
        if not self.model.multilevel:
            if level not in (None, "", "within"):
                raise ValueError(f"the model has one level; level={level!r} does not exist "
                                 "(choose a cluster column for a two-level model)")
            return ""
        if level in (None, ""):
            raise ValueError("say which level: "
                             + " or ".join(f"level={lv!r}" for lv in self.model.levels))
        return self.model.level_key(level)

    def _check_names(self, *names) -> None:
        known = self.known_names()
        bad = [str(v) for v in names if v not in known]
        if bad:
            raise ValueError(f"unknown variable(s): {', '.join(bad)}; use data columns, latent "
                             "variables or random slopes of the model")

    def _ensure_roles(self) -> None:
        """The variables' roles, now: a switch clicked before the data worker is done needs
        them to give an outcome its between part."""
        if self.cluster is None or self.roles_ready or not self.variables:
            return
        dec, _error = self.summaries.decomposition(self.clusters, self.variables)
        if dec is not None:
            self.roles = {r["variable"]: r["role"] for r in dec.roles.to_dict("records")}
        # the grids can show the variables by their roles now (the data worker's summary
        # follows with the same decomposition)
        self.roles_ready = True

    def _syntax_from_model(self) -> None:
        # the model changed: its text and its parsed form follow, unparsed
        self.syntax = self.model.to_syntax()
        self.syntax_error = None
        self.parsed = None if self.model.is_empty() else self.model.to_parsed(self.syntax)
        self.view.show_syntax(self.syntax)

    def _model_changed(self, preview: bool = False) -> None:
        self._syntax_from_model()
        self.view.show_grid(self.grid())
        self._request_fit(preview=preview)

    def _request_fit(self, immediate: bool | None = None, preview: bool = False) -> None:
        with self.lock:
            self._fits.request(FitRequest(self.syntax, self.parsed, self.syntax_error,
                                           self.clusters, self.estimator, self.missing,
                                           preview and self._preview_fn is not None,
                                           self.group),
                               immediate=immediate)

    def _request_data(self, immediate: bool | None = None) -> None:
        self._data_jobs.request(_DataRequest(self.clusters, tuple(self.variables),
                                             self._figures_wanted), immediate=immediate)

    def _on_fit_request(self, gen, req: FitRequest) -> None:
        if req.parse_error is None and req.syntax.strip():
            self.view.show_status("fitting", "Fitting the model \u2026")

    def _on_crash(self, gen, exc) -> None:
        msg, detail = describe_error(exc)
        self.view.show_status("error", "Internal error in the panel: " + msg, detail)

    # -- the data worker ------------------------------------------------------------------
    def _data_job(self, req: _DataRequest, publish) -> None:
        dec, figures, error = self.summaries.compute(req.cluster, req.variables, req.figures)
        publish(lambda: self._apply_data(req, dec, figures, error))

    def _apply_data(self, req: _DataRequest, dec, figures, error) -> None:
        self.decomposition = dec
        self.roles = ({r["variable"]: r["role"] for r in dec.roles.to_dict("records")}
                      if dec is not None else {})
        self.roles_ready = True
        s = self.summaries
        self.view.show_data(s.data_html(req.cluster, req.variables, dec, self.cluster_problem))
        roles, note = s.roles_html(req.cluster, req.variables, dec, error)
        self.view.show_decomposition(dec, figures, roles, note)
        if self._new_levels and dec is not None and req.cluster == self.clusters:
            self._new_levels = False
            before = self.model.to_syntax()
            self.switches.claim_all()
            if self.model.to_syntax() != before:
                self._model_changed()
                return
        self.view.show_grid(self.grid())
