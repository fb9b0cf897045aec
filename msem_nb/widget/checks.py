"""The Results screen's checks of a fit: modification indices, residuals, the previous fit.

:class:`ResultChecks` computes, off the kernel's main thread, what the
Results screen shows below the estimates:

* the largest modification indices (``fit.modindices()``), each with a
  button that frees its parameter through the panel's switches
  (:mod:`msem_nb.widget.modindex`), so the model text changes and the panel
  refits by its one refit path; freeing it again takes it back out;
* the correlation residuals per level as heatmaps
  (:func:`msem_nb.present.residual_plot.residual_heatmap`, one figure per
  level);
* with random slopes, the clusters' estimates: caterpillar plots and regression
  lines per cluster (:mod:`msem_nb.widget.slope_figures`);
* on request, the likelihood-ratio test of the previous fit against the
  current one (:func:`msem_nb.compare`: ML, or the scaled test under MLR),
  with AIC and BIC.

They are computed only while the Results screen is shown (the panel calls
:meth:`ResultChecks.want` after every fit while it is, and when it is
opened), so a refit behind another tab costs nothing more. Two workers (one
for the indices and residuals, one for the comparison) share the
controller's display lock, so a newer fit supersedes an older one's checks
and a comparison never waits for the indices. Everything the page gets is
plain text or a figure; every failure becomes a sentence on the screen (the
library's message, never a traceback), and the panel stays usable.
"""

from __future__ import annotations

from typing import Any, Protocol

from msem_nb.format import num, pvalue
from msem_nb.inference.compare import ModelComparison, compare
from msem_nb.inference.residuals import Residuals
from msem_nb.present.residual_plot import residual_heatmap
from msem_nb.results import FitResult
from msem_nb.widget.describe import describe_error
from msem_nb.widget.modindex import free_key, key_of, modindex_spec, param_text, unavailable
from msem_nb.widget.scheduler import Scheduler
from msem_nb.widget.slope_figures import slope_figures
from msem_nb.widget.switches import switch_is_on

__all__ = ["ResultChecks", "ChecksView", "comparison_spec", "residual_figures",
           "model_changes", "NO_PREVIOUS"]

#: What the comparison says before there are two fits to compare.
NO_PREVIOUS = ("No previous fit yet: change the model (a switch, the syntax, or free a "
               "parameter above) and the panel keeps the fit before the change to compare "
               "with.")
_IDLE = "Compares the fit shown with the fit before the last change of the model."
_OP_OF = {"cov": "~~", "path": "~", "load": "=~"}


class ChecksView(Protocol):
    """Where :class:`ResultChecks` shows its results (the Results screen)."""

    def show_modindices(self, spec: dict[str, Any]) -> None:
        """The list of modification indices (:func:`~msem_nb.widget.modindex.modindex_spec`)."""
        ...

    def show_residuals(self, figures: dict[str, Any], note: str | None) -> None:
        """Heatmaps of the residuals by level name; `note` says why there are none."""
        ...

    def show_comparison(self, spec: dict[str, Any]) -> None:
        """The comparison with the previous fit (:func:`comparison_spec`) or a message."""
        ...

    def show_slopes(self, figures: dict[str, Any], note: str | None) -> None:
        """The clusters' estimates of a random-slope fit (:func:`slope_figures`): figures
        by label, none for a model without random slopes; `note` says what is missing."""
        ...


def residual_figures(fit: FitResult, top: int = 5) -> tuple[dict[str, Any], str | None]:
    """Heatmaps of the correlation residuals, one figure per level (keyed by its name).

    Returns
    -------
    (figures, note)
        `note` is None, or why there are no figures (the library's message).
    """
    try:
        res = fit.residuals(type="cor")
        return {lv.level: residual_heatmap(Residuals(res.type, (lv,)), top=top)
                for lv in res.levels}, None
    except Exception as exc:  # noqa: BLE001 - a sentence on the screen
        return {}, f"Residuals not available: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    # the library's own words for its errors (MsemError is a ValueError); one line, no
    # traceback, for anything else
    return str(exc) if isinstance(exc, ValueError) else describe_error(exc)[0]


