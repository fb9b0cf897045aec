"""What the panel shows about its data, computed off the kernel's thread: no widgets here.

:class:`DataSummaries` computes, for a cluster column and a list of
variables, the within/between decomposition (once per pair: a switch that
needs the variables' roles before the data worker is done computes it in
its own thread and the worker then reuses it), the figures of the
Decomposition tab (ICC bars and correlation heatmaps; with two cluster columns the
three-level shares and the level-1, -2 and -3 correlations; or the plain
correlations of a single-level model) and the HTML of the Data and
Decomposition tabs, with a caution on variables whose ICC is too small for
their between-level correlations to mean much.
"""

from __future__ import annotations

import threading

import pandas as pd

from msem_nb.inference.decompose import decompose
from msem_nb.messages import collecting
from msem_nb.present.plots import correlation_figure, icc_figure
from msem_nb.present.plots_threelevel import level_correlation_figure, share_figure
from msem_nb.widget import tables
from msem_nb.widget.correlations import (
    correlation_heatmap,
    low_icc,
    low_icc_caution,
    mark_low_icc,
    plain_correlations,
)
from msem_nb.widget.describe import describe_error

__all__ = ["DataSummaries", "SINGLE_LEVEL_NOTE"]

#: What the Decomposition tab says without a cluster column.
SINGLE_LEVEL_NOTE = ("Single-level model: no cluster column is chosen, so there is no "
                     "within/between decomposition (ICCs need clusters). Shown instead: the "
                     "plain correlations of the chosen variables (each pair on its complete "
                     "rows). Choose a cluster column on the Data screen for a two-level model.")


class DataSummaries:
    """The decomposition, figures and summaries of one DataFrame (thread-safe).

    Parameters
    ----------
    data : pandas.DataFrame
    """

    def __init__(self, data: pd.DataFrame):
        self.data = data
        self._lock = threading.Lock()
        self._cache: dict = {}

    def decomposition(self, cluster, variables) -> tuple:
        """(Decomposition or None, error text or None) of `variables` in `cluster`.

        Computed once per (cluster, variables), whichever thread asks first.
        """
        key = (cluster, tuple(variables))
        with self._lock:
            if key not in self._cache:
                dec, error = None, None
                try:
                    with collecting(quiet=True) as caught:
                        dec = decompose(self.data, cluster, list(variables))
                    error = " ".join(caught) or None
                except Exception as exc:  # noqa: BLE001 - shown as a note
                    error = describe_error(exc)[0]
                self._cache = {key: (dec, error)}
            return self._cache[key]

    def compute(self, cluster, variables, figures: bool) -> tuple:
        """(Decomposition or None, figures dict, error or None) for the data worker."""
        dec, out, error = None, {}, None
        if cluster is not None and variables:
            dec, error = self.decomposition(cluster, variables)
            if dec is not None and figures:
                try:
                    out = ({"icc": share_figure(dec), "corr": level_correlation_figure(dec)}
                           if getattr(dec, "nlevels", 2) == 3 else
                           {"icc": icc_figure(dec),
                            "corr": mark_low_icc(correlation_figure(dec), low_icc(dec))})
                except Exception as exc:  # noqa: BLE001 - the tables still show
                    error = f"The figures could not be drawn: {describe_error(exc)[0]}"
        elif cluster is None and variables and figures:
            try:
                out = {"corr": correlation_heatmap(
                    plain_correlations(self.data, variables),
                    "Correlations (single level: no cluster column)")}
            except Exception as exc:  # noqa: BLE001
                error = f"The correlations could not be drawn: {describe_error(exc)[0]}"
        return dec, out, error

    def data_html(self, cluster, variables, dec, problem: str | None = None) -> str:
        """The Data tab's summary: rows, clusters, sizes, missing values (and a problem)."""
        variables = list(variables)
        if dec is not None:
            sizes, missing = dec.cluster_sizes, dec.missingness
        else:
            sizes = None
            counts = self.data[variables].isna().sum() if variables else pd.Series(dtype=float)
            missing = pd.DataFrame({"n_missing": counts,
                                    "share_missing": counts / len(self.data)})
        html = tables.data_summary_html(len(self.data), cluster, variables, sizes, missing)
        return (tables.note_html(problem, bad=True) if problem else "") + html

    @staticmethod
    def roles_html(cluster, variables, dec, error) -> tuple[str, str | None]:
        """(HTML above the figures, note) of the Decomposition tab."""
        if cluster is None:
            return tables.note_html(SINGLE_LEVEL_NOTE), None
        if not variables:
            return "", "Choose variables on the Data screen."
        two = dec is not None and getattr(dec, "nlevels", 2) == 2
        caution = low_icc_caution(low_icc(dec)) if two else ""
        roles = (tables.roles_html(dec) if dec is not None else "") + (
            tables.note_html(caution, bad=True) if caution else "")
        return roles, error
