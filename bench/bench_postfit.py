"""Benchmark of the modification indices (issue 16): a 40-indicator two-level model.

    python bench/bench_postfit.py [--repeats 5] [--no-r]

The data are ``simulate_factor_data(200, (5, 25), n_indicators=40, seed=16)``: 200
clusters of 5 to 25 rows (21 distinct sizes), 40 indicators and two within
covariates; the model has one factor per level (202 free parameters), so the
modification indices score 1,560 candidate parameters (every residual covariance at
both levels, plus the fixed parameters). The time is the median of ``fit.modindices()``
alone (the fit is made once), against the 1 s target. If R with lavaan is installed,
lavaan's ``modindices()`` on the same data and model is timed in the same command
(its fit excluded) and the ratio printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import median_time, r_number  # noqa: E402

import msem_nb as ms  # noqa: E402
from msem_nb.teaching.examples import simulate_factor_data  # noqa: E402

TARGET_S = 1.0
NIND = 40

R_TIMING = r"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{data}")
m <- "{model}"
f <- sem(m, data = d, cluster = "cluster")
invisible(modindices(f))
t <- replicate({n}, system.time(modindices(f))[["elapsed"]])
cat(median(t), "\n")
"""


def model_text() -> str:
    ys = " + ".join(f"y{i}" for i in range(1, NIND + 1))
    return f"level: within\n fw =~ {ys}\n fw ~ x1 + x2\nlevel: between\n fb =~ {ys}\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-r", action="store_true", help="do not run lavaan")
    args = ap.parse_args()
    df = simulate_factor_data(200, (5, 25), n_indicators=NIND, seed=16)
    model = model_text()
    fit = ms.fit(model, df, cluster="cluster")
    mi = fit.modindices()
    t_mi = median_time(fit.modindices, args.repeats)
    sizes = df.groupby("cluster").size().nunique()
    print(f"modification indices, two-level model with {NIND} indicators ({len(df)} rows, "
          f"{df.cluster.nunique()} clusters of {sizes} sizes, {fit.npar} parameters, "
          f"{len(mi)} indices): {t_mi:.3f} s (target < {TARGET_S:g} s); converged={fit.converged}")
    if not args.no_r:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench_postfit.csv"
            df.to_csv(path, index=False)
            lav = r_number(R_TIMING.format(data=path, model=model.replace("\n", "\\n"), n=3))
        if lav is None:
            print("lavaan: not timed (no R with lavaan, or it failed)")
        else:
            print(f"lavaan modindices() on the same fit: {lav:.2f} s; "
                  f"ratio lavaan/msem_nb = {lav / t_mi:.0f}x")
    return 0 if t_mi < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
