"""Responsiveness of the panel: switch click -> redrawn diagram, in a real browser.

Starts a throw-away JupyterLab, opens a notebook that builds ``ms.Panel`` on
Demo.twolevel (2,500 rows, 200 clusters) in headless Chromium, then clicks
the within-level switch ``y1 <- x2`` on and off. Each latency is measured
inside the page, from just before the click to the moment a
MutationObserver sees the diagram with (or without) the new arrow, so it
covers the message to the kernel, the debounce decision, the refit on the
worker thread, building the diagram, the FigureWidget update and Plotly's
redraw. The same kernel then times ``ms.fit`` of the model with the path on.

Target: median <= 300 ms. Prints the median, every click, one fit's time and
the ratio of the two.

Run: ``python bench/bench_panel.py [--clicks 10]`` (needs /usr/bin/chromium,
playwright, jupyterlab, anywidget).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "ui"))

from labharness import (  # noqa: E402
    MEASURE_TOGGLE_JS,
    Lab,
    browser_available,
    launch_browser,
    open_notebook,
    run_cell,
    screenshot,
)

MODEL = "level: within\n  y1 ~ x1\nlevel: between\n  y1 ~ w1\n"
MODEL_ON = "level: within\n  y1 ~ x1 + x2\nlevel: between\n  y1 ~ w1\n"

PANEL_CELL = f'''\
import pandas as pd
import msem_nb as ms
df = pd.read_csv("Demo.twolevel.csv")
panel = ms.Panel(df, cluster="cluster", model={MODEL!r})
panel'''

FIT_CELL = f'''\
import time, statistics
_t = []
for _ in range(15):
    _t0 = time.perf_counter()
    ms.fit({MODEL_ON!r}, df, cluster="cluster")
    _t.append(time.perf_counter() - _t0)
print("FIT_MS=%.2f" % (1000 * statistics.median(_t)))'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clicks", type=int, default=10, help="measured clicks (default 10)")
    ap.add_argument("--pause", type=float, default=0.4, help="seconds between clicks")
    args = ap.parse_args()
    if not browser_available():
        print("needs /usr/bin/chromium and playwright")
        return 2
    from playwright.sync_api import sync_playwright

    lab = Lab(watchdog=600).start()
    try:
        lab.copy_in(ROOT / "tests" / "fixtures" / "Demo.twolevel.csv")
        nb = lab.write_notebook("bench.ipynb", [PANEL_CELL, FIT_CELL])
        with sync_playwright() as pw:
            browser = launch_browser(pw)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                open_notebook(page, lab, nb)
                run_cell(page, 0)
                page.wait_for_selector(".msem-status[data-state=ok]", timeout=120_000)
                page.wait_for_function(
                    "() => document.querySelector('.js-plotly-plot.msem-diagram')",
                    timeout=60_000)
                for k in range(2):            # warm-up: first draws, caches
                    page.evaluate(MEASURE_TOGGLE_JS, ["within", "y1", "x2", k == 0])
                    page.wait_for_timeout(int(args.pause * 1000))
                times = []
                for k in range(args.clicks):
                    want = k % 2 == 0         # on, off, on, ...
                    times.append(page.evaluate(MEASURE_TOGGLE_JS, ["within", "y1", "x2", want]))
                    page.wait_for_timeout(int(args.pause * 1000))
                run_cell(page, 1)
                out = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(
                    ".jp-OutputArea-output")
                out.first.wait_for(timeout=120_000)
                page.wait_for_function(
                    "() => /FIT_MS=/.test(document.querySelectorAll('.jp-Notebook .jp-Cell')[1]"
                    ".innerText)", timeout=120_000)
                fit_ms = float(re.search(r"FIT_MS=([\d.]+)", out.first.inner_text()).group(1))
            except Exception:
                print("failed; screenshot:", screenshot(page, "bench_panel"))
                raise
            finally:
                browser.close()
    finally:
        lab.stop()
    med = statistics.median(times)
    print("Panel responsiveness on Demo.twolevel (2,500 rows, 200 clusters)")
    print(f"  clicks (ms): {', '.join(f'{t:.0f}' for t in times)}")
    print(f"  median switch click -> redrawn diagram: {med:.0f} ms "
          f"(target <= 300 ms: {'met' if med <= 300 else 'NOT met'})")
    print(f"  one ms.fit of the same model (median of 15, same kernel): {fit_ms:.1f} ms")
    print(f"  ratio click-to-diagram / fit: {med / fit_ms:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
