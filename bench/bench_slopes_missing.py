"""Benchmark: random slopes with missing outcome values (FIML), issue 14 item 5.

    python bench/bench_slopes_missing.py

Two outcomes with random slopes on x (bench_slopes' design, 2,000 clusters, about
45,000 rows), 15% of each outcome deleted at random. Times ``ms.fit(missing="fiml")``
against, in the same run, the complete-data fit of the same model on the full data
(baseline: the closed form without patterns) and prints the ratio. Target: the FIML
fit within 3x the complete-data fit. lavaan's development version takes 4 to 20 s
for the 1,306-row closed-form fixtures of tests/fixtures/slopes_lavdev/RSM1-4 and 373 s
for the quadrature one, RSM5 ("seconds"); msem_nb fitted those in 0.1 to 0.8 s and 9 s
on a loaded two-core machine (tests/test_slopes_missing.py). Under heavy load, set
OPENBLAS_NUM_THREADS=1: small matrix products on contended threads dominate otherwise.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import median_time  # noqa: E402

import msem_nb as ms  # noqa: E402

MODEL = """
level: within
  s1 | y1 ~ x
  s2 | y2 ~ x
  y1 ~~ y2
level: between
  y1 + y2 + s1 + s2 ~ w
  y1 ~~ y2 + s1 + s2
  y2 ~~ s1 + s2
  s1 ~~ s2
"""


def simulate(n_clusters=2000, seed=11):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(10, 36, n_clusters)
    cid = np.repeat(np.arange(n_clusters), sizes)
    w = rng.normal(size=n_clusters)
    u = rng.multivariate_normal(np.zeros(4), 0.1 * np.eye(4) + 0.05, n_clusters)
    x = rng.normal(size=len(cid)) + 0.5 * rng.normal(size=n_clusters)[cid]
    e = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], len(cid))
    y1 = 0.2 + 0.3 * w[cid] + u[cid, 0] + (0.5 + 0.2 * w[cid] + u[cid, 2]) * x + e[:, 0]
    y2 = 0.1 + 0.2 * w[cid] + u[cid, 1] + (0.3 + 0.1 * w[cid] + u[cid, 3]) * x + e[:, 1]
    return pd.DataFrame({"y1": y1, "y2": y2, "x": x, "w": w[cid], "g": cid})


def main():
    df = simulate()
    rng = np.random.default_rng(12)
    holes = df.copy()
    for v in ("y1", "y2"):
        holes.loc[rng.random(len(df)) < 0.15, v] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = ms.fit(MODEL, df, cluster="g")
        fiml = ms.fit(MODEL, holes, cluster="g", missing="fiml")
        t_full = median_time(lambda: ms.fit(MODEL, df, cluster="g"), 3)
        t_fiml = median_time(lambda: ms.fit(MODEL, holes, cluster="g", missing="fiml"), 3)
    print(f"data: {len(df)} rows in {df['g'].nunique()} clusters, "
          f"{int(holes[['y1', 'y2']].isna().any(axis=1).sum())} rows with a missing outcome")
    print(f"complete data (baseline): {t_full:.2f} s, converged {full.converged}")
    print(f"FIML, missing outcomes: {t_fiml:.2f} s, converged {fiml.converged}; "
          f"ratio FIML/complete = {t_fiml / t_full:.1f}x (target <= 3x)")


if __name__ == "__main__":
    main()
