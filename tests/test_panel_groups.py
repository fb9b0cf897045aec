"""The panel with a group column (Data tab "Groups"): the model in every group, the
Results tab per group, the measurement-invariance table, and the export code."""

import re

import pytest

pytest.importorskip("anywidget")

import msem_nb as ms  # noqa: E402

MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6"


def _text(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", "", html,
                                                             flags=re.S)))


@pytest.fixture(scope="module")
def panel(hs):
    p = ms.Panel(hs, model=MODEL, single_level=True, data_name="hs")
    p.wait(60)
    p.tabs.selected_index = p.screens.index(p._results)
    p.set_group("school")
    assert p.wait(120)
    yield p
    p.close()


def test_group_dropdown_offers_columns_with_few_values(panel, hs):
    offered = [v for _, v in panel._data.group.options]
    assert offered[0] is None and "school" in offered
    assert "x1" not in offered and "id" not in offered


def test_the_fit_is_the_multigroup_fit(panel, hs):
    assert panel.group == "school"
    fit = panel.result
    direct = ms.fit(MODEL, hs, group="school")
    assert fit.group == "school" and fit.npar == direct.npar
    assert fit.loglik == pytest.approx(direct.loglik, abs=1e-8)


def test_results_show_a_section_per_group_and_the_invariance_steps(panel, hs):
    est = _text(panel._results.estimates.value)
    assert est.index("Group 1 [Pasteur]") < est.index("Group 2 [Grant-White]")
    assert panel._results.invariance_box.layout.display != "none"
    table = _text(panel._results.invariance.value)
    ref = ms.invariance(MODEL, hs, group="school").table
    for step in ("configural", "metric", "scalar", "strict"):
        assert step in table
    # the metric step's chi-square difference, as ms.invariance gives it
    assert f"{ref.loc['metric', 'delta_chisq']:.3f}" in table


def test_export_code_refits_the_groups(panel, hs):
    code = panel.export_code(report=False)
    assert "group='school'" in code
    env = {"hs": hs}
    exec(code, env)     # noqa: S102 - the panel's own code, run as the user would
    assert env["fit"].loglik == pytest.approx(panel.result.loglik, abs=1e-8)


def test_a_column_that_cannot_hold_groups_is_refused(demo):
    p = ms.Panel(demo.copy(), cluster="cluster", model="level: within\n y1 ~ x1\nlevel: between\n"
                 " y1 ~ w1", data_name="demo")
    try:
        p.wait(60)
        data = p._ctl.data
        data["half"] = (data.index % 2).astype(str)      # rows of a cluster in both halves
        p._data.group.options = list(p._data.group.options) + [("half", "half")]
        p.set_group("half")
        p.wait(60)
        assert p.group is None
        assert "inside one group" in _text(p._data.problem.value)
        assert p.result.group is None
    finally:
        p.close()
