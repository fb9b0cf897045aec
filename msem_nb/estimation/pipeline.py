"""The one fitting pipeline: a parameter table and a DataFrame in, an Estimation out.

``prepare`` turns a DataFrame into the data container a parameter table
needs (checks that no model name clashes with a column, centring, the
missing-data rules). ``fit_prepared`` estimates a parameter table on a
prepared container under :class:`~msem_nb.estimation.options.FitOptions`.
:func:`msem_nb.fit` is parse + build table + ``prepare`` + ``fit_prepared``;
refits (bootstrap, panel) reuse the table and call the last two only.

Estimators: "ML" (:func:`msem_nb.estimation.estimate.estimate`), "MLR" (ML
plus the sandwich, :func:`msem_nb.estimation.sandwich.mlr_estimation`) and
"MUML" (:func:`msem_nb.estimation.muml.estimate_muml`, two-level, complete
data, no random slopes). An estimator may estimate a changed table (MUML
frees the covariates' moments); the Estimation then carries it as
``partable``, and its ``theta`` refers to that table.
"""

from __future__ import annotations

from collections.abc import Hashable

import pandas as pd

from msem_nb.data.center import center_columns
from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.data.groups import MultiGroupData
from msem_nb.data.prepare import prepare_data
from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.estimate import Estimation, estimate
from msem_nb.estimation.muml import check_muml_table, estimate_muml
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.sandwich import mlr_estimation
from msem_nb.estimation.threelevel import cluster_columns, prepare_threelevel
from msem_nb.model.partable import ParTable

__all__ = ["prepare", "fit_prepared", "check_cluster"]


def check_cluster(pt: ParTable, cluster: Hashable | None) -> None:
    """A multilevel table needs a cluster column, a single-level one none."""
    if pt.multilevel and cluster is None:
        raise ModelSpecificationError(
            "the model has 'level:' blocks but no cluster column was given; pass cluster='...'")
    if not pt.multilevel and cluster is not None:
        raise ModelSpecificationError(
            "a cluster column was given but the model has no 'level: within' / 'level: between' "
            "blocks; write the model in two level blocks, or leave cluster=None")


def prepare(pt: ParTable, data: pd.DataFrame, cluster: Hashable | None,
            options: FitOptions
            ) -> tuple[SingleData | ClusterData | ThreeLevelData, dict[str, str]]:
    """The data container for `pt`, and the centring applied (column -> how).

    Raises ``ModelSpecificationError`` when the estimator cannot fit the
    table (MUML: one level or random slopes) or a slope or latent name is
    also a column, ``DataError`` for bad data (see
    :func:`msem_nb.data.prepare.prepare_data`).
    """
    # three levels: cluster is a (class, school) pair (msem_nb.estimation.threelevel)
    columns = cluster_columns(pt, cluster)
    if options.estimator == "MUML" and pt.nlevels != 3:
        check_muml_table(pt)
    if not isinstance(columns, tuple):
        cluster = columns
        check_cluster(pt, cluster)
    if isinstance(data, pd.DataFrame):
        clash = [v for v in pt.slopes if v in data.columns]
        if clash:
            raise ModelSpecificationError(
                f"random slope name(s) {', '.join(clash)} are also columns of the data; give "
                "the slope another name")
        clash = [v for v in pt.lv_names if v in data.columns]
        if clash:
            raise ModelSpecificationError(
                f"latent variable name(s) {', '.join(clash)} are also columns of the data; "
                "rename the latent variable(s)")
    if isinstance(columns, tuple):
        return prepare_threelevel(pt, data, columns, options)
    within, between_only, both = pt.roles()
    centering: dict[str, str] = {}
    if options.center:
        data, centering = center_columns(data, options.center_map, cluster)
    prepared = prepare_data(data, within, cluster, between_only, both, options.missing,
                            exogenous=pt.exogenous if options.fixed_x else ())
    return prepared, centering


def fit_prepared(pt: ParTable, data: SingleData | ClusterData | ThreeLevelData | MultiGroupData,
                 options: FitOptions) -> Estimation:
    """Estimate `pt` on prepared `data`: ML, with MLR's sandwich when asked, or MUML.

    Parameters
    ----------
    pt : ParTable
        Built with ``options.fixed_x`` and ``options.resolved_meanstructure()``.
    data : SingleData or ClusterData
        From :func:`prepare` (or :func:`msem_nb.data.prepare.prepare_data`); the
        incomplete-data containers are subclasses of these.
    options : FitOptions

    Returns
    -------
    Estimation
        For MUML a :class:`~msem_nb.estimation.muml.MumlEstimation` whose
        ``partable`` (covariate moments freed) is the table ``theta`` refers to.
    """
    if options.estimator == "MUML":
        if isinstance(data, ThreeLevelData):
            raise ModelSpecificationError("estimator='MUML' is a two-level method; use "
                                          "estimator='ML' or 'MLR' for a three-level model")
        return estimate_muml(pt, data, control=dict(options.control))
    information = options.information_for(data.nlevels == 1)
    if data.incomplete and information == "expected":
        raise ModelSpecificationError("information='expected' is not available with "
                                      "missing='fiml'; use information='observed'")
    est = estimate(pt, data, control=dict(options.control), information=information)
    if options.estimator == "MLR":
        est = mlr_estimation(est)
    return est
