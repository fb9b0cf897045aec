"""The panel's Export surface: reproducing code, the report, and cells inserted below.

:class:`PanelExport` is the part of :class:`~msem_nb.widget.panel.Panel` that
turns the fit on the screen into code (:func:`~msem_nb.widget.export.reproduction_code`)
and a report, and says why it cannot when the syntax box holds another model
(an error, an empty model, a fit still running).
"""

from __future__ import annotations

from msem_nb.widget.export import (
    find_variable_name,
    report_cell_outputs,
    report_html_document,
    reproduction_code,
)

__all__ = ["PanelExport"]


class PanelExport:
    """Export methods of the panel (a mixin: uses ``_ctl``, ``_export``, ``_data_name``,
    ``_data_code`` and ``wait`` of :class:`~msem_nb.widget.panel.Panel`)."""

    def export_state(self) -> tuple[str, str | None]:
        """The code that reproduces the model shown, and why it cannot be exported now.

        Returns
        -------
        (code, problem)
            `code` refits the model of the fit on the screen (its syntax,
            cluster column and options); `problem` is None when that is the
            model in the syntax box, else a sentence saying why not (an
            error, an empty model, a fit still running).
        """
        ctl = self._ctl
        with ctl.lock:
            fit, key = ctl.result, ctl.result_key
            if not ctl.syntax.strip():
                problem = ("The model is empty: switch paths on or type a model first; there "
                           "is nothing to export.")
            elif ctl.error is not None:
                problem = ("The syntax box has an error (see the Model tab), so an export would "
                           "not match it. Fix the error first; the diagram and results still "
                           "show the last model that could be fitted.")
            elif not ctl.fit_is_current():
                problem = "The model is being fitted; the export is ready as soon as the fit is."
            else:
                problem = None
            if fit is None or key is None:
                return "# Nothing to export yet: no model has been fitted.\n", problem
            code = self._code(*key, report=True)
            if problem is not None:
                code = ("# NOTE: this reproduces the last model that could be fitted (the one "
                        "shown),\n# not what the syntax box holds now.\n" + code)
            return code, problem

    def _code(self, syntax, cluster, estimator, missing, group=None, *, report: bool) -> str:
        name = self._data_name or find_variable_name(self._ctl.data)
        if isinstance(cluster, tuple):      # three levels: as ms.fit's docs write them
            cluster = list(cluster)
        return reproduction_code(syntax, cluster, data_name=name, data_code=self._data_code,
                                 estimator=estimator, missing=missing, report=report, group=group)

    def export_code(self, report: bool = True) -> str:
        """Python code that refits the model shown (and shows its report if `report`).

        It is the model of the fit on the screen; :meth:`export_state` says
        whether that is also the model in the syntax box.
        """
        ctl = self._ctl
        with ctl.lock:
            key = ctl.result_key
        if key is None:
            return self.export_state()[0]
        return self._code(*key, report=report)

    def insert_code_cell(self) -> None:
        """Insert the reproducing code as a new cell below the panel (in the browser)."""
        code, problem = self.export_state()
        if problem is not None:
            self._export.note(f"No code cell: {problem}", bad=True)
            return
        self._export.bridge.insert_cell(code, callback=self._export.reply("Code cell inserted"))

    def report(self, **kwargs):
        """The report of the fit shown (:class:`msem_nb.present.report.Report`).

        Raises
        ------
        ValueError
            When nothing is fitted, or the syntax box does not hold the model
            shown (an error, an empty model): a report would be of another
            model than the one in the box.
        """
        fit = self.wait()
        _code, problem = self.export_state()
        if problem is not None:
            raise ValueError(problem)
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
            self._export.note(f"No report: {err}", bad=True)
            return
        source = ("# Static report written by the msem_nb panel; the code cell it exports\n"
                  "# reproduces it. Re-running this cell clears the report.\n")
        self._export.bridge.insert_cell(source, outputs, trusted=True,
                                        callback=self._export.reply("Report cell inserted"))

    def download_report(self, filename: str = "msem_report.html") -> None:
        """Offer the report as a self-contained HTML file in the browser."""
        try:
            doc = report_html_document(self.report())
        except Exception as err:  # noqa: BLE001
            self._export.note(f"No report: {err}", bad=True)
            return
        self._export.bridge.download(filename, doc, "text/html",
                                     callback=self._export.reply(f"{filename}"))
