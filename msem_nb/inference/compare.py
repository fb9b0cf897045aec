"""Comparing fitted models: likelihood-ratio tests and information criteria, as ``lavTestLRT``.

Fits are ordered by their degrees of freedom (most parameters first, as
lavaan), and each is tested against the one before it. For nested models
``M0`` (restricted, df ``r0``) and ``M1`` (df ``r1``) on the same data:

    ML       T = chisq0 - chisq1 = 2 (loglik1 - loglik0),       df = r0 - r1

(without a saturated model, as with random slopes, the log-likelihoods and
the numbers of parameters are used). For MLR fits, with ``c0``, ``c1`` the
models' scaling factors (Yuan-Bentler, ``chisq_scaling_factor``):

    satorra.bentler.2001   c_d = (r0 c0 - r1 c1) / (r0 - r1),   T_d = T / c_d
    satorra.bentler.2010   c_d = (r0 c0 - r1 c10) / (r0 - r1)

where ``c10`` is M1's scaling factor evaluated at M0's estimates (M0's
values written into M1's parameter table), so that ``T_d`` cannot be
negative when the information there is positive definite (Satorra and
Bentler 2010). With ``tr_h1`` the saturated part shared by both models,
``r1 c10 = tr_h1 - tr(V10 B10)`` and ``tr_h1 = r1 c1 + tr(V1 B1)``: only the
model part (bread ``V`` from the information used for the fit, meat ``B``
from the unit scores) is evaluated at the new point.

AIC, BIC and the sample-size adjusted BIC (``bic2``) come from each fit's
``fit_measures``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from msem_nb.data.complete import SingleData
from msem_nb.data.groups import MultiGroupData
from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.errors import DataError, ModelSpecificationError
from msem_nb.estimation.constraints import linear_constraints, null_space
from msem_nb.estimation.estimate import expected_information
from msem_nb.estimation.information import analytic_available, observed_information
from msem_nb.estimation.optimize import numeric_hessian
from msem_nb.estimation.sandwich import unit_scores
from msem_nb.estimation.saturated import fit_saturated
from msem_nb.format import num, pvalue
from msem_nb.inference.robust import h1_trace

__all__ = ["ModelComparison", "compare", "model_trace", "LRT_METHODS"]

#: Test methods of :func:`compare` (lavaan's ``lavTestLRT(method = ...)``).
LRT_METHODS = ("default", "satorra.bentler.2001", "satorra.bentler.2010")


@dataclass(frozen=True, eq=False)
class ModelComparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model (most parameters first), indexed by name: npar, df,
        loglik, chisq, aic, bic, bic2, and against the previous row
        chisq_diff, df_diff, pvalue (plus scaling_factor for the scaled tests).
    method : str
        The test: "standard" (ML), "satorra.bentler.2001" or "satorra.bentler.2010".
    notes : tuple of str
    """

    table: pd.DataFrame
    method: str
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        title = {"standard": "Likelihood-ratio test",
                 "satorra.bentler.2001": "Scaled difference test (Satorra-Bentler 2001)",
                 "satorra.bentler.2010": "Scaled difference test (Satorra-Bentler 2010)"}
        lines = [title[self.method], self.table.to_string(float_format=lambda v: num(v))]
        return "\n".join(lines + [f"Note: {n}" for n in self.notes])

    def _repr_html_(self) -> str:
        cells = []
        for name, row in self.table.iterrows():
            vals = [pvalue(v) if col == "pvalue" else num(v, missing="")
                    for col, v in row.items()]
            cells.append("<tr><th>" + html.escape(str(name)) + "</th>" +
                         "".join(f"<td style='text-align:right'>{html.escape(v)}</td>"
                                 for v in vals) + "</tr>")
        head = "<tr><th></th>" + "".join(f"<th>{html.escape(str(c))}</th>"
                                          for c in self.table.columns) + "</tr>"
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (f"<div><b>{html.escape(repr(self).splitlines()[0])}</b>"
                f"<table>{head}{''.join(cells)}</table>{notes}</div>")


# ----------------------------------------------------------------------------
# checks: same data, nested in an obvious way
# ----------------------------------------------------------------------------

