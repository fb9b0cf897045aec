"""Three-level models in the pipeline: the cluster columns and the data container.

``fit(model, data, cluster=["class_id", "school_id"])`` lists the cluster
columns from the lowest level to the highest. :func:`cluster_columns` checks
that their number matches the model's levels (one column, or a list of one,
for two levels; a list of two for three levels) and returns them in the form
the rest of the pipeline uses. :func:`prepare_threelevel` builds the
:class:`~msem_nb.data.threelevel.ThreeLevelData` of a three-level table.
"""

from __future__ import annotations

from collections.abc import Hashable

import pandas as pd

from msem_nb.data.center import center_columns
from msem_nb.data.threelevel import ThreeLevelData, threelevel_data
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.options import FitOptions
from msem_nb.model.partable import ParTable

__all__ = ["cluster_columns", "prepare_threelevel", "check_threelevel_table"]


def cluster_columns(pt: ParTable, cluster: object) -> Hashable | tuple[Hashable, Hashable] | None:
    """The cluster argument in the form the pipeline uses for `pt`.

    None for a single-level table, one column for two levels, a pair (class
    column, school column) for three levels. A list or tuple of one column
    stands for that column.

    Raises
    ------
    ModelSpecificationError
        When the number of columns does not match the number of levels.
    """
    if isinstance(cluster, (list, tuple)):
        cols = tuple(cluster)
        if len(cols) == 1 and pt.nlevels <= 2:
            return cols[0]
    elif cluster is None:
        cols = ()
    else:
        cols = (cluster,)
    if pt.nlevels == 3:
        if len(cols) != 2:
            got = "no cluster column" if not cols else (
                f"one cluster column ('{cols[0]}')" if len(cols) == 1
                else f"{len(cols)} cluster columns")
            raise ModelSpecificationError(
                f"the model has three levels but {got} was given; list the cluster columns "
                "from the lowest level to the highest: cluster=['class_id', 'school_id']")
        return cols[0], cols[1]
    if len(cols) > 1:
        raise ModelSpecificationError(
            f"{len(cols)} cluster columns were given ({', '.join(map(repr, cols))}) but the model "
            f"has {pt.nlevels} level{'s' if pt.nlevels != 1 else ''}; a three-level model has "
            "'level: 1', 'level: 2' and 'level: 3' blocks")
    if isinstance(cluster, (list, tuple)):
        return None
    return cluster if isinstance(cluster, Hashable) else str(cluster)


def check_threelevel_table(pt: ParTable, options: FitOptions) -> None:
    """Refuse what the three-level likelihood does not cover (random slopes, MUML)."""
    if pt.slopes:
        raise ModelSpecificationError(
            "random slopes are not available in three-level models yet; use random "
            "intercepts (drop the '|~' statements) or a two-level model")
    if options.estimator == "MUML":
        raise ModelSpecificationError("estimator='MUML' is a two-level method; use "
                                      "estimator='ML' or 'MLR' for a three-level model")


def prepare_threelevel(pt: ParTable, data: pd.DataFrame, clusters: tuple[Hashable, Hashable],
                       options: FitOptions) -> tuple[ThreeLevelData, dict[str, str]]:
    """The three-level data container for `pt` and the centring applied.

    Centring "cluster" subtracts the mean of the lowest clusters (classes).
    """
    check_threelevel_table(pt, options)
    centering: dict[str, str] = {}
    if options.center:
        data, centering = center_columns(data, options.center_map, clusters[0])
    prepared = threelevel_data(data, pt.level_ov(), clusters, options.missing,
                               pt.exogenous if options.fixed_x else ())
    return prepared, centering
