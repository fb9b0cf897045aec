"""Monte Carlo and bootstrap confidence intervals for any parameter.

* :func:`monte_carlo` (Preacher & Selig, 2012): draws of the free parameters
  from N(theta_hat, ACOV), every ``:=`` parameter evaluated on each draw,
  percentile intervals. No refitting, so it takes well under a second.
* :func:`bootstrap`: refits the model on cluster-bootstrap or parametric
  bootstrap data sets (see :mod:`msem_nb.inference.resample`), then percentile or BCa
  intervals. BCa's acceleration comes from a jackknife over clusters (rows
  of single-level data); with more than ``jackknife_groups`` clusters they
  are split at random into that many groups and one group is left out at a
  time (a grouped jackknife), which keeps the cost bounded.

Both take a ``seed``. Every bootstrap replicate gets its own child of
``numpy.random.SeedSequence(seed)``, so the results do not depend on
``n_jobs``. Failed or non-converged replicates are counted and reported; a
fit that did not converge itself gets a ConvergenceWarning and a note.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msem_nb.errors import ConvergenceWarning, ModelSpecificationError
from msem_nb.inference.arguments import (
    check_choice,
    check_count,
    check_seed,
    confidence_level,
    is_whole,
)
from msem_nb.inference.defined import defined_draws
from msem_nb.inference.interval_bounds import acceleration, bca_interval, percentile_interval
from msem_nb.inference.progress import Progress
from msem_nb.inference.resample import Replicator, run_batch, set_replicator
from msem_nb.inference.wald import LEVEL_DEPRECATION
from msem_nb.messages import notify

__all__ = ["IntervalResult", "monte_carlo", "bootstrap"]

_TABLE_COLUMNS = ["lhs", "op", "rhs", "level", "label", "est", "se", "ci_lower", "ci_upper",
                  "method", "n_ok", "n_failed"]


# ---------------------------------------------------------------------------
# Result object
# ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class IntervalResult:
    """Intervals from Monte Carlo draws or bootstrap replicates.

    Attributes
    ----------
    method : str
        "monte_carlo", "bootstrap-cluster-percentile", "bootstrap-cluster-bca",
        "bootstrap-parametric-percentile", "bootstrap-parametric-bca" (or
        "bootstrap-rows-..." for single-level data).
    description : str
        The same in words, e.g. "cluster bootstrap, BCa".
    ci_level : float
        Confidence level (``level`` is its deprecated name).
    draws : pandas.DataFrame
        One column per free parameter and per ``:=`` parameter, one row
        per successful draw or replicate (the index is the replicate
        number, so failed replicates show as gaps).
    intervals : pandas.DataFrame
        lhs, op, rhs, level, label, est, se (standard deviation of the
        draws), ci_lower, ci_upper, method, n_ok, n_failed; BCa adds z0 and
        acceleration.
    estimates : pandas.DataFrame
        The fit's estimates with ci_lower / ci_upper of the covered rows
        replaced and ``interval_method`` saying where each interval comes
        from.
    n_requested, n_failed : int
        Draws or replicates asked for, and those that failed (did not
        converge, raised, or gave no finite values).
    seed : int
        The seed used; pass it again to reproduce the result (with
        ``seed=None`` this is the fresh entropy that was drawn).
    failures : dict
        Replicate number -> reason, for failed bootstrap replicates.
    notes : tuple of str
        Further lines for the summary (jackknife details, covariates).
    elapsed : float
        Seconds.
    level_names : tuple of str
        The model's level names, lowest first (``("",)`` for one level): the
        order of the summary's sections.
    n_jobs : int
        Processes used.
    """

    method: str
    description: str
    ci_level: float
    draws: pd.DataFrame
    intervals: pd.DataFrame
    estimates: pd.DataFrame
    n_requested: int
    n_failed: int
    seed: int
    failures: dict = field(default_factory=dict)
    notes: tuple = ()
    elapsed: float = 0.0
    n_jobs: int = 1
    level_names: tuple = ()

    @property
    def level(self) -> float:
        """Deprecated name of :attr:`ci_level`."""
        warnings.warn(LEVEL_DEPRECATION, FutureWarning, stacklevel=2)
        return self.ci_level

    @property
    def unit(self) -> str:
        return "draws from N(theta_hat, ACOV)" if self.method == "monte_carlo" else "replicates"

    @property
    def headline(self) -> str:
        """One line, e.g. "Confidence intervals: cluster bootstrap, BCa, 1000
        replicates (3 failed), seed 1"."""
        return (f"Confidence intervals: {self.description}, {self.n_requested} {self.unit} "
                f"({self.n_failed} failed), seed {self.seed}")

    def summary(self) -> str:
        """Text: how the intervals were made, then one line per parameter."""
        lines = [self.headline,
                 f"  {100 * self.ci_level:g}% intervals; {self.elapsed:.1f} s"
                 + (f" on {self.n_jobs} processes" if self.n_jobs > 1 else "")]
        lines += [f"  {n}" for n in self.notes]
        if self.failures:
            # long messages (e.g. identification errors) would swamp the text
            short = [w if len(w) <= 70 else w[:67] + "..." for w in self.failures.values()]
            reasons = pd.Series(short).value_counts()
            lines.append("  Failed replicates: " + "; ".join(
                f"{r} ({c})" for r, c in reasons.head(3).items()))
        tab = self.intervals
        # the table follows the parameter table (user rows first); group by
        # level, lowest level first as in the fit's summary
        levels = dict.fromkeys(["", *self.level_names]
                               + list(tab.loc[tab["op"] != ":=", "level"]))
        rank = {lvl: i for i, lvl in enumerate(levels)}
        key = [rank.get(lvl, 0) if op != ":=" else len(rank)
               for op, lvl in zip(tab["op"], tab["level"])]
        tab = tab.iloc[np.argsort(key, kind="stable")]
        head = f"{'':<26}{'Estimate':>10}{'SE':>10}{'Lower':>10}{'Upper':>10}"
        last_level = None
        for _, r in tab.iterrows():
            lvl = r["level"] if r["op"] != ":=" else "defined"
            if lvl != last_level:
                lines += ["", f"{lvl.capitalize() if lvl else 'Parameters'}:", head]
                last_level = lvl
            name = r["lhs"] if r["op"] == ":=" else f"{r['lhs']} {r['op']} {r['rhs']}".strip()
            if r["label"] and r["op"] != ":=":
                name += f" ({r['label']})"
            lines.append(f"  {name:<24}" + "".join(
                f"{r[c]:>10.3f}" if np.isfinite(r[c]) else f"{'':>10}"
                for c in ("est", "se", "ci_lower", "ci_upper")))
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"<msem_nb IntervalResult: {self.headline[len('Confidence intervals: '):]}>"

    def _repr_html_(self) -> str:
        import html
        return f"<pre>{html.escape(self.summary())}</pre>"


# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------

def _param_names(pt) -> list[str]:
    """Column names of the draws: a label where there is one, else
    ``lhs op rhs [level]``; one per free parameter, then the ``:=`` names."""
    names: dict[int, str] = {}
    for r in pt.records:  # labels first: a shared label names all its rows
        k = int(r["free"]) - 1
        if k >= 0 and r["label"] and k not in names:
            names[k] = r["label"]
    for r in pt.records:
        k = int(r["free"]) - 1
        if k >= 0 and k not in names:
            lvl = f" [{r['level']}]" if r["level"] else ""
            names[k] = f"{r['lhs']}{r['op']}{r['rhs']}{lvl}"
    return [names[k] for k in range(len(names))] + [d.lhs for d in pt.defined]


def _row_columns(fit) -> pd.Series:
    """For each row of ``fit.estimates``: its column in the draws (None for
    fixed rows). Matched on (lhs, op, rhs, level) rather than position."""
    pt = fit.partable
    cols = _param_names(pt)
    key = {}
    for r in pt.records:
        k = int(r["free"]) - 1
        if k >= 0:
            key[(r["lhs"], r["op"], r["rhs"], r["level"])] = cols[k]
    est = fit.estimates
    out = []
    for lhs, op, rhs, lvl in zip(est["lhs"], est["op"], est["rhs"], est["level"]):
        out.append(lhs if op == ":=" else key.get((lhs, op, rhs, lvl)))
    return pd.Series(out, index=est.index, dtype=object)


def _convergence_notes(fit) -> tuple[str, ...]:
    """Warn (ConvergenceWarning) when `fit` did not converge; the note for the result."""
    if fit.converged:
        return ()
    text = ("the fit did not converge: these intervals are centred on estimates that are not "
            "maximum likelihood estimates and are not trustworthy; refit until it converges")
    notify(text, ConvergenceWarning, stacklevel=3)
    return (text,)


