"""The public entry point: ``fit(model, data, cluster=None, estimator="ML")``."""

from __future__ import annotations

import time
from dataclasses import replace

import pandas as pd

from .data import prepare_data
from .errors import DataError, ModelSpecificationError
from .estimate import estimate
from .messages import collecting
from .fiml import normalize_missing
from .robust import mlr_estimation
from .partable import build_partable
from .results import FitResult
from .syntax import parse

__all__ = ["fit"]

_ESTIMATORS = ("ML", "MLR")


def fit(model: str, data: pd.DataFrame, cluster: str | None = None, estimator: str = "ML",
        missing: str = "listwise", *, meanstructure: bool | None = None,
        fixed_x: bool = True, level: float = 0.95, information: str | None = None,
        center: dict | None = None, control: dict | None = None,
        quiet: bool = False) -> FitResult:
    """Fit a single- or two-level structural equation model by maximum likelihood.

    Parameters
    ----------
    model : str
        lavaan-style model syntax; ``level: within`` / ``level: between``
        blocks make a two-level model (then `cluster` is required).
    data : pandas.DataFrame
        One row per level-1 unit.
    cluster : str, optional
        Column with cluster ids. None fits a single-level model.
    estimator : {"ML", "MLR"}
        Maximum likelihood; "MLR" adds Huber-White (cluster-robust) standard
        errors and the Yuan-Bentler scaled test, as lavaan and Mplus do.
    missing : {"listwise", "fiml", "ml", "ml.x"}
        "listwise" drops rows with missing values on model variables (and
        counts them). "fiml" uses every observed value, covariates included
        (lavaan's "ml.x"; the covariates' moments stay fixed at their
        saturated FIML estimates); "ml" first drops rows with a missing
        covariate value (lavaan's "ml"). The FIML modes imply a mean
        structure and observed information. See :mod:`msem_nb.fiml`.
    meanstructure : bool, optional
        Single-level models only: include intercepts (default: only when the
        syntax has an intercept). Two-level models always have means.
    fixed_x : bool
        Condition on observed exogenous covariates (their moments are fixed at
        sample values; the log-likelihood is conditional on them).
    level : float
        Confidence level of the Wald intervals.
    information : {"observed", "expected"}, optional
        Information matrix behind the standard errors (the bread of MLR's
        sandwich); by default expected for single-level and observed for
        two-level models, and observed with missing="fiml" or MLR, as in lavaan.
    center : dict, optional
        Centre covariates before fitting: ``{"x": "cluster"}`` subtracts each
        cluster's mean of x (needs `cluster`), ``{"x": "grand"}`` the overall
        mean. Recorded in ``result.centering``. Without it every variable is
        used as given.
    control : dict, optional
        Optimizer settings: ``maxiter``, ``gtol``, ``start``, ``se``.
    quiet : bool
        Record warnings (dropped rows, non-convergence, ...) only in
        ``result.messages`` instead of also issuing them; safe in threads.

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import msem_nb as ms
    >>> df = ms.load_example("classrooms")
    >>> res = ms.fit(ms.EXAMPLE_MODELS["classrooms"], df, cluster="class_id")
    >>> res.converged
    True
    """
    with collecting(quiet) as messages:
        res = _fit(model, data, cluster, estimator, missing, meanstructure, fixed_x, level,
                   information, center, control)
    return replace(res, messages=tuple(messages) + tuple(res.estimation.notes))


def _fit(model, data, cluster, estimator, missing, meanstructure, fixed_x, level, information,
         center, control) -> FitResult:
    t0 = time.perf_counter()
    est_name = str(estimator).upper()
    if est_name not in _ESTIMATORS:
        raise ModelSpecificationError(
            f"estimator '{estimator}' is not available; choose one of {', '.join(_ESTIMATORS)}")
    parsed = parse(model)
    fiml_mode = normalize_missing(missing) != "listwise"
    if fiml_mode and meanstructure is False:
        raise ModelSpecificationError("missing='fiml' needs a mean structure; drop "
                                      "meanstructure=False")
    if fiml_mode and meanstructure is None:
        meanstructure = True
    if information is None and (fiml_mode or est_name == "MLR"):
        information = "observed"    # lavaan's choice for FIML and MLR
    pt = build_partable(parsed, meanstructure=meanstructure, fixed_x=fixed_x)
    if pt.nlevels == 2 and cluster is None:
        raise ModelSpecificationError(
            "the model has 'level:' blocks but no cluster column was given; pass cluster='...'")
    if pt.nlevels == 1 and cluster is not None:
        raise ModelSpecificationError(
            "a cluster column was given but the model has no 'level: within' / 'level: between' "
            "blocks; write the model in two level blocks, or leave cluster=None")
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
    within, between_only, both = pt.roles()
    centering = {}
    if center:
        data, centering = center_columns(data, center, cluster)
    prepared = prepare_data(data, within, cluster, between_only, both, missing,
                            exogenous=pt.exogenous if fixed_x else ())
    if getattr(prepared, "fiml", False) and information == "expected":
        raise ModelSpecificationError("information='expected' is not available with "
                                      "missing='fiml'; use information='observed'")
    if getattr(prepared, "fiml", False) and pt.slopes:
        raise ModelSpecificationError("random slopes with missing values (missing='fiml') "
                                      "are not available yet; use missing='listwise'")
    if est_name == "MLR" and pt.slopes:
        raise ModelSpecificationError("estimator='MLR' is not available for random-slope "
                                      "models yet; use estimator='ML'")
    est = estimate(pt, prepared, control=control, information=information)
    if est_name == "MLR":
        est = mlr_estimation(est)   # sandwich standard errors (msem_nb.robust)
    return FitResult(model, pt, prepared, est, cluster, est_name, level,
                     time.perf_counter() - t0, centering)


def center_columns(data: pd.DataFrame, center: dict, cluster: str | None):
    """A copy of `data` with the named columns centred; returns (data, record)."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    out = data.copy()
    record = {}
    for col, how in center.items():
        if col not in out.columns:
            raise DataError(f"cannot centre '{col}': not a column; the columns are: "
                            f"{', '.join(map(str, out.columns))}")
        values = pd.to_numeric(out[col], errors="coerce")
        if how == "grand":
            out[col] = values - values.mean()
        elif how == "cluster":
            if cluster is None:
                raise ModelSpecificationError(
                    f"center={{'{col}': 'cluster'}} needs a cluster column; pass cluster='...'")
            out[col] = values - values.groupby(out[cluster]).transform("mean")
        else:
            raise ModelSpecificationError(
                f"center['{col}'] must be 'cluster' or 'grand', not {how!r}")
        record[col] = how
    return out, record
