"""The panel's fit worker: a fit request to the results, the diagram and the status.

:class:`FitJobs` is the part of :class:`~msem_nb.widget.controller.PanelController`
that runs on the fit worker (:class:`~msem_nb.widget.scheduler.Scheduler`): it
checks the request (a syntax error, an empty model, unknown names), draws the
switched model before its fit, fits through :class:`~msem_nb.widget.refit.Refitter`
(or the tests' ``fit_fn``) and publishes the result, the diagram and the status
(green / amber / red, :func:`~msem_nb.widget.status.fit_status`) to the view.
Every failure is shown in the panel; none reaches the kernel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.options import FitOptions
from msem_nb.messages import collecting
from msem_nb.present.diagram import path_diagram
from msem_nb.syntax import ModelSyntaxError, ParsedModel, parse
from msem_nb.widget.describe import describe_error, diagram_text
from msem_nb.widget.names import locate, unknown_message, unknown_names
from msem_nb.widget.status import fit_status

__all__ = ["FitJobs", "FitRequest", "default_diagram", "default_preview"]


def default_diagram(fit):
    """The diagram of a fit (the panel's default)."""
    return path_diagram(fit)


def default_preview(partable):
    """The diagram of a model before its fit: its structure, no numbers."""
    # the model's structure only: the last fit's numbers may not hold for the new model
    return path_diagram(partable, title="Path diagram: the model as switched, being fitted "
                                        "\u2026")


@dataclass(frozen=True)
class FitRequest:
    """One fit the controller asks its fit worker for (see :meth:`key`)."""

    syntax: str
    # the model to fit; None when the text has no statements
    parsed: ParsedModel | None
    parse_error: BaseException | None
    cluster: object
    estimator: str
    missing: str
    # a switch was clicked: draw the new model at once, before its fit
    preview: bool = False
    group: object = None        # group column (msem_nb.widget.groups), None: one group

    @property
    def key(self) -> tuple:
        return (self.syntax, self.cluster, self.estimator, self.missing, self.group)


class FitJobs:
    """The fit worker's steps (a mixin of the controller, which holds the state they use:
    ``view``, ``columns``, ``result``, ``previous``, ``error``, ``result_key``, ...)."""

    def _fit_job(self, req: FitRequest, publish) -> None:
        if req.parse_error is not None:
            publish(lambda: self._show_failure(req.parse_error, req))
            return
        if not req.syntax.strip():
            publish(lambda: self._show_empty())
            return
        # level headers without statements: the parser says why there is nothing to fit
        parsed = req.parsed if req.parsed is not None else parse(req.syntax)
        unknown = unknown_names(parsed, self.columns)
        if unknown:
            publish(lambda: self._show_unknown(unknown, req))
            return
        t0 = time.perf_counter()
        try:
            options = FitOptions(estimator=req.estimator, missing=req.missing)
            table = self._preview(req, parsed, options, publish)
            # the core records its warnings per thread; catch_warnings is global
            with collecting(quiet=True) as caught:
                fit = self._fit(req, parsed, options, table)
        except Exception as exc:  # noqa: BLE001 - every failure is shown, none kills the panel
            publish(lambda e=exc: self._show_failure(e, req))
            return
        elapsed = time.perf_counter() - t0
        try:
            figure, diagram_error = self._diagram_fn(fit), None
        except Exception as exc:  # noqa: BLE001 - the results stay usable without a diagram
            figure = None
            diagram_error = f"The diagram could not be drawn: {describe_error(exc)[0]}"
        notes = list(caught)
        if not publish(lambda: self._show_fit(fit, figure, diagram_error, elapsed, notes, req)):
            return
        if self.results_wanted:
            parts = self.results_parts()
            publish(lambda: self.view.show_results(parts))

    def _preview(self, req: FitRequest, parsed, options, publish):
        """Draw the model about to be fitted (a switch was clicked); returns its table."""
        if not req.preview or self._fit_fn is not None:
            return None
        try:
            table = self._refitter.table(parsed, options)
            figure = self._preview_fn(table[0])
        except Exception:  # noqa: BLE001 - the fit says what is wrong with the model
            return None
        publish(lambda: self.view.show_preview(figure, diagram_text(table[0])))
        return table

    def _fit(self, req: FitRequest, parsed, options, table):
        if self._fit_fn is not None:
            return self._fit_fn(req.syntax, self.data, cluster=req.cluster,
                                estimator=req.estimator, missing=req.missing)
        return self._refitter.fit(parsed, req.cluster, options, model=req.syntax, table=table,
                                  group=req.group)

    def _show_empty(self) -> None:
        self.error = None
        self.result_key = None
        self.view.show_editor_error(0, 0, "")
        self.view.show_status("idle", "No model yet: switch paths on in the Model screen, or "
                                      "type the model in the syntax box.")

    def _show_unknown(self, unknown, req: FitRequest) -> None:
        message = unknown_message(unknown)
        self.error = ModelSpecificationError(message)
        self._report_failure(message, "", unknown[0].line, unknown[0].col, message)

    def _show_failure(self, exc, req: FitRequest) -> None:
        self.error = exc
        msg, detail = describe_error(exc)
        if isinstance(exc, ModelSyntaxError):
            line, col = exc.line, exc.col
            editor = f"Line {exc.line}, column {exc.col}: {exc.msg}"
        else:
            line, col = locate(str(exc), req.syntax)
            editor = msg
            hint = _levels_hint(req)
            if hint:
                msg = msg.rstrip().rstrip(".") + "." + hint
        self._report_failure(msg, detail, line, col, editor)

    def _report_failure(self, msg, detail, line, col, editor) -> None:
        if self.result is not None:
            msg += " \u2014 the results shown are from the last model that could be fitted."
        self.view.show_status("error", msg, detail)
        self.view.show_editor_error(line, col, editor)

    def _show_fit(self, fit, figure, diagram_error, elapsed, notes, req: FitRequest) -> None:
        if self.result is not None and self.result_key != req.key:
            self.previous = self.result
        self.result = fit
        self.error = None
        self.elapsed = elapsed
        self.result_key = req.key
        self.view.show_status(*fit_status(fit, notes, elapsed))
        self.view.show_editor_error(0, 0, "")
        self.view.show_fit(fit, figure, diagram_error)


def _levels_hint(req: FitRequest) -> str:
    """Where in the panel to fix a model whose levels do not match the cluster columns."""
    nlevels = len(set(req.parsed.levels)) if req.parsed is not None else 0
    three = isinstance(req.cluster, tuple)
    if nlevels == 3 and not three:
        return (" In the panel: choose the higher cluster column ('Nested in') on the Data "
                "tab.")
    if three and nlevels in (0, 2):
        return (" In the panel: write level: 1, 2 and 3 blocks, or set 'Nested in' to none on "
                "the Data tab for a two-level model.")
    return ""
