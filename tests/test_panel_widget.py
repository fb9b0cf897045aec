"""The panel's widgets without a browser: wiring, export, what reaches the front end."""

import inspect
import json

import numpy as np
import pytest

pytest.importorskip("anywidget")
pytest.importorskip("plotly")

import msem_nb as ms  # noqa: E402
from msem_nb.widget.screens import Screen  # noqa: E402
from msem_nb.widget.view import PanelView  # noqa: E402

BASE = "level: within\n  y1 ~ x1\nlevel: between\n  y1 ~ w1\n"


@pytest.fixture(scope="module")
def panel(demo):
    p = ms.Panel(demo, cluster="cluster", model=BASE, data_name="df")
    p.wait(60)
    yield p
    p.close()


def _widgets(w, seen=None):
    seen = set() if seen is None else seen
    if id(w) in seen:
        return []
    seen.add(id(w))
    out = [w]
    for child in getattr(w, "children", ()):
        out += _widgets(child, seen)
    return out


def _shape_names(view) -> list:
    return [s.get("name") for s in view.data().get("layout", {}).get("shapes", [])]


def _longest_sequence(obj) -> int:
    if isinstance(obj, dict):
        if "shape" in obj and "dtype" in obj:      # a typed array sent as a buffer
            return int(np.prod(obj["shape"]))
        return max([_longest_sequence(v) for v in obj.values()] + [0])
    if isinstance(obj, (list, tuple)):
        return max([len(obj)] + [_longest_sequence(v) for v in obj])
    if isinstance(obj, (bytes, memoryview)):
        return len(obj) // 8
    return 0


def test_no_trait_holds_per_row_data(panel, demo):
    widgets = _widgets(panel.widget)
    assert len(widgets) > 20
    n_clusters = demo["cluster"].nunique()
    total = 0
    for w in widgets:
        # _esm/_css are the front-end code (plotly.js for a FigureWidget), not data
        state = {k: v for k, v in w.get_state().items() if k not in ("_esm", "_css")}
        total += len(json.dumps(state, default=lambda o: f"<{len(bytes(o))} bytes>"))
        # summaries are per variable (11) or per variable pair; data rows
        # (2,500) or even clusters (200) would be longer
        assert _longest_sequence(state) < n_clusters, type(w).__name__
    assert total < 2_000_000


def test_grid_click_refits_and_redraws(panel):
    grid = panel._model.grid
    grid._dispatch(None, {"type": "toggle", "kind": "path", "level": "within",
                          "a": "y2", "b": "x1"}, [])
    assert "y2 ~ x1" in panel.syntax and "y2 ~~ y2" in panel.syntax
    assert ["y2", "x1"] in grid.spec["levels"][0]["paths"]
    fit = panel.wait(60)
    assert "y2 ~ x1" in fit.model
    assert "msem-stale" not in panel._model.diagram_box._dom_classes
    names = _shape_names(panel._model.diagram)
    assert "path:within:x1->y2" in names
    # the Results tables are made when the tab is opened
    panel.tabs.selected_index = panel.screens.index(panel._results)
    assert "y2 ~ x1" in panel._results.estimates.value
    panel.tabs.selected_index = panel.screens.index(panel._model)
    # undo through the scriptable surface
    assert panel.toggle_path("y2", "x1", "within") is False
    panel.toggle_covariance("y2", "y2", "between", on=False)
    assert panel.wait(60).model == panel.syntax


def test_random_slope_click_and_refusal(panel):
    grid = panel._model.grid
    grid._dispatch(None, {"type": "toggle", "kind": "slope", "level": "within",
                          "a": "y1", "b": "x1"}, [])
    assert "| y1 ~ x1" in panel.syntax
    panel.wait(60)
    names = _shape_names(panel._model.diagram)
    assert any(n.startswith("slope-dot:") for n in names)
    # w1 is in the between block: the click is refused with a message, not an exception
    grid._dispatch(None, {"type": "toggle", "kind": "slope", "level": "within",
                          "a": "y1", "b": "w1"}, [])
    assert panel.status.state == "warn" and "between" in panel.status.message
    panel.toggle_random_slope("y1", "x1", on=False)
    panel.wait(60)


def test_typed_syntax_updates_the_switches_and_errors_show(panel):
    box = panel._model.syntax
    box.value = "level: within\n  y1 ~ x1 + x2\nlevel: between\n  y1 ~ w1\n"
    panel.wait(60)
    assert ["y1", "x2"] in panel._model.grid.spec["levels"][0]["paths"]
    good = panel.result
    box.value = "level: within\n  y1 ~ x1 + x2 +\nlevel: between\n  y1 ~ w1\n"
    panel.wait(60)
    assert panel.status.state == "error" and "line" in panel.status.message
    assert panel.result is good
    assert "y1 ~ x1 + x2\n" in panel.export_code()        # the last model that parsed
    panel.syntax = BASE
    panel.wait(60)
    assert panel.status.state == "ok"


