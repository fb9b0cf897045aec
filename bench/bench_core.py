"""Benchmark of the estimator core (issue 2).

    python bench/bench_core.py [--repeats 15]

1. M1 (two-level CFA with covariates) on Demo.twolevel (2,500 rows, 200 clusters):
   median time of ``ms.fit``. If R with lavaan is installed, lavaan's ``sem()`` on the
   same data is timed in the same command and the ratio printed; otherwise the ratio
   uses lavaan 0.6-14's median recorded on this kind of machine (tests/fixtures).
2. One million rows in 50,000 clusters (6 indicators, one factor per level, two
   covariates): median time of ``ms.fit`` on the DataFrame, including the
   sufficient-statistics pass, with pandas' ``groupby().mean()`` over the same frame
   as an in-process yardstick.
Targets (2-core machine): M1 <= 25 ms per fit; the million-row fit <= 3 s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import median_time, r_number  # noqa: E402

import msem_nb as ms  # noqa: E402
from msem_nb.teaching.examples import simulate_factor_data  # noqa: E402

FIX = ROOT / "tests" / "fixtures"

R_TIMING = r"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{data}")
m <- "{model}"
invisible(sem(m, data = d, cluster = "cluster"))
t <- replicate({n}, system.time(sem(m, data = d, cluster = "cluster"))[["elapsed"]])
cat(median(t) * 1000, "\n")
"""


def lavaan_ms(model: str, repeats: int):
    return r_number(R_TIMING.format(data=FIX / "Demo.twolevel.csv",
                                    model=model.replace("\n", "\\n"), n=repeats))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--no-r", action="store_true", help="do not run lavaan")
    args = ap.parse_args()

    ref = json.loads((FIX / "M1_cfa_twolevel.json").read_text())
    demo = pd.read_csv(FIX / "Demo.twolevel.csv")
    model = ref["model_syntax"]
    t_m1 = median_time(lambda: ms.fit(model, demo, cluster="cluster"), args.repeats)
    lav = None if args.no_r else lavaan_ms(model, 11)
    source = "lavaan, timed now"
    if lav is None:
        lav, source = ref["timing_ms"]["median_ms"], "lavaan 0.6-14, recorded median"
    print(f"M1 on Demo.twolevel: {t_m1 * 1000:.1f} ms per fit (target <= 25 ms); "
          f"{source}: {lav:.0f} ms; ratio lavaan/msem_nb = {lav / (t_m1 * 1000):.0f}x")

    df = simulate_factor_data(50_000, 20, n_indicators=6, seed=1)
    big = ("level: within\n fw =~ y1 + y2 + y3 + y4 + y5 + y6\n fw ~ x1 + x2\n"
           "level: between\n fb =~ y1 + y2 + y3 + y4 + y5 + y6\n")
    t_big = median_time(lambda: ms.fit(big, df, cluster="cluster"), 3)
    cols = [c for c in df.columns if c != "cluster"]
    t_pd = median_time(lambda: df.groupby("cluster")[cols].mean(), 3)
    res = ms.fit(big, df, cluster="cluster")
    print(f"1,000,000 rows / 50,000 clusters: {t_big:.2f} s per fit incl. statistics pass "
          f"(target <= 3 s); converged={res.converged}; pandas groupby-mean yardstick "
          f"{t_pd:.2f} s; ratio {t_big / t_pd:.1f}x")


if __name__ == "__main__":
    main()
