"""The Compare screen: one effect estimated six ways, off the kernel's main thread.

:class:`CompareScreen` holds the widgets (outcome, predictor, mediators, a
Compare button, the forest plot, the table and the notes) and runs
:func:`msem_nb.compare_approaches` on a worker thread through a
:class:`~msem_nb.widget.scheduler.Scheduler` that shares the panel's display
lock: a newer request supersedes an older one, and a comparison that fails
(or crashes) is reported on the screen, which stays usable.

Column names that the model syntax cannot spell (spaces, ``<``, ...) are
compared under temporary aliases and given back their names in the
:class:`~msem_nb.teaching.approaches.Comparison`; every name reaches the page escaped.
"""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace

import ipywidgets as W
import pandas as pd

from msem_nb.errors import DataError
from msem_nb.messages import collecting
from msem_nb.widget import tables
from msem_nb.widget.describe import describe_error
from msem_nb.widget.model import TWO_LEVELS
from msem_nb.widget.scheduler import Scheduler
from msem_nb.widget.screens import empty_figure, replace_figure
from msem_nb.teaching.approaches import compare_approaches

__all__ = ["CompareScreen", "compare_screen", "comparison_notes_html", "comparison_table_html",
           "default_pair"]

_INTRO = ("<p style='color:#555;margin:2px 0'>The same effect estimated six ways, from "
          "ignoring the clusters to a two-level SEM with latent cluster means, on the rows "
          "complete on the chosen variables. Choose an outcome y and a predictor x "
          "(optionally mediators, Ctrl/Cmd-click) measured on level-1 units.</p>")

_MSG_STYLE = {"idle": "color:#555", "running": "color:#4c78a8", "ok": "color:#2d7a2d",
              "warn": "color:#9a6b00", "error": "color:#b00"}


@dataclasses.dataclass(frozen=True)
class _Request:
    y: object
    x: object
    mediators: tuple
    cluster: object


def compare_screen() -> SimpleNamespace:
    """The widgets of the Compare screen (laid out, not wired)."""
    y_dd = W.Dropdown(options=[], description="Outcome y", layout=W.Layout(width="300px"))
    x_dd = W.Dropdown(options=[], description="Predictor x", layout=W.Layout(width="300px"))
    med = W.SelectMultiple(options=[], rows=4, description="Mediators",
                           layout=W.Layout(width="300px"))
    run = W.Button(description="Compare", icon="balance-scale", button_style="primary",
                   layout=W.Layout(width="120px"))
    msg = W.HTML()
    figure = empty_figure()
    figure.add_class("msem-compare-figure")
    table = W.HTML()
    notes = W.HTML()
    # the FigureWidget's view ignores later class changes: dim its box instead
    out = W.VBox([figure, table, notes])
    box = W.VBox([W.HTML(_INTRO), W.HBox([W.VBox([y_dd, x_dd]), med, run]), msg, out])
    box.add_class("msem-compare")
    return SimpleNamespace(box=box, y=y_dd, x=x_dd, mediators=med, run=run, msg=msg,
                           figure=figure, table=table, notes=notes, out=out)


def default_pair(model, variables) -> tuple:
    """(y, x) for a first comparison: the model's first within path between two of
    `variables`, else its first random slope, else the first two variables."""
    blk = model.blocks["within" if model.levels == TWO_LEVELS else ""]
    pairs = list(blk.paths) + [(y, t.name) for y, t in blk.slopes.values()]
    for y, x in pairs:
        if y in variables and x in variables and y != x:
            return y, x
    v = list(variables)
    return (v[0] if v else None), (v[1] if len(v) > 1 else None)


def message_html(state: str, text: str) -> str:
    """The screen's one-line message (escaped text; ``data-state`` for tests and styles)."""
    return (f"<div class='msem-compare-msg' data-state='{state}' "
            f"style='{_MSG_STYLE.get(state, '')};margin:4px 0'>{tables.esc(text)}</div>")


