"""Benchmark of ms.power: replications per second, locally and on a dask LocalCluster.

    python bench/bench_power.py [--reps 200] [--study] [--no-dask]

Two models, each a population with values whose analysis is the same model
with the values freed:

* RI: a random-intercept regression (y on a within covariate x and a
  between covariate w), 50 clusters of 10;
* M1: the lavaan tutorial two-level CFA with covariates
  (tests/fixtures/M1_cfa_twolevel.json), with lavaan's estimates on
  Demo.twolevel as population values, 200 clusters of 12.5 on average
  (sizes drawn from 5-20).

For each: one design of ``--reps`` replications with n_jobs=1 (the
baseline), n_jobs=2 (loky), and a two-worker dask LocalCluster, after a
warm-up run so that process start-up is not timed; printed as replications
per second and the scaling efficiency rate(2 workers) / (2 x rate(1)).
The three tables must be identical (same seed), which is checked. The load
average of the machine is printed before and after: on a shared machine other
processes take cores, and the efficiency then says more about them than
about the engines.

``--study`` also times the study the issue names: 8 designs x 1,000
replications of the random-intercept model (J = 20 ... 200, clusters of 10)
with n_jobs=2; the target on this 2-core machine is minutes, not hours.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import msem_nb as ms  # noqa: E402

FIX = ROOT / "tests" / "fixtures"

RI = """
level: within
  y ~ 0.2*x
level: between
  y ~ 0.4*w
  y ~~ 0.2*y
"""


def m1_population() -> str:
    """M1 with lavaan's estimates on Demo.twolevel written in as values."""
    d = json.loads((FIX / "M1_cfa_twolevel.json").read_text())
    lines = {1: ["level: within"], 2: ["level: between"]}
    for r in d["parameter_table"]:
        if r["op"] not in ("=~", "~", "~~", "~1"):
            continue
        rhs = "1" if r["op"] == "~1" else r["rhs"]
        op = "~" if r["op"] == "~1" else r["op"]
        lines[int(r["level"])].append(f"  {r['lhs']} {op} {r['est']:.6g}*{rhs}")
    return "\n".join(lines[1] + lines[2]) + "\n"


def rate(model: str, reps: int, **kw) -> tuple[float, pd.DataFrame]:
    t0 = time.perf_counter()
    plan = ms.power(model, reps=reps, seed=1, progress=False, **kw)
    return reps / (time.perf_counter() - t0), plan.table


def bench_model(name: str, model: str, design: dict, reps: int, dask: bool) -> None:
    rate(model, 4, n_jobs=2, **design)        # warm up: start the loky workers
    r1, t1 = rate(model, reps, n_jobs=1, **design)
    r2, t2 = rate(model, reps, n_jobs=2, **design)
    same = t1.equals(t2)
    line = (f"{name}: n_jobs=1 {r1:6.1f} rep/s | n_jobs=2 {r2:6.1f} rep/s "
            f"(efficiency {r2 / (2 * r1):.0%})")
    if dask:
        from dask.distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster):
            rate(model, 4, backend="dask", **design)   # warm up the workers
            rd, td = rate(model, reps, backend="dask", **design)
        same = same and t1.equals(td)
        line += f" | dask 2 workers {rd:6.1f} rep/s (efficiency {rd / (2 * r1):.0%})"
    print(line + f" | tables identical: {same}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--study", action="store_true", help="also time 8 designs x 1000 reps")
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    print(f"replications per second, {args.reps} replications per run, after a warm-up; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    bench_model("RI (50 x 10)", RI, dict(n_clusters=50, cluster_size=10), args.reps,
                not args.no_dask)
    bench_model("M1 (200 x 5-20)", m1_population(), dict(n_clusters=200, cluster_size=(5, 20)),
                max(20, args.reps // 2), not args.no_dask)
    if args.study:
        js = [20, 30, 40, 50, 75, 100, 150, 200]
        t0 = time.perf_counter()
        plan = ms.power(RI, n_clusters=js, cluster_size=10, reps=1000, seed=1, n_jobs=2,
                        progress=False)
        dt = time.perf_counter() - t0
        p = plan.table[plan.table["parameter"] == "y ~ w [between]"].set_index("n_clusters")
        print(f"study: 8 designs x 1000 replications (RI, J = {js[0]}..{js[-1]}, n = 10), "
              f"n_jobs=2: {dt:.0f} s = {dt / 60:.1f} min ({8000 / dt:.1f} rep/s); power of "
              f"y ~ w [between]: " + ", ".join(f"J={j}: {v:.2f}" for j, v in p["power"].items()))


if __name__ == "__main__":
    main()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
