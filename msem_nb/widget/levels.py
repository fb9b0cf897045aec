"""How many levels the panel's data have: one, two or three (a second, higher cluster column).

With a cluster column (classes) the panel builds two-level models; with a
second, higher cluster column (schools, in which the classes are nested) it
builds three-level ones (``level: 1``, ``level: 2``, ``level: 3``) and shows
the three-level decomposition (:func:`msem_nb.inference.decompose_threelevel.decompose_threelevel`).
This module holds what that choice decides and checks: which columns a fit
is given (:func:`fit_clusters`), whether the higher column can be one
(:func:`check_higher`: the library's message for a class in two schools),
which levels a variable of a suggested role has a part at
(:func:`role_levels`), and the grid titles of a three-level model.
"""

from __future__ import annotations

import pandas as pd

from msem_nb.data.threelevel import check_nested
from msem_nb.errors import DataError
from msem_nb.widget.guess import check_cluster

__all__ = ["fit_clusters", "check_higher", "role_levels", "THREE_LEVEL_TITLES",
           "THREE_LEVEL_HINTS", "NOT_FOR_THREE_LEVELS"]

#: Grid titles of a three-level model, lowest level first.
THREE_LEVEL_TITLES = ("Level 1 (rows within clusters)", "Level 2 (clusters)",
                      "Level 3 (higher clusters)")
#: What the switches of each level of a three-level model mean.
THREE_LEVEL_HINTS = (
    "Row \u2190 column: regression of the row on the column. Diagonal: (residual) variance. "
    "Three-level model: no random slopes.",
    "Row \u2190 column: regression of cluster parts (deviations of the cluster from its "
    "higher cluster). Diagonal: variance of the cluster part.",
    "Row \u2190 column: regression of higher-cluster parts. Diagonal: variance of the "
    "higher-cluster part (a variable's mean is estimated at the highest level it appears at).",
)

#: What the panel says instead of the checks a three-level fit does not have.
NOT_FOR_THREE_LEVELS = ("Three-level fit: modification indices, residuals, level-specific "
                        "fit, predictions and bootstrap intervals are not available for "
                        "three-level models yet (estimates, standard errors, fit measures, the "
                        "summary, report and diagram are).")

# Level positions (0 = lowest) at which a variable of each suggested role has a part:
# the two-level roles of msem_nb.inference.decompose and the three-level ones of
# msem_nb.inference.decompose_threelevel.
_ROLE_POSITIONS = {
    "within-only": (0,), "between-only": (1,), "both": (0, 1), "none": (),
    "level 1 only": (0,), "level 2 only": (1,), "level 3 only": (2,),
    "levels 1 and 2": (0, 1), "levels 1 and 3": (0, 2), "levels 2 and 3": (1, 2),
    "all three levels": (0, 1, 2),
}


def role_levels(role: str | None, levels) -> tuple | None:
    """The levels (names from `levels`, lowest first) a variable of suggested `role` has a
    part at; None when the role is not known (then it may be at any level)."""
    pos = _ROLE_POSITIONS.get(role) if role is not None else None
    if pos is None:
        return None
    levels = tuple(levels)
    return tuple(levels[k] for k in pos if k < len(levels))


def fit_clusters(cluster, higher):
    """What :func:`msem_nb.fit` and :func:`msem_nb.decompose` are given as `cluster`:
    None, the cluster column, or ``(cluster, higher)`` for three levels."""
    if cluster is None:
        return None
    return cluster if higher is None else (cluster, higher)


def check_higher(data: pd.DataFrame, cluster, higher) -> None:
    """Refuse a higher cluster column that cannot hold the clusters (nothing is changed).

    Raises
    ------
    DataError
        Without a cluster column, for the cluster column itself, for a column
        that cannot be a cluster column (:func:`~msem_nb.widget.guess.check_cluster`),
        for one with as many values as the clusters (it nests nothing), and with
        the fit's message for a cluster found in two higher clusters.
    """
    if higher is None:
        return
    if cluster is None:
        raise DataError("choose the cluster column first: the higher cluster column holds "
                        "its clusters (classes in schools)")
    if higher == cluster:
        raise DataError(f"'{higher}' is the cluster column; the higher cluster column is "
                        "another one, whose clusters hold several of its clusters")
    check_cluster(data, higher)
    check_nested(data, (cluster, higher))
    if data[higher].nunique() >= data[cluster].nunique():
        raise DataError(f"'{higher}' has as many values as '{cluster}' has clusters: every "
                        "higher cluster would hold one cluster. A higher cluster column "
                        "groups the clusters (classes in schools)")
