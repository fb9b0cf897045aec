"""The Compare tab: one effect estimated six ways, off the kernel's main thread.

:class:`CompareScreen` holds the widgets (outcome, predictor, mediators, a
Compare button, the forest plot, the table and the notes) and runs
:func:`msem_nb.widget.comparison.run_comparison` on a worker thread through a
:class:`~msem_nb.widget.scheduler.Scheduler` that shares the panel's display
lock: a newer request supersedes an older one, and a comparison that fails
(or crashes) is reported on the screen, which stays usable. Every name
reaches the page escaped. A comparison whose fits warned (standard errors
not available, ...) is shown in amber with each warning once.

The tab opens on the model's own question (its first within path) and
compares it at once; without a path in the model nothing is pre-selected
and nothing runs until y and x are chosen.
"""

from __future__ import annotations

import time

import ipywidgets as W

from msem_nb.widget import tables
from msem_nb.widget.comparison import CompareRequest, default_pair, run_comparison
from msem_nb.widget.describe import describe_error
from msem_nb.widget.scheduler import Scheduler
from msem_nb.widget.screens.figures import plot_view
from msem_nb.widget.status import unique_notes

__all__ = ["CompareScreen", "comparison_notes_html", "comparison_table_html", "message_html"]

_INTRO = ("<p style='color:#555;margin:2px 0'>The same effect estimated six ways, from "
          "ignoring the clusters to a two-level SEM with latent cluster means, on the rows "
          "complete on the chosen variables. Choose an outcome y and a predictor x "
          "(optionally mediators, Ctrl/Cmd-click) measured on level-1 units.</p>")

#: How the outcome and predictor dropdowns say "nothing chosen yet".
CHOOSE = "(choose)"

_MSG_STYLE = {"idle": "color:#555", "running": "color:#4c78a8", "ok": "color:#2d7a2d",
              "warn": "color:#9a6b00", "error": "color:#b00"}


def message_html(state: str, text: str) -> str:
    """The screen's one-line message (escaped text; ``data-state`` for tests and styles)."""
    return (f"<div class='msem-compare-msg' data-state='{state}' "
            f"style='{_MSG_STYLE.get(state, '')};margin:4px 0'>{tables.esc(text)}</div>")


def comparison_table_html(cmp) -> str:
    """The effects of a Comparison, grouped by approach (every name escaped)."""
    rows: list = []     # group headings (str) and rows (tuples)
    ci = f"{round(cmp.ci_level * 100)}% CI"
    for app in dict.fromkeys(cmp.table["approach"]):
        rows.append(str(app))
        for r in cmp.table[cmp.table["approach"] == app].to_dict("records"):
            lo, hi = tables.cell(r["ci_lower"]), tables.cell(r["ci_upper"])
            rows.append((tables.esc(r["effect"]), tables.cell(r["estimate"]) or "NA",
                         tables.cell(r["se"]), f"[{lo}, {hi}]" if lo and hi else "",
                         f"{int(r['n_used']):,} {tables.esc(r['n_unit'])}",
                         f"<span class='bad'>{tables.esc(r['note'])}</span>"
                         if r["note"] else ""))
    head = (f"<p><b>Effects</b>: {tables.esc(cmp.question)}, {cmp.nobs:,} "
            f"{tables.esc(cmp.units[0])} in {cmp.nclusters:,} {tables.esc(cmp.units[1])}</p>")
    return tables.wrap(head + tables.table_html(["effect", "estimate", "SE", ci, "n", "note"],
                                                rows, numeric=(1, 2, 3)))


def comparison_notes_html(cmp) -> str:
    """What each approach assumes, in plain language (escaped)."""
    items = "".join(f"<li><b>{tables.esc(a)}</b>: {tables.esc(n)}</li>"
                    for a, n in cmp.notes.items())
    return tables.wrap(f"<p><b>What each approach assumes</b></p><ul>{items}</ul>")