def _data_key(fit) -> dict:
    d = fit.data
    return {"names": set(d.names), "nobs": int(d.nobs), "cluster": fit.cluster,
            "nclusters": fit.nclusters}


def _same_values(a, b) -> str | None:
    """The first variable whose sufficient statistics differ between two data sets, or None."""
    if isinstance(a.data, MultiGroupData) or isinstance(b.data, MultiGroupData):
        # several groups: the same groups, and the same data in each
        if type(a.data) is not type(b.data) or a.data.labels != b.data.labels:
            return "the groups"
        for lab, pa, pb in zip(a.data.labels, a.data.parts, b.data.parts):
            diff = _same_values(SimpleNamespace(data=pa), SimpleNamespace(data=pb))
            if diff is not None:
                return f"{diff} in group {lab!r}"
        return None
    names = list(a.data.names)
    ia = [list(a.data.names).index(v) for v in names]
    ib = [list(b.data.names).index(v) for v in names]
    if isinstance(a.data, SingleData):
        ma, mb = np.asarray(a.data.mean)[ia], np.asarray(b.data.mean)[ib]
        ca = np.asarray(a.data.cov)[np.ix_(ia, ia)]
        cb = np.asarray(b.data.cov)[np.ix_(ib, ib)]
    elif isinstance(a.data, ThreeLevelData) and isinstance(b.data, ThreeLevelData):
        # rows within classes, class vectors and school values, in data order
        if not (np.array_equal(a.data.class_sizes, b.data.class_sizes)
                and np.array_equal(a.data.class_school, b.data.class_school)):
            return "cluster sizes"
        ma = np.hstack([a.data.class_vectors, a.data.school_z[a.data.class_school]])[:, ia]
        mb = np.hstack([b.data.class_vectors, b.data.school_z[b.data.class_school]])[:, ib]
        wa = [k for k in ia if k < a.data.p1]
        wb = [k for k in ib if k < b.data.p1]
        ca = np.asarray(a.data.within_sscp)[np.ix_(wa, wa)]
        cb = np.asarray(b.data.within_sscp)[np.ix_(wb, wb)]
    else:
        if not np.array_equal(np.asarray(a.data.cluster_sizes), np.asarray(b.data.cluster_sizes)):
            return "cluster sizes"
        ma = np.asarray(a.data.cluster_vectors)[:, ia]
        mb = np.asarray(b.data.cluster_vectors)[:, ib]
        ca = cb = np.zeros((len(names), len(names)))
        if not a.data.incomplete and not b.data.incomplete:
            wa = [k for k in ia if k < a.data.p_within]
            wb = [k for k in ib if k < b.data.p_within]
            ca = np.asarray(a.data.within_sscp)[np.ix_(wa, wa)]
            cb = np.asarray(b.data.within_sscp)[np.ix_(wb, wb)]
    close = (lambda x, y: np.allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True))  # noqa: E731
    for k, v in enumerate(names):
        if not close(ma[..., k], mb[..., k]) or \
                (k < len(ca) and not close(ca[k, k], cb[k, k])):
            return f"variable '{v}'"
    for k in range(len(ca)):
        for j in range(k):
            if not close(ca[k, j], cb[k, j]):
                return f"the covariance of '{names[k]}' and '{names[j]}'"
    return None


