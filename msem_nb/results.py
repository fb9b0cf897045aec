"""The fit result: an immutable object whose tables are computed on first use."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from msem_nb.data.complete import ClusterData
from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.estimate import Estimation, count_moments
from msem_nb.estimation.muml import MumlEstimation
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.saturated import fit_saturated
from msem_nb.estimation.saturated_threelevel import fit_saturated_threelevel
from msem_nb.inference.cluster_effects import ClusterEffects, cluster_effects, slope_lines
from msem_nb.inference.defined import defined_delta
from msem_nb.inference.fitmeasures import baseline_fit, fit_measures
from msem_nb.inference.groupfit import multigroup_fit_measures
from msem_nb.inference.improper import Finding, detect_improper
from msem_nb.inference.intervals import bootstrap, monte_carlo
from msem_nb.inference.levelfit import level_specific_fit
from msem_nb.inference.modindices import modification_indices
from msem_nb.inference.residuals import Residuals
from msem_nb.inference.residuals import residuals as level_residuals
from msem_nb.inference.robust import mlr_fit_measures
from msem_nb.inference.rsquare import r_squared
from msem_nb.inference.scores import factor_scores
from msem_nb.inference.standardize import std_all
from msem_nb.inference.wald import LEVEL_DEPRECATION, wald_table
from msem_nb.model.partable import ParTable
from msem_nb.present.cluster_plots import caterpillar_figure, spaghetti_figure
from msem_nb.present.diagram import path_diagram
from msem_nb.present.groups import group_diagrams
from msem_nb.present.report import make_report
from msem_nb.present.residual_plot import residual_heatmap
from msem_nb.present.summary import summary_html, summary_text

__all__ = ["FitResult"]

NO_SATURATED_NOTE = (
    "A model with random slopes has no saturated model: the outcomes' covariance differs "
    "from row to row with the covariate values, so there is no unrestricted covariance "
    "matrix to test against. Chi-square, CFI, TLI, RMSEA and SRMR are therefore not "
    "defined; compare nested models with likelihood-ratio tests, AIC or BIC instead.")

MUML_NOTE = (
    "MUML minimises Muthen's fit function F (fmin), a quasi-likelihood that weights the "
    "between part by J - 1 and gives every cluster the one size c; F is not a "
    "log-likelihood, so the log-likelihood, AIC and BIC are not available (NaN), and a "
    "chi-square test, CFI, TLI or RMSEA computed from F would be wrong. Fit the model with "
    "estimator='ML' for them.")

_SECTION = {"=~": "Latent Variables", "~": "Regressions", "~~": "Covariances",
            "~1": "Intercepts", "var": "Variances", ":=": "Defined Parameters"}
_SECTION_ORDER = ["=~", "~", "~~", "~1", "var"]


@dataclass(frozen=True, eq=False)
class FitResult:
    """Result of :func:`msem_nb.fit`.

    Attributes
    ----------
    converged, iterations, loglik, npar : as in lavaan
    ci_level : float
        Confidence level of the Wald intervals (``level`` is its deprecated
        name: ``level`` means within / between, as in the ``level`` column).
    estimates : pandas.DataFrame
        One row per parameter: lhs, op, rhs, level, label, est, se, z,
        pvalue, ci_lower, ci_upper, std_all (plus free, exo).
    fit_measures : dict
        loglik, npar, chisq, df, pvalue, cfi, tli, rmsea, srmr (and
        srmr_within, srmr_between for two-level models), aic, bic, ...
        Two-level models also get the level-specific fit of Ryu & West
        (chisq_within, df_within, cfi_within, rmsea_within, ... and the same
        for between; :mod:`msem_nb.inference.levelfit`) unless fitted with
        ``level_fit=False``, or with "auto" (the default) on a model whose
        partially saturated models are large (then ``messages`` says so).
        Random slopes: loglik, aic and bic with a note. MUML: fmin (F) and c,
        no likelihood-based measures (loglik, aic, bic are NaN; see the note).
    partable : ParTable
        The table the estimates refer to: for MUML the caller's with the
        covariates' moments freed (``estimation.partable``).
    cluster_effects : ClusterEffects
        Random slopes: every cluster's posterior means and covariances of the
        between random effects (``predict(level="between", se=True)`` as a table;
        ``caterpillar()`` and ``spaghetti()`` draw them).
    """

    model: str
    partable: ParTable
    data: object
    estimation: Estimation
    cluster: str | None
    estimator: str = "ML"
    # confidence level of the intervals ("level" names within / between)
    ci_level: float = 0.95
    elapsed: float = 0.0
    centering: dict = field(default_factory=dict)
    # warnings of this fit and notes on boundary estimates, as plain text
    messages: tuple = ()
    # the validated options of the fit (refits reuse them with the table)
    options: FitOptions = field(default_factory=FitOptions)
    # the group column of a multigroup fit (msem_nb.model.groups), else None
    group: str | None = None
    # two levels: add the level-specific fit (two more fits) to fit_measures
    level_fit: bool = True

    def __post_init__(self) -> None:
        # An estimator may estimate a changed table (MUML frees the covariates'
        # moments); theta, vcov and every table of this result refer to that one.
        table = self.estimation.partable
        if table is not None and table is not self.partable:
            object.__setattr__(self, "partable", table)

    @property
    def level(self) -> float:
        """Deprecated name of :attr:`ci_level` (the confidence level)."""
        warnings.warn(LEVEL_DEPRECATION, FutureWarning, stacklevel=2)
        return self.ci_level

    # -- basic facts ---------------------------------------------------
    @property
    def converged(self) -> bool:
        return bool(self.estimation.converged)

    @property
    def iterations(self) -> int:
        return int(self.estimation.iterations)

    @property
    def loglik(self) -> float:
        return float(self.estimation.loglik)

    @property
    def npar(self) -> int:
        """Free parameters, less the linear equality constraints among them."""
        return self.estimation.npar_effective

    @property
    def nobs(self) -> int:
        # sampling weights (msem_nb.data.weights): the rows, not the weighted total
        return int(getattr(self.data, "nrows", 0) or self.data.nobs)

    @property
    def nclusters(self) -> int | None:
        """Clusters of the level above the rows (classes of a three-level model; several
        groups: the clusters of all groups)."""
        if self.group is not None:
            return int(self.data.nclusters) if self.data.nlevels > 1 else None
        if isinstance(self.data, ThreeLevelData):
            return int(self.data.nclusters)
        if isinstance(self.data, ClusterData):
            return int(getattr(self.data, "nunits", 0) or self.data.nclusters)
        return None

    @property
    def nschools(self) -> int | None:
        """Clusters of the third level (schools) of a three-level model, else None."""
        return int(self.data.nschools) if isinstance(self.data, ThreeLevelData) else None

    @property
    def n_dropped(self) -> int:
        return int(self.data.n_dropped)

    @property
    def missing(self) -> str:
        """Missing-data mode of the data used: "listwise", or lavaan's "ml" / "ml.x"
        (FIML) when values were missing (msem_nb.data.missing)."""
        return self.data.mode if self.data.incomplete else "listwise"

    @property
    def nlevels(self) -> int:
        return self.partable.nlevels

    # -- tables --------------------------------------------------------
    def with_messages(self, messages: tuple[str, ...], elapsed: float) -> FitResult:
        """This result with other `messages` and `elapsed` time; what it has computed
        lazily so far (the improper-solution checks run during the fit, ...) is kept, as
        none of it depends on those two fields."""
        out = replace(self, messages=messages, elapsed=elapsed)
        lazy = {k: v for k, v in self.__dict__.items()
                if isinstance(getattr(type(self), k, None), cached_property)}
        out.__dict__.update(lazy)
        return out

    @cached_property
    def _row_estimates(self):
        rec = self.partable.records
        theta = self.estimation.theta
        free = self.partable.column("free") - 1
        est = np.empty(len(rec))
        se = np.zeros(len(rec))
        vcov = self.estimation.vcov
        rows = np.flatnonzero(free >= 0)
        est[rows] = theta[free[rows]]
        if vcov is None:
            se[rows] = np.nan
        else:
            var = np.diagonal(vcov)[free[rows]]
            se[rows] = np.sqrt(np.where(var >= 0, var, np.nan))
        for i in np.flatnonzero(free < 0).tolist():
            est[i] = self.estimation.fixed_values.get(i, rec[i]["ustart"])
            if est[i] is None or not math.isfinite(est[i]):
                est[i] = 0.0
            if rec[i]["op"] == "|~":
                # a declaration: its average is the slope's mean (between)
                est[i], se[i] = np.nan, np.nan
        return est, se

    @cached_property
    def _block_moments(self):
        return self.estimation.objective.moments(self.estimation.theta)

    @cached_property
    def _std_rows(self) -> np.ndarray:
        est, _ = self._row_estimates
        bm, _ = self._block_moments
        return std_all(self.partable.columns, self.estimation.spec, bm, est, self.partable.slopes)

    @cached_property
    def improper(self) -> tuple[Finding, ...]:
        """Signs of an improper solution (negative variances, correlations beyond
        +/-1, a latent covariance matrix that is not positive definite, estimates
        at a boundary, std.all beyond +/-1): one
        :class:`~msem_nb.inference.improper.Finding` (kind, level, parameters,
        values, rows) per kind and level; empty for a proper solution. The
        messages are in ``messages`` too."""
        pt = self.partable
        effects = set(pt.slopes) | {r["lhs"] for r in pt.records if r["op"] == "|~"}
        return detect_improper(pt.columns, self.estimation.spec, self._block_moments[0],
                               self._row_estimates[0], self._std_rows, effects)

    @cached_property
    def estimates(self) -> pd.DataFrame:
        tab = self.partable.table
        est, se = self._row_estimates
        std = self._std_rows
        free = tab["free"].to_numpy() > 0
        df = pd.DataFrame({
            "lhs": tab["lhs"].to_numpy(), "op": tab["op"].to_numpy(),
            "rhs": tab["rhs"].to_numpy(), "level": tab["level"].to_numpy(),
            "label": tab["label"].fillna("").to_numpy(), "est": est, "se": se,
        })
        df = pd.concat([df, self._defined_rows(est, std)], ignore_index=True) \
            if self.partable.defined else df
        std_full = np.concatenate([std, df["std_all"].to_numpy()[len(tab):]]) \
            if self.partable.defined else std
        free_full = np.concatenate([free, np.ones(len(df) - len(tab), dtype=bool)])
        wald = wald_table(df["est"], df["se"], free_full, self.ci_level)
        for col in wald.columns:
            df[col] = wald[col].to_numpy()
        df["std_all"] = std_full
        df["free"] = free_full
        df["exo"] = np.concatenate([tab["exo"].to_numpy(), np.zeros(len(df) - len(tab), bool)])
        # where each interval comes from; bootstrap / Monte Carlo results
        # (msem_nb.inference.intervals) return copies with other values here
        df["interval_method"] = np.where(free_full, "wald", "fixed")
        cols = ["lhs", "op", "rhs", "level", "label", "est", "se", "z", "pvalue",
                "ci_lower", "ci_upper", "std_all", "free", "exo", "interval_method"]
        if self.group is not None:  # the group's value as in the data; "" for := rows
            labels = self.data.labels
            groups = [labels[g - 1] for g in tab["group"].to_numpy()]
            df["group"] = groups + [""] * (len(df) - len(tab))
            cols.insert(4, "group")
        return df[cols]

    def _defined_rows(self, est, std) -> pd.DataFrame:
        pt = self.partable
        tab = pt.table
        rec = pt.records
        val, se = defined_delta(pt, self.estimation.theta, self.estimation.vcov)
        # standardized: the same expressions evaluated on standardized labels
        env_std = {}
        for i in range(len(tab)):
            lab = rec[i]["label"]
            if lab:
                env_std[lab] = std[i]
        std_def = []
        for d in pt.defined:
            try:
                v = d.expr.evaluate(env_std)
            except (KeyError, ValueError, ZeroDivisionError, OverflowError):
                v = np.nan
            env_std[d.lhs] = v
            std_def.append(v)
        return pd.DataFrame({"lhs": [d.lhs for d in pt.defined], "op": ":=",
                             "rhs": [d.expr.text for d in pt.defined], "level": "",
                             "label": [d.lhs for d in pt.defined], "est": val, "se": se,
                             "std_all": std_def})

    def _one_group(self, what: str) -> None:
        """ModelSpecificationError for what multigroup fits do not offer yet."""
        if self.group is not None:
            raise ModelSpecificationError(
                f"{what} are not available for a multigroup fit yet; fit the model in each "
                f"group on its own (data[data['{self.group}'] == value]) for them")

    @cached_property
    def implied(self) -> dict:
        """Model-implied moments per block, keyed by level name:
        {"within": (cov, mean), "between": (cov, mean)} or {"": ...}; for a
        multigroup fit keyed by (group value, level name)."""
        bm, _ = self._block_moments
        out = {}
        for bs, m in zip(self.estimation.spec.blocks, bm):
            # several groups: keyed (group value, level name)
            key = bs.key.name if self.group is None else (self.data.labels[bs.key.group - 1],
                                                          bs.key.name)
            out[key] = (pd.DataFrame(m.cov, index=bs.ov, columns=bs.ov),
                        pd.Series(m.mean, index=bs.ov))
        return out

    @cached_property
    def fit_measures(self) -> dict:
        pt, data, est = self.partable, self.data, self.estimation
        if isinstance(est, MumlEstimation):
            nan = float("nan")
            return {"loglik": nan, "npar": int(self.npar), "nobs": int(data.nobs),
                    "nclusters": int(data.nclusters), "fmin": float(est.fmin),
                    "c": float(est.c), "aic": nan, "bic": nan, "note": MUML_NOTE}
        if pt.slopes:
            n, ll = data.nobs, est.loglik
            return {"loglik": float(ll), "npar": int(self.npar), "nobs": int(n),
                    "aic": float(-2 * ll + 2 * self.npar),
                    "bic": float(-2 * ll + np.log(n) * self.npar),
                    "note": NO_SATURATED_NOTE}
        if self.group is not None:   # several groups (msem_nb.inference.groupfit)
            return multigroup_fit_measures(pt, data, est, self.npar, self.options,
                                           level_fit=self.level_fit)
        # the saturated model and the baseline are kept with the prepared data
        if est.h1 is not None:
            h1 = est.h1
        elif isinstance(data, ThreeLevelData):
            h1 = fit_saturated_threelevel(data)
        else:
            h1 = fit_saturated(data)
        mlr = est.robust is not None
        base_pt, base = baseline_fit(pt, data, information="observed" if mlr else None)
        nmom = count_moments(pt, data)
        npar_eff = self.npar
        bm, mom = self._block_moments
        blocks = ()
        if pt.multilevel:
            obj = est.objective
            blocks = [(bs.key, pos, m.cov)
                      for bs, pos, m in zip(est.spec.blocks, obj.positions, bm)]
        fm = fit_measures(
            loglik=est.loglik, npar=npar_eff, nobs=data.nobs, df=nmom - npar_eff, h1=h1,
            loglik_x=est.loglik_x, baseline_loglik=base.loglik,
            baseline_df=nmom - base_pt.npar, data=data, implied=mom, blocks=blocks)
        if mlr:  # scaled test and robust indices (msem_nb.inference.robust)
            fm.update(mlr_fit_measures(self, fm, base, h1))
        # chisq_within, rmsea_between, ... (Ryu & West; msem_nb.inference.levelfit)
        if self.level_fit:
            fm.update(level_specific_fit(pt, data, est, self.options, h1))
        return fm

    # -- resampling intervals (msem_nb.inference.intervals) ------------------------
    def bootstrap(self, n_boot: int = 1000, **kwargs):
        """Bootstrap confidence intervals; see :func:`msem_nb.inference.intervals.bootstrap`.

        Returns an ``IntervalResult``; this fit is not changed.
        """
        self._two_levels_at_most("bootstrap intervals")
        self._one_group("bootstrap intervals")
        return bootstrap(self, n_boot, **kwargs)

    def _two_levels_at_most(self, what: str) -> None:
        """Refuse what is not implemented for three-level models yet, saying what is."""
        if self.nschools is not None:
            raise ModelSpecificationError(
                f"{what} are not available for three-level models yet; estimates, standard "
                "errors (ML and MLR), fit measures, monte_carlo() intervals, compare(), the "
                "summary, the report and the diagram are")

    def monte_carlo(self, n_draws: int = 20_000, **kwargs):
        """Monte Carlo confidence intervals; see :func:`msem_nb.inference.intervals.monte_carlo`.

        Returns an ``IntervalResult``; this fit is not changed.
        """
        self._one_group("Monte Carlo intervals")
        return monte_carlo(self, n_draws, **kwargs)

    # -- after the fit: misfit, R-square, scores (msem_nb.inference) ----------------
    def modindices(self, sort: bool = True, minimum: float = 0.0) -> pd.DataFrame:
        """Modification indices (score tests), as lavaan's ``modindices()``.

        See :func:`msem_nb.inference.modindices.modification_indices`: lhs, op,
        rhs, level, mi, epc, sepc.lv, sepc.all, sepc.nox; largest first with
        ``sort``, only ``mi > minimum``.
        """
        self._two_levels_at_most("modification indices")
        self._one_group("modification indices")
        return modification_indices(self, sort=sort, minimum=minimum)

    def residuals(self, type: str = "raw", zstat: bool = False) -> Residuals:
        """Observed minus implied moments per level ("raw", "cor" or "standardized").

        See :func:`msem_nb.inference.residuals.residuals`; ``.srmr`` gives the
        per-level SRMR, ``.largest()`` the largest residuals.
        """
        self._two_levels_at_most("residuals")
        self._one_group("residuals")
        return level_residuals(self, type, zstat)

    def residual_plot(self, type: str = "cor", top: int = 5):
        """Heatmap of the residuals per level, the `top` largest outlined (Plotly figure)."""
        return residual_heatmap(self.residuals(type), top=top)

    @cached_property
    def r2(self) -> pd.DataFrame:
        """R-square of every endogenous variable per level (level, variable, r2)."""
        bm, _ = self._block_moments
        out = r_squared(self.partable, self.estimation.spec, bm)
        if self.group is not None:      # the group's value as in the data
            out["group"] = [self.data.labels[g - 1] for g in out["group"]]
        return out

    def predict(self, data: pd.DataFrame | None = None, level: str | None = None,
                method: str = "regression", type: str = "lv",
                se: bool = False) -> pd.DataFrame:
        """Factor scores (rows, or clusters with ``level="between"``) or cluster means.

        See :func:`msem_nb.inference.scores.factor_scores`; ``type="ov"`` with
        ``level="between"`` gives the model-implied cluster means.

        Random-slope models: ``level="between"`` gives one row per cluster (indexed
        by the cluster id) with the empirical Bayes (posterior mean) estimate of
        every between random effect: the between latent variables, the random
        slopes, then the between parts of the within outcomes
        (:mod:`msem_nb.inference.cluster_effects`; lavaan-dev's ``lavPredict(fit,
        level = 2)``). ``se=True`` adds a column ``<name>_se`` per effect with its
        posterior SD (lavaan's ``se = "standard"``, there an attribute): the
        spread of the cluster's effect given its data, with the parameters at
        their estimates.
        """
        self._two_levels_at_most("factor scores (predict)")
        self._one_group("factor scores")
        if self.partable.slopes:
            return self._slope_predict(data, level, method, type, se)
        if se:
            raise ModelSpecificationError(
                "posterior SDs (se=True) are available for random-slope models with "
                "level='between'; leave se out for factor scores")
        return factor_scores(self, data, level, method, type)

    def _slope_predict(self, data, level, method, type, se) -> pd.DataFrame:
        """predict() of a random-slope model: the clusters' posterior estimates."""
        if data is not None:
            raise ModelSpecificationError(
                "predict(data=...) is not available for random-slope models; the "
                "clusters' estimates are for the fit's own data")
        if level != "between" or type != "lv" or method.lower() != "regression":
            raise ModelSpecificationError(
                "a random-slope model predicts its clusters' random effects: use "
                "predict(level='between') (type='lv', method='regression'); row-level "
                "(within) scores are not available for random-slope models yet")
        return self.cluster_effects.frame(self.cluster, se)

    @cached_property
    def cluster_effects(self) -> ClusterEffects:
        """The clusters' posterior estimates of a random-slope model: means, covariances,
        the fixed part (:class:`~msem_nb.inference.cluster_effects.ClusterEffects`)."""
        self._two_levels_at_most("the clusters' estimates")
        self._one_group("the clusters' estimates")
        if not self.partable.slopes:
            raise ModelSpecificationError(
                "the clusters' estimates are for models with random slopes; use "
                "predict(level='between') for factor scores")
        est = self.estimation
        return cluster_effects(est.objective, est.theta)

    def caterpillar(self, effect: str | None = None, ci_level: float | None = None):
        """Caterpillar plot of the clusters' estimates of a random effect (Plotly figure).

        Every cluster's posterior mean of `effect` (default: the first random slope)
        with a `ci_level` interval of posterior SDs, sorted; the fixed part as a line
        and the model's band for the middle `ci_level` of the clusters. See
        :func:`msem_nb.present.cluster_plots.caterpillar_figure`.
        """
        ce = self.cluster_effects
        return caterpillar_figure(ce, effect or next(iter(self.partable.slopes)),
                                  self.ci_level if ci_level is None else ci_level,
                                  self.cluster)

    def spaghetti(self, slope: str | None = None, points: bool = True):
        """Each cluster's regression line of a random slope over the data (Plotly figure).

        The line of the slope's outcome on its (observed) covariate with the cluster's
        posterior effects and the other covariates at their means, over the cluster's
        range of the covariate; a latent outcome is drawn through its marker indicator.
        Slopes on latent covariates have no data to draw over (use :meth:`caterpillar`).
        See :func:`msem_nb.present.cluster_plots.spaghetti_figure`.
        """
        _ = self.cluster_effects  # (the same refusals)
        slope = slope or next(iter(self.partable.slopes))
        y = self.partable.slopes.get(slope, ("", ""))[0]
        marker = next((r["rhs"] for r in self.partable.records
                       if r["op"] == "=~" and r["lhs"] == y), None)
        est = self.estimation
        lines = slope_lines(est.objective, est.theta, slope, marker)
        return spaghetti_figure(lines, self.cluster, points=points,
                                centred=self.centering.get(lines.covariate))

    # -- display -------------------------------------------------------
    def summary(self, standardized: bool = True) -> str:
        """Text summary laid out like lavaan's, with a section per level."""
        return summary_text(self, standardized=standardized)

    def __repr__(self) -> str:
        status = "converged" if self.converged else "NOT converged"
        lv = f", {self.nclusters} clusters" if self.nclusters else ""
        if self.nschools:
            lv = f", {self.nclusters} classes in {self.nschools} schools"
        return (f"<msem_nb FitResult: {status}, loglik {self.loglik:.3f}, "
                f"{self.npar} parameters, {self.nobs} observations{lv}>")

    def _repr_html_(self) -> str:
        return summary_html(self)

    def diagram(self, **kw):
        """Path diagram (Plotly figure); see :func:`msem_nb.present.diagram.path_diagram`.

        A multigroup fit draws a section per group (``group=value``: that group only;
        :func:`msem_nb.present.groups.group_diagrams`)."""
        if self.group is not None:
            return group_diagrams(self, **kw)
        return path_diagram(self, **kw)

    def report(self, **kw):
        """Report (HTML, Markdown, notebook); see :func:`msem_nb.present.report.make_report`."""
        return make_report(self, **kw)
