"""The panel's Compare screen without a browser: defaults, the worker, errors, escaping."""

import threading

import numpy as np
import pytest

pytest.importorskip("anywidget")
pytest.importorskip("plotly")

import msem_nb as ms
from msem_nb.errors import DataError
from msem_nb.teaching.approaches import APPROACHES
from msem_nb.widget.comparison import CompareRequest, default_pair, run_comparison
from msem_nb.widget.model import ModelState

BAD = "<img src=x onerror=alert(1)>"
BASE = "level: within\n  y1 ~ x1\nlevel: between\n  y1 ~ w1\n"


@pytest.fixture(scope="module")
def data(demo):
    df = demo.copy()
    df["k"] = 1.0                       # zero variance
    df[BAD] = df["x2"] + np.random.default_rng(1).normal(size=len(df))
    return df


@pytest.fixture(scope="module")
def panel(data):
    p = ms.Panel(data, cluster="cluster", model=BASE,
                 variables=["y1", "y2", "x1", "x2", "w1", "k", BAD])
    p.wait(60)
    yield p
    p.close()


def _html_values(w, out=None):
    out = [] if out is None else out
    if hasattr(w, "value") and isinstance(w.value, str) and type(w).__name__ == "HTML":
        out.append(w.value)
    for child in getattr(w, "children", ()):
        _html_values(child, out)
    return out


def test_default_pair_follows_the_model():
    v = ["y1", "y2", "x1", "x2"]
    assert default_pair(ModelState.from_syntax(BASE), v) == ("y1", "x1")
    # a path to a variable that is not offered is skipped; a random slope counts
    m = ModelState.from_syntax("level: within\n  fw =~ y3 + y4 + y5\n  y2 ~ fw\n"
                               "  s1 | y2 ~ x2\nlevel: between\n  y2 ~~ y2\n")
    assert default_pair(m, v) == ("y2", "x2")
    assert default_pair(ModelState.from_syntax("y2 ~ x1\n"), v) == ("y2", "x1")
    # without a path in the model any pair would be an arbitrary question: none is chosen
    assert default_pair(ModelState(), v) == (None, None)
    assert default_pair(ModelState(), ["y1"]) == (None, None)


def _compared(msg: str) -> bool:
    """A finished comparison: green, or amber with the fits' warnings after the summary."""
    if "data-state='ok'" in msg:
        return True
    return "data-state='warn'" in msg and "Compared in" in msg and msg.count(".") > 2


def test_selection_defaults_and_tab_opening_compares(panel):
    w = panel._cmp
    assert (w.y.value, w.x.value) == ("y1", "x1")
    assert [o[1] for o in w.y.options] == [None, "y1", "y2", "x1", "x2", "w1", "k", BAD]
    assert "y1" not in [o[1] for o in w.mediators.options]
    assert panel.comparison is None           # nothing runs until the tab is opened
    compare = panel.screens.index(panel._cmp)
    panel.tabs.selected_index = compare
    assert panel.tabs.get_title(compare) == "Compare"
    assert panel._cmp.wait(60)
    cmp = panel.comparison
    assert (cmp.y, cmp.x) == ("y1", "x1")
    # green, or amber when a fit raised a warning (improper-solution checks of the core)
    assert _compared(w.msg.value)
    # the table lists all six approaches, the notes explain each, the plot has them all
    for app in APPROACHES:
        assert f"<td colspan='6'>{app}</td>" in w.table.value
        assert f"<b>{app}</b>" in w.notes.value
    fig = w.figure.data()
    assert list(fig["layout"]["yaxis"]["ticktext"]).count(APPROACHES[5]) == 2
    assert len(fig["data"]) == 6
    # choosing x2 reruns on the worker; x2 is no longer offered as a mediator
    w.x.value = "x2"
    assert "x2" not in [o[1] for o in w.mediators.options]
    assert panel._cmp.wait(60) and panel.comparison.x == "x2"
    panel.tabs.selected_index = panel.screens.index(panel._model)


