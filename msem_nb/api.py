"""The public entry point: ``fit(model, data, cluster=None, estimator="ML")``.

:func:`fit` is parse -> :func:`~msem_nb.model.partable.build_partable` ->
:func:`fit_partable`; callers that already hold a parameter table (the
panel refitting after a switch, without writing the model as text and
parsing it again) call :func:`fit_partable` directly, so every fit is made
by the same code.
"""

from __future__ import annotations

import time

import pandas as pd

from msem_nb.data.groups import MultiGroupData, split_groups
from msem_nb.data.protocol import ModelData
from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.groups import prepare_groups
from msem_nb.estimation.options import FitOptions
from msem_nb.estimation.pipeline import fit_prepared, prepare
from msem_nb.estimation.threelevel import cluster_columns
from msem_nb.estimation.weighting import prepare_weighted
from msem_nb.inference.arguments import check_level_arguments
from msem_nb.inference.defined import notify_undefined
from msem_nb.inference.improper import notify_improper
from msem_nb.inference.levelfit import resolve_level_fit
from msem_nb.inference.wald import resolve_ci_level
from msem_nb.messages import collecting
from msem_nb.model.groups import build_group_partable, check_group_modifiers
from msem_nb.model.partable import ParTable, build_partable
from msem_nb.results import FitResult
from msem_nb.syntax import parse
from msem_nb.syntax.text import model_text

__all__ = ["fit", "fit_partable"]