def _free_set(fit: FitResult) -> set[tuple]:
    out = set()
    for r in fit.partable.table.to_dict("records"):
        if r["free"] > 0 and r["op"] in ("=~", "~", "~~", "~1", "|~"):
            a, b = (r["lhs"], r["rhs"])
            if r["op"] == "~~":
                a, b = sorted((a, b))
            out.add((a, r["op"], b, r["level"]))
    return out


def model_changes(previous: FitResult, current: FitResult) -> str:
    """The parameters the current model frees that the previous did not, and the reverse."""
    old, new = _free_set(previous), _free_set(current)

    def names(rows) -> str:
        rows = sorted(rows, key=lambda r: (r[3], r[1], r[0], r[2]))
        text = ", ".join(param_text(*r[:3], r[3]) for r in rows[:5])
        return text + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")

    parts = []
    if new - old:
        parts.append(f"frees {names(new - old)}")
    if old - new:
        parts.append(f"no longer frees {names(old - new)}")
    return ("The current model " + "; ".join(parts) + ".") if parts else ""


def _int(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return ""
    return str(int(round(f))) if f == f and abs(f) != float("inf") else ""


def comparison_spec(cmp: ModelComparison, previous: FitResult, current: FitResult) -> dict:
    """The likelihood-ratio test as the page draws it (formatted text, one row per fit).

    Returns
    -------
    dict
        ``state`` "ok", ``title``, ``message`` (the verdict), ``header``,
        ``rows`` (lists of text, the row name first), ``notes``.
    """
    t = cmp.table
    scaled = cmp.method != "standard"
    header = ["fit", "parameters", "df", "\u03c7\u00b2",
              "\u0394\u03c7\u00b2" + (" (scaled)" if scaled else ""), "\u0394df", "p", "AIC",
              "BIC"] + (["scaling factor"] if scaled else [])
    rows = []
    for name, r in t.iterrows():
        row = [str(name), _int(r["npar"]), _int(r["df"]), num(r["chisq"], ".3f", missing=""),
               num(r["chisq_diff"], ".3f", missing=""), _int(r["df_diff"]),
               pvalue(r["pvalue"], missing=""), num(r["aic"], ".1f", missing=""),
               num(r["bic"], ".1f", missing="")]
        if scaled:
            row.append(num(r.get("scaling_factor"), ".3f", missing=""))
        rows.append(row)
    big, small = t.index[0], t.index[-1]
    last = t.iloc[-1]
    verdict = ""
    p = float(last["pvalue"]) if last["pvalue"] == last["pvalue"] else None
    if p is not None:
        test = (f"\u0394\u03c7\u00b2({_int(last['df_diff'])}) = "
                f"{num(last['chisq_diff'], '.2f')}, p {_p(p)}")
        verdict = (f"The {big} (more parameters) fits significantly better ({test})."
                   if p < 0.05 else
                   f"The extra parameters of the {big} do not improve the fit significantly "
                   f"({test}); the {small} is the simpler choice.")
    for crit in ("aic", "bic"):
        vals = t[crit]
        if vals.notna().all():
            verdict += f" {crit.upper()} prefers the {vals.idxmin()}."
    title = repr(cmp).splitlines()[0]
    change = model_changes(previous, current)
    return {"state": "ok", "title": title, "message": " ".join(x for x in (change, verdict)
                                                                if x).strip(),
            "header": header, "rows": rows, "notes": list(cmp.notes)}


def _p(p: float) -> str:
    text = pvalue(p)
    return "< " + text[1:] if text.startswith("<") else "= " + text


class ResultChecks:
    """Modification indices, residual heatmaps and the comparison of the Results screen.

    Parameters
    ----------
    ctl : PanelController
        The model, the fits (``result``, ``previous``), the switches and the
        display lock.
    view : ChecksView
        The Results screen.
    debounce : float
        As in :class:`~msem_nb.widget.scheduler.Scheduler`.

    Attributes
    ----------
    table : pandas.DataFrame or None
        The modification indices of the fit shown (every row, largest first).
    spec : dict
        What the page shows of them (:func:`~msem_nb.widget.modindex.modindex_spec`).
    comparison : ModelComparison or None
        The comparison shown; `compare_error` why the latest one failed.
    freed : list of (key, name)
        Parameters freed from the list (their switch keys), in order.
    """

    def __init__(self, ctl, view: ChecksView, debounce: float = 0.15):
        self._ctl = ctl
        self._view = view
        self.table = None
        self.spec: dict = {}
        self.comparison: ModelComparison | None = None
        self.compare_error: BaseException | None = None
        self.freed: list[tuple[tuple, str]] = []
        self._shown: FitResult | None = None    # the fit whose checks are on the screen
        self._wanted: FitResult | None = None
        self._mi_error: str | None = None
        self._pushes = 0
        self._sched = Scheduler(self._job, debounce, on_crash=self._on_crash,
                                name="msem-checks", lock=ctl.lock)
        self._lrt = Scheduler(self._compare_job, debounce, on_crash=self._on_compare_crash,
                              name="msem-lrt", lock=ctl.lock)
        self._view.show_comparison({"state": "idle", "message": _IDLE})

    @property
    def fit(self) -> FitResult | None:
        """The fit whose indices and residuals are on the screen (None before the first)."""
        return self._shown

    # -- indices and residuals ---------------------------------------------------------
    def want(self, fit: FitResult | None) -> None:
        """Show the checks of `fit` (computed on the worker unless they are shown already)."""
        with self._ctl.lock:
            if fit is None or fit is self._shown or (fit is self._wanted and self._sched.busy):
                return
            self._wanted = fit
            self._sched.request(fit, immediate=True)

    def fit_changed(self, fit: FitResult, shown: bool) -> None:
        """A new fit: a comparison on the screen is of older fits; `shown`: the screen is open."""
        with self._ctl.lock:
            if self.comparison is not None or self.compare_error is not None:
                self.comparison = self.compare_error = None
                self._view.show_comparison({"state": "idle", "message": _IDLE})
            if shown:
                self.want(fit)

    def _job(self, fit: FitResult, publish) -> None:
        reason = unavailable(fit)
        table = error = None
        if reason is None:
            try:
                table = fit.modindices(sort=True)
            except Exception as exc:  # noqa: BLE001 - said on the screen
                error = _reason(exc)
        else:
            error = reason
        figures, note = residual_figures(fit)
        slopes = slope_figures(fit)
        publish(lambda: self._show(fit, table, error, figures, note, slopes))

    def _show(self, fit, table, error, figures, note, slopes) -> None:
        self._shown, self.table, self._mi_error = fit, table, error
        self.refresh()
        self._view.show_residuals(figures, note)
        self._view.show_slopes(*slopes)

    def refresh(self) -> None:
        """Show the indices of the fit on the screen again, with the model as it is now."""
        with self._ctl.lock:
            fit = self._shown
            if fit is None:
                return
            self.spec = modindex_spec(fit, self.table, self._ctl.model,
                                      current=fit is self._ctl.result
                                      and self._ctl.fit_is_current(),
                                      freed=self.freed, error=self._mi_error)
            # a new number each time: the page redraws (and drops a pending click's mark)
            # even when nothing else changed, e.g. after a refused click
            self._pushes += 1
            self._view.show_modindices(dict(self.spec, version=self._pushes))

    def _on_crash(self, gen, exc) -> None:
        self._view.show_modindices({"state": "unavailable", "rows": [], "freed": [],
                                    "message": "Internal error in the panel: "
                                               + describe_error(exc)[0]})

    # -- freeing ------------------------------------------------------------------------
    def free_id(self, ident: str, on: bool) -> bool:
        """A click on the page: free (`on`) or fix again the parameter of id `ident`.

        Raises
        ------
        ValueError
            For an id the page was not offered, or a parameter the model
            cannot take (the reason).
        """
        key = key_of(ident)
        with self._ctl.lock:
            # "Free" on a row of the list, "Undo" on a parameter freed from it
            offered = {r["id"] for r in self.spec.get("rows" if on else "freed", ()) if r["id"]}
            if key is None or ident not in offered:
                raise ValueError("that parameter is not in the list any more")
            return self._toggle(key, on)

    def free_parameter(self, lhs: str, op: str, rhs: str, level: str | None = None,
                       on: bool | None = None) -> bool:
        """Free parameter ``lhs op rhs`` at `level` (on), fix it again (off) or flip it (None).

        Raises
        ------
        ValueError
            When the parameter cannot be freed in this model (the reason).
        """
        ctl = self._ctl
        with ctl.lock:
            lv = (level or "") if ctl.model.multilevel else ""
            same = ((lv, lhs, rhs), (lv, rhs, lhs)) if op == "~~" else ((lv, lhs, rhs),)
            freed = [k for k, _ in self.freed
                     if _OP_OF[k[0]] == op and k[1:] in same and switch_is_on(ctl.model, k)]
            if freed:
                return self._toggle(freed[0], bool(on))
            if on is False:
                return False
            if ctl.result is None:
                raise ValueError("there is no fit yet to free a parameter of")
            key, why = free_key(ctl.model, ctl.result, lhs, op, rhs, lv)
            if key is None:
                raise ValueError(why)
            return self._toggle(key, True)

    def _toggle(self, key: tuple, on: bool) -> bool:
        ctl = self._ctl
        kind, lv, a, b = key
        level = lv or None
        if kind == "cov":
            now = ctl.toggle_covariance(a, b, level, on)
        elif kind == "path":
            now = ctl.toggle_path(a, b, level, on)
        else:
            now = ctl.toggle_loading(a, b, level, on)
        if now and all(k != key for k, _ in self.freed):
            self.freed.append((key, param_text(a, _OP_OF[kind], b, lv)))
        return now

    # -- the comparison --------------------------------------------------------------------
    def compare(self) -> int | None:
        """Compare the previous fit with the current one (on the worker).

        Returns
        -------
        int or None
            The request's generation; None when there is nothing to compare
            (the screen says why).
        """
        ctl = self._ctl
        with ctl.lock:
            prev, cur = ctl.previous, ctl.result
            why = None
            if cur is None or prev is None:
                why = NO_PREVIOUS
            else:
                for name, fit in (("current", cur), ("previous", prev)):
                    reason = unavailable(fit)
                    if reason is not None:
                        why = f"Cannot compare: in the {name} fit, {reason}."
                        break
            if why is not None:
                self.comparison, self.compare_error = None, ValueError(why)
                self._view.show_comparison({"state": "unavailable", "message": why})
                return None
            self._view.show_comparison({"state": "running",
                                        "message": "Comparing with the previous fit \u2026"})
            return self._lrt.request((prev, cur), immediate=True)

    def compare_now(self, timeout: float | None = 60) -> ModelComparison:
        """:meth:`compare` and wait for it.

        Returns
        -------
        ModelComparison

        Raises
        ------
        Exception
            Why the fits cannot be compared (also shown on the screen).
        TimeoutError
            When the comparison takes longer than `timeout` seconds.
        """
        self.compare()
        if not self._lrt.wait(timeout):
            raise TimeoutError(f"the comparison was still running after {timeout} s")
        with self._ctl.lock:
            if self.compare_error is not None:
                raise self.compare_error
            return self.comparison

    def _compare_job(self, pair, publish) -> None:
        prev, cur = pair
        try:
            cmp = compare(prev, cur, names=["previous fit", "current fit"])
            spec = comparison_spec(cmp, prev, cur)
        except Exception as exc:  # noqa: BLE001 - not comparable: said on the screen
            publish(lambda e=exc: self._compare_failed(e))
            return
        publish(lambda: self._compared(cmp, spec))

    def _compared(self, cmp, spec) -> None:
        self.comparison, self.compare_error = cmp, None
        self._view.show_comparison(spec)

    def _compare_failed(self, exc) -> None:
        self.comparison, self.compare_error = None, exc
        self._view.show_comparison({"state": "error", "message":
                                    f"Cannot compare with the previous fit: {_reason(exc)}"})

    def _on_compare_crash(self, gen, exc) -> None:
        self._compare_failed(exc)

    # -- housekeeping ----------------------------------------------------------------------
    def wait(self, timeout: float | None = 60) -> bool:
        """Block until both workers are idle; False on timeout."""
        return self._sched.wait(timeout) and self._lrt.wait(timeout)

    def close(self) -> None:
        self._sched.close()
        self._lrt.close()
