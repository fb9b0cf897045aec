"""The panel's state and rules without widgets (msem_nb.widget.controller, tables).

A recording view stands in for the widgets; fits are real (Demo.twolevel,
tens of milliseconds each) unless a test needs to control their timing.
"""

import inspect
import threading

import numpy as np
import pandas as pd
import pytest

import msem_nb as ms
import msem_nb.api as api_module
import msem_nb.syntax.parser as parser_module
import msem_nb.widget.fitjobs as fitjobs_module
import msem_nb.widget.model as model_module
from msem_nb.errors import DataError, NotIdentifiedError
from msem_nb.syntax import parse
from msem_nb.widget import tables
from msem_nb.widget.controller import PanelController
from msem_nb.widget.describe import describe_error
from msem_nb.widget.guess import default_variables, detect_cluster
from msem_nb.widget.view import PanelView

BASE = "level: within\n  y1 ~ x1\nlevel: between\n  y1 ~ w1\n"
VIEW_METHODS = ("show_syntax", "show_grid", "show_status", "show_editor_error", "show_preview",
                "show_fit", "show_results", "show_data", "show_decomposition")


class RecordingView:
    def __init__(self):
        self.calls = []
        self.syntax = None
        self.grid = None
        self.status = ("", "", "")
        self.fits = []
        self.results = None
        self.editor = (0, 0, "")
        self.previews = []

    def show_syntax(self, text):
        self.syntax = text

    def show_grid(self, spec):
        self.grid = spec

    def show_status(self, state, message, detail=""):
        self.status = (state, message, detail)
        self.calls.append(("status", state, message))

    def show_editor_error(self, line, col, message):
        self.editor = (line, col, message)

    def show_preview(self, figure, description):
        self.previews.append((figure, description))

    def show_fit(self, fit, figure, diagram_error):
        self.fits.append((fit, figure, diagram_error))

    def show_results(self, parts):
        self.results = parts

    def show_data(self, html):
        self.data_html = html

    def show_decomposition(self, dec, figures, roles_html, note):
        self.dec = (dec, figures, roles_html, note)


def _no_diagram(fit):
    return {"drawn": fit.model}


@pytest.fixture
def make(demo):
    made = []

    def build(model=BASE, **kw):
        view = RecordingView()
        kw.setdefault("diagram_fn", _no_diagram)
        results = kw.pop("results", True)
        ctl = PanelController(demo, kw.pop("cluster", "cluster"), model, view=view, **kw)
        # as if the Results tab were open: the tables follow every fit
        ctl.results_wanted = results
        ctl.start()
        made.append(ctl)
        return ctl, view
    yield build
    for c in made:
        c.close()


def test_detect_cluster_and_default_variables(demo):
    assert detect_cluster(demo) == "cluster"
    assert detect_cluster(ms.load_example("classrooms")) == "class_id"
    ratings = pd.DataFrame({"a": np.arange(100.0), "r": np.tile([1, 2, 3], 34)[:100]})
    assert detect_cluster(ratings) is None
    assert detect_cluster(demo.rename(columns={"cluster": "months"})) is None   # no name hint
    df = demo.assign(row_id=np.arange(len(demo)))
    assert "row_id" not in default_variables(df, "cluster")
    assert "cluster" not in default_variables(df, "cluster")


def test_first_fit_roles_and_status(make):
    ctl, view = make()
    assert ctl.wait(30)
    assert view.status[0] == "ok" and "Converged in" in view.status[1]
    assert ctl.result is not None and ctl.result.converged
    assert ctl.roles["x1"] == "within-only" and ctl.roles["w1"] == "between-only"
    assert view.fits[-1][1] == {"drawn": BASE}
    assert "y1 ~ x1" in view.results["estimates"]
    assert view.grid["levels"][1]["paths"] == [["y1", "w1"]]


