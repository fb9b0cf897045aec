"""Muthen's maximum likelihood-based estimator (MUML) for two-level models: :func:`fit_muml`.

MUML (Muthen, 1994) fits a two-level model to two moment matrices only, the
pooled within-cluster covariance and the scaled between-cluster covariance,
with one cluster size ``c`` standing in for every cluster's; its fit
function, formulas and gradient are in :mod:`msem_nb.likelihood.muml`, its
estimation (covariate moments freed, two-stage start, constraints, standard
errors from the Hessian of F / 2) in :mod:`msem_nb.estimation.muml`. It is
the "MUML" estimator Mplus offers; it is here to compare with full ML, not
to replace it.

:func:`fit_muml` goes through the one pipeline (parse, table,
:func:`~msem_nb.estimation.pipeline.prepare`,
:func:`~msem_nb.estimation.pipeline.fit_prepared` with
``FitOptions(estimator="MUML")``), as ``msem_nb.fit(..., estimator="MUML")``
does; it returns the compact :class:`MumlResult` that
:func:`msem_nb.compare_approaches` shows.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.pipeline import fit_prepared, prepare
from msem_nb.inference.defined import defined_delta
from msem_nb.inference.wald import resolve_ci_level, wald_table
from msem_nb.likelihood.muml import muml_moments
from msem_nb.model.partable import ParTable, build_partable
from msem_nb.syntax import parse

__all__ = ["MumlResult", "fit_muml", "muml_moments"]


@dataclass(frozen=True, eq=False)
class MumlResult:
    """Result of :func:`fit_muml`.

    Attributes
    ----------
    model : str
        The model syntax.
    estimates : pandas.DataFrame
        lhs, op, rhs, level, label, est, se, z, pvalue, ci_lower, ci_upper,
        free, exo; ``:=`` rows last. Covariate moments (``exo``) are
        estimated along with the rest (see
        :func:`msem_nb.estimation.muml.muml_partable`).
    fmin : float
        The minimised F (without constants).
    c : float
        The cluster-size scaling (the common cluster size when balanced).
    nobs, nclusters : int
    converged : bool
    theta, vcov : numpy.ndarray
        Free parameter vector and its covariance matrix (None if singular).
    """

    model: str
    estimates: pd.DataFrame
    fmin: float
    c: float
    nobs: int
    nclusters: int
    converged: bool
    theta: np.ndarray
    vcov: np.ndarray | None
    message: str = ""

    @property
    def estimator(self) -> str:
        return "MUML"

    def _repr_html_(self) -> str:
        cols = ["lhs", "op", "rhs", "level", "est", "se", "pvalue"]
        return (f"<p>MUML: N = {self.nobs}, J = {self.nclusters}, c = {self.c:.3f}, "
                f"converged: {html.escape(str(self.converged))}</p>"
                + self.estimates[cols].to_html(index=False, float_format="%.3f", escape=True))


def fit_muml(model: str, data: pd.DataFrame, cluster: str, *, ci_level: float = 0.95,
             control: dict | None = None, level: float | None = None) -> MumlResult:
    """Fit a two-level model with Muthen's MUML estimator.

    Parameters
    ----------
    model : str
        Two-level model syntax (``level: within`` / ``level: between``), as
        for :func:`msem_nb.fit`; ``:=`` effects get delta-method errors.
        Random slopes are not available (MUML has no per-cluster likelihood).
    data : pandas.DataFrame
        One row per level-1 unit; rows with missing values are dropped.
    cluster : str
        Cluster id column.
    ci_level : float
        Confidence level of the Wald intervals.
    control : dict, optional
        ``maxiter``, ``gtol``, ``start`` and ``se`` as in :func:`msem_nb.fit`
        (``start`` is a vector of the parameters with the covariate moments
        freed, :func:`msem_nb.estimation.muml.muml_partable`).
    level : float, optional
        Deprecated name of `ci_level` (a FutureWarning).

    Returns
    -------
    MumlResult

    Notes
    -----
    With equal cluster sizes, c is the cluster size and F differs from -2
    times the ML log-likelihood only in weighting the between part by J - 1
    instead of J, so estimates are close to ML (identical for saturated
    moments up to that factor). With unequal sizes the estimates and
    standard errors are approximations; prefer ML (:func:`msem_nb.fit`).
    ``msem_nb.fit(model, data, cluster, estimator="MUML")`` gives the same
    estimates as a full :class:`~msem_nb.results.FitResult`.

    Examples
    --------
    >>> import msem_nb as ms
    >>> from msem_nb.teaching.muml import fit_muml
    >>> df = ms.load_example("classrooms")
    >>> res = fit_muml("level: within\\n math ~ ses\\nlevel: between\\n math ~ ses",
    ...                df, "class_id")
    >>> res.converged
    True
    """
    ci_level = resolve_ci_level(ci_level, level)
    options = FitOptions(estimator="MUML", control=dict(control or {}))
    pt = build_partable(parse(model), meanstructure=True, fixed_x=True)
    prepared, _ = prepare(pt, data, cluster, options)
    est = fit_prepared(pt, prepared, options)
    # the table theta refers to: the covariate moments freed
    estimates = _estimates(est.partable, est.theta, est.vcov, ci_level)
    return MumlResult(model, estimates, est.fmin, est.c, prepared.nobs, prepared.nclusters,
                      bool(est.converged), est.theta, est.vcov, est.message)


def _estimates(pt: ParTable, theta, vcov, ci_level: float) -> pd.DataFrame:
    tab = pt.table
    free = tab["free"].to_numpy() - 1
    ustart = tab["ustart"].to_numpy(dtype=float)
    est = np.where(free >= 0, theta[np.maximum(free, 0)], np.nan_to_num(ustart))
    se = np.full(len(tab), 0.0)
    if vcov is not None:
        dv = np.sqrt(np.clip(np.diag(vcov), 0, None))
        se = np.where(free >= 0, dv[np.maximum(free, 0)], 0.0)
    elif len(free):
        se = np.where(free >= 0, np.nan, 0.0)
    df = pd.DataFrame({"lhs": tab["lhs"], "op": tab["op"], "rhs": tab["rhs"],
                       "level": tab["level"], "label": tab["label"].fillna(""),
                       "est": est, "se": se, "free": free >= 0,
                       "exo": tab["exo"].to_numpy()})
    if pt.defined:
        df = pd.concat([df, _defined(pt, theta, vcov)], ignore_index=True)
    wald = wald_table(df["est"], df["se"], df["free"], ci_level)
    for col in wald.columns:
        df[col] = wald[col].to_numpy()
    cols = ["lhs", "op", "rhs", "level", "label", "est", "se", "z", "pvalue", "ci_lower",
            "ci_upper", "free", "exo"]
    return df[cols]


def _defined(pt: ParTable, theta, vcov) -> pd.DataFrame:
    """``:=`` rows with delta-method standard errors."""
    val, se = defined_delta(pt, theta, vcov)
    return pd.DataFrame({"lhs": [d.lhs for d in pt.defined], "op": ":=",
                         "rhs": [d.expr.text for d in pt.defined], "level": "",
                         "label": [d.lhs for d in pt.defined], "est": val, "se": se,
                         "free": True, "exo": False})