def _check_same_data(fits, names) -> None:
    ref, rname = fits[0], names[0]
    for fit, name in zip(fits[1:], names[1:]):
        a, b = _data_key(ref), _data_key(fit)
        if a["cluster"] != b["cluster"]:
            raise DataError(f"'{rname}' and '{name}' use different clusters "
                            f"(cluster={a['cluster']!r} vs {b['cluster']!r}); a likelihood-ratio "
                            "test needs the same data")
        if a["names"] != b["names"]:
            only_a = ", ".join(sorted(a["names"] - b["names"])) or "none"
            only_b = ", ".join(sorted(b["names"] - a["names"])) or "none"
            raise ModelSpecificationError(
                f"'{rname}' and '{name}' are not nested: they use different variables "
                f"(only in '{rname}': {only_a}; only in '{name}': {only_b}). Nested models "
                "have the same variables; fix a path at zero instead of dropping a variable")
        if a["nobs"] != b["nobs"]:
            raise DataError(
                f"'{rname}' and '{name}' were fitted to different rows ({a['nobs']} vs "
                f"{b['nobs']} observations; rows dropped for missing values: "
                f"{ref.n_dropped} vs {fit.n_dropped}); refit both on the same rows")
        if a["nclusters"] != b["nclusters"]:
            raise DataError(f"'{rname}' and '{name}' have different clusters ({a['nclusters']} "
                            f"vs {b['nclusters']}); refit both on the same data")
        diff = _same_values(ref, fit)
        if diff is not None:
            raise DataError(f"'{rname}' and '{name}' were fitted to different data: the same "
                            f"number of rows, but {diff} differs; refit both on the same data")


# ----------------------------------------------------------------------------
# the scaled difference tests
# ----------------------------------------------------------------------------

def model_trace(fit1, theta) -> float:
    """tr(V B) of a fit's model at `theta`: the model part of its scaling factor.

    The bread ``V`` is the inverse of the information the fit used (observed
    or expected, in the coordinates of its equality constraints), the meat
    ``B`` the sum of outer products of the unit scores, both at `theta`; at
    the fit's own estimates this is ``estimation.robust.trace_h0``.
    """
    est = fit1.estimation
    obj = est.objective
    npar = est.spec.npar
    lin = linear_constraints(fit1.partable, npar)
    K = np.eye(npar) if lin is None else null_space(*lin)[1]
    if fit1.options.information_for(fit1.data.nlevels == 1) == "expected":
        info = expected_information(obj, theta, K)
    else:
        full = observed_information(obj, theta) if analytic_available(obj) else None
        if full is None:
            full = -numeric_hessian(lambda t: obj.loglik(t, gradient=True)[1], theta)
        info = K.T @ full @ K
    V = K @ np.linalg.inv(info) @ K.T
    S = unit_scores(obj, theta)
    return float(np.sum(V * (S.T @ S)))


def _restricted_values(fit1, fit0) -> np.ndarray:
    """fit0's estimates written into fit1's free parameters (0 where fit0 lacks the row)."""
    e0 = fit0.estimates
    val = {(r.lhs, r.op, r.rhs, r.level): r.est for r in e0.itertuples()}
    theta = np.zeros(fit1.estimation.spec.npar)
    for rec in fit1.partable.records:
        if rec["free"] > 0:
            theta[rec["free"] - 1] = val.get((rec["lhs"], rec["op"], rec["rhs"], rec["level"]),
                                             0.0)
    return theta


def _scaling(fit) -> float:
    fm = fit.fit_measures
    if fm.get("df", 1) == 0:
        return 1.0
    return float(fm.get("chisq_scaling_factor", np.nan))


def _scaled(fit0, fit1, method: str, stat: float, r0: int, r1: int, notes: list) -> tuple:
    c0 = _scaling(fit0)
    m = r0 - r1
    if method == "satorra.bentler.2001":
        r1c1 = r1 * _scaling(fit1)
    else:
        tr1 = model_trace(fit1, fit1.estimation.theta)
        if r1 > 0 and np.isfinite(_scaling(fit1)):
            trace_h1 = r1 * _scaling(fit1) + tr1
        else:
            h1 = fit1.estimation.h1 if fit1.estimation.h1 is not None else \
                fit_saturated(fit1.data)
            trace_h1 = h1_trace(fit1.data, h1, fit1.partable.exogenous,
                                fit1.partable.meanstructure)[0]
        r1c1 = trace_h1 - model_trace(fit1, _restricted_values(fit1, fit0))
    cd = (r0 * c0 - r1c1) / m
    if not cd > 0:
        notes.append(f"the scaling factor of the difference is not positive ({num(cd)}); "
                     "the scaled test is not defined")
        return float("nan"), float(cd)
    return stat / cd, float(cd)


# ----------------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------------