def _seed_sequence(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(seed)


def _seed_label(ss: np.random.SeedSequence) -> int:
    return int(ss.entropy) if not isinstance(ss.entropy, (list, tuple)) else ss.entropy


def _build(fit, draws: pd.DataFrame, n_requested: int, method: str, description: str,
           ci_level: float, seed: int, *, bounds: dict, extra: dict | None = None,
           failures: dict | None = None, notes=(), elapsed=0.0, n_jobs=1) -> IntervalResult:
    """Assemble the intervals table and the estimates copy.

    `bounds` maps a draws column to (lower, upper); `extra` maps column
    names (e.g. "z0") to {draws column: value}.
    """
    rowcol = _row_columns(fit)
    est = fit.estimates.copy()
    if "interval_method" not in est.columns:
        est["interval_method"] = np.where(est["free"], "wald", "fixed")
    covered = rowcol.notna()
    tab = est.loc[covered, ["lhs", "op", "rhs", "level", "label", "est"]].copy()
    colnames = rowcol[covered]
    values = {c: draws[c].to_numpy() for c in draws.columns}
    tab["se"] = [np.nanstd(values[c], ddof=1) if np.isfinite(values[c]).sum() > 1 else np.nan
                 for c in colnames]
    tab["ci_lower"] = [bounds[c][0] for c in colnames]
    tab["ci_upper"] = [bounds[c][1] for c in colnames]
    tab["method"] = method
    n_ok = np.array([int(np.isfinite(values[c]).sum()) for c in colnames], dtype=int)
    tab["n_ok"] = n_ok
    tab["n_failed"] = n_requested - n_ok
    for name, per_col in (extra or {}).items():
        tab[name] = [per_col.get(c, np.nan) for c in colnames]
    tab = tab[_TABLE_COLUMNS + list((extra or {}).keys())].reset_index(drop=True)

    est.loc[covered, "ci_lower"] = tab["ci_lower"].to_numpy()
    est.loc[covered, "ci_upper"] = tab["ci_upper"].to_numpy()
    est.loc[covered, "interval_method"] = method
    n_failed = n_requested - len(draws) + int((~np.isfinite(draws.to_numpy())).any(axis=1).sum())
    return IntervalResult(method, description, ci_level, draws, tab, est, n_requested, n_failed,
                          seed, dict(failures or {}), tuple(notes), elapsed, n_jobs,
                          fit.partable.level_names)


# ---------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------

def monte_carlo(fit, n_draws: int = 20_000, *, ci_level: float | None = None, seed=None,
                progress: bool | None = None, level: float | None = None) -> IntervalResult:
    """Monte Carlo confidence intervals (Preacher & Selig, 2012).

    Draws the free parameters from N(theta_hat, ACOV), evaluates every
    ``:=`` parameter on each draw, and reports percentile intervals for
    every free and defined parameter.

    Parameters
    ----------
    fit : FitResult
    n_draws : int
        Number of draws.
    ci_level : float, optional
        Confidence level; default the fit's. ``level`` is its deprecated name.
    seed : int or numpy.random.SeedSequence, optional
        Makes the draws reproducible.
    progress : bool, optional
        Accepted for symmetry with :func:`bootstrap`; the draws take well
        under a second, so nothing is shown unless the evaluation has to
        fall back to one draw at a time.

    Returns
    -------
    IntervalResult

    Examples
    --------
    >>> mc = fit.monte_carlo(seed=1)                          # doctest: +SKIP
    >>> mc.intervals.query("op == ':='")                      # doctest: +SKIP
    """
    t0 = time.perf_counter()
    ci_level = confidence_level(ci_level, level, default=None)
    ci_level = fit.ci_level if ci_level is None else ci_level
    n_draws = check_count(n_draws, "n_draws", example=20_000)
    seed = check_seed(seed)
    vcov = fit.estimation.vcov
    if vcov is None:
        raise ModelSpecificationError("the fit has no covariance matrix of the estimates (it did not "
                         "converge or the information matrix is not positive definite); "
                         "Monte Carlo intervals need one")
    notes = _convergence_notes(fit)
    ss = _seed_sequence(seed)
    rng = np.random.default_rng(ss)
    theta = np.asarray(fit.estimation.theta, dtype=float)
    # An eigen root, not Cholesky: with equality constraints the ACOV is
    # singular, and draws must then stay on the constraint surface.
    w, V = np.linalg.eigh((vcov + vcov.T) / 2)
    root = V * np.sqrt(np.clip(w, 0.0, None))
    thetas = theta + rng.standard_normal((n_draws, len(theta))) @ root.T
    pt = fit.partable
    with Progress(1, "Monte Carlo", enabled=progress) as bar:
        defined = defined_draws(pt, thetas, fit.estimation.fixed_values)
        bar.update()
    draws = pd.DataFrame(np.hstack([thetas, defined]), columns=_param_names(pt))
    bounds = {c: percentile_interval(draws[c].to_numpy(), ci_level) for c in draws.columns}
    return _build(fit, draws, n_draws, "monte_carlo",
                  "Monte Carlo, percentile", ci_level,
                  _seed_label(ss), bounds=bounds, notes=notes,
                  elapsed=time.perf_counter() - t0)


# ---------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------

def _n_workers(n_jobs: int, n_tasks: int) -> int:
    if n_jobs is None or n_jobs == 0:
        n_jobs = 1
    if n_jobs < 0:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        n_jobs = max(1, (cpus or 1) + 1 + n_jobs)
    return max(1, min(int(n_jobs), n_tasks))


def _init_worker(rep: Replicator) -> None:
    set_replicator(rep)


def _run_tasks(rep: Replicator, tasks: list, n_jobs: int, progress, desc: str) -> list:
    """Run replicate tasks serially or on a process pool, with a progress bar."""
    results = []
    with Progress(len(tasks), desc, enabled=progress) as bar:
        if n_jobs == 1:
            set_replicator(rep)
            try:
                for t in tasks:
                    results += run_batch([t])
                    bar.update()
            finally:
                set_replicator(None)
            return results
        # Batches amortise the pool round trip; about 20 per worker keeps
        # the bar moving and the load balanced.
        size = max(1, len(tasks) // (20 * n_jobs))
        batches = [tasks[i:i + size] for i in range(0, len(tasks), size)]
        ctx = multiprocessing.get_context("fork") if "fork" in \
            multiprocessing.get_all_start_methods() else None
        with ProcessPoolExecutor(n_jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(rep,)) as pool:
            futures = [pool.submit(run_batch, b) for b in batches]
            try:
                for fut in as_completed(futures):
                    out = fut.result()
                    results += out
                    bar.update(len(out))
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    return results


def _jackknife_groups(n_units: int, n_groups: int, ss: np.random.SeedSequence) -> list:
    if n_groups >= n_units:
        return [np.array([u]) for u in range(n_units)]
    perm = np.random.default_rng(ss).permutation(n_units)
    return np.array_split(perm, n_groups)


def bootstrap(fit, n_boot: int = 1000, *, type: str = "cluster", ci: str = "bca",
              ci_level: float | None = None, seed=None, n_jobs: int = -1,
              progress: bool | None = None, covariates: str = "fixed",
              jackknife_groups: int = 100, level: float | None = None) -> IntervalResult:
    """Bootstrap confidence intervals by refitting the model on resampled data.

    Parameters
    ----------
    fit : FitResult
    n_boot : int
        Number of bootstrap replicates.
    type : {"cluster", "parametric"}
        "cluster" resamples whole clusters with replacement (rows, for a
        single-level model); "parametric" draws new data from the fitted
        model with the observed cluster sizes.
    ci : {"bca", "percentile"}
        Interval type. BCa needs a jackknife (at most `jackknife_groups`
        extra refits).
    ci_level : float, optional
        Confidence level; default the fit's. ``level`` is its deprecated name.
    seed : int or numpy.random.SeedSequence, optional
        Makes the replicates reproducible, whatever `n_jobs`.
    n_jobs : int
        Processes; -1 uses all cores.
    progress : bool, optional
        Show a progress bar (default: in notebooks and terminals, once the
        work takes more than a second).
    covariates : {"fixed", "random"}
        Parametric bootstrap only: keep the observed exogenous covariates
        ("fixed", matching fixed_x) or draw them too.
    jackknife_groups : int
        With more clusters (rows) than this, BCa's acceleration comes from
        a jackknife over this many random groups of them.

    Returns
    -------
    IntervalResult
        Replicates that raise or do not converge are counted in
        ``n_failed`` (reasons in ``failures``) and left out.

    Examples
    --------
    >>> boot = fit.bootstrap(500, seed=1)                     # doctest: +SKIP
    >>> print(boot.summary())                                 # doctest: +SKIP
    """
    t0 = time.perf_counter()
    # every argument is checked before the first refit
    check_choice(type, "type", ("cluster", "parametric"))
    check_choice(ci, "ci", ("bca", "percentile"))
    check_choice(covariates, "covariates", ("fixed", "random"))
    n_boot = check_count(n_boot, "n_boot")
    jackknife_groups = check_count(jackknife_groups, "jackknife_groups", minimum=3,
                                   example=100)
    if not is_whole(n_jobs):
        raise ModelSpecificationError(
            f"n_jobs must be a whole number (1: no extra processes, -1: all cores), "
            f"not {n_jobs!r}")
    ci_level = confidence_level(ci_level, level, default=None)
    ci_level = fit.ci_level if ci_level is None else ci_level
    seed = check_seed(seed)
    notes = list(_convergence_notes(fit))
    rep = Replicator.from_fit(fit, covariates if type == "parametric" else None)
    ss = _seed_sequence(seed)
    # Separate streams for the replicates and the jackknife grouping, so that
    # replicate i is the same whatever n_boot and ci are.
    ss_boot, ss_jack = ss.spawn(2)
    tasks = [(type, i, child) for i, child in enumerate(ss_boot.spawn(n_boot))]
    n_groups = 0
    if ci == "bca":
        rep.jackknife_groups = _jackknife_groups(rep.n_units, int(jackknife_groups), ss_jack)
        n_groups = len(rep.jackknife_groups)
        tasks += [("jackknife", g, g) for g in range(n_groups)]
    workers = _n_workers(n_jobs, len(tasks))
    results = _run_tasks(rep, tasks, workers, progress, f"{type} bootstrap")

    names = _param_names(fit.partable)
    boot = {i: v for kind, i, v, _ in results if kind != "jackknife" and v is not None}
    failures = {i: why for kind, i, _, why in results if kind != "jackknife" and why}
    if not boot:
        first = next(iter(failures.values()), "unknown reason")
        raise RuntimeError(f"every bootstrap replicate failed, e.g. {first}")
    order = sorted(boot)
    draws = pd.DataFrame(np.array([boot[i] for i in order]), index=order, columns=names)
    draws.index.name = "replicate"

    unit = "clusters" if rep.clustered else "rows"
    where = ("cluster" if rep.clustered else "rows") if type == "cluster" else "parametric"
    kind_text = {"cluster": f"{'cluster' if rep.clustered else 'nonparametric (rows)'} bootstrap",
                 "parametric": "parametric bootstrap"}[type]
    if type == "parametric":
        notes.append(f"Data drawn from the fitted model with the observed "
                     f"{'cluster sizes' if rep.clustered else 'number of rows'}; "
                     + ("covariates kept at their observed values"
                        if covariates == "fixed" else "covariates drawn too"))
    extra = None
    if ci == "percentile":
        bounds = {c: percentile_interval(draws[c].to_numpy(), ci_level) for c in names}
    else:
        jack = {g: v for kind, g, v, _ in results if kind == "jackknife" and v is not None}
        bounds, extra = _bca_bounds(fit, draws, jack, ci_level)
        grouped = "" if n_groups == rep.n_units else \
            f" (grouped: {n_groups} random groups of about {rep.n_units / n_groups:.1f} {unit})"
        jfail = n_groups - len(jack)
        notes.append(f"BCa acceleration from a jackknife over {rep.n_units} {unit}{grouped}"
                     + (f"; {jfail} jackknife refits failed" if jfail else ""))
    ci_text = "BCa" if ci == "bca" else "percentile"
    return _build(fit, draws, n_boot, f"bootstrap-{where}-{ci}", f"{kind_text}, {ci_text}",
                  ci_level, _seed_label(ss), bounds=bounds, extra=extra, failures=failures,
                  notes=notes, elapsed=time.perf_counter() - t0, n_jobs=workers)


def _bca_bounds(fit, draws: pd.DataFrame, jack: dict, ci_level: float):
    """BCa bounds per draws column, and the z0 / acceleration columns.

    `jack` maps jackknife group -> estimates vector (successful refits)."""
    names = list(draws.columns)
    jmat = np.array([jack[g] for g in sorted(jack)]).reshape(-1, len(names))
    acc = {c: acceleration(jmat[:, k]) for k, c in enumerate(names)}
    theta_hat = _point_values(fit)
    bounds, z0 = {}, {}
    for k, c in enumerate(names):
        lo, hi, z = bca_interval(draws[c].to_numpy(), theta_hat[k], acc[c], ci_level)
        bounds[c], z0[c] = (lo, hi), z
    if any(not np.isfinite(b[0]) for b in bounds.values()):
        warnings.warn("some BCa intervals are undefined (every replicate on one side of the "
                      "estimate, or too few jackknife refits); they are NaN", RuntimeWarning,
                      stacklevel=3)
    return bounds, {"z0": z0, "acceleration": acc}


def _point_values(fit) -> np.ndarray:
    """The estimates in draws-column order: theta, then the defined parameters."""
    est = fit.estimation
    theta = np.asarray(est.theta, dtype=float)
    return np.concatenate([theta, defined_draws(fit.partable, theta[None, :],
                                                est.fixed_values)[0]])
