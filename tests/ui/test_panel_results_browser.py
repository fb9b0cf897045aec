"""The Results screen after a fit (issue 16, item 6) in a real JupyterLab and Chromium.

One Lab, one notebook and one panel: a one-factor-per-level CFA of
Demo.twolevel (2,500 rows in 200 clusters), whose largest modification index
is y1 ~~ y2 at the between level. In order: the Results screen lists the
indices with Free buttons and draws the residual heatmap of each level;
"Free" on the top index puts ``y1 ~~ y2`` in the between block of the
syntax, refits (the estimate appears, the chi-square drops); "Compare with
previous fit" shows the likelihood-ratio test with its row for the previous
fit; "Undo" takes the parameter back out. The shared harness is in
``conftest.py`` (``lab_page``).
"""

import re
from pathlib import Path

from labharness import open_tab

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FILES = [FIXTURES / "Demo.twolevel.csv"]
T = 60_000       # ms; a first fit includes the kernel's imports

CELL = '''\
import pandas as pd
import msem_nb as ms
df = pd.read_csv("Demo.twolevel.csv")
panel = ms.Panel(df, cluster="cluster", model="""\\
level: within
  fw =~ y1 + y2 + y3 + y4 + y5 + y6
level: between
  fb =~ y1 + y2 + y3 + y4 + y5 + y6
""")
panel'''

FIT_LINE_CHISQ = re.compile(r"\u03c7\u00b2\((\d+)\) = ([\d,.]+)")


def _chisq(page) -> tuple[int, float]:
    m = FIT_LINE_CHISQ.search(page.locator(".msem-fitline").first.inner_text())
    assert m is not None
    return int(m.group(1)), float(m.group(2).replace(",", ""))


def _mi_rows(page) -> list:
    return page.evaluate("""() => [...document.querySelectorAll('.msem-mi-table tbody tr')]
        .map(tr => [...tr.children].slice(0, 3).map(td => td.textContent))""")


def test_results_list_the_indices_and_draw_the_residuals(page):
    open_tab(page, "Results")
    page.wait_for_selector(".msem-mi-table tbody tr button.msem-free", timeout=T)
    rows = _mi_rows(page)
    assert rows[0][:2] == ["y1 ~~ y2", "between"]
    mis = [float(r[2]) for r in rows]
    assert mis == sorted(mis, reverse=True) and min(mis) >= 3.84 and len(rows) <= 10
    # the within level's correlation residuals: a heatmap of the six indicators
    page.wait_for_function(
        """() => { const gd = document.querySelector('.js-plotly-plot.msem-residuals');
                   return gd && gd.data && gd.data[0].type === 'heatmap'
                       && gd.data[0].x.length === 6; }""", timeout=T)
    title = page.evaluate("() => document.querySelector('.js-plotly-plot.msem-residuals')"
                          ".layout.annotations[0].text")
    assert title == "within"
    # the level selector draws the between level's
    page.locator(".msem-panel .widget-toggle-button", has_text="between").first.click()
    page.wait_for_function(
        "() => document.querySelector('.js-plotly-plot.msem-residuals')"
        ".layout.annotations[0].text === 'between'", timeout=T)


def test_free_the_top_index_refits_with_the_new_parameter(page):
    df0, chisq0 = _chisq(page)
    top = page.locator(".msem-mi-table tbody tr").first
    assert top.locator("td").first.inner_text() == "y1 ~~ y2"
    top.locator("button.msem-free").click()
    # the model text: y1 ~~ y2 in the between block
    page.wait_for_function(
        "() => /level: between\\n(  .*\\n)*  y1 ~~ y2\\n/.test("
        "document.querySelector('.msem-syntax-box textarea').value)", timeout=T)
    # the refit: the parameter is freed, the estimate is on the screen, the chi-square drops
    page.wait_for_selector(".msem-freed-item", timeout=T)
    assert "y1 ~~ y2 (between level)" in page.locator(".msem-freed-item").inner_text()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.msem-tab td')].some(td => td.textContent === "
        "'y1 ~~ y2')", timeout=T)
    df1, chisq1 = _chisq(page)
    assert df1 == df0 - 1 and chisq1 < chisq0 - 50
    assert page.locator(".msem-status").first.get_attribute("data-state") in ("ok", "warn")
    assert ["y1 ~~ y2", "between"] not in [r[:2] for r in _mi_rows(page)]


