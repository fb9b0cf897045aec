"""Benchmark of multiple groups (issue 15): a two-level two-group fit and the invariance
sequence, each against lavaan 0.6-14 in the same command.

    python bench/bench_groups.py [--repeats 5] [--no-r]

Cases:

* the tutorial model M1 on Demo.twolevel with a cluster-level group column (odd and even
  cluster ids, ``tests/fixtures/groups/Demo.twolevel.groups.csv``), two groups, ML;
* the Holzinger-Swineford three-factor CFA by school: configural, metric, scalar and
  strict (``ms.invariance`` against four ``cfa(..., group.equal = ...)`` calls).

Prints median wall times (after one warm-up call) and the ratio lavaan / msem_nb, with the
chi-square of both programs so that the timed work is seen to be the same.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from _common import median_time, run_r  # noqa: E402

import msem_nb as ms  # noqa: E402

M1 = ("level: within\n fw =~ y1 + y2 + y3\n fw ~ x1 + x2 + x3\n"
      "level: between\n fb =~ y1 + y2 + y3\n fb ~ w1 + w2\n")
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
STEPS = ["configural", "metric", "scalar", "strict"]

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lavaan))
demo <- read.csv("{demo}")
hs <- read.csv("{hs}")
# lavaan 0.6-14 needs a 'group:' block per group for a two-level multigroup model
m1 <- paste0("group: odd\n", "{m1}", "group: even\n", "{m1}")
hsm <- "{hsm}"
n <- {n}
f2 <- function() sem(m1, demo, cluster = "cluster", group = "g")
inv <- function() {{
  eq <- list(c(), c("loadings"), c("loadings", "intercepts"),
             c("loadings", "intercepts", "residuals"))
  lapply(eq, function(e) if (length(e)) cfa(hsm, hs, group = "school", group.equal = e)
                         else cfa(hsm, hs, group = "school"))
}}
x <- f2(); fits <- inv()
t1 <- median(replicate(n, system.time(f2())[["elapsed"]]))
t2 <- median(replicate(n, system.time(inv())[["elapsed"]]))
cat(fitMeasures(x, "chisq"), sapply(fits, fitMeasures, "chisq"), t1, t2, "\n")
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-r", action="store_true", help="do not run lavaan")
    args = ap.parse_args()
    demo_path = ROOT / "tests" / "fixtures" / "groups" / "Demo.twolevel.groups.csv"
    hs_path = ROOT / "tests" / "fixtures" / "HolzingerSwineford1939.csv"
    demo = pd.read_csv(demo_path)
    hs = pd.read_csv(hs_path)

    def two_group():
        return ms.fit(M1, demo, cluster="cluster", group="g")

    def sequence():
        return ms.invariance(HS, hs, group="school", strict=True)

    fit = two_group()
    inv = sequence()
    t_fit = median_time(two_group, args.repeats)
    t_inv = median_time(sequence, args.repeats)
    chisq = [float(inv.fits[s].fit_measures["chisq"]) for s in STEPS]
    print(f"M1, two groups of clusters: {t_fit * 1e3:.0f} ms per fit "
          f"(chisq {fit.fit_measures['chisq']:.3f})")
    print(f"Invariance sequence, Holzinger-Swineford by school ({', '.join(STEPS)}): "
          f"{t_inv * 1e3:.0f} ms (chisq {', '.join(f'{c:.3f}' for c in chisq)})")
    if args.no_r:
        return 0
    with tempfile.TemporaryDirectory():
        out = run_r(R_SCRIPT.format(demo=demo_path.as_posix(), hs=hs_path.as_posix(),
                                    m1=M1.replace("\n", "\\n"), hsm=HS.replace("\n", "\\n"),
                                    n=args.repeats))
    if not out or len(out) < 7:
        print("(lavaan not available: no comparison)")
        return 0
    vals = [float(v) for v in out[-7:]]
    r_fit, r_inv = vals[5], vals[6]
    print(f"lavaan 0.6-14, same data: two-group fit {r_fit * 1e3:.0f} ms "
          f"(chisq {vals[0]:.3f}); sequence {r_inv * 1e3:.0f} ms "
          f"(chisq {', '.join(f'{c:.3f}' for c in vals[1:5])})")
    print(f"ratio lavaan / msem_nb: two-group fit {r_fit / t_fit:.1f}x, "
          f"invariance sequence {r_inv / t_inv:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
