"""Three levels in the panel (issue 17, points 3 and 4) in a real JupyterLab and Chromium.

One Lab, one notebook and one panel on simulated rows in classes in schools
(1,530 rows, 263 classes, 30 schools), opened two-level on the class column.
In order: the Data tab's "Nested in" dropdown (the higher cluster column) picks the school column
(the header says three-level); the Decomposition tab shows the three-level
table and draws the stacked shares and the three correlation heatmaps; the
model has level 1/2/3 blocks, a click on a level-3 switch adds
``r1 ~ funding`` there and refits (green or amber); the Results tab shows the
three level sections and says what three-level fits do not have. The shared
harness is in ``conftest.py`` (``lab_page``).
"""

from labharness import MEASURE_TOGGLE_JS, diagram_shapes, open_tab

T = 90_000       # ms; the first fit includes the kernel's imports

CELL = '''\
import msem_nb as ms
df = ms.simulate("""
level: 1
  read =~ r1 + 0.8*r2 + 1.1*r3
  read ~ 0.5*ses
level: 2
  read_c =~ r1 + 0.8*r2 + 1.1*r3
  read_c ~ 0.3*climate
  read_c ~~ 0.3*read_c
level: 3
  read_s =~ r1 + 0.8*r2 + 1.1*r3
  read_s ~ 0.4*funding
  read_s ~~ 0.2*read_s
""", n_clusters=30, cluster_size=((6, 12), (4, 8)), seed=2024, cluster=("class_id", "school_id"))
panel = ms.Panel(df, cluster="class_id", model="""\\
level: within
  r1 ~ ses
level: between
  r1 ~~ r1
""")
panel'''

DONE = ".msem-status[data-state=ok], .msem-status[data-state=warn]"


def _syntax(page) -> str:
    return page.locator(".msem-syntax-box textarea").input_value()


def test_the_higher_cluster_column_makes_three_levels(page):
    assert "two-level SEM panel" in page.locator(".msem-header").first.inner_text()
    open_tab(page, "Data")
    page.locator(".msem-panel .widget-dropdown", has_text="Nested in").locator("select") \
        .select_option(label="school_id")
    page.wait_for_function(
        "() => document.querySelector('.msem-header').textContent.includes('three-level')",
        timeout=T)
    page.wait_for_selector(DONE, timeout=T)
    # the Data tab's summary counts the schools
    page.wait_for_function(
        "() => document.querySelector('.msem-panel').textContent.includes('Higher clusters (K)')",
        timeout=T)


def test_decomposition_tab_shows_the_three_levels(page):
    open_tab(page, "Decomposition")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.msem-panel p')].some(p => "
        "p.textContent.includes('Three-level decomposition'))", timeout=T)
    # stacked shares at levels 1, 2 and 3, and one heatmap per level
    page.wait_for_function(
        """() => { const gd = document.querySelector('.js-plotly-plot.msem-icc-figure');
                   return gd && gd.data && gd.data.length === 3
                       && gd.data.every(t => t.type === 'bar') && gd.layout.barmode === 'stack';
        }""", timeout=T)
    page.wait_for_function(
        """() => { const gd = document.querySelector('.js-plotly-plot.msem-corr-figure');
                   return gd && gd.data &&
                       gd.data.filter(t => t.type === 'heatmap').length === 3; }""", timeout=T)
    rows = page.evaluate("""() => [...document.querySelectorAll('.msem-panel tr')]
        .map(tr => tr.textContent)""")
    assert any(r.startswith("funding") and "level 3 only" in r for r in rows)
    assert any(r.startswith("r1") and "all three levels" in r for r in rows)


def test_a_level_3_switch_fits_a_three_level_model(page):
    open_tab(page, "Model")
    # the within path stays; r1 has its parts at levels 2 and 3
    page.wait_for_function(
        "() => document.querySelector('.msem-syntax-box textarea').value === "
        "'level: 1\\n  r1 ~ ses\\nlevel: 2\\n  r1 ~~ r1\\nlevel: 3\\n  r1 ~~ r1\\n'",
        timeout=T)
    page.wait_for_selector(DONE, timeout=T)
    page.wait_for_function(
        "() => (document.querySelector('.js-plotly-plot.msem-diagram').layout.shapes || [])"
        ".some(s => s.name === 'panel:3')", timeout=T)
    ms_ = page.evaluate(MEASURE_TOGGLE_JS, ["3", "r1", "funding", True])
    assert ms_ < 20_000
    assert "level: 3\n  r1 ~ funding\n  r1 ~~ r1\n" in _syntax(page)
    page.wait_for_function(
        "() => document.querySelector('.msem-status').textContent.includes('Converged')",
        timeout=T)
    page.wait_for_selector(DONE, timeout=T)
    shapes = diagram_shapes(page)
    assert {"panel:within", "panel:between", "panel:3", "path:3:funding->r1"} <= set(shapes)


def test_results_show_three_level_sections(page):
    open_tab(page, "Results")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.msem-tab td')].some(td => td.textContent === "
        "'r1 ~ funding')", timeout=T)
    heads = page.evaluate("""() => [...document.querySelectorAll('.msem-level h4')]
        .map(h => h.textContent)""")
    assert heads[:3] == ["Level: within", "Level: between", "Level: 3"]
    page.wait_for_function(
        "() => [...document.querySelectorAll('.msem-panel .note')].some(p => "
        "p.textContent.includes('not available for three-level models'))", timeout=T)
    text = page.locator(".msem-fitline").first.inner_text()
    assert "higher clusters" in text
    open_tab(page, "Model")
