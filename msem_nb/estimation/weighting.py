"""Sampling weights in the pipeline: the weighted data for a parameter table.

Single-level models only (:mod:`msem_nb.data.weights`: weighted sufficient
statistics, pseudo-ML with the sandwich). Two-level weights (within and
between weights with Mplus's scaling options) are not available yet and are
refused with a message, as are weights with missing="fiml", several groups or
MUML.
"""

from __future__ import annotations

from collections.abc import Hashable

import pandas as pd

from msem_nb.data.center import center_columns
from msem_nb.data.weights import WeightedSingleData, weighted_single_data
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.options import FitOptions
from msem_nb.model.partable import ParTable

__all__ = ["prepare_weighted"]


def prepare_weighted(pt: ParTable, data: pd.DataFrame, cluster: Hashable | None,
                     weights: Hashable, options: FitOptions
                     ) -> tuple[WeightedSingleData, dict[str, str]]:
    """The weighted data container for `pt`, and the centring applied."""
    if cluster is not None or pt.multilevel:
        raise ModelSpecificationError(
            "sampling weights are available for single-level models only so far; two-level "
            "weights (weights= and cluster_weights=) are not implemented yet")
    if options.fiml:
        raise ModelSpecificationError("sampling weights with missing='fiml' are not available "
                                      "yet; use missing='listwise'")
    if options.estimator != "MLR":
        raise ModelSpecificationError(
            "sampling weights need robust standard errors: use estimator='MLR' (fit() does "
            "this for you with weights=)")
    centering: dict[str, str] = {}
    if options.center:
        data, centering = center_columns(data, options.center_map, None)
    prepared = weighted_single_data(data, pt.roles()[0], weights,
                                    exogenous=pt.exogenous if options.fixed_x else ())
    return prepared, centering
