"""Multiple groups as data: one prepared container per group.

A multigroup sample is the samples of its groups side by side; each group's
container (:class:`~msem_nb.data.complete.SingleData`,
:class:`~msem_nb.data.complete.ClusterData` or their incomplete-data
subclasses) is prepared by the one-group rules, so every group is checked on
its own (enough rows and clusters, no constant column within the group).
The log-likelihood of the whole sample is the sum over groups.

Groups are numbered 1..G in the order of ``labels``: the group values as in
the data, in the order they first appear (lavaan's order).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.errors import DataError

__all__ = ["MultiGroupData", "split_groups", "check_clusters_in_groups"]


@dataclass(frozen=True, eq=False)
class MultiGroupData:
    """The prepared data of each group, and the group values they belong to."""

    parts: tuple[SingleData | ClusterData, ...]
    labels: tuple[Hashable, ...]
    column: Hashable

    multigroup: ClassVar[bool] = True

    @property
    def names(self) -> tuple[str, ...]:
        return self.parts[0].names

    @property
    def nobs(self) -> int:
        return int(sum(d.nobs for d in self.parts))

    @property
    def ntotal(self) -> int:
        return self.nobs

    @property
    def n_dropped(self) -> int:
        return int(sum(d.n_dropped for d in self.parts))

    @property
    def incomplete(self) -> bool:
        return any(d.incomplete for d in self.parts)

    @property
    def nlevels(self) -> int:
        return self.parts[0].nlevels

    @property
    def ngroups(self) -> int:
        return len(self.parts)

    @property
    def nclusters(self) -> int:
        """Clusters over all groups (two-level data)."""
        return int(sum(getattr(d, "nclusters", 0) for d in self.parts))

    def group_nobs(self) -> tuple[int, ...]:
        return tuple(int(d.nobs) for d in self.parts)

    def affine(self, loc: np.ndarray, scale: np.ndarray) -> MultiGroupData:
        """Every group's data as ``(y - loc) / scale`` (the same change in every group)."""
        return MultiGroupData(tuple(d.affine(loc, scale) for d in self.parts), self.labels,
                              self.column)

    def value_counts(self) -> np.ndarray:
        """Observed values of each variable over all groups (the Jacobian of a change of
        units, :meth:`msem_nb.data.complete.SingleData.value_counts`)."""
        return np.sum([d.value_counts() for d in self.parts], axis=0)


def split_groups(df: pd.DataFrame, group: Hashable) -> tuple[tuple[Hashable, ...],
                                                              list[pd.DataFrame]]:
    """The group values in order of first appearance and each group's rows.

    Raises
    ------
    DataError
        No such column, missing group values, or fewer than two groups.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}")
    if group not in df.columns:
        cols = ", ".join(map(str, df.columns))
        raise DataError(f"group column '{group}' not found in the data; the columns are: {cols}")
    values = df[group]
    if values.isna().any():
        rows = np.flatnonzero(values.isna().to_numpy())
        raise DataError(
            f"group column '{group}' has {len(rows)} missing values (rows "
            f"{', '.join(map(str, rows[:5]))}{', ...' if len(rows) > 5 else ''}); every row "
            "needs a group: drop those rows or give them a group")
    codes, uniques = pd.factorize(values, sort=False)
    if len(uniques) < 2:
        raise DataError(
            f"group column '{group}' has a single value ({uniques[0]!r}); a multigroup fit "
            "needs at least two groups (leave group=None for one group)")
    labels = tuple(u.item() if hasattr(u, "item") else u for u in uniques)
    return labels, [df[codes == k] for k in range(len(uniques))]


def check_clusters_in_groups(parts: list[pd.DataFrame], labels: tuple[Hashable, ...],
                             cluster: Hashable, group: Hashable) -> None:
    """DataError when a cluster has rows in more than one group: clusters must sit
    inside one group (a cluster's random effects belong to one group's model)."""
    seen: dict[Hashable, Hashable] = {}
    for lab, part in zip(labels, parts):
        if cluster not in part.columns:
            return      # prepare_data says that the column is missing
        for c in pd.unique(part[cluster].dropna()):
            if c in seen and seen[c] != lab:
                raise DataError(
                    f"cluster {c!r} (column '{cluster}') has rows in group {seen[c]!r} and in "
                    f"group {lab!r} (column '{group}'): every cluster must sit inside one "
                    "group. Check the two columns, or give the cluster's parts in different "
                    "groups different ids")
            seen[c] = lab