def test_compare_with_previous_fit_shows_the_lrt_row(page):
    page.get_by_role("button", name=re.compile("^Compare with previous fit")).click()
    page.wait_for_selector(".msem-lrt-table", timeout=T)
    rows = page.evaluate("""() => [...document.querySelectorAll('.msem-lrt-table tbody tr')]
        .map(tr => [...tr.children].map(td => td.textContent))""")
    header = page.evaluate("() => [...document.querySelectorAll('.msem-lrt-table th')]"
                           ".slice(0, 9).map(th => th.textContent)")
    assert header == ["fit", "parameters", "df", "\u03c7\u00b2", "\u0394\u03c7\u00b2",
                      "\u0394df", "p", "AIC", "BIC"]
    by = {r[0]: dict(zip(header, r)) for r in rows}
    assert set(by) == {"previous fit", "current fit"}
    prev, cur = by["previous fit"], by["current fit"]
    assert int(prev["df"]) == int(cur["df"]) + 1 and prev["\u0394df"] == "1"
    diff = float(prev["\u03c7\u00b2"]) - float(cur["\u03c7\u00b2"])
    # the chi-squares are shown to 3 decimals: their difference to within 1e-3
    assert abs(float(prev["\u0394\u03c7\u00b2"]) - diff) < 2e-3
    assert prev["p"] == "<.001"
    msg = page.locator(".msem-lrt-msg").inner_text()
    assert "frees y1 ~~ y2 (between level)" in msg and "fits significantly better" in msg


def test_undo_takes_the_parameter_back_out(page):
    _, chisq1 = _chisq(page)
    page.locator(".msem-freed-item button.msem-unfree").click()
    page.wait_for_function(
        "() => !document.querySelector('.msem-syntax-box textarea').value.includes('y1 ~~ y2')",
        timeout=T)
    page.wait_for_selector(".msem-freed-item", state="detached", timeout=T)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.msem-mi-table tbody tr')].some("
        "tr => tr.children[0].textContent === 'y1 ~~ y2')", timeout=T)
    assert _chisq(page)[1] > chisq1 + 50
    # the comparison on the screen was of the fits before: it says so
    assert "Compares the fit shown" in page.locator(".msem-lrt-msg").inner_text()
    open_tab(page, "Model")


def test_random_slopes_draw_each_clusters_estimate(page):
    """A random slope typed into the syntax: the Results screen draws the caterpillar plot
    (one point per cluster, 200) and, chosen, the lines per cluster."""
    box = page.locator(".msem-syntax-box textarea")
    box.fill("level: within\n  fw =~ y2 + y3 + y4 + y5 + y6\n  s1 | y1 ~ x1\n"
             "level: between\n  fb =~ y1 + y2 + y3 + y4 + y5 + y6\n  y1 ~~ s1\n")
    page.wait_for_selector(".msem-status[data-state=ok], .msem-status[data-state=warn]",
                           timeout=T)
    open_tab(page, "Results")
    page.wait_for_function(
        """() => { const gd = document.querySelector('.js-plotly-plot.msem-slopes');
                   return gd && gd.data && gd.data[0].type === 'scatter'
                       && gd.data[0].hovertext.length === 200; }""", timeout=T)
    title = page.evaluate("() => document.querySelector('.js-plotly-plot.msem-slopes')"
                          ".layout.title.text")
    assert title == "s1 in each cluster"
    page.locator(".msem-panel .widget-toggle-button", has_text="a line per cluster").first.click()
    page.wait_for_function(
        "() => document.querySelector('.js-plotly-plot.msem-slopes').data.length === 3",
        timeout=T)
