"""What a random-slope fit with missing values needs before and after its likelihood.

Random slopes condition on their covariates, so FIML
(:mod:`msem_nb.likelihood.slopes_missing`) covers missing outcome values only.
lavaan's development version (0.7-2.3170) allows ``missing = "ml"`` with rv()
slopes and drops rows with a missing exogenous covariate, with a warning giving
the count; ``missing="ml"`` does the same here (:func:`msem_nb.data.missing.rows_to_keep`).
``missing="fiml"`` (lavaan's ``ml.x``, which lavaan-dev refuses for random slopes)
keeps such rows, so a covariate with missing values is refused with a
``DataError`` naming it, the count and the way out. Missing between-only outcome
values are not available yet and are refused too. Slopes on latent covariates
(quadrature) take their FIML items from
:mod:`msem_nb.likelihood.slopes_latent_missing`; there the within part of a
both-level covariate is an outcome, so its missing values are FIML's as well.

The covariates' fixed moments are their sample moments (they are complete), as
for complete data, without fitting the FIML saturated model of every variable.
"""

from __future__ import annotations

import numpy as np

from msem_nb.data.complete import ClusterData
from msem_nb.errors import DataError, DataWarning
from msem_nb.estimation.exogenous import exogenous_values
from msem_nb.estimation.saturated import Saturated
from msem_nb.likelihood.slopes import make_layout
from msem_nb.likelihood.slopes_latent import latent_slopes
from msem_nb.likelihood.slopes_latent_missing import MissingLatentSlopeObjective
from msem_nb.likelihood.slopes_missing import MissingSlopeObjective
from msem_nb.messages import notify
from msem_nb.model.partable import ParTable
from msem_nb.model.spec import ModelSpec

__all__ = ["slope_exogenous_values", "check_slope_missing", "missing_slope_objective",
           "note_missing_outcomes"]


def check_slope_missing(pt: ParTable, data: ClusterData) -> None:
    """Refuse what FIML for random slopes does not cover (see the module docstring).

    Raises
    ------
    DataError
        Missing values on a covariate the slopes condition on, or on a between-only
        outcome.
    """
    rows = data.rows
    if rows is None:  # pragma: no cover - every constructor keeps the rows
        raise ValueError("the random-slope likelihood needs the data's rows")
    lay = make_layout(pt, data)
    # a slope's both-level covariate is an outcome of the quadrature model (its
    # within part is latent), so its missing values are FIML's too
    latent_x = {x for _, x in latent_slopes(pt, data).values()}
    for v in (v for v in lay.cond if v not in latent_x):
        n = int(np.isnan(rows[:, data.within.index(v)]).sum())
        if n:
            raise DataError(
                f"covariate '{v}' has {n} missing value{'s' if n != 1 else ''}: a random-slope "
                "model is conditional on its covariates, so FIML covers missing outcome values "
                "only. Use missing='ml' to drop those rows (as lavaan's development version "
                "does), or drop or impute them first")
    pw = data.p_within
    for v in lay.w + lay.z:
        n = int(np.isnan(data.cluster_vectors[:, pw + data.between_only.index(v)]).sum())
        if n:
            what = ("covariate" if v in lay.w else "between-only outcome")
            fix = ("missing='ml' drops the rows of those clusters (as lavaan's development "
                   "version does), or drop or impute them first" if v in lay.w else
                   "FIML for missing between-only outcomes is not available with random "
                   "slopes yet; drop those clusters first or use missing='listwise'")
            raise DataError(f"between-level {what} '{v}' is missing in {n} cluster"
                            f"{'s' if n != 1 else ''}: {fix}")


def slope_exogenous_values(pt: ParTable, data: ClusterData
                           ) -> tuple[dict[int, float], Saturated | None, float,
                                      Saturated | None]:
    """:func:`~msem_nb.estimation.exogenous.exogenous_values` for a random-slope model on
    incomplete data, from the complete covariates' own rows (after
    :func:`check_slope_missing`)."""
    check_slope_missing(pt, data)
    exo = pt.exogenous
    within = [v for v in data.within if v in exo]
    between = [v for v in data.between_only if v in exo]
    if any(v in data.both for v in exo) or not (within or between):
        return exogenous_values(pt, data)
    sub = data.subset(within, between, [])
    if sub.incomplete:
        return exogenous_values(pt, data)
    return exogenous_values(pt, sub)


def missing_slope_objective(pt: ParTable, spec: ModelSpec, data: ClusterData,
                            nodes: int) -> MissingSlopeObjective | MissingLatentSlopeObjective:
    """The FIML objective of a random-slope model: closed form, or quadrature (`nodes`
    per dimension) when a slope multiplies a latent variable."""
    if latent_slopes(pt, data):
        return MissingLatentSlopeObjective(pt, spec, data, nodes)
    return MissingSlopeObjective(pt, spec, data)


def note_missing_outcomes(obj: MissingSlopeObjective | MissingLatentSlopeObjective) -> None:
    """Say in ``fit.messages`` how many rows have missing outcome values, and how many
    have none observed (those do not enter the likelihood; lavaan-dev warns about them)."""
    md = obj.mdata
    n = obj.sdata.nobs
    empty = (f"; {md.n_empty} of them have no observed outcome and do not contribute to "
             "the likelihood" if md.n_empty else "")
    notify(f"FIML for random slopes: {md.n_missing} of {n} rows have missing outcome values "
           f"({', '.join(obj.layout.ys)}), whose observed values enter the likelihood{empty}",
           DataWarning, stacklevel=5)
