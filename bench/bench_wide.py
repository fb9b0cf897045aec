"""Benchmark of wide data (issue 12, point 3): the saturated (h1) model shared by
fit measures, ``decompose`` and the panel.

    python bench/bench_wide.py [--no-r] [--only cfa|decompose|panel] [--repeats 5]
                               [--blas-threads 1]

1. A 40-indicator two-level CFA, 200 clusters (``simulate_factor_data``: one factor
   per level, between unique variances 0.05, so the ML between covariance of the
   saturated model is singular), with equal cluster sizes of 15 (the issue's case)
   and with sizes 5-25: median time of ``ms.fit(...)`` + ``.fit_measures`` against
   lavaan's ``sem()`` + ``fitMeasures()`` on the same data, timed in the same
   command (Rscript), and the ratio. Target: >= 10x.
2. ``decompose`` of 200 variables x 10,000 rows (500 clusters of unequal sizes,
   ten of the variables cluster-level, ICCs from 0 to about .3): median time and
   the peak resident memory of a fresh process that imports the package, makes
   the data and decomposes them. Targets: <= 5 s, <= 2 GB. (lavaan cannot be
   timed here: its h1 EM loops over clusters in R; at 40 variables it already
   takes tens of seconds.)
3. The panel on a 30-variable data set (28 indicators and two covariates, 200
   clusters of 5-25): time from ``ms.Panel(...)`` until the first fit, its
   fit measures and the decomposition of the 30 variables are shown
   (``panel.wait()``), in a fresh process (cold: includes importing the widget
   libraries) and again (warm); then the median time of a refit after a switch
   (``toggle_covariance`` + ``wait``), next to one ``ms.fit`` of the model alone.
   Targets: open <= 2 s, refit <= 0.5 s.

BLAS threads: by default numpy's BLAS runs one thread (``--blas-threads 0`` leaves
the library's default). R here uses the reference BLAS, one thread, so this is
the like-for-like comparison; on a shared machine a multithreaded OpenBLAS also
spends most of its time waiting for cores on the small matrices of these fits.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # before numpy is imported: the BLAS reads these when it loads
    _t = "1"
    if "--blas-threads" in sys.argv[:-1]:
        _t = sys.argv[sys.argv.index("--blas-threads") + 1]
    if _t != "0":
        for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[_v] = _t

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import run_r  # noqa: E402

import msem_nb as ms  # noqa: E402
from msem_nb.teaching.examples import simulate_factor_data  # noqa: E402

R_CFA = r"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{data}")
m <- "{model}"
t <- numeric({n})
for (i in seq_len({n})) t[i] <- system.time({{
  fit <- sem(m, data = d, cluster = "cluster"); fm <- fitMeasures(fit)}})[["elapsed"]]
fm <- fitMeasures(fit, c("chisq", "df", "cfi", "rmsea", "unrestricted.logl"))
cat(fm, median(t), "\n")
"""


def cfa_model(k: int) -> str:
    ys = " + ".join(f"y{i}" for i in range(1, k + 1))
    return f"level: within\n fw =~ {ys}\nlevel: between\n fb =~ {ys}\n"


def fit_and_measures(model: str, df: pd.DataFrame, repeats: int) -> tuple[float, float]:
    """Median times of ``ms.fit`` and of its ``fit_measures`` (fresh data each time,
    so the saturated model and the baseline are fitted every time), after a warm-up."""
    t_fit, t_fm = [], []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        res = ms.fit(model, df, cluster="cluster")
        t1 = time.perf_counter()
        _ = res.fit_measures
        t_fit.append(t1 - t0)
        t_fm.append(time.perf_counter() - t1)
    return float(np.median(t_fit[1:])), float(np.median(t_fm[1:]))


