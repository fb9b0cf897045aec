"""Benchmark: three-level models (rows in classes in schools), issue 17.

    python bench/bench_threelevel.py

A three-level CFA (six indicators, one factor at each level) on 7,500 rows in 1,500
classes in 50 schools (3 to 7 rows per class, 20 to 40 classes per school), fitted by
``ms.fit`` and, in the same run, by OpenMx's relational RAM model (joinKey) through
Rscript; then a univariate random-intercept model (the first indicator) by ``ms.fit``
and by lme4::lmer(y1 ~ 1 + (1 | school/class), REML = FALSE). Prints times, the ratios
and the log-likelihood differences. Target: well under 1 s for the CFA by ms.fit.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _common import median_time, run_r

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import msem_nb as ms  # noqa: E402
from msem_nb.teaching.simulate import population_moments  # noqa: E402

YS = [f"y{k}" for k in range(1, 7)]
LOADINGS = [1.0, 0.8, 1.2, 0.9, 1.1, 0.7]


def _level(factor: str, fvar: float, resid: float, extra: str = "") -> str:
    loads = " + ".join(f"{lam}*{y}" for lam, y in zip(LOADINGS, YS))
    res = "\n".join(f"  {y} ~~ {resid}*{y}" for y in YS)
    return f"  {factor} =~ {loads}\n  {factor} ~~ {fvar}*{factor}\n{res}\n{extra}"


POPULATION = ("level: 1\n" + _level("fw", 1.0, 0.4) + "level: 2\n" + _level("fc", 0.5, 0.1)
              + "level: 3\n" + _level("fs", 0.3, 0.05,
                                      "\n".join(f"  {y} ~ {0.5 * k}*1"
                                                for k, y in enumerate(YS)) + "\n"))
MODEL = "\n".join(f"level: {k}\n  {f} =~ {' + '.join(YS)}"
                  for k, f in ((1, "fw"), (2, "fc"), (3, "fs")))
UNIVARIATE = "level: 1\n  y1 ~~ y1\nlevel: 2\n  y1 ~~ y1\nlevel: 3\n  y1 ~~ y1"


def _partition(rng: np.random.Generator, total: int, parts: int, spread: int) -> np.ndarray:
    """`parts` sizes summing to `total`, each within 2 * `spread` of total / parts."""
    base = total // parts
    d = rng.integers(-spread, spread + 1, parts)
    return base + d - d[rng.permutation(parts)]


def simulate(seed: int = 17) -> pd.DataFrame:
    """7,500 rows, 1,500 classes of 3 to 7 rows, 50 schools of 20 to 40 classes."""
    rng = np.random.default_rng(seed)
    per_school = _partition(rng, 1500, 50, 5)
    sizes = _partition(rng, 7500, 1500, 1)
    school_of_class = np.repeat(np.arange(50), per_school)
    cls = np.repeat(np.arange(1500), sizes)
    mom = population_moments(POPULATION)
    y = np.zeros((len(cls), len(YS)))
    for level, units in (("within", np.arange(len(cls))), ("between", cls),
                         ("3", school_of_class[cls])):
        names, mean, cov = mom[level]
        idx = [names.index(v) for v in YS]
        draw = rng.multivariate_normal(mean[idx], cov[np.ix_(idx, idx)], int(units.max()) + 1)
        y += draw[units]
    df = pd.DataFrame(y, columns=YS)
    df["class"] = cls + 1
    df["school"] = school_of_class[cls] + 1
    return df


OPENMX = r"""
suppressPackageStartupMessages(library(OpenMx))
d <- read.csv('{path}')
d$class <- as.integer(d$class); d$school <- as.integer(d$school)
ys <- paste0('y', 1:6); cs <- paste0('c', 1:6); ss <- paste0('s', 1:6)
free1 <- c(FALSE, rep(TRUE, 5))
sch <- mxModel('school', type = 'RAM', latentVars = c('fs', ss),
  mxData(data.frame(school = unique(d$school)), type = 'raw', primaryKey = 'school'),
  mxPath('fs', ss, free = free1, values = 1), mxPath(ss, arrows = 2, values = 0.1),
  mxPath('fs', arrows = 2, values = 0.3), mxPath('one', ss, values = colMeans(d[, ys])))