def test_latent_editor(panel):
    m = panel._model
    m.lat_level.value = "within"
    assert "y3" in m.lat_ind.options and "w1" not in m.lat_ind.options
    m.lat_name.value = "fw"
    m.lat_ind.value = ("y3", "y4", "y5")
    m.lat_add.click()
    assert "fw =~ y3 + y4 + y5" in panel.syntax
    assert {"name": "fw", "kind": "latent"} in panel._model.grid.spec["levels"][0]["vars"]
    m.lat_name.value = "x1"                     # a data column: refused with a message
    m.lat_add.click()
    assert "column of the data" in m.lat_msg.value
    assert m.lat_remove_dd.options[0][1] == ("fw", "within")
    m.lat_remove_dd.value = ("fw", "within")
    m.lat_remove.click()
    assert "fw" not in panel.syntax
    panel.syntax = BASE
    panel.wait(60)


def test_export_code_reproduces_the_fit(panel, demo):
    code = panel.export_code()
    assert "ms.fit(model, df, cluster='cluster')" in code
    ns = {"df": demo}
    exec(compile(code, "<export>", "exec"), ns)
    assert ns["fit"].loglik == pytest.approx(panel.result.loglik, abs=1e-8)
    # the Export tab shows the same code once opened
    panel.tabs.selected_index = panel.screens.index(panel._export)
    assert panel._export.code.value == code
    panel.tabs.selected_index = panel.screens.index(panel._model)


def test_export_buttons_send_messages(panel, monkeypatch):
    sent = []
    bridge = panel._export.bridge
    monkeypatch.setattr(bridge, "send", lambda msg, buffers=None: sent.append(msg))
    panel.insert_code_cell()
    panel.insert_report_cell()
    panel.download_report()
    kinds = [m["type"] for m in sent]
    assert kinds == ["insert_cell", "insert_cell", "download"]
    assert "ms.fit(" in sent[0]["cell"]["source"]
    html = sent[1]["cell"]["outputs"][0]["data"]["text/html"]
    assert "msem-report" in html and "* plotly.js v" in html
    assert sent[1]["cell"]["trusted"] is True
    assert sent[2]["filename"] == "msem_report.html" and sent[2]["mime"] == "text/html"
    # the browser's answer reaches the Export screen
    bridge._on_reply(None, {"type": "result", "request_id": sent[0]["request_id"], "ok": False,
                            "reason": "no <notebook>"}, [])
    assert "no &lt;notebook&gt;" in panel._export.status.value


def test_core_does_not_import_widgets():
    import subprocess
    import sys
    code = ("import sys, msem_nb; import msem_nb.api, msem_nb.results, msem_nb.inference.decompose; "
            "bad = [m for m in ('ipywidgets', 'anywidget', 'plotly') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_cluster_dropdown_switches_levels(panel, demo):
    chosen = panel._data.variables.value
    panel._data.cluster.value = None
    assert panel.syntax == "y1 ~ x1\n"
    assert panel.wait(60).nclusters is None
    # without a cluster column that column is an ordinary numeric variable again
    numeric = list(demo.select_dtypes("number").columns)
    assert list(panel._data.variables.options) == numeric
    assert panel._data.variables.value == chosen          # the choice survives
    panel._data.cluster.value = "cluster"
    # the cluster column is never offered as a variable
    assert "cluster" not in panel._data.variables.options
    assert list(panel._data.variables.options) == [c for c in numeric if c != "cluster"]
    assert panel.syntax.startswith("level: within")
    assert panel.wait(60).nclusters == 200


def test_the_panel_is_a_view_built_from_screens(panel):
    assert isinstance(panel, PanelView)
    for name in ("show_syntax", "show_grid", "show_status", "show_editor_error", "show_preview",
                 "show_fit", "show_results", "show_data", "show_decomposition"):
        want = list(inspect.signature(getattr(PanelView, name)).parameters)
        assert list(inspect.signature(getattr(type(panel), name)).parameters) == want, name
    assert all(isinstance(s, Screen) for s in panel.screens)
    titles = [panel.tabs.get_title(i) for i in range(len(panel.tabs.children))]
    assert titles == [s.title for s in panel.screens] == [
        "Data", "Decomposition", "Model", "Results", "Compare", "Plan", "Export"]
    assert list(panel.tabs.children) == [s.box for s in panel.screens]
    # opening a tab calls its screen's on_show: the Export tab writes the current code
    panel._export.code.value = ""
    panel.tabs.selected_index = panel.screens.index(panel._export)
    assert panel._export.code.value == panel.export_code()
    panel.tabs.selected_index = panel.screens.index(panel._model)
