"""The panel in a real JupyterLab, driven by headless Chromium.

One Lab, one notebook and one panel (Demo.twolevel, 2,500 rows in 200
clusters) serve every test of this module, in order: the panel fits, a
switch click redraws the diagram and the estimates, a random slope is drawn,
broken syntax shows its line and column, the Export screen inserts cells
and downloads the report, the Compare screen draws its forest plot, a group
column chosen on the Data tab gives per-group results and the invariance table, and
the Plan screen runs a power study with progress and inserts its code. A
failing test saves a screenshot (its path is printed). A watchdog kills Lab
after five minutes whatever happens.
"""

from pathlib import Path

from labharness import MEASURE_TOGGLE_JS, diagram_shapes, open_tab, run_cell

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FILES = [FIXTURES / "Demo.twolevel.csv"]
DOWNLOADS = True

CELL = '''\
import pandas as pd
import msem_nb as ms
df = pd.read_csv("Demo.twolevel.csv")
df["g"] = (df["cluster"] % 2).map({0: "even", 1: "odd"})   # groups of whole clusters
panel = ms.Panel(df, cluster="cluster", model="""\\
level: within
  y1 ~ x1
level: between
  y1 ~ w1
""")
panel'''

T = 60_000       # ms; a first fit includes the kernel's imports


def test_panel_fits_and_draws(page):
    status = page.locator(".msem-status").first
    assert "Converged in" in status.inner_text()
    page.wait_for_function("() => document.querySelector('.js-plotly-plot.msem-diagram')",
                           timeout=T)
    shapes = diagram_shapes(page)
    assert "path:within:x1->y1" in shapes and "path:between:w1->y1" in shapes
    # the Decomposition screen draws its ICC bars once shown (11 variables)
    open_tab(page, "Decomposition")
    page.wait_for_function(
        "() => document.querySelectorAll('.js-plotly-plot g.trace.bars g.point path').length"
        " === 11", timeout=T)
    open_tab(page, "Model")


def test_path_switch_changes_diagram_and_estimates(page):
    before = page.evaluate(
        "() => document.querySelector('.js-plotly-plot.msem-diagram').layout.annotations"
        ".map(a => a.text).join('|')")
    ms_ = page.evaluate(MEASURE_TOGGLE_JS, ["within", "y1", "x2", True])
    assert ms_ < 10_000
    after = page.evaluate(
        "() => document.querySelector('.js-plotly-plot.msem-diagram').layout.annotations"
        ".map(a => a.text).join('|')")
    assert after != before
    assert "y1 ~ x1 + x2" in page.locator(".msem-syntax-box textarea").input_value()
    # dimmed while fitting, not once the new diagram is in
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('.msem-diagram-box')).opacity === '1'",
        timeout=T)
    open_tab(page, "Results")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.msem-tab td')].some(td => td.textContent === "
        "'y1 ~ x2')", timeout=T)
    # the Results screen has its own diagram, drawn when the screen is shown
    page.wait_for_function(
        """() => {
            const gd = document.querySelector('.js-plotly-plot.msem-results-diagram');
            return gd && (gd.layout.shapes || []).some(s => s.name === 'path:within:x2->y1');
        }""", timeout=T)
    open_tab(page, "Model")


def test_random_slope_is_drawn(page):
    page.locator('button.msem-slopebtn[data-a="y1"][data-b="x1"]').click()
    page.wait_for_function(
        """() => {
            const gd = document.querySelector('.js-plotly-plot.msem-diagram');
            const names = (gd.layout.shapes || []).map(s => s.name);
            return names.includes('slope-dot:s1') && names.includes('node:between:s1');
        }""", timeout=T)
    assert "s1 | y1 ~ x1" in page.locator(".msem-syntax-box textarea").input_value()
    page.wait_for_selector(".msem-status[data-state=ok], .msem-status[data-state=warn]",
                           timeout=T)
    # the switch shows the slope too
    cell = page.locator('button.msem-cell[data-kind=path][data-level=within][data-a="y1"]'
                        '[data-b="x1"]')
    assert cell.get_attribute("data-state") == "slope"


