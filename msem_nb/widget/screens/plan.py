"""The Plan tab: a power study of the model on the screen, run in the background.

The population is the current fit with its estimates as values
(:func:`msem_nb.planning.population.population_syntax`), the analysis is
the model as written; the user picks the parameter of interest from the
fit's free parameters, may give it another population value (an effect
size to plan for), and enters the grid (numbers of clusters, cluster
sizes, replications, seed). :meth:`PlanScreen.run` starts
:func:`msem_nb.power` on a worker thread (one process: the kernel stays
responsive, the study is the same for any engine); the form's progress bar
follows it chunk by chunk and Stop ends it after the current chunk. The
power curves are drawn in a :class:`~msem_nb.widget.frontend.PlotView`,
the table and the study's code go to the form, and the code can be
inserted as a notebook cell. The form (:mod:`msem_nb.widget.js.plan_form`)
holds the inputs as traits and sends commands as messages.
"""

from __future__ import annotations

import threading
from typing import Callable

import ipywidgets as W

from msem_nb.errors import ModelSpecificationError, MsemError
from msem_nb.planning import PowerPlan, power
from msem_nb.planning.grid import param_name, parse_numbers, parse_sizes
from msem_nb.planning.population import population_syntax
from msem_nb.widget.describe import describe_error
from msem_nb.widget.frontend import PlanForm
from msem_nb.widget.screens.figures import plot_view

__all__ = ["PlanScreen", "StudyStopped", "offered_parameters"]

_INTRO = ("<p style='color:#555;margin:2px 0'>How many clusters does a study need? Data are "
          "simulated from the model on the screen with its estimates as population values "
          "(give the parameter of interest another value to plan for a smaller effect), the "
          "model is fitted to each data set, and power is the share of replications in which "
          "the parameter is significant at .05 (Muthen &amp; Muthen, 2002).</p>")


class StudyStopped(MsemError):
    """Raised from the progress callback when Stop was pressed."""


def offered_parameters(fit) -> tuple[list[str], dict[str, float]]:
    """The free parameters of `fit` (regressions and := first) and their estimates."""
    est = fit.estimates
    rows = est[est["free"]]
    names, values = [], {}
    for r in rows.to_dict("records"):
        name = param_name(r["lhs"], r["op"], r["rhs"], r["level"])
        names.append(name)
        values[name] = float(r["est"])
    order = {"~": 0, ":=": 1, "=~": 2, "~~": 3, "~1": 4}
    ops = dict(zip(names, rows["op"]))
    return sorted(names, key=lambda n: order.get(ops[n], 5)), values