def test_toggles_rewrite_syntax_and_typed_syntax_moves_toggles(make):
    ctl, view = make()
    ctl.toggle_path("y2", "x2", "within")
    # y2 has a between part: it gets its random-intercept variance with it
    assert "y2 ~ x2" in view.syntax and "y2 ~~ y2" in view.syntax
    ctl.toggle_covariance("y1", "y2", "within")
    assert "y1 ~~ y2" in view.syntax
    shown = view.syntax
    typed = "level: within\n  y1 ~ x1\n  y1 ~ x2\nlevel: between\n  y1 ~ w1 + w2\n"
    ctl.set_syntax(typed)
    assert view.grid["levels"][0]["paths"] == [["y1", "x1"], ["y1", "x2"]]
    assert view.grid["levels"][1]["paths"] == [["y1", "w1"], ["y1", "w2"]]
    # typing does not rewrite the box: the text stays as typed, not in canonical layout
    assert ctl.syntax == typed != ctl.model.to_syntax()
    assert view.syntax == shown
    assert ctl.wait(30)
    assert view.status[0] == "ok"
    assert ctl.result.model.count("w2") == 1


def test_broken_syntax_shows_line_and_column_and_keeps_last_good_state(make):
    ctl, view = make()
    assert ctl.wait(30)
    good, grid = ctl.result, view.grid
    ctl.set_syntax("level: within\n  y1 ~ x1 +\n  +\nlevel: between\n  y1 ~ w1\n")
    assert ctl.wait(30)
    state, message, detail = view.status
    assert state == "error"
    assert "Syntax error at line" in message and "column" in message
    assert "^" in detail
    assert ctl.result is good and view.grid == grid
    assert isinstance(ctl.error, ms.ModelSyntaxError)
    ctl.set_syntax(BASE + "  y1 ~~ y1\n")
    assert ctl.wait(30)
    assert view.status[0] == "ok" and ctl.error is None


def test_model_errors_are_shown_not_raised(make):
    ctl, view = make()
    ctl.set_syntax("level: within\n  y1 ~ nosuchvar\nlevel: between\n  y1 ~ w1\n")
    assert ctl.wait(30)
    assert view.status[0] == "error" and "nosuchvar" in view.status[1]
    ctl.set_syntax("level: within\n  y1 ~ x1\nlevel: between\n")
    assert ctl.wait(30)
    assert view.status[0] == "error" and "between" in view.status[1]


def test_unidentified_and_unconverged_models_are_reported(make):
    ctl, view = make()
    ctl.set_syntax("level: within\n  f =~ y1 + y2\nlevel: between\n  y1 ~~ y1\n")
    assert ctl.wait(30)
    assert view.status[0] == "error" and view.status[1].startswith("Model not identified")
    assert isinstance(ctl.error, NotIdentifiedError)
    ctl._fit_fn = lambda model, data, **kw: ms.fit(model, data, control={"maxiter": 1}, **kw)
    ctl.set_syntax(BASE.replace("x1", "x1 + x2"))
    assert ctl.wait(30)
    state, message, detail = view.status
    assert state == "warn" and "Did NOT converge" in message
    assert "did not converge" in detail            # the core's warning, caught
    assert ctl.result is not None and not ctl.result.converged


def test_a_newer_change_supersedes_a_slow_fit(demo):
    gate = threading.Event()
    entered = threading.Event()

    def fit_fn(model, data, **kw):
        if "x2" in model:           # the first, slow fit
            entered.set()
            gate.wait(10)
        return ms.fit(model, data, **kw)

    view = RecordingView()
    ctl = PanelController(demo, "cluster", BASE.replace("x1", "x2"), view=view,
                          fit_fn=fit_fn, diagram_fn=_no_diagram, debounce=0.0)
    try:
        ctl.start()
        assert entered.wait(10)
        ctl.set_syntax(BASE, immediate=True)
        assert view.status[0] == "fitting"
        gate.set()
        assert ctl.wait(30)
        assert [f.model for f, _, _ in view.fits] == [BASE]       # the stale fit never showed
        assert ctl.result.model == BASE
    finally:
        ctl.close()


