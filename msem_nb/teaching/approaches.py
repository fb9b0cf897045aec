"""Why multilevel SEM: the same question answered by six common approaches.

:func:`compare_approaches` fits one regression (y on x) or one mediation
(x -> mediators -> y) on the same rows in six ways, from ignoring the
clustering to a two-level SEM with latent cluster means, and collects the
effects in one tidy table with a plain-language note on what each approach
assumes. The point is didactic: with small clusters and a low ICC the
approaches that use observed cluster means (aggregation, centring plus
means) mix the within slope into the between slope, and the approaches that
ignore levels report a single slope with no clear meaning.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msem_nb.api import fit
from msem_nb.errors import DataError, DataWarning, MsemError
from msem_nb.format import num
from msem_nb.inference.decompose import decompose
from msem_nb.inference.wald import LEVEL_DEPRECATION, resolve_ci_level
from msem_nb.messages import collecting, notify
from msem_nb.model.partable import build_partable
from msem_nb.present.forest import forest_figure
from msem_nb.syntax import parse
from msem_nb.teaching.muml import fit_muml

__all__ = ["APPROACHES", "Comparison", "compare_approaches"]

#: Approach labels, in the order of the table.
APPROACHES = (
    "Single level (disaggregated)",
    "Cluster means (aggregated)",
    "Random intercept, raw x (conflated)",
    "Centred x + observed cluster means",
    "MUML, latent cluster means",
    "Two-level SEM, latent cluster means (ML)",
)

_COLUMNS = ["approach", "effect", "estimate", "se", "ci_lower", "ci_upper", "n_used",
            "n_unit", "note"]



@dataclass(frozen=True, eq=False, repr=False)
class Comparison:
    """Effects of one regression or mediation under six approaches.

    Built by :func:`compare_approaches`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per approach and effect: approach, effect ('within',
        'between', 'total/conflated'; with mediators 'indirect within',
        'indirect between', 'indirect conflated', suffixed 'via m' and with
        'total ...' rows when there are several mediators), estimate, se,
        ci_lower, ci_upper, n_used with n_unit (the words of `units`: an
        effect rests on rows or on clusters) and note (problems of that fit,
        if any).
    notes : dict
        Approach -> one sentence on what it assumes, with this data's numbers.
    models : dict
        Approach -> the model syntax fitted.
    fits : dict
        Approach -> the fit result (:class:`msem_nb.results.FitResult` or
        :class:`msem_nb.teaching.muml.MumlResult`), None where the fit failed.
    icc : pandas.Series
        ML ICCs of the variables involved.
    ci_level : float
        Confidence level of the intervals (``level`` is its deprecated name).
    """

    table: pd.DataFrame
    notes: dict
    models: dict
    fits: dict
    y: str
    x: str
    mediators: tuple
    cluster: str
    nobs: int
    nclusters: int
    icc: pd.Series
    units: tuple = ("rows", "clusters")
    ci_level: float = 0.95
    errors: dict = field(default_factory=dict)

    @property
    def level(self) -> float:
        """Deprecated name of :attr:`ci_level` (the confidence level)."""
        warnings.warn(LEVEL_DEPRECATION, FutureWarning, stacklevel=2)
        return self.ci_level

    @property
    def question(self) -> str:
        if self.mediators:
            return f"{self.x} -> {', '.join(self.mediators)} -> {self.y}"
        return f"{self.y} on {self.x}"

    def figure(self, truth: dict | None = None):
        """A forest plot of the effects, grouped by effect, one colour per approach.

        Parameters
        ----------
        truth : dict, optional
            Effect -> true value (e.g. from a simulation), drawn as a black
            line in the effect's group.

        Returns
        -------
        plotly.graph_objects.Figure
            A subclass that also has a static HTML representation.
        """
        return forest_figure(self, truth)

    def summary(self) -> str:
        """The table and the notes as plain text."""
        head = (f"Comparison of approaches: {self.question} "
                f"({self.nobs:,} {self.units[0]} in {self.nclusters:,} {self.units[1]})")
        lines = [head, ""]
        for app in APPROACHES:
            sub = self.table[self.table["approach"] == app]
            lines.append(app)
            lines.append(f"  {self.notes.get(app, '')}")
            for r in sub.itertuples():
                lines.append(f"  {r.effect:<28} {num(r.estimate):>8} (SE {num(r.se)})  "
                             f"[{num(r.ci_lower)}, {num(r.ci_upper)}]  n = {r.n_used:,} "
                             f"{r.n_unit}" + (f"  ! {r.note}" if r.note else ""))
            lines.append("")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<Comparison {self.question}: {len(self.table)} effects from "
                f"{self.table['approach'].nunique()} approaches, {self.nobs:,} {self.units[0]} "
                f"in {self.nclusters:,} {self.units[1]}>")

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{h}</th>" for h in ("approach", "effect", "estimate", "SE",
                                                    f"{int(self.ci_level * 100)}% CI", "n"))
        rows = []
        for r in self.table.itertuples():
            cells = [esc(r.approach), esc(r.effect), num(r.estimate), num(r.se),
                     f"[{num(r.ci_lower)}, {num(r.ci_upper)}]",
                     f"{r.n_used:,} {esc(r.n_unit)}"]
            if r.note:
                cells[1] += f"<br><small>{esc(r.note)}</small>"
            rows.append("<tr>" + "".join(
                f"<td style='text-align:{'left' if k < 2 else 'right'}'>{c}</td>"
                for k, c in enumerate(cells)) + "</tr>")
        notes = "".join(f"<li><b>{esc(a)}</b>: {esc(self.notes[a])}</li>"
                        for a in APPROACHES if a in self.notes)
        return ("<div class='msem-comparison'>"
                f"<p><b>Comparison of approaches</b>: {esc(self.question)}, "
                f"{self.nobs:,} {esc(self.units[0])} in {self.nclusters:,} "
                f"{esc(self.units[1])} (cluster '{esc(str(self.cluster))}')</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
                f"<ul>{notes}</ul></div>")


def _free_name(base: str, taken: set) -> str:
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}{k}"
    taken.add(name)
    return name


def _models(y: str, x: str, meds: tuple, names: dict) -> dict:
    """Model syntax per approach, and the effects to read: {approach: (model, effects)}.

    ``effects`` lists (effect name, label or := name, 'rows' | 'clusters').
    """
    xc, xm = names[x]

    # the six approaches differ only in how the covariate and the mediators
    # enter each level; the path structure is written once
    def paths(xv, mv, pre):
        out = [f"{m} ~ {pre}a{i}*{xv}" for i, m in enumerate(mv, 1)]
        rhs = " + ".join([f"{pre}b{i}*{m}" for i, m in enumerate(mv, 1)] + [f"{pre}c*{xv}"])
        out.append(f"{y} ~ {rhs}")
        out += [f"{a} ~~ {b}" for i, a in enumerate(mv) for b in mv[i + 1:]]
        return out

    def defined(pre):
        k = len(meds)
        out = [f"{pre}ind{i} := {pre}a{i}*{pre}b{i}" for i in range(1, k + 1)]
        if k > 1:
            out.append(f"{pre}tot := " + " + ".join(f"{pre}a{i}*{pre}b{i}"
                                                   for i in range(1, k + 1)))
        return out

    def effects(pre, tag, unit):
        if not meds:
            return [(tag, f"{pre}c", unit)]
        if len(meds) == 1:
            return [(f"indirect {tag}", f"{pre}ind1", unit)]
        out = [(f"indirect {tag} via {m}", f"{pre}ind{i}", unit) for i, m in enumerate(meds, 1)]
        return out + [(f"total indirect {tag}", f"{pre}tot", unit)]

    def syntax(within, between=None, defs=()):
        if between is None:
            body = within
        else:
            body = (["level: within"] + [f"  {t}" for t in within]
                    + ["level: between"] + [f"  {t}" for t in between])
        return "\n".join(body + ([""] + list(defs) if defs else [])) + "\n"

    single = syntax(paths(x, meds, ""), defs=defined(""))
    conflated = "conflated" if meds else "total/conflated"
    out = {APPROACHES[0]: (single, effects("", conflated, "rows")),
           APPROACHES[1]: (single, effects("", "between", "clusters"))}
    # conflated: raw x only within; a mediator's between part is its random
    # intercept and predicts y with the same slope as within, so y given the
    # observed m and x is lme4's y ~ m + x + (1 | cluster)
    if meds:
        between_c = [f"{y} ~ " + " + ".join(f"b{i}*{m}" for i, m in enumerate(meds, 1))]
    else:
        between_c = [f"{y} ~~ {y}"]
    between_c += [f"{a} ~~ {b}" for i, a in enumerate(meds) for b in meds[i + 1:]]
    out[APPROACHES[2]] = (syntax(paths(x, meds, ""), between_c, defined("")),
                          effects("", conflated, "rows"))
    mc = tuple(names[m][0] for m in meds)
    mm = tuple(names[m][1] for m in meds)
    obs = syntax(paths(xc, mc, "w"), paths(xm, mm, "b"), defined("w") + defined("b"))
    latent = syntax(paths(x, meds, "w"), paths(x, meds, "b"), defined("w") + defined("b"))
    two = effects("w", "within", "rows") + effects("b", "between", "clusters")
    out[APPROACHES[3]] = (obs, two)
    out[APPROACHES[4]] = (latent, two)
    out[APPROACHES[5]] = (latent, two)
    return out


def _latent_ml(model: str, df: pd.DataFrame, cluster: str, ci_level: float):
    """ML fit with the covariates' moments estimated (``fixed_x=False``).

    Started from the ``fixed_x=True`` fit, whose covariate moments are the
    saturated estimates: from generic starts, a covariate with a small between
    variance can be pushed through zero, where its between slope diverges.
    Falls back to the ``fixed_x=True`` fit (with a note) if that fails.
    """
    first = fit(model, df, cluster, ci_level=ci_level)
    est = first.estimates
    value = {(r.lhs, r.op, r.rhs, r.level): r.est for r in est.itertuples()}
    pt = build_partable(parse(model), fixed_x=False)
    start = np.zeros(pt.npar)
    for r in pt.records:
        k = int(r["free"]) - 1
        if k >= 0:
            v = value.get((r["lhs"], r["op"], r["rhs"], r["level"]),
                          value.get((r["rhs"], r["op"], r["lhs"], r["level"]), 0.0))
            start[k] = v
    try:
        with collecting(quiet=True):
            second = fit(model, df, cluster, ci_level=ci_level, fixed_x=False,
                         control={"start": start})
    except (MsemError, np.linalg.LinAlgError, FloatingPointError):
        second = None
    if second is not None and second.converged:
        return second, ""
    return first, ("covariate variances held at their saturated estimates (fixed_x=True); "
                   "standard errors of between effects are somewhat too small")


def _notes(N: int, J: int, icc: pd.Series, x: str, y: str, units, c: float) -> dict:
    rows, clus = units
    ix, iy = float(icc.get(x, np.nan)), float(icc.get(y, np.nan))
    nbar = N / J
    return {
        APPROACHES[0]: (f"Ignores clustering: treats {N:,} {rows} as independent, so standard "
                        f"errors are too small when the ICC is above zero (ICC of {y} "
                        f"{num(iy, '.2f')}), and the one slope mixes the within- and "
                        "between-cluster relations."),
        APPROACHES[1]: (f"Uses only the means of the {J:,} {clus}: a between-cluster relation, but "
                        f"observed means of about {nbar:.0f} {rows} measure a cluster's {x} "
                        f"with error (ICC of {x} {num(ix, '.2f')}), which pulls the slope "
                        "towards the within slope."),
        APPROACHES[2]: ("Accounts for clustering in the standard errors, but assumes one slope "
                        "holds within and between clusters; when they differ the estimate is "
                        "a blend of the two with no clear meaning."),
        APPROACHES[3]: (f"Separates the levels with {x} centred within {clus} and its observed "
                        "cluster mean, but treats that mean as error-free, so the between "
                        "slope is biased towards the within slope when clusters are small and "
                        "the ICC is low."),
        APPROACHES[4]: ("Treats cluster means as latent, which removes that bias, but fits "
                        f"only two covariance matrices and treats all {clus} as if they had "
                        f"{c:.1f} {rows}, an approximation when sizes vary."),
        APPROACHES[5]: ("Treats cluster means as latent by full maximum likelihood: separate "
                        "within and between effects, corrected for the sampling error in "
                        f"observed means; needs enough {clus} for stable between estimates."),
    }


def compare_approaches(data: pd.DataFrame, cluster: str, y: str, x: str, mediators=None, *,
                       ci_level: float = 0.95, units=("rows", "clusters"),
                       level: float | None = None) -> Comparison:
    """Estimate one effect six ways on the same data, to show what multilevel SEM adds.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per level-1 unit.
    cluster : str
        Cluster id column.
    y, x : str
        Outcome and predictor, both measured on level-1 units.
    mediators : sequence of str, optional
        Level-1 mediators of x -> y (parallel, residuals free to covary);
        then the indirect effects a*b are compared, with delta-method errors.
    ci_level : float
        Confidence level of the intervals.
    units : (str, str)
        Words for rows and clusters in the notes, e.g. ("students", "classes").
    level : float, optional
        Deprecated name of `ci_level` (a FutureWarning).

    Returns
    -------
    Comparison
        ``.table``, ``.figure()``, ``.summary()``, ``.notes``, ``.fits``.

    Notes
    -----
    The approaches, all on the rows complete on y, x, mediators and cluster:

    1. single-level regression ignoring the clustering (``fit('y ~ x')``);
    2. single-level regression on the cluster means (n = number of clusters);
    3. random intercepts with raw x in the within block only: one slope,
       the ``y ~ x + (1 | cluster)`` model of lme4;
    4. x centred within clusters (within block) and its observed cluster
       mean (between block);
    5. MUML (:func:`msem_nb.teaching.muml.fit_muml`) and
    6. ML two-level SEM with x in both blocks, i.e. a latent cluster mean.
       Both latent approaches estimate the covariates' variances
       (``fixed_x=False``) so that their standard errors include the
       uncertainty of the latent decomposition.

    A fit that fails gives NaN rows with the reason in ``note``.

    Examples
    --------
    >>> import msem_nb as ms
    >>> df = ms.load_example("classrooms")
    >>> cmp = ms.compare_approaches(df, "class_id", y="math", x="ses")
    >>> len(cmp.table)
    9
    """
    ci_level = resolve_ci_level(ci_level, level)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    meds = tuple(mediators or ())
    cols = [y, x, *meds]
    if len(set(cols)) != len(cols) or cluster in cols:
        raise DataError("y, x, the mediators and the cluster column must be different columns")
    missing = [c for c in cols + [cluster] if c not in data.columns]
    if missing:
        raise DataError(f"column(s) {', '.join(map(repr, missing))} not found; the columns "
                        f"are: {', '.join(map(str, data.columns))}")
    df = data[[cluster, *cols]].copy()
    keep = df.notna().all(axis=1)
    if not keep.all():
        notify(f"{int((~keep).sum())} of {len(df)} rows have missing values and were "
                      "left out of every approach", DataWarning, stacklevel=2)
        df = df[keep]
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise DataError(f"column(s) {', '.join(map(repr, bad))} are not numeric; convert them "
                        "with pandas.to_numeric first")
    # cluster-mean-centred copies and observed cluster means under free names
    taken = set(map(str, data.columns))
    names = {}
    for v in (x, *meds):
        cwc, mean = _free_name(f"{v}_cwc", taken), _free_name(f"{v}_mean", taken)
        means = df.groupby(cluster)[v].transform("mean")
        df[cwc], df[mean] = df[v] - means, means
        names[v] = (cwc, mean)
    N, J = len(df), int(df[cluster].nunique())
    with collecting(quiet=True):
        icc = decompose(df, cluster, cols).icc
    agg = df.groupby(cluster)[cols].mean().reset_index(drop=True)
    specs = _models(y, x, meds, names)
    nsize = df.groupby(cluster).size().to_numpy(float)
    c = (N * N - float(nsize @ nsize)) / (N * (J - 1)) if J > 1 else float("nan")

    runners = {
        APPROACHES[0]: lambda m: fit(m, df[cols], ci_level=ci_level),
        APPROACHES[1]: lambda m: fit(m, agg, ci_level=ci_level),
        APPROACHES[2]: lambda m: fit(m, df, cluster, ci_level=ci_level),
        APPROACHES[3]: lambda m: fit(m, df, cluster, ci_level=ci_level),
        APPROACHES[4]: lambda m: fit_muml(m, df, cluster, ci_level=ci_level),
        APPROACHES[5]: lambda m: _latent_ml(m, df, cluster, ci_level),
    }
    rows, fits, errors = [], {}, {}
    for app in APPROACHES:
        model, effs = specs[app]
        note, res = "", None
        with collecting(quiet=True) as caught:
            try:
                res = runners[app](model)
                if isinstance(res, tuple):
                    res, note = res
            except (MsemError, np.linalg.LinAlgError, FloatingPointError) as err:
                errors[app] = err
                note = f"fit failed: {err}"
        if res is not None and not res.converged:
            note = "did not converge; the estimates are not trustworthy"
        elif res is not None:
            msgs = [str(m) for m in caught if not issubclass(m.category, DataWarning)]
            note = "; ".join(dict.fromkeys([note, *msgs] if note else msgs))
        fits[app] = res
        est = None if res is None else res.estimates
        for eff, lab, unit in effs:
            r = None if est is None else est[est["label"] == lab]
            vals = (r.iloc[0][["est", "se", "ci_lower", "ci_upper"]].to_numpy(float)
                    if r is not None and len(r) else np.full(4, np.nan))
            n_used = J if unit == "clusters" else N
            rows.append([app, eff, *vals, n_used, units[1] if unit == "clusters" else units[0],
                         note])
    table = pd.DataFrame(rows, columns=_COLUMNS)
    table["n_used"] = table["n_used"].astype(int)
    return Comparison(table, _notes(N, J, icc, x, y, units, c),
                      {a: specs[a][0] for a in APPROACHES}, fits, y, x, meds, cluster, N, J,
                      icc, tuple(units), ci_level, errors)