def bench_cfa(args) -> None:
    model = cfa_model(40)
    print("1. 40-indicator two-level CFA, 200 clusters: fit + fit measures")
    for sizes in (15, (5, 25)):
        df = simulate_factor_data(200, sizes, n_indicators=40, seed=1)
        df = df.drop(columns=["x1", "x2"])
        label = "sizes 15" if sizes == 15 else "sizes 5-25"
        t_fit, t_fm = fit_and_measures(model, df, args.repeats)
        t_all = t_fit + t_fm
        fm = ms.fit(model, df, cluster="cluster").fit_measures
        line = (f"   {label}: msem_nb {t_all:.2f} s (fit {t_fit:.2f} s + fit measures "
                f"{t_all - t_fit:.2f} s); chisq {fm['chisq']:.3f} on {fm['df']} df, "
                f"CFI {fm['cfi']:.4f}, RMSEA {fm['rmsea']:.4f}")
        print(line)
        if args.no_r:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "cfa40.csv"
            df.to_csv(path, index=False)
            out = run_r(R_CFA.format(data=path, model=model.replace("\n", "\\n"),
                                     n=args.r_repeats), timeout=3600)
        if out is None or len(out) < 6:
            print("   lavaan: not available (Rscript with lavaan not found or it failed)")
            continue
        chisq, df_, cfi, rmsea, ll_h1, t_lav = (float(v) for v in out[-6:])
        print(f"   {label}: lavaan {t_lav:.2f} s (median of {args.r_repeats}); chisq "
              f"{chisq:.3f}, CFI {cfi:.4f}, RMSEA {rmsea:.4f}; ratio lavaan/msem_nb = "
              f"{t_lav / t_all:.0f}x (target >= 10x)")
        print(f"   saturated log-likelihood: msem_nb {fm['unrestricted_loglik']:.4f}, lavaan "
              f"{ll_h1:.4f} (lavaan's EM stops on a change below 1e-4)")


def wide_data(p: int = 200, n: int = 10_000, clusters: int = 500, n_between: int = 10,
              seed: int = 7) -> pd.DataFrame:
    """p variables on n rows: rows fall into clusters at random (sizes about 8-35),
    five within factors and two between factors, per-variable ICCs from 0 to about
    .3, the last `n_between` variables constant within clusters."""
    rng = np.random.default_rng(seed)
    cl = np.unique(np.sort(rng.integers(0, clusters, size=n)), return_inverse=True)[1]
    J = int(cl.max()) + 1
    pv = p - n_between
    lw = rng.uniform(0.3, 0.9, size=(pv, 5)) * (rng.random((pv, 5)) < 0.3)
    lb = rng.uniform(0.2, 0.6, size=(pv, 2)) * (rng.random((pv, 2)) < 0.5)
    between_scale = rng.uniform(0.0, 0.6, size=pv)
    fb = rng.standard_normal((J, 2))
    y = rng.standard_normal((n, 5)) @ lw.T + rng.standard_normal((n, pv))
    y += ((fb @ lb.T + 0.5 * rng.standard_normal((J, pv))) * between_scale)[cl]
    z = fb @ rng.uniform(0.2, 0.8, size=(2, n_between)) + rng.standard_normal((J, n_between))
    df = pd.DataFrame(np.hstack([y, z[cl]]), columns=[f"v{i + 1}" for i in range(p)])
    df["school"] = cl
    return df


def child_decompose(repeats: int) -> None:
    from msem_nb.inference.decompose import decompose
    df = wide_data()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dec = decompose(df, "school")
        times.append(time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times": times, "rss_before_mb": rss0, "peak_mb": rss,
                      "variables": len(dec.names), "rows": len(df),
                      "clusters": dec.cluster_sizes["J"],
                      "sizes": [dec.cluster_sizes["min"], dec.cluster_sizes["max"]],
                      "notes": len(dec.notes)}))


PANEL_MODELS = {
    "28-indicator CFA": " fw =~ {ys}\n fw ~ x1 + x2\nlevel: between\n fb =~ {ys}\n",
    "6-indicator CFA": " fw =~ {y6}\n fw ~ x1 + x2\nlevel: between\n fb =~ {y6}\n",
}


def panel_data() -> pd.DataFrame:
    return simulate_factor_data(200, (5, 25), n_indicators=28, seed=3)


def panel_model(name: str) -> str:
    ys = " + ".join(f"y{k}" for k in range(1, 29))
    y6 = " + ".join(f"y{k}" for k in range(1, 7))
    return "level: within\n" + PANEL_MODELS[name].format(ys=ys, y6=y6)


