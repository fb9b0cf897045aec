"""Multiple groups in the estimation: data per group, and the per-group pieces of a fit.

Everything that depends on a group's data is computed on that group's view
of the model (:func:`msem_nb.model.groups.group_subtable`) and its data, by
the one-group code: fixed covariate moments (each group's own sample
moments, as lavaan), start values, the count of sample moments. The pieces
are then put back into the whole model's rows and parameter vector.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import pandas as pd

from msem_nb.data.center import center_columns
from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.data.groups import MultiGroupData, check_clusters_in_groups, split_groups
from msem_nb.data.prepare import prepare_data
from msem_nb.errors import DataError, ModelSpecificationError
from msem_nb.estimation.exogenous import exogenous_values
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.start import start_values
from msem_nb.model.groups import group_spec, group_subtable
from msem_nb.model.partable import ParTable
from msem_nb.model.spec import ModelSpec

__all__ = ["prepare_groups", "group_exogenous_values", "group_start_values",
           "group_count_moments"]


def prepare_groups(pt: ParTable, data: pd.DataFrame, cluster: Hashable | None,
                   group: Hashable, options: FitOptions) -> tuple[MultiGroupData, dict[str, str]]:
    """Each group's prepared data (:func:`msem_nb.data.prepare.prepare_data`).

    Raises ``DataError`` for a missing group column or value, a single group,
    a cluster with rows in two groups, or a group whose data cannot be fitted
    (the message names the group).
    """
    if options.estimator == "MUML":
        raise ModelSpecificationError("estimator='MUML' is not available with several "
                                      "groups; use estimator='ML' or 'MLR'")
    centering: dict[str, str] = {}
    if options.center:      # "grand" is the mean of the whole sample, not of a group
        data, centering = center_columns(data, options.center_map, cluster)
    labels, parts = split_groups(data, group)
    if cluster is not None:
        check_clusters_in_groups(parts, labels, cluster, group)
    if group in pt.ov_names or (cluster is not None and group == cluster):
        raise DataError(f"the group column '{group}' is also used as a model variable or as "
                        "the cluster column")
    within, between_only, both = pt.roles()
    prepared = []
    for lab, part in zip(labels, parts):
        try:
            prepared.append(prepare_data(part, within, cluster, between_only, both,
                                         options.missing,
                                         exogenous=pt.exogenous if options.fixed_x else ()))
        except DataError as exc:
            raise DataError(f"group {lab!r} (column '{group}'): {exc}") from None
    return MultiGroupData(tuple(prepared), labels, group), centering


def group_exogenous_values(pt: ParTable, data: MultiGroupData) -> tuple[dict[int, float], float]:
    """Fixed covariate moments of every group (row -> value) and the summed
    log-likelihood terms of the covariates (see :mod:`msem_nb.estimation.exogenous`)."""
    values: dict[int, float] = {}
    loglik_x = 0.0
    for g, d in enumerate(data.parts, start=1):
        sub, rows = group_subtable(pt, g)
        v, _, llx, _ = exogenous_values(sub, d)
        values.update({int(rows[i]): x for i, x in v.items()})
        loglik_x += llx
    return values, loglik_x


def group_start_values(pt: ParTable, spec: ModelSpec, data: MultiGroupData,
                       user: bool = True) -> np.ndarray:
    """Start values from each group's moments; a parameter shared by groups starts
    at its value in the first group that has it. ``user=False`` leaves out the
    table's own start values (:func:`msem_nb.estimation.start.start_values`)."""
    theta = np.zeros(spec.npar)
    done = np.zeros(spec.npar, dtype=bool)
    for g, d in enumerate(data.parts, start=1):
        sub, _ = group_subtable(pt, g)
        th = start_values(sub, group_spec(spec, g), d, user=user)
        mine = np.zeros(spec.npar, dtype=bool)
        free = sub.table["free"].to_numpy()
        mine[free[free > 0] - 1] = True
        take = mine & ~done
        theta[take] = th[take]
        done |= mine
    return theta


def group_count_moments(pt: ParTable, data: MultiGroupData) -> int:
    """Sample moments of all groups (as :func:`msem_nb.estimation.estimate.count_moments`
    per group: covariances per block, means, less the fixed covariate moments)."""
    total = 0
    for g, d in enumerate(data.parts, start=1):
        sub, _ = group_subtable(pt, g)
        total += _count(sub, d)
    return total


def _count(pt: ParTable, data: SingleData | ClusterData) -> int:
    p = len(data.names)
    if data.nlevels == 1:
        m = p * (p + 1) // 2
    else:
        m = sum(len(bv.ov) * (len(bv.ov) + 1) // 2 for bv in pt.blocks)
    m += p if pt.meanstructure else 0
    return m - int(pt.table["exo"].sum())
