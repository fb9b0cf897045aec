"""Measurement invariance as a workflow: configural, metric, scalar, strict, across levels.

``invariance(model, data, group=..., cluster=...)`` fits the model in every
group with nothing equal (configural), then with equal loadings (metric),
loadings and intercepts (scalar) and, with ``strict``, residual variances
too (lavaan's ``group.equal`` kinds, :mod:`msem_nb.model.groups`). For a
two-level model it adds cross-level invariance: the loadings of each within
factor equal to those of the between factor with the same indicators
(:mod:`msem_nb.model.crosslevel`), on top of the metric model (of the one
model without groups), the condition under which the between factor is the
cluster-level part of the within factor.

Each step is tested against the one before it (cross-level against metric)
by the likelihood-ratio test:

    ML    delta_chisq = chisq_1 - chisq_0,   delta_df = df_1 - df_0
    MLR   c_d = (df_1 c_1 - df_0 c_0) / delta_df,   delta_chisq = (chisq_1 - chisq_0) / c_d

(the scaled difference of Satorra & Bentler 2001, lavaan's ``lavTestLRT``
default for MLR; ``c`` are the Yuan-Bentler scaling factors). delta_cfi and
delta_rmsea are the changes in CFI and RMSEA (their robust versions under
MLR); Chen (2007) suggests a drop in CFI of more than .01 as a sign of
non-invariance. All steps are fitted to the same prepared data.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from msem_nb.api import fit, fit_partable
from msem_nb.errors import ModelSpecificationError
from msem_nb.format import num, pvalue
from msem_nb.model.crosslevel import equal_across_levels
from msem_nb.model.groups import build_group_partable
from msem_nb.present.groups import loadings_figure
from msem_nb.results import FitResult
from msem_nb.syntax import parse

__all__ = ["invariance", "Invariance", "STEPS"]

#: the steps across groups and what each holds equal (lavaan's group.equal)
STEPS = {"configural": (), "metric": ("loadings",), "scalar": ("loadings", "intercepts"),
         "strict": ("loadings", "intercepts", "residuals")}


@dataclass(frozen=True, eq=False)
class Invariance:
    """Result of :func:`invariance`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per step (index ``model``): npar, chisq, df, pvalue, cfi, rmsea
        (MLR: also chisq_scaled, scaling_factor, cfi_robust, rmsea_robust),
        compared_with, delta_chisq, delta_df, delta_pvalue, delta_cfi, delta_rmsea.
    fits : dict
        Step name -> FitResult.
    method : str
        "chi-square difference" (ML) or "scaled difference (Satorra-Bentler 2001)" (MLR).
    """

    table: pd.DataFrame
    fits: dict[str, FitResult] = field(repr=False)
    method: str = ""

    def figure(self, **kw):
        """Loadings of every group (configural fit: nothing held equal) with their
        confidence intervals (Plotly figure; :func:`msem_nb.present.groups.loadings_figure`)."""
        first = next(iter(self.fits.values()))
        return loadings_figure(first, **kw)

    def __str__(self) -> str:
        return f"Measurement invariance ({self.method})\n" + self.table.to_string(
            float_format=lambda x: num(x, ".3f"))

    def _repr_html_(self) -> str:
        e = html.escape
        cols = list(self.table.columns)
        head = "".join(f"<th style='padding:2px 8px'>{e(str(c))}</th>" for c in cols)
        rows = []
        for name, r in self.table.iterrows():
            cells = []
            for c in cols:
                v = r[c]
                if c == "delta_pvalue":
                    text = pvalue(v) if isinstance(v, float) and np.isfinite(v) else ""
                elif isinstance(v, (float, np.floating)):
                    text = num(v, ".3f", missing="")
                else:
                    text = str(v)
                cells.append(f"<td style='padding:2px 8px;text-align:right'>{e(text)}</td>")
            rows.append(f"<tr><th style='padding:2px 8px;text-align:left'>{e(str(name))}</th>"
                        + "".join(cells) + "</tr>")
        return (f"<div class='msem-invariance'><b>Measurement invariance</b> "
                f"({e(self.method)})<table style='border-collapse:collapse'><tr><th></th>"
                f"{head}</tr>" + "".join(rows) + "</table></div>")


def _row(f: FitResult, mlr: bool) -> dict:
    fm = f.fit_measures
    row = {"npar": f.npar, "chisq": fm["chisq"], "df": fm["df"], "pvalue": fm["pvalue"],
           "cfi": fm["cfi"], "rmsea": fm["rmsea"]}
    if mlr:
        row.update(chisq_scaled=fm.get("chisq_scaled", np.nan),
                   scaling_factor=fm.get("chisq_scaling_factor", np.nan),
                   cfi_robust=fm.get("cfi_robust", np.nan),
                   rmsea_robust=fm.get("rmsea_robust", np.nan))
    return row


def _difference(r1: dict, r0: dict, mlr: bool) -> dict:
    """Test of the restricted row r1 against r0 (module docstring)."""
    ddf = r1["df"] - r0["df"]
    stat = r1["chisq"] - r0["chisq"]
    if mlr:
        cd = (r1["df"] * r1["scaling_factor"] - r0["df"] * r0["scaling_factor"]) / ddf \
            if ddf > 0 else np.nan
        stat = stat / cd if cd > 0 else np.nan
    fit_key = ("cfi_robust", "rmsea_robust") if mlr else ("cfi", "rmsea")
    return {"delta_chisq": stat, "delta_df": ddf,
            "delta_pvalue": float(stats.chi2.sf(stat, ddf)) if ddf > 0 and np.isfinite(stat)
            else np.nan,
            "delta_cfi": r1[fit_key[0]] - r0[fit_key[0]],
            "delta_rmsea": r1[fit_key[1]] - r0[fit_key[1]]}


def invariance(model: str, data: pd.DataFrame, group: str | None = None,
               cluster: str | None = None, *, estimator: str = "ML", strict: bool = True,
               across_levels: bool | None = None, group_partial: list[str] | tuple = (),
               **options) -> Invariance:
    """Fit the steps of measurement invariance and compare each with the one before.

    Parameters
    ----------
    model : str
        The model (one or two levels), as for :func:`msem_nb.fit`.
    data : pandas.DataFrame
    group : str, optional
        Group column: configural, metric, scalar (and strict) across its groups.
    cluster : str, optional
        Cluster column of a two-level model.
    estimator : {"ML", "MLR"}
        MLR gives scaled differences and robust CFI/RMSEA changes.
    strict : bool
        Also fit equal residual variances.
    across_levels : bool, optional
        Two-level models: also fit within loadings equal to between loadings
        (default True for a two-level model).
    group_partial : list of str
        Parameters left free across groups in every step (``"f =~ y3"``).
    **options
        Further arguments of :func:`msem_nb.fit` (missing, fixed_x, ...).

    Returns
    -------
    Invariance
    """
    if group is None and cluster is None:
        raise ModelSpecificationError(
            "invariance needs group='column' (invariance across groups) or, for a two-level "
            "model, cluster='column' (invariance across levels)")
    mlr = str(estimator).upper() == "MLR"
    fits: dict[str, FitResult] = {}
    parsed = parse(model)
    level_fit = bool(options.pop("level_fit", True))
    first = fit(model, data, cluster=cluster, estimator=estimator, group=group, level_fit=level_fit,
                group_partial=list(group_partial) if group is not None else (), **options)
    two_level = first.partable.multilevel
    if across_levels is None:
        across_levels = two_level
    if across_levels and not two_level:
        raise ModelSpecificationError("invariance across levels needs a two-level model "
                                      "(level: within / level: between) and cluster='...'")
    steps = [s for s in STEPS if strict or s != "strict"] if group is not None else \
        ["configural"]
    opts = first.options
    for step in steps:
        if step == "configural":
            fits[step] = first
            continue
        pt = build_group_partable(parsed, first.data.ngroups, group_equal=STEPS[step],
                                  group_partial=group_partial,
                                  meanstructure=opts.resolved_meanstructure(),
                                  fixed_x=opts.fixed_x)
        fits[step] = fit_partable(pt, first.data, cluster, opts, model=model,
                                  ci_level=first.ci_level, group=group, quiet=True,
                                  level_fit=level_fit)
    base = "metric" if group is not None else "configural"
    if across_levels:
        pt = equal_across_levels(fits[base].partable)
        fits["cross-level"] = fit_partable(pt, first.data, cluster, opts, model=model,
                                           ci_level=first.ci_level, group=group, quiet=True,
                                           level_fit=level_fit)
    rows, index = [], []
    prev = None
    for name, f in fits.items():
        row = _row(f, mlr)
        ref = base if name == "cross-level" else prev
        row["compared_with"] = ref or ""
        if ref is not None:
            row.update(_difference(row, rows[index.index(ref)], mlr))
        rows.append(row)
        index.append(name)
        prev = name
    table = pd.DataFrame(rows, index=pd.Index(index, name="model"))
    method = "scaled difference (Satorra-Bentler 2001)" if mlr else "chi-square difference"
    return Invariance(table, fits, method)