class CompareScreen:
    """The Compare tab of the panel: widgets, worker and the latest comparison.

    Nothing runs until the tab is first opened (:meth:`on_show`) or a
    comparison is asked for; after that, changing the selection or the
    panel's data (:meth:`update`) compares again.

    Parameters
    ----------
    ctl : PanelController
        Gives the data, the cluster column, the chosen variables, the model
        (for the default y and x) and the display lock.
    debounce : float
        As in :class:`~msem_nb.widget.scheduler.Scheduler`.
    compare_fn : callable, optional
        Replaces :func:`msem_nb.compare_approaches` (tests).

    Attributes
    ----------
    comparison : Comparison or None
        The comparison on the screen (None before the first and after a
        failed one).
    error : Exception or None
        Why the latest comparison failed.
    """

    title = "Compare"

    def __init__(self, ctl, debounce: float = 0.15, compare_fn=None):
        self._ctl = ctl
        self._compare_fn = compare_fn
        self.comparison = None
        self.error = None
        self._quiet = False      # True while Python sets the selection
        self._requested = False  # a comparison has been asked for: changes rerun it
        self._build()
        self._sched = Scheduler(self._job, debounce, on_request=self._on_request,
                                on_crash=self._on_crash, name="msem-compare", lock=ctl.lock)
        self.refresh_options(reset=True)
        self.msg.value = message_html("idle", "Choose y and x, then press Compare.")
        for dd in (self.y, self.x, self.mediators):
            dd.observe(self._on_selection, "value")
        self.run.on_click(lambda _b: self.request(immediate=True))

    def _build(self) -> None:
        width = W.Layout(width="300px")
        self.y = W.Dropdown(options=[(CHOOSE, None)], value=None, description="Outcome y",
                            layout=width)
        self.x = W.Dropdown(options=[(CHOOSE, None)], value=None, description="Predictor x",
                            layout=width)
        self.mediators = W.SelectMultiple(options=[], rows=4, description="Mediators",
                                          layout=W.Layout(width="300px"))
        self.run = W.Button(description="Compare", icon="balance-scale", button_style="primary",
                            layout=W.Layout(width="120px"))
        self.msg = W.HTML()
        self.figure = plot_view("msem-compare-figure", "Forest plot of the effect by approach",
                                "")
        self.table = W.HTML()
        self.notes = W.HTML()
        self.out = W.VBox([self.figure, self.table, self.notes], layout=W.Layout(width="100%"))
        self.box = W.VBox([W.HTML(_INTRO), W.HBox([W.VBox([self.y, self.x]), self.mediators,
                                                   self.run]), self.msg, self.out],
                          layout=W.Layout(width="100%"))
        self.box.add_class("msem-compare")

    # -- selection -------------------------------------------------------------------
    def _offered(self, extra=()) -> list:
        ctl = self._ctl
        numeric = set(ctl.data.select_dtypes("number").columns)
        out = [v for v in ctl.variables if v in numeric and v != ctl.cluster]
        return out + [v for v in extra if v is not None and v not in out]

    def refresh_options(self, reset: bool = False, extra=()) -> None:
        """Offer the panel's numeric variables; keep the selection where it is still offered.

        `reset` chooses the default y and x again
        (:func:`~msem_nb.widget.comparison.default_pair`).
        """
        with self._ctl.lock:
            y, x, meds = self.y.value, self.x.value, tuple(self.mediators.value)
            opts = self._offered(extra)
            if reset or y not in opts or x not in opts:
                y, x = default_pair(self._ctl.model, opts)
            self._set(opts, y, x, tuple(m for m in meds if m in opts))

    def _set(self, opts, y, x, meds) -> None:
        self._quiet = True
        try:
            pairs = [(CHOOSE, None)] + [(str(v), v) for v in opts]
            if [o[1] for o in self.y.options] != [None] + list(opts):
                self.y.options, self.x.options = pairs, pairs
            self.y.value = y if y in opts else None
            self.x.value = x if x in opts else None
            med_opts = [(str(v), v) for v in opts if v not in (y, x)]
            if list(self.mediators.options) != med_opts:
                self.mediators.options = med_opts
            self.mediators.value = tuple(m for m in meds if m not in (y, x))
        finally:
            self._quiet = False

    def update(self, rerun: bool = False) -> None:
        """The cluster column or the chosen variables changed: offer the new variables and,
        once a comparison was asked for, compare again if `rerun` or the selection moved."""
        with self._ctl.lock:
            before = (self.y.value, self.x.value, tuple(self.mediators.value))
            self.refresh_options()
            moved = before != (self.y.value, self.x.value, tuple(self.mediators.value))
            if self._requested and (rerun or moved):
                self.request()

    def _on_selection(self, change) -> None:
        if self._quiet:
            return
        if change["owner"] is not self.mediators:
            # y and x are not offered as mediators
            self._set([o[1] for o in self.y.options if o[1] is not None], self.y.value,
                      self.x.value, tuple(self.mediators.value))
        if self._requested:
            self.request()

    def on_show(self) -> None:
        """The tab was opened: the first time, compare the model's own path, if it has one."""
        if not self._requested:
            self.refresh_options(reset=True)
            if self.y.value is not None and self.x.value is not None:
                self.request(immediate=True)
            else:
                self.msg.value = message_html(
                    "idle", "Choose an outcome y and a predictor x, then press Compare.")

    # -- running -----------------------------------------------------------------------
    def request(self, immediate: bool | None = None) -> int | None:
        """Compare the selected variables (on the worker); returns the request's generation
        (None when y or x is not chosen yet: the screen asks for them)."""
        with self._ctl.lock:
            if self.y.value is None or self.x.value is None:
                self.msg.value = message_html(
                    "idle", "Choose an outcome y and a predictor x, then press Compare.")
                return None
            self._requested = True
            req = CompareRequest(self.y.value, self.x.value, tuple(self.mediators.value),
                                 self._ctl.cluster)
            return self._sched.request(req, immediate=immediate)

    def compare(self, y, x, mediators=None, wait: bool = False, timeout: float | None = 120):
        """Select `y`, `x` and `mediators` and compare them (see :meth:`Panel.compare`)."""
        meds = tuple(mediators or ())
        bad = [str(v) for v in (y, x, *meds) if v not in self._ctl.data.columns]
        if bad:
            raise ValueError(f"unknown column(s): {', '.join(bad)}")
        with self._ctl.lock:
            self._set(self._offered((y, x, *meds)), y, x, meds)
            gen = self.request(immediate=True)
        if gen is None:
            raise ValueError("choose an outcome y and a predictor x")
        if not wait:
            return None
        if not self._sched.wait(timeout):
            raise TimeoutError(f"the comparison was still running after {timeout} s")
        with self._ctl.lock:
            if self._sched.is_current(gen) and self.error is not None:
                raise self.error
            return self.comparison

    def wait(self, timeout: float | None = 120) -> bool:
        return self._sched.wait(timeout)

    def close(self) -> None:
        self._sched.close()

    def _on_request(self, gen, req: CompareRequest) -> None:
        self.msg.value = message_html(
            "running", f"Comparing six approaches: {req.y} on {req.x}"
            + (f" via {', '.join(map(str, req.mediators))}" if req.mediators else "") + " \u2026")
        self.out.add_class("msem-stale")

    def _on_crash(self, gen, exc) -> None:
        self._show_error(exc, internal=True)

    def _job(self, req: CompareRequest, publish) -> None:
        t0 = time.perf_counter()
        try:
            cmp, notes = run_comparison(self._ctl.data, req, self._compare_fn)
        except Exception as exc:  # noqa: BLE001 - shown on the screen, which stays usable
            publish(lambda e=exc: self._show_error(e))
            return
        fig_error = None
        try:
            fig = cmp.figure()
        except Exception as exc:  # noqa: BLE001 - the table still shows
            fig, fig_error = None, f"The forest plot could not be drawn: {describe_error(exc)[0]}"
        parts = (comparison_table_html(cmp), comparison_notes_html(cmp))
        elapsed = time.perf_counter() - t0
        publish(lambda: self._show(cmp, fig, fig_error, parts, notes, elapsed))

    def _show(self, cmp, fig, fig_error, parts, notes, elapsed) -> None:
        self.comparison, self.error = cmp, None
        self.figure.show(fig)
        self.table.value, self.notes.value = parts
        failed = [a for a, f in cmp.fits.items() if f is None]
        text = (f"Compared in {elapsed:.2f} s: {cmp.question}, {cmp.nobs:,} {cmp.units[0]} in "
                f"{cmp.nclusters:,} {cmp.units[1]}.")
        # several approaches can raise the same warning: each is said once
        extra = unique_notes(notes, [fig_error] if fig_error else [])
        if failed:
            extra.append(f"{len(failed)} of {len(cmp.fits)} approaches could not be fitted "
                         "(see the notes in the table).")
        self.msg.value = message_html("warn" if extra else "ok", " ".join([text] + extra))
        self.out.remove_class("msem-stale")

    def _show_error(self, exc, internal: bool = False) -> None:
        self.comparison, self.error = None, exc
        msg = describe_error(exc)[0]
        self.msg.value = message_html("error", ("Internal error in the panel: " if internal else
                                                "Cannot compare the approaches: ") + msg)
        self.figure.show(None)
        self.table.value = self.notes.value = ""
        self.out.remove_class("msem-stale")