def comparison_table_html(cmp) -> str:
    """The effects of a Comparison, grouped by approach (every name escaped)."""
    rows = []
    ci = f"{round(cmp.level * 100)}% CI"
    for app in dict.fromkeys(cmp.table["approach"]):
        rows.append(str(app))
        for r in cmp.table[cmp.table["approach"] == app].to_dict("records"):
            est = tables.cell(r["estimate"])
            lo, hi = tables.cell(r["ci_lower"]), tables.cell(r["ci_upper"])
            rows.append((tables.esc(r["effect"]), est or "NA", tables.cell(r["se"]),
                         f"[{lo}, {hi}]" if lo and hi else "",
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


def _check(data: pd.DataFrame, req: _Request) -> None:
    """Problems that make a comparison meaningless, as a clear message (raises)."""
    if req.cluster is None:
        raise DataError("comparing approaches needs a cluster column: choose one on the Data "
                        "screen")
    if req.y is None or req.x is None:
        raise DataError("choose an outcome y and a predictor x")
    cols = [req.y, req.x, *req.mediators]
    twice = [str(c) for c in dict.fromkeys(cols) if cols.count(c) > 1]
    if twice:
        raise DataError("y, x and the mediators must be different variables ("
                        + ", ".join(f"'{c}'" for c in twice) + " is chosen twice)")
    if req.cluster in cols:
        raise DataError(f"'{req.cluster}' is the cluster column; it cannot be y, x or a mediator")
    used = data[[req.cluster, *cols]].dropna()
    if not len(used):
        raise DataError("no row has values on all of the chosen variables")
    for c in cols:
        s = used[c]
        if pd.api.types.is_numeric_dtype(s) and s.nunique() <= 1:
            raise DataError(f"'{c}' has the same value ({s.iloc[0]:g}) in every row used: "
                            "with zero variance it has no effect to estimate or be affected "
                            "by; choose another variable")


def run_comparison(data: pd.DataFrame, req: _Request, compare_fn=None):
    """compare_approaches on `req`, with aliases for names the syntax cannot spell.

    Returns
    -------
    (Comparison, list of str)
        The comparison (original names) and the warnings it raised.
    """
    if compare_fn is None:
        compare_fn = compare_approaches
    _check(data, req)
    cols = [req.y, req.x, *req.mediators]
    taken = set(map(str, data.columns))
    alias = {}
    for k, c in enumerate(cols):
        if not (isinstance(c, str) and c.isidentifier()):
            a = f"zzmsemv{k}zz"
            while a in taken:
                a += "z"
            alias[c] = a
    df = data[[req.cluster, *cols]].rename(columns=alias)
    a = [alias.get(c, c) for c in cols]
    with collecting(quiet=True) as caught:
        cmp = compare_fn(df, req.cluster, a[0], a[1], mediators=a[2:] or None)
    back = {v: str(k) for k, v in alias.items()}
    notes = [_sub(str(m), back) for m in caught]
    if back:
        cmp = _unalias(cmp, back)
    if all(f is None for f in cmp.fits.values()):
        first = next(iter(cmp.errors.values()), None)
        raise DataError("no approach could be fitted"
                        + (f": {_sub(str(first), back)}" if first else ""))
    return cmp, notes


def _sub(text: str, back: dict) -> str:
    for a, name in back.items():
        text = text.replace(a, name)
    return text


def _unalias(cmp, back: dict):
    table = cmp.table.copy()
    for col in ("effect", "note"):
        table[col] = [_sub(str(v), back) for v in table[col]]
    return dataclasses.replace(
        cmp, table=table, y=back.get(cmp.y, cmp.y), x=back.get(cmp.x, cmp.x),
        mediators=tuple(back.get(m, m) for m in cmp.mediators),
        notes={k: _sub(v, back) for k, v in cmp.notes.items()},
        models={k: _sub(v, back) for k, v in cmp.models.items()},
        icc=cmp.icc.rename(index=lambda i: back.get(i, i)))


class CompareScreen:
    """The Compare tab of the panel: widgets, worker and the latest comparison.

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

    def __init__(self, ctl, debounce: float = 0.15, compare_fn=None):
        self._ctl = ctl
        self._compare_fn = compare_fn
        self.comparison = None
        self.error = None
        self._quiet = False      # True while Python sets the selection
        self._requested = False  # a comparison has been asked for: changes rerun it
        self.w = compare_screen()
        self.box = self.w.box
        self._sched = Scheduler(self._job, debounce, on_request=self._on_request,
                                on_crash=self._on_crash, name="msem-compare", lock=ctl.lock)
        self.refresh_options(reset=True)
        self.w.msg.value = message_html("idle", "Choose y and x, then press Compare.")
        for dd in (self.w.y, self.w.x, self.w.mediators):
            dd.observe(self._on_selection, "value")
        self.w.run.on_click(lambda _b: self.request(immediate=True))

    # -- selection -------------------------------------------------------------------
    def _offered(self, extra=()) -> list:
        ctl = self._ctl
        numeric = set(ctl.data.select_dtypes("number").columns)
        out = [v for v in ctl.variables if v in numeric and v != ctl.cluster]
        return out + [v for v in extra if v is not None and v not in out]

    def refresh_options(self, reset: bool = False, extra=()) -> None:
        """Offer the panel's numeric variables; keep the selection where it is still offered.

        `reset` chooses the default y and x again (:func:`default_pair`).
        """
        w = self.w
        with self._ctl.lock:
            y, x, meds = w.y.value, w.x.value, tuple(w.mediators.value)
            opts = self._offered(extra)
            if reset or y not in opts or x not in opts:
                y, x = default_pair(self._ctl.model, opts)
            self._set(opts, y, x, tuple(m for m in meds if m in opts))

    def _set(self, opts, y, x, meds) -> None:
        w = self.w
        self._quiet = True
        try:
            pairs = [(str(v), v) for v in opts]
            if [o[1] for o in w.y.options] != list(opts):
                w.y.options, w.x.options = pairs, pairs
            w.y.value, w.x.value = y, x
            med_opts = [(str(v), v) for v in opts if v not in (y, x)]
            if list(w.mediators.options) != med_opts:
                w.mediators.options = med_opts
            w.mediators.value = tuple(m for m in meds if m not in (y, x))
        finally:
            self._quiet = False

    def data_changed(self, rerun: bool = False) -> None:
        """The cluster column or the chosen variables changed: offer the new variables and,
        once a comparison was asked for, compare again if `rerun` or the selection moved."""
        w = self.w
        with self._ctl.lock:
            before = (w.y.value, w.x.value, tuple(w.mediators.value))
            self.refresh_options()
            moved = before != (w.y.value, w.x.value, tuple(w.mediators.value))
            if self._requested and (rerun or moved):
                self.request()

    def _on_selection(self, change) -> None:
        if self._quiet:
            return
        w = self.w
        if change["owner"] is not w.mediators:
            # y and x are not offered as mediators
            self._set([o[1] for o in w.y.options], w.y.value, w.x.value,
                      tuple(w.mediators.value))
        if self._requested:
            self.request()

    def shown(self) -> None:
        """The tab was opened: the first time, compare the default pair."""
        if not self._requested:
            self.refresh_options(reset=True)
            if self.w.y.value is not None and self.w.x.value is not None:
                self.request(immediate=True)

    # -- running -----------------------------------------------------------------------
    def request(self, immediate: bool | None = None) -> int:
        """Compare the selected variables (on the worker); returns the request's generation."""
        w = self.w
        with self._ctl.lock:
            self._requested = True
            return self._sched.request(_Request(w.y.value, w.x.value, tuple(w.mediators.value),
                                                self._ctl.cluster), immediate=immediate)

    def compare(self, y, x, mediators=None, wait: bool = False, timeout: float | None = 120):
        """Select `y`, `x` and `mediators` and compare them (see :meth:`Panel.compare`)."""
        meds = tuple(mediators or ())
        bad = [str(v) for v in (y, x, *meds) if v not in self._ctl.data.columns]
        if bad:
            raise ValueError(f"unknown column(s): {', '.join(bad)}")
        with self._ctl.lock:
            self._set(self._offered((y, x, *meds)), y, x, meds)
            gen = self.request(immediate=True)
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

    def _on_request(self, gen, req: _Request) -> None:
        self.w.msg.value = message_html(
            "running", f"Comparing six approaches: {req.y} on {req.x}"
            + (f" via {', '.join(map(str, req.mediators))}" if req.mediators else "") + " \u2026")
        self.w.out.add_class("msem-stale")

    def _on_crash(self, gen, exc) -> None:
        self._show_error(exc, internal=True)

    def _job(self, req: _Request, publish) -> None:
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
        w = self.w
        replace_figure(w.figure, fig)
        w.table.value, w.notes.value = parts
        failed = [a for a, f in cmp.fits.items() if f is None]
        text = (f"Compared in {elapsed:.2f} s: {cmp.question}, {cmp.nobs:,} {cmp.units[0]} in "
                f"{cmp.nclusters:,} {cmp.units[1]}.")
        extra = list(notes) + ([fig_error] if fig_error else [])
        if failed:
            extra.append(f"{len(failed)} of {len(cmp.fits)} approaches could not be fitted "
                         "(see the notes in the table).")
        w.msg.value = message_html("warn" if failed or fig_error else "ok",
                                   " ".join([text] + extra))
        w.out.remove_class("msem-stale")

    def _show_error(self, exc, internal: bool = False) -> None:
        self.comparison, self.error = None, exc
        w = self.w
        msg = describe_error(exc)[0]
        w.msg.value = message_html("error", ("Internal error in the panel: " if internal else
                                             "Cannot compare the approaches: ") + msg)
        replace_figure(w.figure, None)
        w.table.value = w.notes.value = ""
        w.out.remove_class("msem-stale")
