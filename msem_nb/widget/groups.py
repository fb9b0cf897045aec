"""Groups in the panel: which columns can hold groups, and the invariance table.

A group column splits the rows into a few groups (lavaan's ``group``); the
model is then fitted in every group (:mod:`msem_nb.model.groups`), the
Results screen shows a section per group, and the measurement-invariance
steps (:func:`msem_nb.teaching.invariance.invariance`) are fitted and shown
as one table. Everything here runs on the panel's workers; nothing is drawn
in JavaScript.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from msem_nb.errors import DataError
from msem_nb.format import num
from msem_nb.teaching.invariance import invariance
from msem_nb.widget import tables

__all__ = ["NO_GROUP", "MAX_GROUPS", "group_candidates", "check_group", "invariance_html",
           "GroupControl", "GroupPanel"]

#: How the group dropdown names "no group column".
NO_GROUP = "(none: one group)"
#: The most groups a group column may have in the panel.
MAX_GROUPS = 20


def group_candidates(data: pd.DataFrame, cluster=None) -> list:
    """Columns with 2 to :data:`MAX_GROUPS` distinct values and no missing ones."""
    out = []
    for c in data.columns:
        if c == cluster:
            continue
        col = data[c]
        if col.isna().any():
            continue
        k = col.nunique()
        if 2 <= k <= MAX_GROUPS:
            out.append(c)
    return out


def check_group(data: pd.DataFrame, group, cluster) -> None:
    """DataError when `group` cannot hold the groups (with `cluster` the cluster column)."""
    if group is None:
        return
    if group not in data.columns:
        raise DataError(f"group column '{group}' is not in the data")
    if group == cluster:
        raise DataError("the group column cannot be the cluster column")
    col = data[group]
    if col.isna().any():
        raise DataError(f"group column '{group}' has missing values")
    k = col.nunique()
    if not 2 <= k <= MAX_GROUPS:
        raise DataError(f"group column '{group}' has {k} distinct values; a group column has "
                        f"2 to {MAX_GROUPS}")
    if cluster is not None:
        spread = data.groupby(cluster, sort=False)[group].nunique()
        if (spread > 1).any():
            raise DataError(
                f"cluster {spread.index[np.argmax(spread.to_numpy() > 1)]!r} has rows in more "
                f"than one group of '{group}': every cluster must sit inside one group")


_COLS = [("npar", "npar", "d"), ("chisq", "Chi-square", "f"), ("df", "df", "d"),
         ("cfi", "CFI", "f"), ("rmsea", "RMSEA", "f"), ("compared_with", "vs.", "s"),
         ("delta_chisq", "\u0394 Chi-square", "f"), ("delta_df", "\u0394 df", "d"),
         ("delta_pvalue", "p", "p"), ("delta_cfi", "\u0394 CFI", "f"),
         ("delta_rmsea", "\u0394 RMSEA", "f")]


def _cell(v, kind: str) -> str:
    if kind == "s":
        return tables.esc(v)
    if not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
        return ""
    if kind == "d":
        return str(int(v))
    if kind == "p":
        return tables.pvalue_cell(v)
    return num(v, ".3f")


def invariance_html(model: str, data: pd.DataFrame, group, cluster, estimator: str,
                    missing: str) -> str:
    """The invariance table of `model` across the groups of `group` (and, for a
    two-level model, across levels), as HTML; a note when it cannot be fitted."""
    try:
        res = invariance(model, data, group=group, cluster=cluster, estimator=estimator,
                         missing=missing, quiet=True, level_fit=False)
    except Exception as exc:  # noqa: BLE001 - the fit itself stays shown
        return tables.note_html(f"The invariance steps could not be fitted: {exc}", bad=True)
    rows = []
    for name, r in res.table.iterrows():
        rows.append((tables.esc(name),) + tuple(_cell(r.get(k), kind) for k, _, kind in _COLS))
    header = ["step"] + [label for _, label, _ in _COLS]
    note = ("Each step holds more equal across groups (metric: loadings; scalar: and "
            "intercepts; strict: and residual variances; cross-level: within and between "
            f"loadings equal) and is tested against the one named ({tables.esc(res.method)}). "
            "A drop in CFI of more than .01 suggests the step does not hold.")
    return tables.wrap(tables.table_html(header, rows, numeric=tuple(range(1, len(header))))
                       + f"<p class='note'>{note}</p>")


class GroupControl:
    """The panel controller's group column (mixed into
    :class:`~msem_nb.widget.controller.PanelController`): the model is fitted in every
    group, and the Results tables add the invariance steps."""

    #: the group column; None: one group
    group = None

    def set_group(self, group) -> None:
        """Fit the model in every group of column `group` (None: one group).

        Raises ``DataError`` for a column that cannot hold groups (nothing changes).
        """
        with self.lock:
            check_group(self.data, group, self.cluster)
            self.group = group
            self._request_fit(immediate=True)

    def _results_of(self, fit) -> dict:
        """The Results tables of `fit`; with groups also the invariance steps."""
        parts = tables.results_parts(fit)
        if getattr(fit, "group", None) is not None:
            parts["invariance"] = invariance_html(fit.model, self.data, fit.group, fit.cluster,
                                                  fit.estimator, self.missing)
        return parts


class GroupPanel:
    """The panel's Groups dropdown on the Data tab (mixed into
    :class:`~msem_nb.widget.panel.Panel`)."""

    def _wire_groups(self) -> None:
        self._data.offer_groups(group_candidates(self._ctl.data))
        self._data.on_group(self._on_group)

    def _on_group(self, group) -> None:
        previous = self._ctl.group
        try:
            self._ctl.set_group(group)
        except DataError as err:
            why = f"Cannot use '{group}' as the group column: {err}"
            self._data.refuse_group(previous, why)
            self.show_status("warn", why + " The group column is unchanged.")
            return
        self._data.clear_problem()

    @property
    def group(self):
        """The group column (None: one group); the Data tab's "Groups" dropdown."""
        return self._ctl.group

    def set_group(self, group) -> None:
        """Fit the model in every group of column `group` (None: one group), as the Data
        tab does; the Results tab then shows a section per group and the invariance steps.
        A column that cannot hold groups is refused (:attr:`group` stays)."""
        self._data.group.value = group