def fit(model: str, data: pd.DataFrame, cluster: str | list[str] | None = None,
        estimator: str = "ML",
        missing: str = "listwise", *, meanstructure: bool | None = None,
        fixed_x: bool = True, ci_level: float = 0.95, information: str | None = None,
        center: dict | None = None, control: dict | None = None,
        quiet: bool = False, level: float | None = None, group: str | None = None,
        group_equal: list[str] | tuple[str, ...] = (),
        group_partial: list[str] | tuple[str, ...] = (),
        weights: str | None = None, cluster_weights: str | None = None,
        weight_scaling: str = "cluster", level_fit: bool | str = "auto") -> FitResult:
    """Fit a single-, two- or three-level structural equation model by maximum likelihood.

    Parameters
    ----------
    model : str
        lavaan-style model syntax; ``level: within`` / ``level: between``
        blocks make a two-level model (then `cluster` is required);
        ``level: 1``, ``level: 2`` and ``level: 3`` blocks a three-level one
        (rows in classes in schools; names such as ``within``, ``class``,
        ``school`` are numbered in the order written). Column
        names that are not plain names (spaces, a leading digit, ``-``) are
        written in backticks: ```math score` ~ ses``. In the within block,
        ``y ~ rv("s")*x`` makes a slope random and ``f =~ y1 + rv("l2")*y2`` a
        loading (not the first, which sets the scale): ``s`` and ``l2`` are
        latent variables of the between level whose mean is the average slope
        or loading and whose variance says how much it varies over clusters.
    data : pandas.DataFrame
        One row per level-1 unit.
    cluster : str or list of str, optional
        Column with cluster ids. None fits a single-level model. A
        three-level model takes the cluster columns from the lowest level to
        the highest, ``cluster=["class_id", "school_id"]``; classes must be
        nested in schools (a class id seen in two schools is an error).
    estimator : {"ML", "MLR", "MUML"}
        Maximum likelihood; "MLR" adds Huber-White (cluster-robust) standard
        errors and the Yuan-Bentler scaled test, as lavaan and Mplus do.
        "MUML" is Muthen's two-level quasi-likelihood (complete rows, no
        random slopes, covariate moments estimated; see
        :func:`msem_nb.teaching.muml.fit_muml`); its F is not a
        log-likelihood, so ``fit_measures`` has fmin and c but no
        likelihood-based measures.
    missing : {"listwise", "fiml", "ml", "ml.x"}
        "listwise" drops rows with missing values on model variables (and
        counts them). "fiml" uses every observed value, covariates included
        (lavaan's "ml.x"; the covariates' moments stay fixed at their
        saturated FIML estimates); "ml" first drops rows with a missing
        covariate value (lavaan's "ml"). The FIML modes imply a mean
        structure and observed information. See :mod:`msem_nb.data.missing`.
        Random-slope models condition on their covariates: FIML covers
        missing outcome values; "ml" drops rows with a missing covariate,
        "fiml" refuses them (:mod:`msem_nb.estimation.slopes_missing`).
    meanstructure : bool, optional
        Single-level models only: include intercepts (default: only when the
        syntax has an intercept). Two-level models always have means.
    fixed_x : bool
        Condition on observed exogenous covariates (their moments are fixed at
        sample values; the log-likelihood is conditional on them).
    ci_level : float
        Confidence level of the Wald intervals (``result.ci_level``).
    information : {"observed", "expected"}, optional
        Information matrix behind the standard errors (the bread of MLR's
        sandwich); by default expected for single-level and observed for
        two-level models, and observed with missing="fiml" or MLR, as in lavaan.
    center : dict, optional
        Centre covariates before fitting: ``{"x": "cluster"}`` subtracts each
        cluster's mean of x (needs `cluster`; with three levels the class
        mean), ``{"x": "grand"}`` the overall
        mean. Recorded in ``result.centering``. Without it every variable is
        used as given.
    control : dict, optional
        Optimizer settings: ``maxiter``, ``gtol``, ``start``, ``se``
        (:data:`msem_nb.estimation.options.CONTROL_KEYS`); other keys are refused.
    quiet : bool
        Record warnings (dropped rows, non-convergence, ...) only in
        ``result.messages`` instead of also issuing them; safe in threads.
    level : float, optional
        Deprecated name of `ci_level` (a FutureWarning); ``level`` means
        within / between elsewhere.
    group : str, optional
        Column whose values split the rows into groups: the model is fitted in
        every group (lavaan's ``group``), one or two levels; clusters must sit
        inside one group. Modifiers ``c(a1, a2)*x`` give one label or value per
        group, in the order the groups first appear in the data. The estimates
        get a ``group`` column holding the group's value.
    group_equal : list of str
        Parameters held equal across groups, as lavaan's ``group.equal``:
        "loadings", "intercepts", "means", "residuals", "residual.covariances",
        "lv.variances", "lv.covariances", "regressions".
    group_partial : list of str
        Exceptions to `group_equal`, as lavaan's ``group.partial``
        (``["f =~ y3", "y1 ~ 1"]``).
    weights : str, optional
        Column of sampling weights: single level as lavaan's
        ``sampling.weights``; two levels the within (level-1) weights.
        Pseudo-ML with robust (sandwich) standard errors and the scaled test,
        so estimator "ML" becomes "MLR" (:mod:`msem_nb.data.weights`).
    cluster_weights : str, optional
        Two levels: column of the between (cluster) weights, one value per
        cluster; scaled to sum to the number of clusters.
    weight_scaling : {"cluster", "ecluster", "none"}
        Two levels: Mplus's scaling of the within weights (Asparouhov 2006):
        to sum to the cluster size, to the effective cluster size, or not.
    level_fit : bool or "auto"
        Two levels: ``fit_measures`` includes the level-specific fit (Ryu &
        West 2009; two partially saturated models are fitted when it is first
        read); False leaves it out; "auto" (the default) includes it when the
        partially saturated models are small (at most
        ``msem_nb.inference.levelfit.AUTO_MAX_PARAMETERS`` free parameters)
        and otherwise says in ``messages`` that it was left out
        (:mod:`msem_nb.inference.levelfit`).

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
    # plausible mistakes get a library error before any work: a model that is
    # not text (a byte order mark is dropped), a percentage as ci_level
    model = model_text(model)
    check_level_arguments(ci_level, level)
    ci_level = resolve_ci_level(ci_level, level)
    t0 = time.perf_counter()
    weighted = weights is not None or cluster_weights is not None
    if weighted and str(estimator).upper() == "ML":
        estimator = "MLR"       # pseudo-ML: sandwich SEs and the scaled test, as lavaan
    with collecting(quiet) as messages:
        options = FitOptions(estimator=estimator, missing=missing, information=information,
                             fixed_x=fixed_x, meanstructure=meanstructure,
                             center=tuple((center or {}).items()), control=control or {})
        parsed = parse(model)
        if group is None:
            if group_equal or group_partial:
                raise ModelSpecificationError("group_equal and group_partial need group='...' "
                                              "(the column that holds the groups)")
            check_group_modifiers(parsed, 1)
            pt = build_partable(parsed, meanstructure=options.resolved_meanstructure(),
                                fixed_x=options.fixed_x)
        else:   # msem_nb.model.groups: one block per (group, level)
            labels, _ = split_groups(data, group)
            pt = build_group_partable(parsed, len(labels), group_equal=group_equal,
                                      group_partial=group_partial,
                                      meanstructure=options.resolved_meanstructure(),
                                      fixed_x=options.fixed_x)
        if weighted and group is not None:
            raise ModelSpecificationError("sampling weights with several groups are not "
                                          "available yet")
        first = len(messages)
        res = fit_partable(pt, data, cluster, options, model=model, ci_level=ci_level,
                           quiet=quiet, group=group, weights=weights,
                           cluster_weights=cluster_weights, weight_scaling=weight_scaling,
                           level_fit=level_fit)
    # the messages of parsing and building the table come first
    return res.with_messages(tuple(messages[:first]) + tuple(res.messages),
                             time.perf_counter() - t0)


def fit_partable(pt: ParTable, data: pd.DataFrame | ModelData,
                 cluster: str | list[str] | tuple[str, str] | None = None,
                 options: FitOptions | None = None, *, model: str = "",
                 ci_level: float = 0.95, centering: dict[str, str] | None = None,
                 quiet: bool = False, group: str | None = None,
                 weights: str | None = None, cluster_weights: str | None = None,
                 weight_scaling: str = "cluster", level_fit: bool | str = "auto") -> FitResult:
    """Fit a parameter table: the :class:`FitResult` of one fit, without the syntax.

    Parameters
    ----------
    pt : ParTable
        From :func:`~msem_nb.model.partable.build_partable`, built with
        ``options.resolved_meanstructure()`` and ``options.fixed_x``.
    data : pandas.DataFrame or ModelData
        The data, or data already prepared for `pt` by
        :func:`msem_nb.estimation.pipeline.prepare` under the same `cluster`
        and `options` (a refit that keeps the variables' roles reuses them).
    cluster : str or list of str, optional
        Cluster column (None: single-level); three levels: the class and the
        school column (``result.cluster`` is then that pair as a tuple).
    options : FitOptions, optional
        Default ``FitOptions()`` (ML, listwise).
    model : str
        The model text the result reports (``FitResult.model``).
    ci_level : float
        Confidence level of the Wald intervals.
    centering : dict, optional
        With prepared `data`: the centring :func:`prepare` applied (column ->
        "cluster" or "grand"), recorded in ``result.centering``.
    quiet : bool
        Record warnings only in ``result.messages`` (see :func:`fit`).
    group : str, optional
        Group column of a multigroup table
        (:func:`msem_nb.model.groups.build_group_partable`).
    weights, cluster_weights, weight_scaling
        Sampling weights (:func:`fit`).
    level_fit : bool or "auto"
        Level-specific fit in ``fit_measures`` (:func:`fit`).

    Returns
    -------
    FitResult
    """
    t0 = time.perf_counter()
    options = FitOptions() if options is None else options
    # (checked before the data and the estimation: a bad value costs no fit)
    with_level_fit, level_note = resolve_level_fit(pt, options.estimator, level_fit)
    with collecting(quiet) as messages:
        if isinstance(data, MultiGroupData) or (not isinstance(data, pd.DataFrame)
                                                and isinstance(data, ModelData)):
            prepared, centering = data, dict(centering or {})
        elif group is not None:
            prepared, centering = prepare_groups(pt, data, cluster, group, options)
        elif weights is not None or cluster_weights is not None:
            prepared, centering = prepare_weighted(pt, data, cluster, weights, options,
                                                   cluster_weights=cluster_weights,
                                                   scaling=weight_scaling)
        else:
            # prepare() also says why anything that is not a DataFrame is refused
            prepared, centering = prepare(pt, data, cluster, options)
        est = fit_prepared(pt, prepared, options)
        # three levels: the (class, school) pair of columns
        cluster = cluster_columns(pt, cluster)
        res = FitResult(model, pt, prepared, est, cluster, options.estimator, ci_level,
                        time.perf_counter() - t0, centering, options=options, group=group,
                        level_fit=with_level_fit)
        # checks of the solution (msem_nb.inference.improper, .defined) go
        # into the messages as every other warning of the fit
        notify_improper(res.improper)
        notify_undefined(res.partable, est.theta)
    notes = tuple(est.notes) + (() if level_note is None else (level_note,))
    return res.with_messages(tuple(messages) + notes, res.elapsed)
