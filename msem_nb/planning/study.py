"""One replication of a power study, and a chunk of them: what a worker runs.

A :class:`Study` is a plain picklable value: the analysis parameter table
(parsed and built once), the fit options, the population moments of every
scenario (computed once), the designs, and the seed. A worker calls
:func:`run_chunk` with a design and a range of replication numbers; each
replication is

1. ``rng = default_rng(SeedSequence(entropy, spawn_key=(design, r)))``, so
   the data of replication r of a design do not depend on the chunk it is
   in, the worker, or the engine;
2. the cluster sizes and a data set drawn from the scenario's moments
   (:func:`msem_nb.teaching.simulate.draw_data`), MCAR holes punched per
   variable (per cluster for a between-only variable), the user's
   transform applied;
3. a fit of the analysis table through :func:`msem_nb.api.fit_partable`
   (``prepare`` + ``fit_prepared``: no syntax is parsed), started at the
   true values when every free parameter has one;
4. estimates, standard errors, p-values and 95% Wald intervals of the
   recorded rows, the convergence status and whether the solution is
   improper.

A replication that raises (a data set the model cannot be fitted to) is
recorded as failed with its message; it never stops the study.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msem_nb.api import fit_partable
from msem_nb.estimation.options import FitOptions
from msem_nb.model.partable import ParTable
from msem_nb.planning.grid import Design
from msem_nb.teaching.simulate import cluster_sizes, draw_data

__all__ = ["Study", "ChunkResult", "run_chunk", "OK", "NOT_CONVERGED", "NO_SE", "FAILED",
           "STATUS_NAMES"]

#: Replication status codes.
OK, NOT_CONVERGED, NO_SE, FAILED = 0, 1, 2, 3
STATUS_NAMES = {OK: "converged", NOT_CONVERGED: "not converged",
                NO_SE: "no standard errors", FAILED: "failed"}

CLUSTER = "cluster"


@dataclass(frozen=True, eq=False)
class Study:
    """What every replication needs (see the module docstring)."""

    analysis: ParTable
    options: FitOptions
    multilevel: bool
    designs: tuple[Design, ...]
    moments: tuple[dict, ...]                   # per scenario
    starts: tuple[np.ndarray | None, ...]       # per scenario
    n_rows: int                                 # recorded rows: table rows then := rows
    free_rows: np.ndarray                       # which recorded rows are free (bool)
    entropy: int
    missing: dict[str, float] = field(default_factory=dict)
    between_only: frozenset[str] = frozenset()
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None


@dataclass(frozen=True, eq=False)
class ChunkResult:
    """Replications ``start..stop-1`` of design `design`: arrays with one row each."""

    design: int
    start: int
    stop: int
    est: np.ndarray
    se: np.ndarray
    pvalue: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    status: np.ndarray
    improper: np.ndarray
    errors: tuple[str, ...] = ()

    def arrays(self) -> dict[str, np.ndarray]:
        return {"est": self.est, "se": self.se, "pvalue": self.pvalue, "lower": self.lower,
                "upper": self.upper, "status": self.status, "improper": self.improper}


def _punch(rng: np.random.Generator, df: pd.DataFrame, study: Study) -> pd.DataFrame:
    for v, share in study.missing.items():
        col = df[v].to_numpy(dtype=float).copy()
        if v in study.between_only:
            ids = df[CLUSTER].to_numpy()
            units = np.unique(ids)
            k = int(round(share * len(units)))
            gone = rng.choice(units, size=k, replace=False) if k else units[:0]
            col[np.isin(ids, gone)] = np.nan
        else:
            k = int(round(share * len(col)))
            if k:
                col[rng.choice(len(col), size=k, replace=False)] = np.nan
        df[v] = col
    return df


def replicate(study: Study, design: Design, r: int):
    """One replication: (est, se, pvalue, lower, upper, status, improper, error)."""
    ss = np.random.SeedSequence(study.entropy, spawn_key=(design.index, r))
    rng = np.random.default_rng(ss)
    sizes = cluster_sizes(rng, design.n_clusters, design.cluster_size)
    df = draw_data(rng, study.moments[design.scenario], sizes, CLUSTER)
    if study.missing:
        df = _punch(rng, df, study)
    if study.transform is not None:
        df = study.transform(df)
    start = study.starts[design.scenario]
    options = study.options if start is None else study.options.with_control(start=start)
    res = fit_partable(study.analysis, df, CLUSTER if study.multilevel else None, options,
                       quiet=True)
    tab = res.estimates
    est = tab["est"].to_numpy(dtype=float)
    se = tab["se"].to_numpy(dtype=float)
    if not res.converged:
        status = NOT_CONVERGED
    elif not np.all(np.isfinite(se[study.free_rows])):
        status = NO_SE
    else:
        status = OK
    return (est, se, tab["pvalue"].to_numpy(dtype=float), tab["ci_lower"].to_numpy(dtype=float),
            tab["ci_upper"].to_numpy(dtype=float), status, bool(res.improper))


def run_chunk(study: Study, design_index: int, start: int, stop: int) -> ChunkResult:
    """Replications ``start..stop-1`` of one design (a worker's task)."""
    design = study.designs[design_index]
    n, p = stop - start, study.n_rows
    arrays = {k: np.full((n, p), np.nan) for k in ("est", "se", "pvalue", "lower", "upper")}
    status = np.full(n, FAILED, dtype=np.int8)
    improper = np.zeros(n, dtype=bool)
    errors: list[str] = []
    for k, r in enumerate(range(start, stop)):
        try:
            est, se, pv, lo, hi, st, imp = replicate(study, design, r)
        except Exception as exc:  # noqa: BLE001 - a failed replication is counted, not fatal
            errors.append(f"replication {r + 1}: {type(exc).__name__}: {exc}")
            continue
        if len(est) != p:
            errors.append(f"replication {r + 1}: the fit returned {len(est)} rows, not {p}")
            continue
        for name, v in zip(("est", "se", "pvalue", "lower", "upper"), (est, se, pv, lo, hi)):
            arrays[name][k] = v
        status[k], improper[k] = st, imp
    return ChunkResult(design_index, start, stop, arrays["est"], arrays["se"],
                       arrays["pvalue"], arrays["lower"], arrays["upper"], status, improper,
                       tuple(errors))
