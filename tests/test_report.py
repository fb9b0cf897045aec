"""Reports: sections, HTML/Markdown/notebook output, escaping, the nbconvert exporter."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import msem_nb as ms

pytest.importorskip("plotly")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbconvert")

from msem_nb.present.nbexport import MsemReportExporter, prepare_report_notebook  # noqa: E402
from msem_nb.present.notebook_output import PLOTLYJS_MARK, reset_plotlyjs  # noqa: E402

EVIL = "<img src=x onerror=alert(1)>"
MEDIATION = """
level: within
  mot2 ~ a_w*ses
  math ~ b_w*mot2 + ses
level: between
  mot2 ~ a_b*ses
  math ~ b_b*mot2 + ses
ind_w := a_w*b_w
ind_b := a_b*b_b
"""


@pytest.fixture(scope="module")
def evil_data():
    # the cluster column gets a name that would run script if it reached HTML raw
    return ms.load_example("classrooms").rename(columns={"class_id": EVIL})


@pytest.fixture(scope="module")
def fit(evil_data):
    return ms.fit(MEDIATION, evil_data, cluster=EVIL)


@pytest.fixture(scope="module")
def report(fit, evil_data):
    return fit.report(data=evil_data, title="Report <b>test</b>")


def test_sections(report):
    keys = [s.key for s in report.sections]
    assert keys == ["data", "model", "fit", "estimates", "defined", "diagram"]
    html = report["data"].html
    for v in ("mot2", "math", "ses"):
        assert f"<td>{v}</td>" in html                      # ICC table
    assert "Intraclass correlations" in html
    assert "ind_w" in report["defined"].html and "a_w*b_w" in report["defined"].html
    est = report["estimates"].html
    assert "Level: within" in est and "Level: between" in est
    assert report["diagram"].figure is not None
    with pytest.raises(KeyError):
        report["nope"]


def test_user_text_is_escaped(report, fit, evil_data):
    from msem_nb.inference.decompose import decompose
    reset_plotlyjs()
    outputs = {"report": report._repr_html_(), "document": report.to_html(),
               "fit": fit._repr_html_(),
               "decomposition": decompose(evil_data, EVIL, ["math", "ses"])._repr_html_()}
    for name, html in outputs.items():
        assert "<img src=x" not in html, name
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, name
    assert "Report &lt;b&gt;test&lt;/b&gt;" in outputs["document"]
    md = report.to_markdown()
    assert f"`{EVIL}`" in md                                   # a code span shows it as typed
    assert "<b>test" not in md


def test_html_document_is_offline_and_embeds_plotly_once(report, tmp_path):
    out = report.save(tmp_path / "report.html")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert text.count(PLOTLYJS_MARK) == 1
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=", text)
    assert 'id="msem-diagram"' in text
    assert text.index(PLOTLYJS_MARK) < text.index("Plotly.newPlot")


def test_markdown(report, tmp_path):
    out = report.save(tmp_path / "report.md")
    md = out.read_text(encoding="utf-8")
    for head in ("# Report", "## Data and clustering", "## Model", "## Estimation and model fit",
                 "## Parameter estimates", "## Defined parameters", "## Path diagram"):
        assert head in md
    assert "| `mot2 ~ ses` | `a_w` |" in md
    assert "```text\nlevel: within" in md
    # without kaleido the diagram is a note, never an error
    assert "diagram" in md.split("## Path diagram")[1]


def test_notebook(report, tmp_path):
    nb = report.to_notebook(data_code="None")
    nbformat.validate(nb)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert sum("msem-report" in t for t in tags) == len(nb.cells) - 1     # all but the setup
    src = nb.cells[1].source
    assert "ms.fit(model, data, cluster=" in src and "a_w*ses" in src
    compile(src, "setup", "exec")                               # the setup cell is valid Python
    text = nbformat.writes(nb)
    assert text.count(PLOTLYJS_MARK) == 1
    out = report.save(tmp_path / "r.ipynb")
    assert nbformat.read(str(out), as_version=4).cells


def test_exporter_hides_code_and_keeps_report_cells(report):
    nb = report.to_notebook(data_code="None")
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("NOT IN THE REPORT"))
    body, _ = MsemReportExporter().from_notebook_node(nb)
    assert "NOT IN THE REPORT" not in body
    assert "ms.fit(" not in body                                # code is hidden
    assert "Parameter estimates" in body
    assert body.count(PLOTLYJS_MARK) == 1
    assert not re.search(r"<script[^>]+src=", body)             # no CDN: no require.js, MathJax
    assert "<img src=x" not in body


def test_exporter_fixes_plotly_mimetype_only_outputs():
    import json

    import plotly.graph_objects as go
    import plotly.io as pio
    fig = json.loads(pio.to_json(go.Figure(go.Bar(x=["a"], y=[1]))))
    v4 = nbformat.v4
    cell = v4.new_code_cell("fig", outputs=[
        v4.new_output("display_data", data={"application/vnd.plotly.v1+json": fig}),
        v4.new_output("display_data", data={"application/vnd.plotly.v1+json": fig})])
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# Untagged"), cell])
    out = prepare_report_notebook(nb)
    htmls = [o.data["text/html"] for o in out.cells[1].outputs]
    assert all("Plotly.newPlot" in h for h in htmls)
    assert PLOTLYJS_MARK in htmls[0] and PLOTLYJS_MARK not in htmls[1]
    assert out.cells[0].source == "# Untagged"                 # no tags: markdown is kept
    assert "text/html" not in nb.cells[1].outputs[0].data      # the input is not modified


def test_exporter_is_registered():
    from nbconvert.exporters import get_exporter
    assert get_exporter("msem_report") is MsemReportExporter


def test_single_level_report():
    hs = pd.read_csv(__import__("pathlib").Path(__file__).parent / "fixtures"
                     / "HolzingerSwineford1939.csv")
    res = ms.fit("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6", hs)
    rep = res.report()
    assert [s.key for s in rep.sections] == ["data", "model", "fit", "estimates", "diagram"]
    assert "Clusters" not in rep["data"].html
    names = [s.name for s in rep["diagram"].figure.layout.shapes]
    assert not any(n.startswith("panel:") for n in names)


def test_report_without_plotly(fit, monkeypatch):
    # plotly is optional: the report says how to get the diagram instead of failing
    import sys
    for mod in ("plotly", "plotly.io", "plotly.graph_objects", "plotly.offline"):
        monkeypatch.setitem(sys.modules, mod, None)
    rep = fit.report()
    assert rep["diagram"].figure is None
    html = rep.to_html()
    assert "needs plotly" in html and PLOTLYJS_MARK not in html
    assert "needs plotly" in rep.to_markdown()

