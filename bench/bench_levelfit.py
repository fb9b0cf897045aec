"""Benchmark of the level-specific fit (issue 15): its cost next to the fit itself.

    python bench/bench_levelfit.py [--repeats 5] [--no-r]

For the tutorial model M1 (Demo.twolevel, 2,500 rows in 200 clusters) and a 12-indicator
two-level factor model (``simulate_factor_data(200, (5, 25), n_indicators=12, seed=15)``),
prints the median time of ``ms.fit`` and of the level-specific measures alone
(:func:`msem_nb.inference.levelfit.level_specific_fit`: two partially saturated fits and
two level-specific baselines, the baselines cached with the data after the first call;
both timings are of fresh data, so the baselines are fitted every time), and their ratio.
With R and lavaan, lavaan's two partially saturated fits of the same models are timed in
the same command for comparison.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from _common import median_time, r_number  # noqa: E402

import msem_nb as ms  # noqa: E402
from msem_nb.estimation.saturated import fit_saturated  # noqa: E402
from msem_nb.inference.levelfit import level_specific_fit  # noqa: E402
from msem_nb.teaching.examples import simulate_factor_data  # noqa: E402

M1 = ("level: within\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2 + x3\n"
      "level: between\n fb =~ y1 + y2 + y3\n fb ~ w1 + w2\n")

R_TIMING = r"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{data}")
sat <- function(v) paste(sapply(seq_along(v), function(i)
  paste0(v[i], " ~~ ", paste(v[i:length(v)], collapse = " + "))), collapse = "\n")
psw <- paste0("level: 1\n{within}\nlevel: 2\n", sat(c({bvars})), "\n")
psb <- paste0("level: 1\n", sat(c({wvars})), "\nlevel: 2\n{between}\n")
run <- function() {{ sem(psw, d, cluster = "cluster"); sem(psb, d, cluster = "cluster") }}
run()
t <- replicate({n}, system.time(run())[["elapsed"]])
cat(median(t), "\n")
"""


def _case(name, model, df, within, between, wvars, bvars, args):
    def fit_only():
        return ms.fit(model, df, cluster="cluster")

    fit = fit_only()

    def levels():
        # fresh prepared data each time: nothing cached from an earlier call
        f = ms.fit(model, df, cluster="cluster", control={"se": True})
        return level_specific_fit(f.partable, f.data, f.estimation, f.options,
                                  fit_saturated(f.data))

    t_fit = median_time(fit_only, args.repeats)
    t_all = median_time(levels, args.repeats)
    t_level = max(t_all - t_fit, 0.0)
    fm = fit.fit_measures
    print(f"{name}: fit {t_fit * 1e3:.0f} ms; level-specific fit {t_level * 1e3:.0f} ms "
          f"({t_level / t_fit:.1f} x the fit); chisq_within {fm['chisq_within']:.3f}, "
          f"chisq_between {fm['chisq_between']:.3f}")
    if args.no_r:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        df.to_csv(path, index=False)
        q = lambda v: ", ".join(f'"{x}"' for x in v)  # noqa: E731
        t_r = r_number(R_TIMING.format(data=path.as_posix(), within=within, between=between,
                                       wvars=q(wvars), bvars=q(bvars), n=args.repeats))
    if t_r is None:
        print("  (lavaan not available: no comparison)")
    else:
        print(f"  lavaan's two partially saturated fits: {t_r * 1e3:.0f} ms "
              f"(ours / lavaan's: {t_level / t_r:.2f})")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-r", action="store_true", help="do not run lavaan")
    args = ap.parse_args()
    demo = pd.read_csv(ROOT / "tests" / "fixtures" / "Demo.twolevel.csv")
    _case("M1 (Demo.twolevel)", M1, demo, " fw =~ y1 + y2 + y3\n fw ~ x1 + x2 + x3",
          " fb =~ y1 + y2 + y3\n fb ~ w1 + w2", ["y1", "y2", "y3", "x1", "x2", "x3"],
          ["y1", "y2", "y3", "w1", "w2"], args)
    df = simulate_factor_data(200, (5, 25), n_indicators=12, seed=15)
    ys = [f"y{i}" for i in range(1, 13)]
    body = " + ".join(ys)
    model = f"level: within\n fw =~ {body}\n fw ~ x1 + x2\nlevel: between\n fb =~ {body}\n"
    _case("12 indicators", model, df, f" fw =~ {body}\n fw ~ x1 + x2", f" fb =~ {body}",
          ys + ["x1", "x2"], ys, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