def test_a_failing_diagram_leaves_the_results(make):
    def broken(fit):
        raise RuntimeError("no <diagram> today")
    ctl, view = make(diagram_fn=broken)
    assert ctl.wait(30)
    fit, figure, err = view.fits[-1]
    assert figure is None and "no <diagram> today" in err
    assert view.status[0] == "ok" and "y1 ~ x1" in view.results["estimates"]


def test_random_slope_rules(make):
    ctl, view = make()
    assert ctl.toggle_random_slope("y1", "x1") == "s1"
    assert "s1 | y1 ~ x1" in view.syntax
    with pytest.raises(ValueError, match="between block"):
        ctl.toggle_random_slope("y1", "w1")
    with pytest.raises(ValueError, match="unknown variable"):
        ctl.toggle_path("y1", "nope", "within")
    assert ctl.wait(30)
    assert view.status[0] in ("ok", "warn")
    assert "s1" in [v["name"] for v in view.grid["levels"][1]["vars"]]


def test_cluster_change_switches_levels(make):
    ctl, view = make()
    ctl.set_cluster(None)
    assert view.syntax == "y1 ~ x1\n"
    assert [lv["level"] for lv in view.grid["levels"]] == [""]
    assert ctl.wait(30)
    assert view.status[0] == "ok" and ctl.result.nclusters is None
    ctl.set_cluster("cluster")
    assert view.syntax.startswith("level: within\n  y1 ~ x1")
    assert ctl.wait(30)
    assert view.dec[0] is not None
    # once the roles are known, the outcome gets its random intercept and the model fits
    assert "level: between\n  y1 ~~ y1" in view.syntax
    assert view.status[0] == "ok" and ctl.result.nclusters == 200


def test_variable_choice_changes_the_grid_not_the_model(make):
    ctl, view = make()
    ctl.set_variables(["y2", "x2", "w2"])
    assert ctl.wait(30)
    within = [v["name"] for v in view.grid["levels"][0]["vars"]]
    between = [v["name"] for v in view.grid["levels"][1]["vars"]]
    # chosen variables by their roles, plus what the model already uses
    assert within == ["y2", "x2", "y1", "x1"] and between == ["y2", "w2", "y1", "w1"]
    assert view.syntax == ctl.syntax == BASE
    assert list(view.dec[0].names) == ["y2", "x2", "w2"]


def test_views_satisfy_the_panel_view_protocol():
    assert isinstance(RecordingView(), PanelView)
    assert not isinstance(object(), PanelView)
    # the recorder takes the protocol's arguments by the same names
    for name in VIEW_METHODS:
        want = list(inspect.signature(getattr(PanelView, name)).parameters)
        assert list(inspect.signature(getattr(RecordingView, name)).parameters) == want, name


def test_refits_go_from_the_parsed_model_without_parsing(make, demo, monkeypatch):
    ctl, view = make()
    assert ctl.wait(30)
    calls = []

    def counting(text):
        calls.append(text)
        return parse(text)
    for module in (parser_module, model_module, fitjobs_module, api_module):
        monkeypatch.setattr(module, "parse", counting)
    refitter = ctl._refitter
    prepared = refitter.prepared
    assert ctl.toggle_path("y1", "x2", "within") is True
    assert ctl.wait(30) and view.status[0] == "ok"
    assert refitter.prepared == prepared + 1            # a new variable: prepared again
    ctl.set_options(estimator="MLR")
    assert ctl.wait(30) and ctl.result.estimator == "MLR"
    ctl.toggle_path("y1", "x2", "within")
    assert ctl.wait(30)
    assert refitter.prepared == prepared + 1            # same roles: the prepared data reused
    assert refitter.reused >= 2
    assert calls == []                                  # no text was parsed to refit
    monkeypatch.undo()
    # the refit is exactly the fit of the text in the box (the panel's refits leave out
    # the level-specific fit: two more fits per refit, msem_nb.widget.refit)
    ref = ms.fit(ctl.syntax, demo, cluster="cluster", estimator="MLR", level_fit=False)
    assert "chisq_within" not in ctl.result.fit_measures
    assert ctl.result.model == ctl.syntax
    assert ctl.result.loglik == ref.loglik
    pd.testing.assert_frame_equal(ctl.result.estimates, ref.estimates)
    pd.testing.assert_series_equal(pd.Series(ctl.result.fit_measures, dtype=object),
                                   pd.Series(ref.fit_measures, dtype=object))