def test_broken_syntax_shows_the_error(page):
    box = page.locator(".msem-syntax-box textarea")
    good = box.input_value()
    shapes = diagram_shapes(page)
    box.fill("level: within\n  y1 ~ x1 + <x2>\nlevel: between\n  y1 ~ w1\n")
    page.wait_for_selector(".msem-status[data-state=error]", timeout=T)
    text = page.locator(".msem-status").first.inner_text()
    assert "Syntax error at line 2, column" in text
    assert "<x2>" in text            # shown as typed: text, not markup
    assert diagram_shapes(page) == shapes      # the last good diagram stays
    box.fill(good)
    page.wait_for_selector(".msem-status[data-state=ok], .msem-status[data-state=warn]",
                           timeout=T)


def _cells(page):
    return page.locator(".jp-Notebook .jp-Cell")


def test_export_inserts_code_cell_below(page):
    open_tab(page, "Export")
    n = _cells(page).count()
    page.get_by_role("button", name="Insert code cell below").click()
    page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length "
                           f"=== {n + 1}", timeout=T)
    new = _cells(page).nth(1).inner_text()
    assert "ms.fit(model, df, cluster='cluster')" in new
    assert "s1 | y1 ~ x1" in new
    page.wait_for_function(
        "() => document.body.innerText.includes('Code cell inserted: below the panel')",
        timeout=T)
    # the exported code runs in the notebook's kernel and shows the report
    run_cell(page, 1)
    page.wait_for_function(
        "() => document.querySelectorAll('.jp-Notebook .jp-Cell')[1]"
        ".querySelector('.jp-OutputArea .msem-report')", timeout=T)


def test_export_inserts_static_report(page):
    n = _cells(page).count()
    page.get_by_role("button", name="Insert static report below").click()
    page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length "
                           f"=== {n + 1}", timeout=T)
    # the new cell sits right below the panel and already holds the report
    page.wait_for_function(
        "() => document.querySelectorAll('.jp-Notebook .jp-Cell')[1]"
        ".querySelector('.jp-OutputArea .msem-report')", timeout=T)
    cell = _cells(page).nth(1)
    assert "Static report written by the msem_nb panel" in cell.inner_text()
    assert "Parameter estimates" in cell.locator(".msem-report").first.inner_text()


def test_export_downloads_html_report(page, tmp_path):
    with page.expect_download(timeout=T) as info:
        page.get_by_role("button", name="Download HTML report").click()
    dl = info.value
    assert dl.suggested_filename == "msem_report.html"
    target = tmp_path / "r.html"
    dl.save_as(target)
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "msem-report" in text
    assert "s1 | y1 ~ x1" in text or "s1" in text


def test_switch_latency_is_measured_in_page(page):
    open_tab(page, "Model")
    ms_ = page.evaluate(MEASURE_TOGGLE_JS, ["within", "y1", "x2", False])
    assert 0 < ms_ < 10_000


def test_compare_tab_draws_the_forest_plot(page):
    open_tab(page, "Compare")
    screen = page.locator(".msem-compare")
    for label, value in (("Outcome y", "y1"), ("Predictor x", "x1")):
        screen.locator(".widget-dropdown", has_text=label).locator("select").select_option(
            label=value)
    screen.locator("button", has_text="Compare").click()
    # green, or amber when a fit warned (the core's improper-solution checks)
    page.wait_for_selector(".msem-compare-msg[data-state=ok], .msem-compare-msg[data-state=warn]",
                           timeout=T)
    assert "y1 on x1, 2,500 rows in 200 clusters" in screen.inner_text()
    # the forest plot is drawn: an SVG with one tick label per approach and effect
    labels = page.wait_for_function(
        """() => {
            const gd = document.querySelector('.js-plotly-plot.msem-compare-figure');
            const ticks = gd ? [...gd.querySelectorAll('svg .yaxislayer-above .ytick text')]
                               .map(t => t.textContent) : [];
            const title = gd ? gd.querySelector('svg .gtitle')?.textContent || '' : '';
            return ticks.length === 9 && title.includes('y1 on x1') ? ticks : null;
        }""", timeout=T).json_value()
    from msem_nb.teaching.approaches import APPROACHES
    assert set(labels) == set(APPROACHES)
    assert page.locator(".js-plotly-plot.msem-compare-figure svg g.points path").count() == 9
    # the table and the notes of every approach are on the screen
    text = screen.inner_text()
    assert all(text.count(a) >= 2 for a in APPROACHES)
    open_tab(page, "Model")


