"""Benchmark of bootstrap refits: re-parsing the syntax per replicate against the pipeline.

    python bench/bench_bootstrap.py [--reps 1000] [--seed 1]

M1 (the lavaan tutorial two-level CFA with covariates, tests/fixtures/M1_cfa_twolevel.json)
on Demo.twolevel (2,500 rows, 200 clusters), cluster bootstrap with percentile intervals
(so every refit is a bootstrap replicate, no jackknife), n_jobs=1, in one command:

* before: each replicate refitted through ``msem_nb.fit(model_text, df, ...)``, i.e. the
  syntax parsed and the parameter table built again for every replicate, as the bootstrap
  did before the pipeline seam (``Replicator.refit`` is swapped for that for the run);
* after: ``fit.bootstrap(reps, n_jobs=1, ...)`` as shipped: the fitted table and options
  go straight to ``prepare`` + ``fit_prepared``.

Both runs draw the same replicate data sets (same seed) and start at the same estimates, so
they must give the same draws; the largest difference is printed next to the two times and
their ratio. ``--reps 50`` gives a quick run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import msem_nb as ms  # noqa: E402
from msem_nb.inference.defined import defined_draws  # noqa: E402
from msem_nb.inference.resample import Replicator  # noqa: E402
from msem_nb.messages import collecting  # noqa: E402

FIX = ROOT / "tests" / "fixtures"


def reparsing_refit(model: str):
    """A ``Replicator.refit`` that goes through ``ms.fit(model_text, ...)`` (the old path)."""

    def refit(self: Replicator, df: pd.DataFrame) -> np.ndarray:
        opts = self.fit_options
        with collecting(quiet=True):
            res = ms.fit(model, df, cluster=self.cluster, estimator=opts.estimator,
                         missing=opts.missing, fixed_x=opts.fixed_x,
                         meanstructure=opts.meanstructure, information=opts.information,
                         center=opts.center_map or None,
                         control={"start": self.start, "se": False})
        if not res.converged:
            raise RuntimeError("did not converge")
        est = res.estimation
        theta = np.asarray(est.theta, dtype=float)
        return np.concatenate([theta, defined_draws(res.partable, theta[None, :],
                                                    est.fixed_values)[0]])

    return refit


def timed_bootstrap(fit, reps: int, seed: int):
    t0 = time.perf_counter()
    boot = fit.bootstrap(reps, ci="percentile", seed=seed, n_jobs=1, progress=False)
    return time.perf_counter() - t0, boot


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=1000, help="bootstrap replicates (default 1000)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    ref = json.loads((FIX / "M1_cfa_twolevel.json").read_text())
    demo = pd.read_csv(FIX / "Demo.twolevel.csv")
    model = ref["model_syntax"]
    fit = ms.fit(model, demo, cluster="cluster")
    assert fit.converged
    fit.bootstrap(5, ci="percentile", seed=0, n_jobs=1, progress=False)   # warm-up

    shipped = Replicator.refit
    Replicator.refit = reparsing_refit(model)
    try:
        t_before, before = timed_bootstrap(fit, args.reps, args.seed)
    finally:
        Replicator.refit = shipped
    t_after, after = timed_bootstrap(fit, args.reps, args.seed)

    same = before.draws.index.equals(after.draws.index)
    diff = float(np.nanmax(np.abs(before.draws.to_numpy() - after.draws.to_numpy()))) \
        if same else float("nan")
    n = args.reps
    print(f"M1 on Demo.twolevel, {n:,} cluster-bootstrap refits, n_jobs=1 "
          f"({after.draws.shape[1]} parameters; failed: before {before.n_failed}, "
          f"after {after.n_failed})")
    print(f"  before (ms.fit(model_text, ...) per replicate): {t_before:7.2f} s "
          f"({1000 * t_before / n:.2f} ms per refit)")
    print(f"  after  (fit.bootstrap through the pipeline):    {t_after:7.2f} s "
          f"({1000 * t_after / n:.2f} ms per refit)")
    print(f"  ratio before/after = {t_before / t_after:.2f}x; same replicates: {same}, "
          f"largest difference in the draws {diff:.1e}")


if __name__ == "__main__":
    main()