def test_reused_data_keep_their_messages(demo):
    df = demo.copy()
    df.loc[:9, "x1"] = np.nan
    view = RecordingView()
    ctl = PanelController(df, "cluster", BASE, view=view, diagram_fn=_no_diagram)
    try:
        ctl.start()
        assert ctl.wait(30) and "10 of 2500 rows" in view.status[2]
        first = ctl.result.messages
        ctl.set_options(estimator="MLR")
        assert ctl.wait(30) and ctl._refitter.reused == 1
        assert "10 of 2500 rows" in view.status[2]
        assert ctl.result.messages == first
        assert ctl.result.messages == ms.fit(BASE, df, cluster="cluster", estimator="MLR",
                                             quiet=True).messages
    finally:
        ctl.close()


def test_level_headers_alone_are_reported_not_fitted(make):
    ctl, view = make()
    ctl.set_syntax("level: within\nlevel: between\n")
    assert ctl.wait(30)
    assert view.status[0] == "error" and "no statements" in view.status[1]


def test_describe_error_kinds():
    assert describe_error(NotIdentifiedError("too many"))[0].startswith("Model not identified")
    assert describe_error(DataError("bad"))[0].startswith("Problem with the data")
    msg, detail = describe_error(KeyError("k"))
    assert "Unexpected error (KeyError)" in msg and "KeyError" in detail


EVIL = "<img src=x onerror=alert(1)>"


def test_tables_escape_user_strings(demo):
    df = demo.rename(columns={"y1": "y1" + EVIL})
    dec = ms.decompose(df, "cluster", ["y1" + EVIL, "y2", "x1"])
    for html in (tables.roles_html(dec),
                 tables.data_summary_html(len(df), EVIL, ["y1" + EVIL], dec.cluster_sizes,
                                          dec.missingness),
                 tables.note_html(EVIL)):
        assert "<img" not in html and "&lt;img" in html
    fit = ms.fit(BASE, demo, cluster="cluster")
    fm = dict(fit.fit_measures, note=EVIL)
    assert "<img" not in tables.fit_measures_html(fit, fm, error=EVIL)
    eff = pd.DataFrame([{"level": EVIL, "path": "a -> b", "est": 1.0, "se": 0.1, "pvalue": 0.5,
                         "ci_lower": 0.8, "ci_upper": 1.2}])
    assert "<img" not in tables.indirect_html(eff)


def test_two_cluster_columns_are_three_levels_and_three_are_refused(demo):
    # issue 17: the panel builds three-level models; more than two cluster columns is no model
    from msem_nb.errors import ModelSpecificationError
    demo = demo.assign(school=demo["cluster"] % 10)
    with pytest.raises(ModelSpecificationError, match="one or two cluster columns"):
        PanelController(demo, ["cluster", "school", "x1"], BASE, view=RecordingView(),
                        diagram_fn=_no_diagram)
    ctl = PanelController(demo, ["cluster", "school"], view=RecordingView(),
                          diagram_fn=_no_diagram)
    assert ctl.clusters == ("cluster", "school") and "school" not in ctl.variables
    assert ctl.model.levels == ("within", "between", "3")
    ctl.close()
    # a list of one column is that column
    ctl = PanelController(demo, ["cluster"], BASE, view=RecordingView(), diagram_fn=_no_diagram)
    assert ctl.cluster == "cluster"
    ctl.close()
