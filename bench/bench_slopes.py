"""Benchmark: random-slope model on 2,000 clusters (about 45,000 rows), issue 4.

    python bench/bench_slopes.py

Fits y ~ x + w with a random intercept and a random slope of x (correlated) by
``ms.fit`` and, in the same run, by statsmodels' MixedLM (ML, not REML) and, when R
with lme4 is installed, by lme4::lmer(REML = FALSE). Prints times, the ratios and
the largest difference in log-likelihood. Target: <= 1 s for ms.fit.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import msem_nb as ms  # noqa: E402

MODEL = """
level: within
  s | y ~ x
level: between
  y ~ w
  s ~ w
"""


def simulate(n_clusters=2000, seed=11):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(10, 36, n_clusters)
    cid = np.repeat(np.arange(n_clusters), sizes)
    w = rng.normal(size=n_clusters)
    u = rng.multivariate_normal([0, 0], [[0.5, 0.1], [0.1, 0.2]], n_clusters)
    x = rng.normal(size=len(cid)) + 0.5 * rng.normal(size=n_clusters)[cid]
    y = (0.2 + 0.3 * w[cid] + u[cid, 0] + (0.5 + 0.2 * w[cid] + u[cid, 1]) * x
         + rng.normal(size=len(cid)))
    return pd.DataFrame({"y": y, "x": x, "w": w[cid], "g": cid})


def timed(fn, repeats=3):
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, float(np.median(times))


def main():
    df = simulate()
    res, t_ms = timed(lambda: ms.fit(MODEL, df, cluster="g"))
    print(f"data: {len(df)} rows in {df['g'].nunique()} clusters")
    print(f"msem_nb: {t_ms:.2f} s (target <= 1 s), loglik {res.loglik:.4f}, "
          f"converged {res.converged}")
    try:
        import statsmodels.formula.api as smf
        df2 = df.assign(xw=df.x * df.w)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sm, t_sm = timed(lambda: smf.mixedlm("y ~ x + w + xw", df2, groups=df2["g"],
                                                 re_formula="~x").fit(reml=False), 1)
        print(f"statsmodels MixedLM (ML): {t_sm:.2f} s, loglik {sm.llf:.4f}; "
              f"ratio statsmodels/msem_nb = {t_sm / t_ms:.1f}x; "
              f"loglik difference {res.loglik - sm.llf:+.2e}")
    except ImportError:
        print("statsmodels not installed: no in-process baseline")
    if shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.csv"
            df.assign(xw=df.x * df.w).to_csv(path, index=False)
            script = (f"suppressPackageStartupMessages(library(lme4)); d <- read.csv('{path}'); "
                      "f <- function() lmer(y ~ x + w + xw + (1 + x | g), data = d, REML = FALSE); "
                      "m <- f(); t <- replicate(3, system.time(f())[['elapsed']]); "
                      "cat(median(t), format(as.numeric(logLik(m)), digits = 15), '\\n')")
            try:
                out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                                     timeout=600, check=True).stdout.split()
                t_r, ll_r = float(out[-2]), float(out[-1])
                print(f"lme4 (REML = FALSE): {t_r:.2f} s, loglik {ll_r:.4f}; ratio "
                      f"lme4/msem_nb = {t_r / t_ms:.1f}x; loglik difference "
                      f"{res.loglik - ll_r:+.2e}")
            except (subprocess.SubprocessError, ValueError, IndexError) as exc:
                print(f"lme4 run failed: {exc}")


if __name__ == "__main__":
    main()
