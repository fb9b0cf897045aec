"""The panel's state and the rules that change it (no widgets here).

:class:`PanelController` owns the data, the cluster column, the chosen
variables, the model (:class:`~msem_nb.widget.model.ModelState`) and the
syntax text, and keeps them consistent:

* a switch changes the model, the model rewrites the syntax;
* typed syntax that parses replaces the model (and so the switches); syntax
  that does not parse leaves the model and the last results as they were
  and reports the line and column;
* every change of the model or of the options asks for a refit, which runs
  on a worker thread (:class:`~msem_nb.widget.scheduler.Scheduler`) so that
  a newer change supersedes an older fit. A refit starts from the parsed
  model (the parse of the typed text, or the state's own statements after a
  switch) and goes through :class:`~msem_nb.widget.refit.Refitter`: the
  syntax is never written out and parsed again to fit it.

What the user sees is pushed to a view (:class:`~msem_nb.widget.view.PanelView`:
the widget panel, or a recorder in tests) through a handful of ``show_*``
methods, always under one lock, so a view never sees half an update.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pandas as pd

from msem_nb.errors import DataError
from msem_nb.estimation.options import FitOptions
from msem_nb.inference.decompose import decompose
from msem_nb.messages import collecting
from msem_nb.present.diagram import path_diagram
from msem_nb.present.plots import correlation_figure, icc_figure
from msem_nb.syntax import ModelSyntaxError, ParsedModel, parse
from msem_nb.widget import tables
from msem_nb.widget.describe import describe_error
from msem_nb.widget.gridspec import grid_spec
from msem_nb.widget.guess import default_variables, detect_cluster
from msem_nb.widget.model import SINGLE_LEVEL, TWO_LEVELS, ModelState, read_syntax
from msem_nb.widget.refit import Refitter
from msem_nb.widget.scheduler import Scheduler
from msem_nb.widget.view import PanelView

__all__ = ["PanelController"]


def _default_diagram(fit):
    return path_diagram(fit)


@dataclass(frozen=True)
class _FitRequest:
    syntax: str
    # the model to fit; None when the text has no statements
    parsed: ParsedModel | None
    parse_error: BaseException | None
    cluster: object
    estimator: str
    missing: str


@dataclass(frozen=True)
class _DataRequest:
    cluster: object
    variables: tuple


class PanelController:
    """State and rules of the panel.

    Parameters
    ----------
    data : pandas.DataFrame
    cluster : str or None
        Cluster column; ``"auto"`` guesses one (:func:`detect_cluster`).
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
    fit_fn, diagram_fn : callable, optional
        Replace the refit (then ``fit_fn(syntax, data, cluster=, estimator=,
        missing=)`` as :func:`msem_nb.fit`) and the diagram function (tests).
    """

    def __init__(self, data: pd.DataFrame, cluster=None, model: str | None = None, *,
                 variables=None, view: PanelView, estimator: str = "ML",
                 missing: str = "listwise",
                 debounce: float = 0.15, fit_fn=None, diagram_fn=None):
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        if cluster == "auto":
            cluster = detect_cluster(data)
        if cluster is not None and cluster not in data.columns:
            raise DataError(f"cluster column '{cluster}' is not in the data; the columns are: "
                            f"{', '.join(map(str, data.columns))}")
        self.data = data
        self.view = view
        self.cluster = cluster
        self.columns = [str(c) for c in data.columns]
        self.variables = list(variables) if variables is not None \
            else default_variables(data, cluster)
        unknown = [v for v in self.variables if v not in data.columns]
        if unknown:
            raise DataError(f"unknown variable(s): {', '.join(map(str, unknown))}")
        self.estimator = estimator
        self.missing = missing
        self.roles: dict[str, str] = {}
        self._new_levels = False
        self.decomposition = None
        self.result = None
        self.error: BaseException | None = None
        self.elapsed: float | None = None
        self._fit_fn = fit_fn
        self._refitter = Refitter(data)
        self._diagram_fn = diagram_fn or _default_diagram
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

    def start(self) -> None:
        """Draw everything once: the data summary and decomposition now, the first fit queued."""
        with self.lock:
            self.view.show_syntax(self.syntax)
            self._data_job(_DataRequest(self.cluster, tuple(self.variables)),
                           lambda fn: (fn(), True)[1])
            self._request_fit(immediate=True)

    def close(self) -> None:
        self._fits.close()
        self._data_jobs.close()

    # -- queries ----------------------------------------------------------------
    def known_names(self) -> set:
        return (set(self.columns) | set(self.model.latent_names())
                | set(self.model.slope_names()))

    def grid(self) -> dict:
        return grid_spec(self.model, self.variables, self.roles if self.cluster else None,
                         self.columns)

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
                self.view.show_grid(self.grid())
            self._request_fit(immediate=immediate)

    def toggle_path(self, lhs, rhs, level=None, on=None) -> bool:
        """Switch ``lhs ~ rhs`` at `level`; returns whether it is on."""
        with self.lock:
            self._check_names(lhs, rhs)
            now = self.model.toggle_path(lhs, rhs, self._level(level), on)
            if now:
                self._ensure_cluster_parts([lhs], level)
            self._model_changed()
            return now

    def toggle_covariance(self, a, b, level=None, on=None) -> bool:
        """Switch ``a ~~ b`` (a == b: the variance) at `level`; returns whether it is on."""
        with self.lock:
            self._check_names(a, b)
            now = self.model.toggle_covariance(a, b, self._level(level), on)
            self._model_changed()
            return now

    def toggle_random_slope(self, y, x, on=None) -> str | None:
        """Make the within path ``y ~ x`` random (or fixed); returns the slope's name or None."""
        with self.lock:
            above = self.model.cluster_level
            if above is None:
                raise ValueError("random slopes need a two-level model: choose a cluster column")
            self._check_names(y, x)
            latent = set(self.model.latent_names())
            for v, what in ((y, "outcome"), (x, "covariate")):
                if v in latent or v not in self.columns:
                    raise ValueError(f"the {what} of a random slope must be an observed "
                                     f"variable; '{v}' is not")
            if self.model.slope_of(y, x) is None and on is not False \
                    and x in self.model.blocks[above].names():
                raise ValueError(
                    f"'{x}' is used in the {above} block; a random slope needs a covariate "
                    f"without a {above} part there (remove '{x}' from the {above} level first)")
            name = self.model.toggle_random_slope(y, x, on, taken=self.columns)
            if name is not None:
                self._ensure_cluster_parts([y], self.model.slope_level)
            self._model_changed()
            return name

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
            self.model.set_latent(name, indicators, self._level(level))
            self._ensure_cluster_parts(indicators, level)
            self._model_changed()

    def remove_latent(self, name: str, level=None) -> None:
        with self.lock:
            self.model.remove_latent(name, self._level(level))
            self._model_changed()

    def set_cluster(self, cluster) -> None:
        """Change the cluster column (None: single-level); the model follows."""
        with self.lock:
            if cluster is not None and cluster not in self.data.columns:
                raise DataError(f"cluster column '{cluster}' is not in the data")
            old_levels = self._levels()
            self.cluster = cluster
            if cluster in self.variables:
                self.variables = [v for v in self.variables if v != cluster]
            self.roles = {}
            if self._levels() != old_levels:
                self.model = self.model.with_levels(self._levels())
                # once the roles are known, outcomes get their cluster parts
                self._new_levels = self.model.multilevel
                self._syntax_from_model()
            self.view.show_grid(self.grid())
            self._data_jobs.request(_DataRequest(cluster, tuple(self.variables)), immediate=True)
            self._request_fit()

    def set_variables(self, variables) -> None:
        """Change the variables offered on the Model screen (the model keeps its own)."""
        with self.lock:
            variables = [v for v in variables if v != self.cluster]
            self._check_names(*variables)
            self.variables = list(variables)
            self.view.show_grid(self.grid())
            self._data_jobs.request(_DataRequest(self.cluster, tuple(self.variables)))

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

    # -- helpers ------------------------------------------------------------------
    def _levels(self):
        # one cluster column: the two levels of the syntax
        return TWO_LEVELS if self.cluster is not None else SINGLE_LEVEL

    def _level(self, level):
        if not self.model.multilevel:
            if level not in (None, "", "within"):
                raise ValueError(f"the model has one level; level={level!r} does not exist "
                                 "(choose a cluster column for a two-level model)")
            return None
        if level in (None, ""):
            raise ValueError("say which level: "
                             + " or ".join(f"level={lv!r}" for lv in self.model.levels))
        return level

    def _check_names(self, *names) -> None:
        known = self.known_names()
        bad = [str(v) for v in names if v not in known]
        if bad:
            raise ValueError(f"unknown variable(s): {', '.join(bad)}; use data columns, latent "
                             "variables or random slopes of the model")

    def _ensure_cluster_parts(self, names, level) -> None:
        # A variable with variance between clusters that the model names only
        # in the lowest block would be treated as within-only, leaving its
        # cluster-level variance unmodelled. Give it a variance at the cluster
        # level (its random intercept), as Mplus does by default; the switch
        # shows it.
        above = self.model.cluster_level
        if above is None or level not in (self.model.levels[0], None):
            return
        used = set(self.model.blocks[above].names())
        for v in names:
            if self.roles.get(v) == "both" and v not in used:
                self.model.toggle_covariance(v, v, above, on=True)

    def _syntax_from_model(self) -> None:
        # the model changed: its text and its parsed form follow, unparsed
        self.syntax = self.model.to_syntax()
        self.syntax_error = None
        self.parsed = None if self.model.is_empty() else self.model.to_parsed(self.syntax)
        self.view.show_syntax(self.syntax)

    def _model_changed(self) -> None:
        self._syntax_from_model()
        self.view.show_grid(self.grid())
        self._request_fit()

    def _request_fit(self, immediate: bool | None = None) -> None:
        with self.lock:
            self._fits.request(_FitRequest(self.syntax, self.parsed, self.syntax_error,
                                           self.cluster, self.estimator, self.missing),
                               immediate=immediate)

    def _on_fit_request(self, gen, req: _FitRequest) -> None:
        if req.parse_error is None and req.syntax.strip():
            self.view.show_status("fitting", "Fitting the model \u2026")

    def _on_crash(self, gen, exc) -> None:
        msg, detail = describe_error(exc)
        self.view.show_status("error", "Internal error in the panel: " + msg, detail)

    # -- worker jobs -------------------------------------------------------------------
    def _fit_job(self, req: _FitRequest, publish) -> None:
        if req.parse_error is not None:
            publish(lambda: self._show_failure(req.parse_error, None))
            return
        if not req.syntax.strip():
            publish(lambda: self.view.show_status(
                "idle", "No model yet: switch paths on in the Model screen, or type the "
                        "model in the syntax box."))
            return
        t0 = time.perf_counter()
        try:
            # the core records its warnings per thread; catch_warnings is global
            with collecting(quiet=True) as caught:
                fit = self._fit(req)
        except Exception as exc:  # noqa: BLE001 - every failure is shown, none kills the panel
            elapsed = time.perf_counter() - t0
            publish(lambda e=exc: self._show_failure(e, elapsed))
            return
        elapsed = time.perf_counter() - t0
        notes = list(dict.fromkeys(list(getattr(fit, "messages", ())) + list(caught)))
        try:
            figure, diagram_error = self._diagram_fn(fit), None
        except Exception as exc:  # noqa: BLE001 - the results stay usable without a diagram
            figure = None
            diagram_error = f"The diagram could not be drawn: {describe_error(exc)[0]}"
        if not publish(lambda: self._show_fit(fit, figure, diagram_error, elapsed, notes)):
            return
        parts = tables.results_parts(fit)
        publish(lambda: self.view.show_results(parts))

    def _fit(self, req: _FitRequest):
        if self._fit_fn is not None:
            return self._fit_fn(req.syntax, self.data, cluster=req.cluster,
                                estimator=req.estimator, missing=req.missing)
        # level headers without statements: the parser says why there is nothing to fit
        parsed = req.parsed if req.parsed is not None else parse(req.syntax)
        options = FitOptions(estimator=req.estimator, missing=req.missing)
        return self._refitter.fit(parsed, req.cluster, options, model=req.syntax)

    def _show_failure(self, exc, elapsed) -> None:
        self.error = exc
        msg, detail = describe_error(exc)
        if elapsed is not None:
            msg += f" ({elapsed:.2f} s)"
        if self.result is not None:
            msg += " \u2014 the results shown are from the last model that could be fitted."
        self.view.show_status("error", msg, detail)

    def _show_fit(self, fit, figure, diagram_error, elapsed, notes) -> None:
        self.result = fit
        self.error = None
        self.elapsed = elapsed
        extra = f"log-likelihood {fit.loglik:.3f}, {fit.npar} free parameters"
        if fit.converged:
            self.view.show_status("ok", f"Converged in {elapsed:.2f} s ({fit.iterations} "
                                        f"iterations; {extra}).", "\n".join(notes))
        else:
            self.view.show_status("warn", f"Did NOT converge ({elapsed:.2f} s, {fit.iterations} "
                                          "iterations): the estimates are not reliable.",
                                  "\n".join(notes))
        self.view.show_fit(fit, figure, diagram_error)

    def _data_job(self, req: _DataRequest, publish) -> None:
        dec, figures, error = None, {}, None
        if req.cluster is not None and req.variables:
            try:
                with collecting(quiet=True) as caught:
                    dec = decompose(self.data, req.cluster, list(req.variables))
                if caught:
                    error = " ".join(caught)
            except Exception as exc:  # noqa: BLE001
                error = describe_error(exc)[0]
            if dec is not None:
                try:
                    figures = {"icc": icc_figure(dec), "corr": correlation_figure(dec)}
                except Exception as exc:  # noqa: BLE001 - tables still show
                    error = f"The figures could not be drawn: {describe_error(exc)[0]}"
        publish(lambda: self._apply_data(req, dec, figures, error))

    def _apply_data(self, req: _DataRequest, dec, figures, error) -> None:
        self.decomposition = dec
        self.roles = ({r["variable"]: r["role"] for r in dec.roles.to_dict("records")}
                      if dec is not None else {})
        variables = list(req.variables)
        if dec is not None:
            sizes, missing = dec.cluster_sizes, dec.missingness
        else:
            sizes = None
            counts = self.data[variables].isna().sum() if variables else pd.Series(dtype=float)
            missing = pd.DataFrame({"n_missing": counts, "share_missing": counts / len(self.data)})
        self.view.show_data(tables.data_summary_html(len(self.data), req.cluster, variables,
                                                     sizes, missing))
        if req.cluster is None:
            note = "Choose a cluster column on the Data screen to see the decomposition."
        elif not variables:
            note = "Choose variables on the Data screen."
        else:
            note = error
        self.view.show_decomposition(dec, figures, tables.roles_html(dec) if dec is not None
                                     else "", note)
        if self._new_levels and dec is not None and req.cluster == self.cluster:
            self._new_levels = False
            before = self.model.to_syntax()
            self._ensure_cluster_parts(self._lowest_outcomes(), self.model.levels[0])
            if self.model.to_syntax() != before:
                self._model_changed()
                return
        self.view.show_grid(self.grid())

    def _lowest_outcomes(self) -> list[str]:
        blk = self.model.blocks[self.model.levels[0]]
        out = [y for (y, _x) in blk.paths] + [y for y, _t in blk.slopes.values()]
        out += [t.name for terms in blk.latents.values() for t in terms]
        return list(dict.fromkeys(out))
