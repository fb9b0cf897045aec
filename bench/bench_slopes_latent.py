"""Benchmark: random slopes with latent variables against lavaan's development version
(issue 14).

    python bench/bench_slopes_latent.py [--rs2]

On the simulated data of tests/fixtures/slopes_lavdev (1,306 rows in 120 clusters),
fits by ``ms.fit`` and, in the same run, by lavaan 0.7-2.3170 (``rv()`` random slopes,
``library(lavaan, lib.loc = "/work/rlib-lavdev")`` or $LAVDEV_LIB) through Rscript:

- RS1, closed form: a latent outcome with a random slope on an observed covariate
  (target: ms.fit >= 10x faster);
- RS3, quadrature: the latent-centred contextual model (a random slope on the latent
  within part of a both-level covariate);
- RS2b, quadrature: an observed outcome with a random slope on a within latent
  covariate (RS2 of the fixtures with y1 for its latent outcome, so that lavaan-dev's
  run stays within minutes);
- with ``--rs2``: RS2 itself (a latent outcome on a latent covariate, 34 parameters;
  lavaan-dev takes over ten minutes).

Target for the quadrature cases: ms.fit >= 50x faster. Prints the times, the ratio
lavaan-dev / ms.fit and the log-likelihood difference of each model.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pandas as pd
from _common import median_time, run_r

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import msem_nb as ms  # noqa: E402

DATA = ROOT / "tests" / "fixtures" / "slopes_lavdev" / "rs_sim.csv"
LAVDEV = os.environ.get("LAVDEV_LIB", "/work/rlib-lavdev")

MODELS = {
    "RS1": ("closed form", 10, """
level: 1
  fy =~ y1 + y2 + y3
  fy ~ rv("s1")*z1 + z2
level: 2
  fyb =~ y1 + y2 + y3
  fyb ~~ s1
"""),
    "RS3": ("quadrature", 50, """
level: 1
  yc ~ rv("s1")*xc
level: 2
  yc ~ xc
  yc ~~ s1
"""),
    "RS2b": ("quadrature", 50, """
level: 1
  fx =~ x1 + x2 + x3
  y1 ~ rv("s1")*fx
level: 2
  fxb =~ x1 + x2 + x3
  y1 ~ fxb
  y1 ~~ s1
"""),
    "RS2": ("quadrature", 50, """
level: 1
  fx =~ x1 + x2 + x3
  fy =~ y1 + y2 + y3
  fy ~ rv("s1")*fx
level: 2
  fxb =~ x1 + x2 + x3
  fyb =~ y1 + y2 + y3
  fyb ~ fxb
  fyb ~~ s1
"""),
}
#: what lavaan-dev does not free by default (a random slope gets no default covariances;
#: ours lets exogenous latent variables covary): fixed so both fit the same model
SAME_AS_LAVDEV = {"RS2b": "  fxb ~~ 0*s1\n", "RS2": "  fxb ~~ 0*s1\n"}


def lavdev(names: list[str]) -> dict[str, tuple[float, float]]:
    """{model: (seconds, log-likelihood)} from one Rscript run of lavaan-dev."""
    fits = "\n".join(
        f"m <- '{MODELS[n][2]}'\n"
        f"t <- system.time(f <- sem(m, data = d, cluster = 'cluster'))[['elapsed']]\n"
        f"cat('{n}', t, format(as.numeric(logLik(f)), digits = 15), '\\n')"
        for n in names)
    script = (f"suppressPackageStartupMessages(library(lavaan, lib.loc = '{LAVDEV}'))\n"
              f"d <- read.csv('{DATA}')\n{fits}")
    out = run_r(script, timeout=3600)
    if not out:
        return {}
    res = {}
    for i, tok in enumerate(out[:-2]):
        if tok in names:
            try:
                res[tok] = (float(out[i + 1]), float(out[i + 2]))
            except ValueError:
                continue
    return res


def main() -> None:
    names = ["RS1", "RS3", "RS2b"] + (["RS2"] if "--rs2" in sys.argv else [])
    df = pd.read_csv(DATA)
    print(f"data: {len(df)} rows in {df['cluster'].nunique()} clusters")
    ours: dict[str, tuple[float, float]] = {}
    for n in names:
        text = MODELS[n][2] + SAME_AS_LAVDEV.get(n, "")
        res = None

        def run(text: str = text) -> None:
            nonlocal res
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = ms.fit(text, df, cluster="cluster")
        t = median_time(run, 3 if MODELS[n][0] == "closed form" else 1)
        assert res is not None
        ours[n] = (t, res.loglik)
        print(f"{n} ({MODELS[n][0]}): msem_nb {t:.2f} s, loglik {res.loglik:.4f}, "
              f"converged {res.converged}", flush=True)
    ref = lavdev(names)
    if not ref:
        print("no lavaan-dev run (Rscript or lavaan-dev missing, or it failed)")
        return
    for n in names:
        if n not in ref:
            print(f"{n}: lavaan-dev failed")
            continue
        (t, ll), (t_r, ll_r) = ours[n], ref[n]
        target = MODELS[n][1]
        print(f"{n} ({MODELS[n][0]}): lavaan-dev {t_r:.1f} s, msem_nb {t:.2f} s, ratio "
              f"{t_r / t:.0f}x (target >= {target}x: {'met' if t_r / t >= target else 'NOT met'})"
              f", loglik difference {ll - ll_r:+.1e}")


if __name__ == "__main__":
    main()