class PlanScreen:
    """The Plan tab: the form, the power curves and the worker.

    Parameters
    ----------
    ctl : PanelController
        Gives the current fit (``ctl.result``) and the display lock.
    insert_cell : callable, optional
        ``insert_cell(code)`` puts the study's code in a notebook cell.

    Attributes
    ----------
    plan : PowerPlan or None
        The latest finished study.
    error : Exception or None
        Why the latest study failed.
    """

    title = "Plan"

    def __init__(self, ctl, insert_cell: Callable[[str], None] | None = None) -> None:
        self._ctl = ctl
        self._insert = insert_cell
        self.plan: PowerPlan | None = None
        self.error: BaseException | None = None
        self._values: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.form = PlanForm()
        self.figure = plot_view("msem-plan-figure", "Power over the number of clusters", "")
        self.box = W.VBox([W.HTML(_INTRO), self.form, self.figure],
                          layout=W.Layout(width="100%"))
        self.box.add_class("msem-plan-screen")
        self.form.on_command(self._command)
        self.form.observe(self._on_parameter, "parameter")

    # -- what is offered -------------------------------------------------------------
    def on_show(self) -> None:
        """Offer the parameters of the fit on the screen (each time the tab opens)."""
        self.update()

    def update(self) -> None:
        """Offer the current fit's parameters; keep the choice while it is still there."""
        fit = self._ctl.result
        with self._ctl.lock:
            if fit is None:
                self.form.parameters, self._values = [], {}
                if self.form.state != "running":
                    self.form.message = "Fit a model first: the study simulates from it."
                return
            names, self._values = offered_parameters(fit)
            keep = self.form.parameter if self.form.parameter in names else \
                (names[0] if names else "")
            self.form.parameters = names
            self.form.parameter = keep
            self.form.estimate = self._values.get(keep)
            if self.form.state == "idle":
                self.form.message = ""

    def _on_parameter(self, change) -> None:
        self.form.estimate = self._values.get(change["new"])

    # -- commands ----------------------------------------------------------------------
    def _command(self, kind: str) -> None:
        if kind == "run":
            self.run()
        elif kind == "cancel":
            self.cancel()
        elif kind == "insert_code" and self._insert is not None and self.form.code:
            self._insert(self.form.code)

    def run(self, parameter: str | None = None, effect: float | None = None, *,
            clusters: str | None = None, sizes: str | None = None, reps: int | None = None,
            seed: int | None = None, wait: bool = False, timeout: float | None = 600):
        """Start the study with the form's settings (the arguments set them first).

        Returns the :class:`PowerPlan` with ``wait`` (raising the error of a
        failed study), else None at once.
        """
        f = self.form
        with self._ctl.lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("a study is already running; stop it first")
            if parameter is not None:
                f.parameter = parameter
            if effect is not None:
                f.effect = repr(float(effect))
            for name, value in (("clusters", clusters), ("sizes", sizes)):
                if value is not None:
                    setattr(f, name, str(value))
            if reps is not None:
                f.reps = int(reps)
            if seed is not None:
                f.seed = int(seed)
            try:
                job = self._settings()
            except MsemError as exc:
                self._fail(exc)
                if wait:
                    raise
                return None
            self._stop.clear()
            f.state, f.done, f.total, f.rows, f.code = "running", 0, 0, [], ""
            f.message = f"Simulating {job['reps']} data sets per design \u2026"
            self.figure.show(None)
            self._thread = threading.Thread(target=self._job, args=(job,), daemon=True,
                                            name="msem-plan")
            self._thread.start()
        if not wait:
            return None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the study was still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.plan

    def cancel(self) -> None:
        """Stop the running study after its current chunk."""
        self._stop.set()

    def wait(self, timeout: float | None = 600) -> bool:
        """Wait for the running study; True when none is running any more."""
        t = self._thread
        if t is not None:
            t.join(timeout)
        return t is None or not t.is_alive()

    # -- the study ---------------------------------------------------------------------
    def _settings(self) -> dict:
        fit = self._ctl.result
        f = self.form
        if fit is None:
            raise ModelSpecificationError("there is no fitted model to simulate from yet")
        if fit.nlevels > 2:
            # ms.power simulates one- and two-level designs (clusters of one size list)
            raise ModelSpecificationError(
                "power studies of three-level models are not available yet: the Plan tab "
                "simulates one- and two-level designs (set 'Nested in' to none on the Data tab "
                "to plan a two-level study)")
        if not f.parameter:
            raise ModelSpecificationError("choose the parameter of interest")
        vary = None
        if f.effect.strip():
            try:
                value = float(f.effect)
            except ValueError as exc:
                raise ModelSpecificationError(
                    f"the population value must be a number, not '{f.effect}'") from exc
            vary = {f.parameter: [value]}
        return {"population": population_syntax(fit), "analysis": fit.model,
                "parameter": f.parameter, "vary": vary,
                "n_clusters": parse_numbers(f.clusters, "numbers of clusters"),
                "cluster_size": parse_sizes(f.sizes), "reps": int(f.reps), "seed": int(f.seed),
                "estimator": fit.options.estimator, "center": fit.options.center_map or None}

    def _progress(self, done: int, total: int) -> None:
        if self._stop.is_set():
            raise StudyStopped(f"stopped after {done} of {total} replications")
        with self._ctl.lock:
            with self.form.hold_sync():
                self.form.done, self.form.total = int(done), int(total)

    def _job(self, job: dict) -> None:
        name = job.pop("parameter")
        try:
            plan = power(job.pop("population"), job.pop("analysis"), progress=self._progress,
                         **job)
            fig = plan.figure(name)
        except StudyStopped as exc:
            with self._ctl.lock:
                self.plan, self.error = None, exc
                self.form.state = "cancelled"
                self.form.message = f"Stopped: {exc}."
            return
        except Exception as exc:  # noqa: BLE001 - shown on the screen, which stays usable
            with self._ctl.lock:
                self._fail(exc)
            return
        with self._ctl.lock:
            self._show(plan, name, fig)

    def _show(self, plan: PowerPlan, name: str, fig) -> None:
        self.plan, self.error = plan, None
        tab = plan.table[plan.table["parameter"] == name]
        cols = ["n_clusters", "cluster_size", "power", "rel_bias", "se_sd_ratio", "coverage",
                "converged"]
        rows = [{k: (None if isinstance(v, float) and v != v else v)  # noqa: PLR0124 - NaN
                 for k, v in r.items()} for r in tab[cols].to_dict("records")]
        best = plan.required(name, 0.8)
        if best is None or getattr(best, "ndim", 1) == 2:
            need = "no design of the grid reaches a power of .80; try more clusters"
        else:
            need = (f"the smallest design with power \u2265 .80 is J = "
                    f"{int(best['n_clusters'])} clusters of {best['cluster_size']}")
        with self.form.hold_sync():
            self.form.rows = [{k: (int(v) if k == "n_clusters" else v) for k, v in r.items()}
                              for r in rows]
            self.form.code = plan.code()
            self.form.state = "done"
            self.form.done = self.form.total
            self.form.message = (f"{name}: {need} ({plan.reps} replications per design, "
                                 f"{plan.elapsed:.1f} s).")
        self.figure.show(fig)

    def _fail(self, exc: BaseException) -> None:
        self.plan, self.error = None, exc
        self.form.state = "error"
        self.form.message = "Cannot run the study: " + describe_error(exc)[0]
