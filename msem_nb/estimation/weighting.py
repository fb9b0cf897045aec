"""Sampling weights in the pipeline: the weighted data for a parameter table.

One level: lavaan's ``sampling.weights`` (:func:`msem_nb.data.weights.weighted_single_data`).
Two levels: within weights (``weights``) and between weights
(``cluster_weights``, constant within a cluster) with Mplus's scaling of the
within weights (``weight_scaling``: "cluster", "ecluster", "none";
:class:`msem_nb.data.weights.WeightedClusterData`). Either kind may be left
out (all ones). Weights with missing="fiml", several groups or MUML are
refused.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import pandas as pd

from msem_nb.data.center import center_columns
from msem_nb.data.complete import ClusterData
from msem_nb.data.prepare import prepare_data
from msem_nb.data.weights import (
    WeightedClusterData,
    WeightedSingleData,
    weighted_cluster_stats,
    weighted_single_data,
)
from msem_nb.errors import DataError, ModelSpecificationError
from msem_nb.estimation.options import FitOptions
from msem_nb.model.partable import ParTable

__all__ = ["prepare_weighted"]


def _column(df: pd.DataFrame, col: Hashable, what: str) -> np.ndarray:
    if col not in df.columns:
        raise DataError(f"{what} column '{col}' not found in the data; the columns are: "
                        f"{', '.join(map(str, df.columns))}")
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    if np.isnan(values).any():
        raise DataError(f"{what} column '{col}' has missing or non-numeric values in rows that "
                        "are used; give every row a weight")
    if (values < 0).any() or not np.isfinite(values).all() or values.sum() <= 0:
        raise DataError(f"{what} column '{col}' has negative or infinite values (or is zero "
                        "everywhere); sampling weights are positive numbers")
    return values


def _two_level(pt: ParTable, data: pd.DataFrame, cluster: Hashable, weights: Hashable | None,
               cluster_weights: Hashable | None, scaling: str,
               options: FitOptions) -> WeightedClusterData:
    within, between_only, both = pt.roles()
    names = list(within) + list(between_only)
    for col in (weights, cluster_weights):
        if col is not None and (col in names or col == cluster):
            raise DataError(f"the weight column '{col}' is also a model variable or the "
                            "cluster column")
    missing = [v for v in names if v not in data.columns]
    complete = data[[v for v in names if v in data.columns]].notna().all(axis=1).to_numpy()
    df = data.loc[complete] if not missing else data
    plain = prepare_data(df, within, cluster, between_only, both, "listwise",
                         exogenous=pt.exogenous if options.fixed_x else ())
    assert isinstance(plain, ClusterData)
    # the rows as prepare_data orders them: by cluster, in order of first appearance
    codes, _ = pd.factorize(df[cluster].to_numpy(), sort=False)
    order = np.argsort(codes, kind="stable")
    w = _column(df, weights, "weight") if weights is not None else np.ones(len(df))
    if cluster_weights is not None:
        v_rows = _column(df, cluster_weights, "cluster weight")
        lo = np.full(codes.max() + 1, np.inf)
        hi = np.full(codes.max() + 1, -np.inf)
        np.minimum.at(lo, codes, v_rows)
        np.maximum.at(hi, codes, v_rows)
        if (hi > lo).any():
            j = int(np.flatnonzero(hi > lo)[0])
            raise DataError(f"cluster weight column '{cluster_weights}' varies within cluster "
                            f"{plain.cluster_ids[j]!r}; a cluster weight is one value per cluster")
        v = lo
    else:
        v = np.ones(plain.nclusters)
    return weighted_cluster_stats(plain, w[order], v, scaling)


def prepare_weighted(pt: ParTable, data: pd.DataFrame, cluster: Hashable | None,
                     weights: Hashable | None, options: FitOptions, *,
                     cluster_weights: Hashable | None = None, scaling: str = "cluster"
                     ) -> tuple[WeightedSingleData | WeightedClusterData, dict[str, str]]:
    """The weighted data container for `pt`, and the centring applied."""
    if options.fiml:
        raise ModelSpecificationError("sampling weights with missing='fiml' are not available "
                                      "yet; use missing='listwise'")
    if options.estimator != "MLR":
        raise ModelSpecificationError(
            "sampling weights need robust standard errors: use estimator='MLR' (fit() does "
            "this for you with weights=)")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    centering: dict[str, str] = {}
    if options.center:
        data, centering = center_columns(data, options.center_map, cluster)
    if pt.multilevel:
        if cluster is None:
            raise ModelSpecificationError("the model has 'level:' blocks but no cluster column "
                                          "was given; pass cluster='...'")
        return _two_level(pt, data, cluster, weights, cluster_weights, scaling,
                          options), centering
    if cluster is not None or cluster_weights is not None:
        raise ModelSpecificationError(
            "cluster_weights and cluster= need a two-level model (level: within / between)")
    if weights is None:
        raise ModelSpecificationError("pass weights='column' for a weighted fit")
    prepared = weighted_single_data(data, pt.roles()[0], weights,
                                    exogenous=pt.exogenous if options.fixed_x else ())
    return prepared, centering
