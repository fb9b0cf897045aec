"""The panel's Plan screen without a browser: offered parameters, a study, stop, errors, code."""

import json

import pandas as pd
import pytest

pytest.importorskip("anywidget")
pytest.importorskip("plotly")

import msem_nb as ms
from msem_nb.planning.population import population_syntax
from msem_nb.widget.screens.plan import PlanScreen, offered_parameters

BASE = "level: within\n  y1 ~ x1\nlevel: between\n  y1 ~ w1\n"


@pytest.fixture(scope="module")
def panel(demo):
    p = ms.Panel(demo, cluster="cluster", model=BASE, variables=["y1", "x1", "w1"])
    p.wait(60)
    yield p
    p.close()


def test_the_fit_is_the_population_and_its_paths_are_offered_first(panel):
    fit = panel.result
    names, values = offered_parameters(fit)
    assert names[:2] == ["y1 ~ x1 [within]", "y1 ~ w1 [between]"]
    est = fit.estimates.set_index(["lhs", "op", "rhs", "level"])["est"]
    assert values["y1 ~ w1 [between]"] == pytest.approx(est[("y1", "~", "w1", "between")])
    pop = population_syntax(fit)
    # the population written from the fit has the fitted value of every row
    assert f"y1 ~ {est[('y1', '~', 'w1', 'between')]:.6g}*w1" in pop
    screen = panel._plan
    screen.on_show()
    assert screen.form.parameters == names
    assert screen.form.parameter == "y1 ~ x1 [within]"
    screen.form.parameter = "y1 ~ w1 [between]"
    assert screen.form.estimate == pytest.approx(values["y1 ~ w1 [between]"])


def test_a_study_runs_in_the_background_and_shows_curves_table_and_code(panel):
    panel.wait()
    panel._plan.update()
    plan = panel._plan.run("y1 ~ w1 [between]", effect=0.3, clusters="10,30", sizes="5",
                           reps=12, seed=4, wait=True)
    form = panel._plan.form
    assert form.state == "done" and form.done == form.total == 24
    tab = plan.table[plan.table["parameter"] == "y1 ~ w1 [between]"]
    assert tab["true"].tolist() == [0.3, 0.3]
    assert [r["n_clusters"] for r in form.rows] == [10, 30]
    assert [r["power"] for r in form.rows] == tab["power"].tolist()
    fig = json.loads(panel._plan.figure.figure)
    assert len(fig["data"]) == 1 and fig["data"][0]["name"].startswith("y1 ~ w1 [between]")
    assert "y1 ~ w1 [between]" in form.message
    # the exported code runs the same study
    ns: dict = {}
    exec(form.code.replace("seed=4)", "seed=4, progress=False)"), ns)
    pd.testing.assert_frame_equal(ns["plan"].table, plan.table, check_exact=True)


def test_bad_settings_are_said_on_the_screen(panel):
    screen = panel._plan
    with pytest.raises(ms.ModelSpecificationError, match="whole numbers"):
        screen.run("y1 ~ w1 [between]", clusters="ten, twenty", wait=True)
    assert screen.form.state == "error" and "whole numbers" in screen.form.message
    screen.form.clusters = "10,20"
    screen.form.effect = "big"
    with pytest.raises(ms.ModelSpecificationError, match="must be a number"):
        screen.run(wait=True)
    assert screen.form.state == "error"
    screen.form.effect = ""


def test_stop_ends_the_study(panel):
    screen = panel._plan
    screen.form.effect = ""
    screen.cancel()                      # a stop before the run is forgotten by run()
    screen.run("y1 ~ x1 [within]", clusters="50,100", sizes="10", reps=2000, seed=1)
    screen.cancel()
    assert screen.wait(120)
    assert screen.form.state == "cancelled"
    assert "Stopped" in screen.form.message and screen.plan is None


def test_insert_code_sends_the_study_to_the_notebook(panel):
    sent = []
    screen = PlanScreen(panel._ctl, sent.append)
    screen.update()
    screen._command("insert_code")       # nothing to insert yet
    assert sent == []
    screen.run("y1 ~ w1 [between]", clusters="10", sizes="4", reps=3, seed=2, wait=True)
    screen._command("insert_code")
    assert len(sent) == 1 and sent[0].startswith("import msem_nb as ms")
