"""The Data tab: cluster, higher cluster (three levels) and group columns, the variables offered on the Model tab, and
their summary."""

from __future__ import annotations

from typing import Callable

import ipywidgets as W

from msem_nb.widget import tables
from msem_nb.widget.groups import NO_GROUP

__all__ = ["DataScreen", "NO_CLUSTER", "NO_HIGHER"]

#: How the cluster dropdown names "no cluster column".
NO_CLUSTER = "(none: single-level model)"
#: How the higher-cluster dropdown names "no higher cluster column".
NO_HIGHER = "(none: two levels)"


class DataScreen:
    """Cluster column, variables, and the summary of both.

    Parameters
    ----------
    columns : sequence
        Columns of the data (cluster candidates).
    numeric : sequence
        Numeric columns (variable candidates).
    cluster : str or None
        The cluster column chosen now.
    variables : sequence of str
        The variables chosen now.
    higher : str, optional
        The higher cluster column chosen now (three levels: classes in schools).
    """

    title = "Data"

    def __init__(self, columns, numeric, cluster, variables, higher=None) -> None:
        self.cluster = W.Dropdown(options=[(NO_CLUSTER, None)] + [(str(c), c) for c in columns],
                                  value=cluster, description="Cluster",
                                  layout=W.Layout(width="360px"))
        # the clusters' clusters (schools of classes): a three-level model
        self.higher = W.Dropdown(options=[(NO_HIGHER, None)] + [(str(c), c) for c in columns],
                                 value=higher, description="Nested in",
                                 tooltip="Higher cluster column (schools of classes): its "
                                         "clusters hold the clusters, a three-level model",
                                 layout=W.Layout(width="360px"))
        self.higher.layout.display = None if cluster is not None else "none"
        # a column whose few values split the rows into groups (msem_nb.widget.groups)
        self.group = W.Dropdown(options=[(NO_GROUP, None)], value=None, description="Groups",
                                layout=W.Layout(width="360px"))
        options = [c for c in numeric if c not in (cluster, higher)]
        self.variables = W.SelectMultiple(
            options=options, value=tuple(v for v in variables if v in options),
            rows=min(12, max(4, len(options))), description="Variables",
            layout=W.Layout(width="360px"))
        help_ = W.HTML("<p style='color:#555;margin:2px 0'>Ctrl/Cmd-click to choose several "
                       "variables. They become rows and columns of the switch grids on the "
                       "Model screen.</p>")
        self.summary = W.HTML()
        self.summary.layout.margin = "0 0 0 24px"
        self.problem = W.HTML()
        self.box = W.HBox([W.VBox([self.cluster, self.higher, self.group, self.problem,
                                   self.variables,
                                   help_]),
                           self.summary], layout=W.Layout(flex_flow="row wrap"))
        self._quiet = False      # True while Python sets the variables or the cluster

    def on_cluster(self, fn: Callable[[object], None]) -> None:
        """Call ``fn(column)`` when the user chooses a cluster column (None: none)."""
        self.cluster.observe(lambda ch: None if self._quiet else fn(ch["new"]), "value")

    def refuse_cluster(self, previous, why: str) -> None:
        """Put the dropdown back on `previous` (no callback) and say why."""
        self._quiet = True
        try:
            self.cluster.value = previous
        finally:
            self._quiet = False
        self.problem.value = tables.note_html(why, bad=True)

    def on_higher(self, fn: Callable[[object], None]) -> None:
        """Call ``fn(column)`` when the user chooses a higher cluster column (None: none)."""
        self.higher.observe(lambda ch: None if self._quiet else fn(ch["new"]), "value")

    def refuse_higher(self, previous, why: str) -> None:
        """Put the higher-cluster dropdown back on `previous` (no callback) and say why."""
        self._quiet = True
        try:
            self.higher.value = previous
        finally:
            self._quiet = False
        self.problem.value = tables.note_html(why, bad=True)

    def show_clusters(self, cluster, higher) -> None:
        """Show the columns in use (no callback); the higher one only with a cluster column."""
        self._quiet = True
        try:
            self.cluster.value = cluster
            self.higher.value = higher
        finally:
            self._quiet = False
        self.higher.layout.display = None if cluster is not None else "none"

    def offer_groups(self, columns) -> None:
        """Offer `columns` as group columns (no callback); the choice goes back to none."""
        self._quiet = True
        try:
            self.group.options = [(NO_GROUP, None)] + [(str(c), c) for c in columns]
            self.group.value = None
        finally:
            self._quiet = False

    def on_group(self, fn: Callable[[object], None]) -> None:
        """Call ``fn(column)`` when the user chooses a group column (None: one group)."""
        self.group.observe(lambda ch: None if self._quiet else fn(ch["new"]), "value")

    def refuse_group(self, previous, why: str) -> None:
        """Put the group dropdown back on `previous` (no callback) and say why."""
        self._quiet = True
        try:
            self.group.value = previous
        finally:
            self._quiet = False
        self.problem.value = tables.note_html(why, bad=True)

    def clear_problem(self) -> None:
        self.problem.value = ""

    def on_variables(self, fn: Callable[[list], None]) -> None:
        """Call ``fn(variables)`` when the user changes the chosen variables."""
        self.variables.observe(lambda ch: None if self._quiet else fn(list(ch["new"])), "value")

    def offer_variables(self, options) -> None:
        """Offer `options`, keeping the chosen ones still offered (no callback)."""
        keep = tuple(v for v in self.variables.value if v in options)
        self._quiet = True
        try:
            self.variables.options = list(options)
            self.variables.value = keep
        finally:
            self._quiet = False

    def on_show(self) -> None:
        """Nothing to draw late."""

    def update(self, html: str) -> None:
        """Show the data summary (HTML, escaped by :mod:`msem_nb.widget.tables`)."""
        self.summary.value = html
