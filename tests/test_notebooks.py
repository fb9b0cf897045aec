"""The example notebooks run, convert to HTML, and draw offline in a real browser."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("nbconvert")
pytest.importorskip("plotly")

NOTEBOOKS = sorted((Path(__file__).parent.parent / "example_notebooks").glob("*.ipynb"))
PLOTLYJS_MARK = "* plotly.js v"


def test_examples_exist_and_have_no_outputs():
    names = [p.name for p in NOTEBOOKS]
    assert "01_quickstart.ipynb" in names and "02_multilevel_mediation.ipynb" in names
    for path in NOTEBOOKS:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Every example notebook executed once (in a scratch folder) and exported to HTML."""
    from nbconvert import HTMLExporter

    from msem_nb.present.notebook_run import execute_notebook
    out = {}
    for path in NOTEBOOKS:
        work = tmp_path_factory.mktemp(path.stem)
        nb = nbformat.read(str(path), as_version=4)
        execute_notebook(nb, work, timeout=180)
        body, _ = HTMLExporter().from_notebook_node(nb)
        html = work / (path.stem + ".html")
        html.write_text(body, encoding="utf-8")
        out[path.name] = (nb, html, work)
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_converts(executed, path):
    nb, html, work = executed[path.name]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, errors[0].get("evalue") if errors else ""
    body = html.read_text(encoding="utf-8")
    # figures survive nbconvert: an HTML version of each, plotly.js exactly once, before them
    assert body.count(PLOTLYJS_MARK) == 1
    assert "Plotly.newPlot" in body
    assert body.index(PLOTLYJS_MARK) < body.index("Plotly.newPlot")
    if path.name == "01_quickstart.ipynb":
        assert (work / "quickstart_report.html").read_text(encoding="utf-8").count(
            PLOTLYJS_MARK) == 1


def test_report_exporter_on_example(executed):
    from msem_nb.present.nbexport import MsemReportExporter
    nb, _, _ = executed["02_multilevel_mediation.ipynb"]
    body, _ = MsemReportExporter().from_notebook_node(nb)
    assert "ms.fit(" not in body                    # code hidden, results kept
    assert "indirect_within" in body
    assert body.count(PLOTLYJS_MARK) == 1


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must run 'apt-get install -y chromium'")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return exe


def test_exported_html_draws_offline_in_chromium(executed, tmp_path):
    exe = _chromium()
    _, html, _ = executed["01_quickstart.ipynb"]
    # The proxy points at a closed port: any attempt to reach the network fails,
    # so the figures can only draw from what the file itself holds.
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-sync", "--disable-background-networking",
           "--disable-component-update", "--proxy-server=127.0.0.1:9",
           "--proxy-bypass-list=<-loopback>", f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=15000", "--dump-dom", html.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=150)
    dom = proc.stdout
    assert "main-svg" in dom, proc.stderr[-2000:]
    # the path diagrams were drawn: their node labels are SVG text in the page
    for label in ("motw", "motb", "class_climate", "teacher_exp", "hours"):
        assert f'data-unformatted="{label}"' in dom, label
    assert 'data-unformatted="&lt;b&gt;Between (cluster level)&lt;/b&gt;"' in dom