def child_panel(repeats: int) -> None:
    df = panel_data()
    out: dict = {}
    t0 = time.perf_counter()
    import anywidget  # noqa: F401
    import ipywidgets  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    out["imports"] = time.perf_counter() - t0
    for name in PANEL_MODELS:
        model = panel_model(name)
        r: dict = {}
        t0 = time.perf_counter()
        p = ms.Panel(df, cluster="cluster", model=model)
        p.wait(600)
        r["open"] = time.perf_counter() - t0
        r["state"] = p.status.state
        r["decomposed"] = len(p.decomposition.names) if p.decomposition is not None else 0
        times = []
        for k in range(repeats + 1):
            t0 = time.perf_counter()
            p.toggle_covariance("y1", "y2", "within", on=k % 2 == 0)
            p.wait(600)
            times.append(time.perf_counter() - t0)
        r["refits"] = times[1:]           # the first refit fills the per-model caches
        r["refit_state"] = p.status.state
        p.close()
        r["fit_alone"], r["fit_measures"] = fit_and_measures(model, df, 3)
        out[name] = r
    # the first panel paid for importing the widget libraries: open it again
    t0 = time.perf_counter()
    p = ms.Panel(df, cluster="cluster", model=panel_model("28-indicator CFA"))
    p.wait(600)
    out["open_warm"] = time.perf_counter() - t0
    p.close()
    print(json.dumps(out))


def in_child(what: str, args) -> dict | None:
    cmd = [sys.executable, __file__, "--child", what, "--repeats", str(args.repeats),
           "--blas-threads", str(args.blas_threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if res.returncode != 0:
        print(res.stderr[-2000:])
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_decompose(args) -> None:
    r = in_child("decompose", args)
    if r is None:
        return
    t = float(np.median(r["times"]))
    print(f"2. decompose {r['variables']} variables x {r['rows']:,} rows ({r['clusters']} "
          f"clusters of {r['sizes'][0]}-{r['sizes'][1]}): {t:.2f} s (median of "
          f"{len(r['times'])}; target <= 5 s); peak memory of the process "
          f"{r['peak_mb']:.0f} MB (target <= 2048 MB; {r['rss_before_mb']:.0f} MB after "
          "imports and data, before decompose)")


def bench_panel(args) -> None:
    r = in_child("panel", args)
    if r is None:
        return
    print("3. panel on a 30-variable data set (y1-y28, x1, x2; 200 clusters of 5-25); "
          "targets: open <= 2 s, refit <= 0.5 s")
    for i, name in enumerate(PANEL_MODELS):
        m = r[name]
        med = float(np.median(m["refits"]))
        cold = (f" (the first in the process, after {r['imports']:.2f} s importing the "
                "widget libraries)") if i == 0 else ""
        print(f"   {name}: opens in {m['open']:.2f} s{cold}, status {m['state']}, "
              f"{m['decomposed']} variables decomposed; refit after a switch {med:.2f} s "
              f"(median of {len(m['refits'])}, status {m['refit_state']})")
        print(f"      the model alone: ms.fit {m['fit_alone']:.2f} s, its fit measures "
              f"{m['fit_measures']:.2f} s on fresh data (a refit reuses the saturated model "
              "and the baseline)")
    print(f"   28-indicator CFA opened again in the same process: {r['open_warm']:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--r-repeats", type=int, default=3)
    ap.add_argument("--no-r", action="store_true", help="do not run lavaan")
    ap.add_argument("--only", choices=["cfa", "decompose", "panel"])
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads (0: the library's default)")
    ap.add_argument("--child", choices=["decompose", "panel"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "decompose":
        return child_decompose(args.repeats)
    if args.child == "panel":
        return child_panel(args.repeats)
    print(f"BLAS threads: {args.blas_threads or 'library default'}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.only in (None, "cfa"):
        bench_cfa(args)
    if args.only in (None, "decompose"):
        bench_decompose(args)
    if args.only in (None, "panel"):
        bench_panel(args)


if __name__ == "__main__":
    main()