def compare(*fits, names=None, method: str = "default") -> ModelComparison:
    """Likelihood-ratio tests between nested fits, with AIC, BIC and adjusted BIC.

    Parameters
    ----------
    *fits : FitResult
        Two or more fits of nested models on the same data (in any order).
    names : sequence of str, optional
        Row names; default "model 1", "model 2", ... in the order given.
    method : {"default", "satorra.bentler.2001", "satorra.bentler.2010"}
        "default": the plain test for ML fits, the 2001 scaled test for MLR
        fits (as lavaan). The scaled tests need MLR fits.

    Returns
    -------
    ModelComparison

    Raises
    ------
    DataError
        When the fits use different data (rows, clusters, values).
    ModelSpecificationError
        When they are not nested in an obvious way (different variables,
        equal numbers of parameters, the smaller model fitting better).
    """
    if len(fits) == 1 and isinstance(fits[0], (list, tuple)):
        fits = tuple(fits[0])
    if len(fits) < 2:
        raise ValueError("compare needs at least two fits")
    names = [f"model {k + 1}" for k in range(len(fits))] if names is None else \
        [str(n) for n in names]
    if len(names) != len(fits) or len(set(names)) != len(names):
        raise ValueError("names must give every fit a distinct name")
    if method not in LRT_METHODS:
        raise ValueError(f"method must be one of {', '.join(LRT_METHODS)}, not {method!r}")
    for fit, name in zip(fits, names):
        if fit.estimator == "MUML":
            raise ModelSpecificationError(
                f"'{name}' is a MUML fit: F is not a log-likelihood, so there is no "
                "likelihood-ratio test; refit with estimator='ML'")
    _check_same_data(fits, names)
    mlr = [f.estimator == "MLR" for f in fits]
    if method == "default":
        method = "satorra.bentler.2001" if all(mlr) else "standard"
    elif not all(mlr):
        raise ModelSpecificationError(f"method={method!r} needs MLR fits (estimator='MLR')")
    fms = [f.fit_measures for f in fits]
    order = sorted(range(len(fits)), key=lambda k: -fits[k].npar)
    notes: list[str] = []
    rows = []
    for pos, k in enumerate(order):
        fit, fm = fits[k], fms[k]
        row = {"npar": fit.npar, "df": fm.get("df", np.nan), "loglik": fit.loglik,
               "chisq": fm.get("chisq", np.nan), "aic": fm.get("aic", np.nan),
               "bic": fm.get("bic", np.nan), "bic2": fm.get("bic2", np.nan),
               "chisq_diff": np.nan, "df_diff": np.nan, "pvalue": np.nan}
        if method != "standard":
            row["scaling_factor"] = np.nan
        if pos:
            big = order[pos - 1]
            fit1, name1 = fits[big], names[big]
            if fit.npar == fit1.npar:
                raise ModelSpecificationError(
                    f"'{names[k]}' and '{name1}' have the same number of parameters "
                    f"({fit.npar}): they are not nested; compare them by AIC and BIC instead")
            tol = 1e-6 * max(1.0, abs(fit1.loglik))
            if fit.loglik > fit1.loglik + tol:
                raise ModelSpecificationError(
                    f"'{names[k]}' ({fit.npar} parameters) fits better than '{name1}' "
                    f"({fit1.npar} parameters): log-likelihood {num(fit.loglik)} vs "
                    f"{num(fit1.loglik)}; the models are not nested (or '{name1}' did not "
                    "converge)")
            ddf = fit1.npar - fit.npar
            stat = 2.0 * (fit1.loglik - fit.loglik)
            if "chisq" in fm and "chisq" in fms[big]:
                stat, ddf = fm["chisq"] - fms[big]["chisq"], fm["df"] - fms[big]["df"]
            if method != "standard":
                stat, row["scaling_factor"] = _scaled(fit, fit1, method, stat, fm["df"],
                                                      fms[big]["df"], notes)
            row.update(chisq_diff=stat, df_diff=ddf,
                       pvalue=float(stats.chi2.sf(stat, ddf)) if np.isfinite(stat) else np.nan)
        rows.append(row)
    table = pd.DataFrame(rows, index=pd.Index([names[k] for k in order], name="model"))
    return ModelComparison(table, method, tuple(notes))
