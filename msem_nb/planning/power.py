"""``ms.power``: sample-size planning by Monte Carlo simulation (Muthen & Muthen, 2002).

Everything is checked and built once, before any replication runs: the
population table and the moments of every scenario (a covariance matrix
that is not positive definite is refused here), the analysis syntax parsed
and its parameter table built, the options validated, the designs, the
true values and start vectors. The replications then go to an engine
(:mod:`msem_nb.planning.engines`) in chunks; each refits the analysis
table through the shared pipeline. Finished chunks can be cached
(:mod:`msem_nb.planning.cache`) so that an interrupted study resumes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from msem_nb.errors import ModelSpecificationError
from msem_nb.estimation.options import FitOptions
from msem_nb.messages import collecting
from msem_nb.model.partable import build_partable
from msem_nb.planning.cache import ChunkCache, study_key
from msem_nb.planning.engines import Chunk, make_engine
from msem_nb.planning.grid import check_missing, check_positive_int, check_seed, make_designs
from msem_nb.planning.plan import PowerPlan
from msem_nb.planning.population import (
    freed_model,
    parse_population,
    resolve_vary,
    row_dicts,
    scenario_values,
    true_values,
)
from msem_nb.planning.study import ChunkResult, Study
from msem_nb.planning.summary import combine, summarize
from msem_nb.syntax import parse
from msem_nb.syntax.text import model_text
from msem_nb.teaching.simulate import population_table, population_values, table_moments

__all__ = ["power"]

_MAX_ERRORS = 20


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float, np.number)):
        raise ModelSpecificationError(f"alpha must be a number such as 0.05, not {alpha!r}")
    a = float(alpha)
    if not 0.0 < a < 1.0:
        raise ModelSpecificationError(f"alpha must be between 0 and 1 (e.g. 0.05), not {alpha!r}")
    return a


def _start(analysis_rows: list[dict], truth: np.ndarray, npar: int) -> np.ndarray | None:
    start = np.full(npar, np.nan)
    for r, t in zip(analysis_rows, truth):
        if r["free"] > 0 and r["op"] != ":=":
            start[r["free"] - 1] = t
    return start if npar and np.all(np.isfinite(start)) else None


def _chunks(n_designs: int, reps: int, size: int) -> list[Chunk]:
    return [(d, a, min(a + size, reps)) for d in range(n_designs) for a in range(0, reps, size)]


def power(population: str, analysis: str | None = None, n_clusters: int | Sequence[int] | None
          = None, cluster_size: object = 10, reps: int = 1000, alpha: float = 0.05,
          seed: int | None = None, n_jobs: int = 1, backend: object = None,
          missing: Mapping[str, float] | None = None, *,
          vary: Mapping[str, Sequence[float]] | None = None,
          truth: Mapping[str, float] | None = None, estimator: str = "ML",
          center: Mapping[str, str] | None = None,
          transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
          chunk_size: int | None = None, cache: str | None = None,
          progress: bool | Callable[[int, int], object] = True) -> PowerPlan:
    """Power, bias and coverage of a two-level SEM over a grid of designs, by simulation.

    Parameters
    ----------
    population : str
        A model with values, as :func:`msem_nb.simulate` takes
        (``y ~ 0.3*x``; unspecified variances 1, other parameters 0).
    analysis : str, optional
        The model fitted to every data set. Default: the population model
        with its values freed (first loadings keep theirs; covariates'
        moments left to ``fixed_x``), see :mod:`msem_nb.planning.population`.
    n_clusters : int or list of int
        Numbers of clusters J.
    cluster_size : int, (min, max) or list
        Units per cluster: an int, an inclusive range drawn per cluster (a
        tuple), or a list of those (one design each).
    reps : int
        Replications per design.
    alpha : float
        Significance level of the two-sided Wald tests behind power.
    seed : int, optional
        Entropy of :class:`numpy.random.SeedSequence`; replication r of
        design d uses ``SeedSequence(seed, spawn_key=(d, r))``, so the table
        is the same for any engine, worker count and chunking. None draws
        fresh entropy (kept in ``plan.seed``).
    n_jobs : int
        Local processes (joblib's loky); -1 for every core.
    backend : None, "dask" or a dask Client
        None runs here; "dask" on the active ``dask.distributed`` Client.
    missing : dict, optional
        MCAR share per variable, e.g. ``{"y": 0.2}`` (a between-only variable
        loses whole clusters); the analysis then uses FIML.
    vary : dict, optional
        Population values to vary, ``{"y ~ x [between]": [0.2, 0.4]}`` or an
        ICC, ``{"icc(y)": [0.05, 0.1, 0.2]}``; every combination is a scenario.
    truth : dict, optional
        True values of analysis parameters the population does not have
        (e.g. after a `transform`), ``{"y ~ xm [between]": 0.5}``.
    estimator : {"ML", "MLR", "MUML"}
    center : dict, optional
        Centring of the analysis, as in :func:`msem_nb.fit`.
    transform : callable, optional
        ``df -> df`` applied to every data set before the fit (e.g. adding
        observed cluster means); must be picklable for n_jobs > 1 or dask
        (a module-level function; loky and dask also take lambdas).
    chunk_size : int, optional
        Replications per task (default: about four tasks per worker, at most 50).
    cache : str, optional
        Folder for finished chunks; running the same study again (same
        arguments and seed) resumes from them. Needs a `seed`.
    progress : bool or callable
        Show a progress bar (tqdm; dask's in a notebook on a cluster), or call
        ``progress(done, total)`` (replications) after each chunk; an exception
        raised there stops the study (finished chunks stay in the cache).

    Returns
    -------
    PowerPlan
        ``plan.table`` (see :mod:`msem_nb.planning.summary`), ``figure()``,
        ``required()``, ``report()``, ``code()``.

    Examples
    --------
    >>> import msem_nb as ms
    >>> pop = '''
    ... level: within
    ...   y ~ 0.2*x
    ... level: between
    ...   y ~ 0.5*w
    ...   y ~~ 0.2*y
    ... '''
    >>> plan = ms.power(pop, n_clusters=[20, 40], cluster_size=5, reps=20, seed=1,
    ...                 progress=False)
    >>> sorted(plan.table["n_clusters"].unique())
    [20, 40]
    """
    t0 = time.perf_counter()
    population = model_text(population)
    reps = check_positive_int(reps, "reps")
    alpha = _check_alpha(alpha)
    seed = check_seed(seed)
    if cache is not None and seed is None:
        raise ModelSpecificationError(
            "cache= resumes a study from its finished chunks, which needs the same random "
            "numbers: give a seed")
    if transform is not None and not callable(transform):
        raise ModelSpecificationError("transform must be a function taking and returning a "
                                      "DataFrame")
    if chunk_size is not None:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
    parse_population(population)
    pop_pt = population_table(population)
    base = population_values(pop_pt)
    analysis_given = analysis is not None
    analysis_text = model_text(analysis) if analysis is not None else \
        freed_model(parse(population))
    options = FitOptions(estimator=estimator, missing="fiml" if missing else "listwise",
                         center=tuple((center or {}).items()))
    with collecting(quiet=False):
        pt = build_partable(parse(analysis_text), meanstructure=options.resolved_meanstructure(),
                            fixed_x=options.fixed_x)
    if pt.slopes:
        raise ModelSpecificationError("power() does not fit random-slope analysis models yet")
    if len({k.level for k in pt.block_keys}) > 2:
        raise ModelSpecificationError("power() fits one- and two-level analysis models; this "
                                      "analysis model has three levels")
    designs = make_designs(n_clusters, cluster_size, vary)
    if pt.multilevel and min(d.n_clusters for d in designs) < 2:
        raise ModelSpecificationError("a two-level analysis needs at least 2 clusters; raise "
                                      "n_clusters")
    keys = resolve_vary(pop_pt, vary)
    shares = check_missing(missing, pop_pt.ov_names)
    if transform is None:
        unknown = [v for v in pt.ov_names if v not in pop_pt.ov_names]
        if unknown:
            raise ModelSpecificationError(
                f"the analysis model uses {', '.join(unknown)}, which the population model does "
                "not have; add them to the population, or make them with transform=")
    rows = row_dicts(pt)
    scenarios = sorted({d.scenario: d.values for d in designs}.items())
    moments, starts, truths = [], [], []
    for _, values in scenarios:
        vals = scenario_values(pop_pt, base, keys, values)
        moments.append(table_moments(pop_pt, vals))
        tv = true_values(pt, pop_pt, vals, truth)
        truths.append(tv)
        starts.append(_start(rows, tv, pt.npar) if options.estimator != "MUML" else None)
    report_rows = [i for i, r in enumerate(rows) if r["free"] > 0 or r["op"] == ":="]
    free_rows = np.array([r["free"] > 0 for r in rows], dtype=bool)
    entropy = seed if seed is not None else int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    study = Study(pt, options, pt.multilevel, tuple(designs), tuple(moments), tuple(starts),
                  len(rows), free_rows, entropy, shares, frozenset(pop_pt.roles()[1]),
                  transform)
    engine = make_engine(backend, n_jobs)
    if chunk_size is None:
        chunk_size = int(np.clip(np.ceil(len(designs) * reps / (4 * engine.workers)), 1, 50))
    chunks = _chunks(len(designs), reps, min(chunk_size, reps))

    settings = {"n_clusters": sorted({d.n_clusters for d in designs}),
                "cluster_size": cluster_size, "vary": dict(vary or {}), "missing": shares,
                "truth": dict(truth or {}), "center": dict(center or {}),
                "estimator": options.estimator, "analysis_given": analysis_given,
                "transform": getattr(transform, "__qualname__", None) if transform else None}
    done: dict[int, list[ChunkResult]] = {d.index: [] for d in designs}
    store = None
    if cache is not None:
        key = study_key({"population": population, "analysis": analysis_text,
                         "designs": [(d.n_clusters, d.cluster_size, d.values) for d in designs],
                         "entropy": entropy, "missing": shares, "options": repr(options),
                         "transform": settings["transform"]})
        store = ChunkCache(cache, key)
    todo = []
    for c in chunks:
        hit = store.load(*c) if store is not None else None
        if hit is not None:
            done[c[0]].append(hit)
        else:
            todo.append(c)
    n_cached = len(chunks) - len(todo)

    def keep(res: ChunkResult) -> None:
        done[res.design].append(res)
        if store is not None:
            store.save(res)

    try:
        engine.run(study, todo, keep, progress)
    except BaseException:
        if store is not None:
            n = sum(len(v) for v in done.values())
            print(f"power: stopped; {n} of {len(chunks)} chunks are saved in {store.path}; "
                  "run the same call again to resume", file=sys.stderr)
        raise
    results = {d: combine(v) for d, v in done.items()}
    table = summarize(designs, results, rows, report_rows, truths, alpha, [k for k, _ in keys])
    errors = tuple(e for d in sorted(done) for c in sorted(done[d], key=lambda c: c.start)
                   for e in c.errors)[:_MAX_ERRORS]
    return PowerPlan(table, population, analysis_text, tuple(designs), reps, alpha, entropy,
                     tuple(k for k, _ in keys), tuple(rows), settings, errors, engine.name,
                     engine.workers, time.perf_counter() - t0, n_cached)