def test_scripted_compare_with_a_mediator(panel):
    cmp = panel.compare("y1", "x1", mediators=["y2"], wait=True)
    assert cmp is panel.comparison and cmp.mediators == ("y2",)
    assert set(cmp.table["effect"]) == {"indirect conflated", "indirect within",
                                        "indirect between"}
    w = panel._cmp
    assert (w.y.value, w.x.value, w.mediators.value) == ("y1", "x1", ("y2",))
    with pytest.raises(ValueError, match="unknown column"):
        panel.compare("y1", "nope")


def test_newer_request_supersedes_older(panel, monkeypatch):
    scr = panel._cmp
    started, release = threading.Event(), threading.Event()
    real = ms.compare_approaches

    def slow(df, cluster, y, x, mediators=None):
        if y == "y1":                       # the first request: still running
            started.set()
            assert release.wait(30)
        return real(df, cluster, y, x, mediators)

    shown = []
    orig_show = scr._show
    monkeypatch.setattr(scr, "_compare_fn", slow)
    monkeypatch.setattr(scr, "_show", lambda cmp, *a: (shown.append(cmp.y),
                                                       orig_show(cmp, *a)))
    panel.compare("y1", "x1")
    assert started.wait(30)
    panel.compare("y2", "x2")               # queued behind the running job
    assert "y2 on x2" in scr.msg.value and "running" in scr.msg.value
    release.set()
    assert scr.wait(60)
    assert shown == ["y2"]                  # the older result was never drawn
    assert panel.comparison.y == "y2"
    assert "y2 on x2" in scr.figure.data()["layout"]["title"]["text"]


def test_errors_show_in_the_panel_which_stays_usable(panel, monkeypatch):
    scr = panel._cmp
    with pytest.raises(DataError, match="zero variance"):
        panel.compare("y1", "k", wait=True)
    msg = scr.msg.value
    assert "data-state='error'" in msg and "&#x27;k&#x27; has the same value (1)" in msg
    assert panel.comparison is None and scr.table.value == "" and not scr.figure.data()
    # a crash inside the job is shown too, and the next request works
    monkeypatch.setattr(scr, "_compare_fn", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        panel.compare("y1", "x1", wait=True)
    assert "ZeroDivisionError" in scr.msg.value
    monkeypatch.undo()
    assert panel.compare("y1", "x1", wait=True).x == "x1"
    assert _compared(scr.msg.value)


def test_checks_before_fitting(data):
    for req, text in [(CompareRequest("y1", "x1", (), None), "needs a cluster column"),
                      (CompareRequest("y1", "y1", (), "cluster"), "different variables"),
                      (CompareRequest("y1", "x1", ("k",), "cluster"), "zero variance")]:
        with pytest.raises(DataError, match=text):
            run_comparison(data, req)


def test_names_are_escaped_everywhere(panel):
    cmp = panel.compare("y1", BAD, wait=True)
    # a name the syntax cannot spell is compared under an alias and given back
    assert cmp.x == BAD and cmp.question == f"y1 on {BAD}"
    assert np.isfinite(cmp.table["estimate"]).all()
    assert any(BAD in n for n in cmp.notes.values())
    esc = "&lt;img src=x onerror=alert(1)&gt;"
    html = _html_values(panel.widget)
    assert not any("<img" in h for h in html)
    scr = panel._cmp
    assert esc in scr.msg.value and esc in scr.table.value and esc in scr.notes.value
    fig = scr.figure.data()
    assert "<img" not in scr.figure.figure          # the JSON the page gets
    assert esc in fig["layout"]["title"]["text"]
    # as a mediator, and in an error message
    cmp = panel.compare("y1", "x1", mediators=[BAD], wait=True)
    assert "indirect within" in set(cmp.table["effect"])
    with pytest.raises(DataError):
        panel.compare(BAD, BAD, wait=True)
    assert not any("<img" in h for h in _html_values(panel.widget))
    assert esc in scr.msg.value
