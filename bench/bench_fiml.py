"""Benchmark of two-level FIML (issue 5).

    python bench/bench_fiml.py [--repeats 5] [--no-r]

1. M1 (two-level CFA with covariates) on Demo.twolevel.missing.csv (2,500 rows, 200
   clusters, 10% MCAR on y1..y3 and x1..x3) with ``missing="fiml"`` (lavaan's
   ``missing="ml.x"``): median time of ``ms.fit`` (which includes the saturated
   FIML model that fixes the covariates' moments), and of the fit measures that
   follow (baseline model). If R with lavaan is installed, lavaan's ``sem(...,
   missing = "ml.x")`` is timed once in the same command and the ratio printed;
   otherwise the 20.9 s recorded by tests/fixtures/r/make_fixtures.R is used.
   Target: <= 1 s per fit.
2. The same with ``estimator="MLR"`` (robust SEs and the scaled test), fit and fit
   measures.
3. Scaling: 20,000 rows in 1,000 clusters, six indicators, 10% MCAR everywhere.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import median_time, r_number  # noqa: E402

import msem_nb as ms  # noqa: E402
from msem_nb.teaching.examples import simulate_factor_data  # noqa: E402

FIX = ROOT / "tests" / "fixtures"
RECORDED_LAVAAN_S = 20.9   # make_fixtures.R, "E5x FIML (ml.x) fit took 20.9 s"

M1 = """
level: 1
  fw =~ y1 + y2 + y3
  fw ~ x1 + x2 + x3
level: 2
  fb =~ y1 + y2 + y3
  fb ~ w1 + w2
"""

R_TIMING = r"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{data}")
m <- "{model}"
t <- system.time(sem(m, data = d, cluster = "cluster", missing = "ml.x"))[["elapsed"]]
cat(t, "\n")
"""


def lavaan_seconds():
    return r_number(R_TIMING.format(data=FIX / "Demo.twolevel.missing.csv",
                                    model=M1.replace("\n", "\\n")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-r", action="store_true", help="do not run lavaan")
    args = ap.parse_args()
    warnings.simplefilter("ignore", ms.DataWarning)

    df = pd.read_csv(FIX / "Demo.twolevel.missing.csv")
    fit = lambda **kw: ms.fit(M1, df, cluster="cluster", missing="fiml", **kw)  # noqa: E731
    t_fit = median_time(fit, args.repeats)
    t_all = median_time(lambda: fit().fit_measures, args.repeats)
    res = fit()
    lav = None if args.no_r else lavaan_seconds()
    source = "lavaan, timed now"
    if lav is None:
        lav, source = RECORDED_LAVAAN_S, "lavaan 0.6-14, recorded"
    print(f"M1 FIML on Demo.twolevel.missing ({res.nobs} rows, {res.nclusters} clusters, "
          f"{res.data.npatterns} row patterns, {res.data.nsignatures} cluster signatures): "
          f"{t_fit:.3f} s per fit (target <= 1 s), {t_all:.3f} s with fit measures; "
          f"loglik {res.loglik:.4f}; {source}: {lav:.1f} s; ratio lavaan/msem_nb = "
          f"{lav / t_fit:.0f}x")

    t_mlr = median_time(lambda: fit(estimator="MLR").fit_measures, args.repeats)
    fm = fit(estimator="MLR").fit_measures
    print(f"M1 FIML + MLR: {t_mlr:.3f} s per fit incl. scaled test; scaling factor "
          f"{fm['chisq_scaling_factor']:.4f}")

    big = simulate_factor_data(1000, 20, n_indicators=6, seed=2)
    rng = np.random.default_rng(5)
    cols = [f"y{k}" for k in range(1, 7)] + ["x1", "x2"]
    vals = big[cols].to_numpy(dtype=float, copy=True)
    vals[rng.random(vals.shape) < 0.10] = np.nan
    big[cols] = vals
    model = ("level: within\n fw =~ y1 + y2 + y3 + y4 + y5 + y6\n fw ~ x1 + x2\n"
             "level: between\n fb =~ y1 + y2 + y3 + y4 + y5 + y6\n")
    t_big = median_time(lambda: ms.fit(model, big, cluster="cluster", missing="fiml"), 3)
    rb = ms.fit(model, big, cluster="cluster", missing="fiml")
    print(f"20,000 rows / 1,000 clusters, 10% MCAR ({rb.data.npatterns} row patterns): "
          f"{t_big:.2f} s per fit; converged={rb.converged}")


if __name__ == "__main__":
    main()
