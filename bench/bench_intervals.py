"""Coverage and speed of Monte Carlo and bootstrap intervals.

Run with ``python bench/bench_intervals.py`` (about 15 minutes on 2 cores;
``--quick`` for a run of about a minute).
The data are a 1-1-1 two-level mediation (x -> m -> y at both levels, x
with parts at both levels; a_w = .4, b_w = .3, a_b = b_b = .5) in 50
clusters of 8, simulated with numpy and seeded. It prints

* the coverage of the 95% Monte Carlo, Wald (delta method) and bootstrap
  intervals of the within and between indirect effects (cluster bootstrap,
  percentile and BCa from the same replicates; parametric bootstrap,
  percentile), with the binomial standard error of each coverage;
* the time of one Monte Carlo call (20,000 draws) and of one bootstrap
  with n_jobs=1 and n_jobs=2 in the same run, and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

# Run from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msem_nb as ms  # noqa: E402
from msem_nb.inference.interval_bounds import percentile_interval  # noqa: E402

MODEL = """
level: within
  m ~ aw*x
  y ~ bw*m + x
level: between
  m ~ ab*x
  y ~ bb*m + x
indw := aw*bw
indb := ab*bb
"""
TRUE = {"indw": 0.4 * 0.3, "indb": 0.5 * 0.5}


def simulate(n_clusters: int, size: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = np.repeat(np.arange(n_clusters), size)
    n = len(c)
    xb, xw = rng.normal(0, 0.7, n_clusters), rng.normal(0, 1.0, n)
    mb, mw = 0.5 * xb + rng.normal(0, 0.6, n_clusters), 0.4 * xw + rng.normal(0, 1.0, n)
    yb = 0.5 * mb + 0.1 * xb + rng.normal(0, 0.6, n_clusters)
    yw = 0.3 * mw + 0.1 * xw + rng.normal(0, 1.0, n)
    return pd.DataFrame({"x": xb[c] + xw, "m": mb[c] + mw, "y": yb[c] + yw, "cl": c})


def covers(lo, hi, name) -> bool:
    return bool(lo <= TRUE[name] <= hi)


def report(label: str, hits: dict) -> None:
    for name in TRUE:
        h = np.array(hits[name], dtype=float)
        se = np.sqrt(0.95 * 0.05 / len(h))
        print(f"  {label:<34} {name}: coverage {h.mean():.3f} (n={len(h)}, MC SE {se:.3f})")


def mc_study(n_sets: int) -> None:
    mc_hits = {k: [] for k in TRUE}
    wald_hits = {k: [] for k in TRUE}
    times = []
    for s in range(n_sets):
        fit = ms.fit(MODEL, simulate(50, 8, 5000 + s), cluster="cl")
        t0 = time.perf_counter()
        mc = fit.monte_carlo(20_000, seed=s)
        times.append(time.perf_counter() - t0)
        tab = mc.intervals.set_index("lhs")
        wald = fit.estimates.set_index("lhs")
        for k in TRUE:
            mc_hits[k].append(covers(tab.loc[k, "ci_lower"], tab.loc[k, "ci_upper"], k))
            wald_hits[k].append(covers(wald.loc[k, "ci_lower"], wald.loc[k, "ci_upper"], k))
    print(f"Monte Carlo intervals, {n_sets} data sets (50 clusters of 8), 20,000 draws:")
    report("Monte Carlo (percentile)", mc_hits)
    report("Wald (delta method)", wald_hits)
    print(f"  time per Monte Carlo call: median {np.median(times) * 1000:.0f} ms "
          f"(target < 1 s)")


def boot_study(n_sets: int, n_boot: int, n_jobs: int) -> None:
    hits = {m: {k: [] for k in TRUE} for m in ("cluster percentile", "cluster BCa",
                                                "parametric percentile")}
    failed = {m: 0 for m in hits}
    t0 = time.perf_counter()
    for s in range(n_sets):
        fit = ms.fit(MODEL, simulate(50, 8, 7000 + s), cluster="cl")
        bca = fit.bootstrap(n_boot, seed=s, ci="bca", n_jobs=n_jobs, progress=False)
        par = fit.bootstrap(n_boot, seed=s, type="parametric", ci="percentile",
                            n_jobs=n_jobs, progress=False)
        tb, tp = bca.intervals.set_index("lhs"), par.intervals.set_index("lhs")
        for k in TRUE:
            # percentile from the very replicates behind the BCa interval
            lo, hi = percentile_interval(bca.draws[k].to_numpy(), 0.95)
            hits["cluster percentile"][k].append(covers(lo, hi, k))
            hits["cluster BCa"][k].append(covers(tb.loc[k, "ci_lower"], tb.loc[k, "ci_upper"], k))
            hits["parametric percentile"][k].append(
                covers(tp.loc[k, "ci_lower"], tp.loc[k, "ci_upper"], k))
        failed["cluster BCa"] += bca.n_failed
        failed["cluster percentile"] += bca.n_failed
        failed["parametric percentile"] += par.n_failed
    elapsed = time.perf_counter() - t0
    print(f"Bootstrap intervals, {n_sets} data sets, {n_boot} replicates each "
          f"(n_jobs={n_jobs}, {elapsed:.0f} s):")
    for m, h in hits.items():
        report(f"{m} ({failed[m]} failed replicates)", h)


def timing(n_boot: int) -> None:
    fit = ms.fit(MODEL, simulate(50, 8, 1), cluster="cl")
    t0 = time.perf_counter()
    fit.monte_carlo(20_000, seed=1)
    t_mc = time.perf_counter() - t0
    # Interleaved repeats and medians: other work on the machine then
    # slows both settings alike instead of skewing the ratio.
    times = {1: [], 2: []}
    results = {}
    for _ in range(3):
        for n_jobs in (1, 2):
            t0 = time.perf_counter()
            results[n_jobs] = fit.bootstrap(n_boot, seed=1, n_jobs=n_jobs, progress=False)
            times[n_jobs].append(time.perf_counter() - t0)
    times = {k: float(np.median(v)) for k, v in times.items()}
    same = results[1].draws.equals(results[2].draws)
    print("Timing (one data set, 400 rows in 50 clusters; medians of 3 interleaved runs):")
    print(f"  Monte Carlo, 20,000 draws: {t_mc * 1000:.0f} ms")
    print(f"  cluster bootstrap BCa, {n_boot} replicates + jackknife: n_jobs=1 {times[1]:.1f} s, "
          f"n_jobs=2 {times[2]:.1f} s; ratio n_jobs=2 / n_jobs=1 = {times[2] / times[1]:.2f} "
          f"(identical replicates: {same})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small study (about a minute)")
    ap.add_argument("--n-jobs", type=int, default=-1)
    args = ap.parse_args()
    mc_sets, boot_sets, n_boot, t_boot = (100, 10, 100, 100) if args.quick else \
        (500, 40, 300, 300)
    timing(t_boot)
    mc_study(mc_sets)
    boot_study(boot_sets, n_boot, args.n_jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