def test_group_selector_fits_every_group_and_shows_invariance(page):
    # a factor model at both levels (random slopes are not available with groups)
    open_tab(page, "Model")
    box = page.locator(".msem-syntax-box textarea")
    before = box.input_value()
    box.fill("level: within\n  fw =~ y1 + y2 + y3\nlevel: between\n  fb =~ y1 + y2 + y3\n")
    page.wait_for_selector(".msem-status[data-state=ok], .msem-status[data-state=warn]",
                           timeout=T)
    open_tab(page, "Data")
    page.locator(".msem-panel .widget-dropdown", has_text="Groups").locator("select") \
        .select_option(label="g")
    page.wait_for_selector(".msem-status[data-state=ok], .msem-status[data-state=warn]",
                           timeout=T)
    open_tab(page, "Results")
    page.wait_for_function(
        """() => {
            const t = document.querySelector('.msem-panel').innerText;
            return t.includes('Group 1 [odd]') && t.includes('Group 2 [even]')
                && t.includes('Measurement invariance across groups')
                && t.includes('cross-level');
        }""", timeout=2 * T)
    text = page.locator(".msem-panel").first.inner_text()
    for step in ("configural", "metric", "scalar", "strict"):
        assert step in text
    open_tab(page, "Data")
    page.locator(".msem-panel .widget-dropdown", has_text="Groups").locator("select") \
        .select_option(index=0)
    page.wait_for_selector(".msem-status[data-state=ok], .msem-status[data-state=warn]",
                           timeout=T)
    open_tab(page, "Model")
    box.fill(before)
    page.wait_for_selector(".msem-status[data-state=ok], .msem-status[data-state=warn]",
                           timeout=T)


WATCH_PLAN = """() => {
  window.__msemPlan = [];
  const node = document.querySelector('.msem-plan-progress');
  new MutationObserver(() => window.__msemPlan.push(node.textContent))
    .observe(node, {subtree: true, childList: true, characterData: true});
}"""


def test_plan_tab_runs_a_power_study_with_progress_and_exports_it(page):
    open_tab(page, "Plan")
    page.wait_for_function("() => document.querySelector('.msem-plan-parameter')"
                           "?.options.length > 0", timeout=T)
    # the model has a random slope now: a study of it is refused, on the screen
    page.locator(".msem-plan-run").click()
    page.wait_for_selector(".msem-plan[data-state=error]", timeout=T)
    assert "random slopes" in page.locator(".msem-plan-msg").inner_text()
    open_tab(page, "Model")
    page.locator(".msem-syntax-box textarea").fill(
        "level: within\n  y1 ~ x1\nlevel: between\n  y1 ~ w1\n")
    page.wait_for_selector(".msem-status[data-state=ok], .msem-status[data-state=warn]",
                           timeout=T)
    open_tab(page, "Plan")
    page.select_option(".msem-plan-parameter", "y1 ~ w1 [between]")
    page.fill(".msem-plan-effect", "0.4")
    page.fill(".msem-plan-clusters", "10,40")
    page.fill(".msem-plan-sizes", "5")
    page.fill(".msem-plan-reps", "40")
    page.evaluate(WATCH_PLAN)
    page.locator(".msem-plan-run").click()
    page.wait_for_selector(".msem-plan[data-state=done]", timeout=T)
    seen = page.evaluate("() => window.__msemPlan")
    assert any(t.endswith("of 80 replications") for t in seen), seen
    rows = page.locator(".msem-plan-table tr")
    assert rows.count() == 3
    assert rows.nth(1).locator("td").first.inner_text() == "10"
    assert rows.nth(2).locator("td").first.inner_text() == "40"
    assert "y1 ~ w1 [between]" in page.locator(".msem-plan-msg").inner_text()
    page.wait_for_function("() => document.querySelector('.js-plotly-plot.msem-plan-figure')"
                           "?.data?.length === 1", timeout=T)
    code = page.locator(".msem-plan-codetext").inner_text()
    assert "ms.power(" in code and "vary={'y1 ~ w1 [between]': [0.4]}" in code
    n = _cells(page).count()
    page.locator(".msem-plan-code").click()
    page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length "
                           f"=== {n + 1}", timeout=T)
    assert "ms.power(" in _cells(page).nth(1).inner_text()