cls <- mxModel('class', type = 'RAM', latentVars = c('fc', cs), sch,
  mxData(unique(d[, c('class', 'school')]), type = 'raw', primaryKey = 'class'),
  mxPath('fc', cs, free = free1, values = 1), mxPath(cs, arrows = 2, values = 0.1),
  mxPath('fc', arrows = 2, values = 0.4),
  mxPath(paste0('school.', ss), cs, free = FALSE, values = 1, joinKey = 'school'))
w <- mxModel('within', type = 'RAM', manifestVars = ys, latentVars = 'fw', cls,
  mxData(d[, c('class', ys)], type = 'raw'),
  mxPath('fw', ys, free = free1, values = 1), mxPath(ys, arrows = 2, values = 0.4),
  mxPath('fw', arrows = 2, values = 1), mxPath('one', ys, free = FALSE, values = 0),
  mxPath(paste0('class.', cs), ys, free = FALSE, values = 1, joinKey = 'class'))
t <- system.time(fit <- mxRun(w, silent = TRUE))[['elapsed']]
cat(t, format(-fit$output$fit / 2, digits = 15), fit$output$status$code, '\n')
"""

LME4 = r"""
suppressPackageStartupMessages(library(lme4))
d <- read.csv('{path}')
f <- function() lmer(y1 ~ 1 + (1 | school/class), data = d, REML = FALSE)
m <- f()
t <- median(replicate(5, system.time(f())[['elapsed']]))
cat(t, format(as.numeric(logLik(m)), digits = 15), '\n')
"""


def main() -> None:
    df = simulate()
    clusters = ["class", "school"]
    print(f"data: {len(df)} rows in {df['class'].nunique()} classes in "
          f"{df['school'].nunique()} schools")
    res = ms.fit(MODEL, df, cluster=clusters)
    t_ms = median_time(lambda: ms.fit(MODEL, df, cluster=clusters), 5)
    print(f"CFA, msem_nb: {t_ms:.3f} s (target well under 1 s), loglik {res.loglik:.4f}, "
          f"{res.npar} parameters, converged {res.converged}")
    t_fm = median_time(lambda: ms.fit(MODEL, df, cluster=clusters).fit_measures, 3)
    print(f"CFA, msem_nb with fit measures (saturated and baseline models): {t_fm:.3f} s")
    uni = ms.fit(UNIVARIATE, df, cluster=clusters)
    t_uni = median_time(lambda: ms.fit(UNIVARIATE, df, cluster=clusters), 5)
    print(f"univariate, msem_nb: {t_uni:.3f} s, loglik {uni.loglik:.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        df.to_csv(path, index=False)
        out = run_r(OPENMX.replace("{path}", str(path)), timeout=3600)
        if out is None:
            print("OpenMx: not run (no Rscript, or the run failed)")
        else:
            t_mx, ll_mx, code = float(out[-3]), float(out[-2]), out[-1]
            print(f"CFA, OpenMx relational RAM: {t_mx:.2f} s (status {code}), loglik "
                  f"{ll_mx:.4f}; ratio OpenMx/msem_nb = {t_mx / t_ms:.0f}x; loglik difference "
                  f"{res.loglik - ll_mx:+.2e}")
        out = run_r(LME4.replace("{path}", str(path)), timeout=600)
        if out is None:
            print("lme4: not run (no Rscript, or the run failed)")
        else:
            t_r, ll_r = float(out[-2]), float(out[-1])
            print(f"univariate, lme4 (REML = FALSE): {t_r:.3f} s, loglik {ll_r:.4f}; ratio "
                  f"lme4/msem_nb = {t_r / t_uni:.1f}x; loglik difference {uni.loglik - ll_r:+.2e}")


if __name__ == "__main__":
    main()
