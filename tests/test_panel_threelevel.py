"""The panel with two cluster columns (issue 17): rows in classes in schools.

Real panels on simulated three-level data: the Data tab's higher cluster column
(and ``ms.Panel(df, cluster=[class, school])``), nesting errors shown in the
panel, the three-level decomposition on the Decomposition tab, a three-level
model built with the switches (level 1/2/3 blocks) and fitted as ``ms.fit``
fits its text, three level sections on the Results tab, the diagram's three
panels, and what three-level fits do not have said on the screen.
"""

import re

import pytest

pytest.importorskip("anywidget")

import msem_nb as ms  # noqa: E402
from msem_nb.inference.decompose_threelevel import ThreeLevelDecomposition  # noqa: E402

CLUSTERS = ["class_id", "school_id"]

POPULATION = """
level: 1
  read =~ r1 + 0.8*r2 + 1.1*r3
  read ~ 0.5*ses
  r1 ~~ 0.4*r1
  r2 ~~ 0.4*r2
  r3 ~~ 0.4*r3
level: 2
  read_c =~ r1 + 0.8*r2 + 1.1*r3
  read_c ~ 0.3*climate
  read_c ~~ 0.3*read_c
  r1 ~~ 0.05*r1
  r2 ~~ 0.05*r2
  r3 ~~ 0.05*r3
level: 3
  read_s =~ r1 + 0.8*r2 + 1.1*r3
  read_s ~ 0.4*funding
  read_s ~~ 0.2*read_s
  r1 ~~ 0.02*r1
  r2 ~~ 0.02*r2
  r3 ~~ 0.02*r3
"""


def _text(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", "", html,
                                                             flags=re.S)))


@pytest.fixture(scope="module")
def schools():
    return ms.simulate(POPULATION, n_clusters=30, cluster_size=((6, 12), (4, 8)), seed=2024,
                       cluster=tuple(CLUSTERS))


@pytest.fixture(scope="module")
def panel(schools):
    p = ms.Panel(schools, cluster=CLUSTERS, data_name="schools")
    p.wait(120)
    yield p
    p.close()


def test_two_cluster_columns_open_a_three_level_panel(panel):
    assert panel.cluster == CLUSTERS
    assert panel.model.levels == ("within", "between", "3")
    assert "three-level SEM panel" in panel.header.value
    assert panel._data.higher.value == "school_id"
    offered = panel._data.variables.options
    assert "class_id" not in offered and "school_id" not in offered


def test_decomposition_tab_shows_the_three_level_decomposition(panel, schools):
    dec = panel.decomposition
    assert isinstance(dec, ThreeLevelDecomposition)
    assert dec.cluster == tuple(CLUSTERS)
    direct = ms.decompose(schools, cluster=CLUSTERS, variables=list(dec.names))
    text = _text(panel._dec.roles.value)
    assert "Three-level decomposition" in text
    for v in ("r1", "funding"):
        row = direct.table().loc[v]
        # the panel's row for v: shares at levels 1, 2, 3, the two ICCs, design effect, role
        expected = (f"{v} {row.level1:.3f} {row.level2:.3f} {row.level3:.3f} "
                    f"{direct.icc2[v]:.3f} {direct.icc3[v]:.3f} {row.design_effect:.2f} "
                    f"{row.role}")
        assert expected in text
    assert "level 3 only" in text          # funding is a school variable
    # the figures, once the tab is opened: stacked shares and three correlation heatmaps
    panel.tabs.selected_index = panel.screens.index(panel._dec)
    panel.wait(120)
    figures = panel._ctl.summaries.compute(panel._ctl.clusters, tuple(panel._ctl.variables),
                                           True)[1]
    assert [t.type for t in figures["icc"].data] == ["bar", "bar", "bar"]
    assert figures["icc"].layout.barmode == "stack"
    heat = [t for t in figures["corr"].data if t.type == "heatmap"]
    assert len(heat) == 3
    assert heat[2].z[0][1] == pytest.approx(dec.level3_corr.iloc[0, 1])
    # the Data tab's summary counts classes and schools
    data = _text(panel._data.summary.value)
    assert f"Clusters (J) {schools['class_id'].nunique():,}" in data
    assert f"Higher clusters (K) {schools['school_id'].nunique():,}" in data


def test_switches_build_and_fit_a_three_level_model(panel, schools):
    panel.syntax = ""
    panel.wait(60)
    assert panel.toggle_path("r1", "ses", "within") is True
    panel.wait(120)
    # r1 has parts at all three levels: its level-2 and level-3 variances come with the path
    assert panel.syntax == ("level: 1\n  r1 ~ ses\nlevel: 2\n  r1 ~~ r1\nlevel: 3\n"
                            "  r1 ~~ r1\n")
    panel.toggle_path("r1", "climate", "2")
    panel.toggle_path("r1", "funding", 3)
    panel.toggle_covariance("r1", "r2", "within")
    panel.wait(120)
    assert panel.status.state in ("ok", "warn"), panel.status.message
    fit = panel.result
    direct = ms.fit(panel.syntax, schools, cluster=CLUSTERS)
    assert fit.nlevels == 3 and fit.npar == direct.npar
    assert fit.loglik == pytest.approx(direct.loglik, abs=1e-6)
    # toggling back restores the text exactly
    before = panel.syntax
    panel.toggle_path("r1", "funding", 3)
    assert "funding" not in panel.syntax
    panel.toggle_path("r1", "funding", 3)
    assert panel.syntax == before
    panel.wait(120)


def test_latent_variables_at_each_level_and_loadings(panel, schools):
    panel.syntax = ""
    panel.wait(60)
    for name, level in (("read", "within"), ("read_c", "between"), ("read_s", "3")):
        panel.add_latent(name, ["r1", "r2", "r3"], level)
    panel.toggle_path("read_s", "funding", "3")
    panel.wait(180)
    assert "level: 3\n  read_s =~ r1 + r2 + r3\n  read_s ~ funding\n" in panel.syntax
    assert panel.status.state in ("ok", "warn"), panel.status.message
    direct = ms.fit(panel.syntax, schools, cluster=CLUSTERS)
    assert panel.result.loglik == pytest.approx(direct.loglik, abs=1e-5)
    assert panel._ctl.toggle_loading("read_s", "r3", "3", on=False) is False
    assert "read_s =~ r1 + r2\n" in panel.syntax
    panel._ctl.toggle_loading("read_s", "r3", "3", on=True)
    assert "read_s =~ r1 + r2 + r3\n" in panel.syntax
    panel.wait(180)


def test_results_have_three_level_sections_and_say_what_is_missing(panel):
    panel.syntax = ("level: 1\n  r1 ~ ses\nlevel: 2\n  r1 ~ climate\nlevel: 3\n"
                    "  r1 ~ funding\n")
    panel.tabs.selected_index = panel.screens.index(panel._results)
    panel.wait(120)
    parts = panel._ctl.results_parts()
    est = _text(parts["estimates"])
    assert est.index("Level: within") < est.index("Level: between") < est.index("Level: 3")
    line = _text(parts["line"])
    assert "higher clusters" in line and "SRMR within" in line and "level 3" in line
    assert "modification indices, residuals, level-specific fit" in line
    # the checks the Results screen runs say why they have nothing, in the library's words
    assert panel.checks.wait(60)
    assert "modification indices are not available for three-level models" in \
        str(panel.checks.spec)
    assert "residuals are not available for three-level models" in \
        _text(panel._results.residual_note.value)
    # the diagram has one panel per level
    fig = panel.result.diagram()
    names = [s.name for s in fig.layout.shapes]
    assert {"panel:within", "panel:between", "panel:3"} <= set(names)
    panel.tabs.selected_index = panel.screens.index(panel._model)


def test_the_plan_tab_says_three_level_studies_are_not_available(panel):
    panel._plan.update()
    panel._plan.run(reps=5, clusters="20", sizes="10")
    assert panel._plan.form.state == "error"
    assert "three-level models are not available" in panel._plan.form.message


def test_random_slopes_are_refused_in_the_panel(panel):
    with pytest.raises(ValueError, match="three-level"):
        panel.toggle_random_slope("r1", "ses", True)


def test_export_code_refits_the_three_level_model(panel, schools):
    panel.syntax = "level: 1\n  r1 ~ ses\nlevel: 2\n  r1 ~~ r1\nlevel: 3\n  r1 ~~ r1\n"
    panel.wait(120)
    code = panel.export_code(report=False)
    assert "cluster=['class_id', 'school_id']" in code
    env = {"schools": schools}
    exec(code, env)      # noqa: S102 - the code the panel exports
    assert env["fit"].loglik == pytest.approx(panel.result.loglik, abs=1e-8)
    # the report of the fit shown has its three level sections
    html = panel.report()._repr_html_()
    assert html.index("Level: within") < html.index("Level: between") < html.index("Level: 3")


def test_higher_cluster_chosen_on_the_data_tab(schools):
    p = ms.Panel(schools, cluster="class_id", model="level: within\n  r1 ~ ses\n"
                 "level: between\n  r1 ~~ r1\n")
    try:
        p.wait(120)
        assert p.model.levels == ("within", "between")
        assert "two-level SEM panel" in p.header.value
        p._data.higher.value = "school_id"          # what the dropdown does
        p.wait(120)
        assert p.cluster == CLUSTERS
        assert p.model.levels == ("within", "between", "3")
        assert "three-level SEM panel" in p.header.value
        # the within statements stay; r1 gets its level-2 and level-3 parts
        assert p.syntax == ("level: 1\n  r1 ~ ses\nlevel: 2\n  r1 ~~ r1\nlevel: 3\n"
                            "  r1 ~~ r1\n")
        assert isinstance(p.decomposition, ThreeLevelDecomposition)
        assert p.status.state in ("ok", "warn") and p.result.nlevels == 3
        # back to two levels
        p.set_higher_cluster(None)
        p.wait(120)
        assert p.cluster == "class_id" and p.model.levels == ("within", "between")
        assert p.result.nlevels == 2
        # no cluster column: no higher one either
        p.set_cluster(CLUSTERS)
        p.wait(120)
        assert p.cluster == CLUSTERS
        p.set_cluster(None)
        p.wait(120)
        assert p.cluster is None and p._ctl.higher is None
        assert p._data.higher.layout.display == "none"
    finally:
        p.close()


def test_a_class_in_two_schools_is_said_in_the_panel(schools):
    bad = schools.copy()
    first = bad["class_id"].iloc[0]
    rows = bad.index[bad["class_id"] == first]
    bad.loc[rows[0], "school_id"] = bad["school_id"].max() + 1     # one row of it elsewhere
    p = ms.Panel(bad, cluster="class_id")
    try:
        p.wait(120)
        p._data.higher.value = "school_id"
        message = _text(p._data.problem.value)
        assert "is in more than one school" in message and "Classes must be nested" in message
        assert p.status.state == "warn" and "more than one school" in p.status.message
        assert p.cluster == "class_id" and p._data.higher.value is None
        assert p.model.levels == ("within", "between")
    finally:
        p.close()
    # given at construction: the panel opens with two levels and says why
    p = ms.Panel(bad, cluster=CLUSTERS)
    try:
        p.wait(120)
        assert p.cluster == "class_id"
        assert "more than one school" in _text(p._data.problem.value)
    finally:
        p.close()


def test_names_reach_the_page_escaped(schools):
    odd = schools.rename(columns={"school_id": "sch<b>ool</b>", "r1": "r<i>1"})
    p = ms.Panel(odd, cluster=["class_id", "sch<b>ool</b>"])
    try:
        p.wait(120)
        assert "sch&lt;b&gt;ool&lt;/b&gt;" in p.header.value and "<b>ool" not in p.header.value
        roles = p._dec.roles.value
        assert "r&lt;i&gt;1" in roles and "<i>" not in roles
        assert "<b>ool" not in p._data.summary.value
    finally:
        p.close()



def test_the_latent_editor_names_three_levels_by_number(panel):
    panel.syntax = ""
    panel.wait(60)
    m = panel._model
    assert [v for _, v in m.lat_level.options] == ["within", "between", "3"]
    assert [lab for lab, _ in m.lat_level.options] == ["level 1", "level 2", "level 3"]
    assert "level: 3" in m.syntax.placeholder
    m.lat_level.value = "3"
    m.lat_name.value = "f3"
    m.lat_ind.value = ("r1", "r2", "r3")
    panel._on_latent_add(None)
    assert "level: 3\n  f3 =~ r1 + r2 + r3\n" in panel.syntax
    assert [lab for lab, _ in m.lat_remove_dd.options] == ["f3 (level 3)"]
    panel.wait(60)
    # an incomplete model (levels 1 and 2 empty) is the library's message, in the panel
    assert panel.status.state == "error" and "has no statements" in panel.status.message


def test_a_model_whose_levels_do_not_match_the_columns_says_where_to_fix_it(schools):
    p = ms.Panel(schools, cluster="class_id")
    try:
        p.wait(60)
        p.syntax = "level: 1\n  r1 ~ ses\nlevel: 2\n  r1 ~~ r1\nlevel: 3\n  r1 ~~ r1\n"
        p.wait(60)
        assert p.status.state == "error"
        assert "one cluster column ('class_id') was given" in p.status.message   # the library
        assert "choose the higher cluster column ('Nested in') on the Data tab" in \
            p.status.message
        p.set_higher_cluster("school_id")
        p.wait(120)
        assert p.status.state in ("ok", "warn") and p.result.nlevels == 3
        p.syntax = "level: within\n  r1 ~ ses\nlevel: between\n  r1 ~~ r1\n"
        p.wait(60)
        assert p.status.state == "error"
        assert "set 'Nested in' to none on the Data tab" in p.status.message
    finally:
        p.close()


def test_three_level_switches_are_undone_along_random_walks(panel):
    # the Switchboard's invariants (tests/test_panel_switches.py) at three levels: every toggle
    # is undone by its opposite, and switching everything back restores the starting text
    import itertools
    import random

    from msem_nb.widget.model import THREE_LEVELS, ModelState, read_syntax
    from msem_nb.widget.switches import Switchboard, switch_is_on

    roles = {r["variable"]: r["role"] for r in panel.decomposition.roles.to_dict("records")}
    assert roles["r1"] == "all three levels" and roles["funding"] == "level 3 only"
    names = ["r1", "r2", "ses", "climate", "funding"]
    start = ("level: 1\n  read =~ r1 + r2 + r3\n  read ~ ses\nlevel: 2\n  r1 ~ climate\n"
             "level: 3\n  r1 ~~ r1\n  r2 ~ funding\n")
    for seed in range(60):
        rng = random.Random(seed)
        model, _ = read_syntax(start if seed % 2 else "")
        if model.is_empty():
            model = ModelState(THREE_LEVELS)
        board = Switchboard(model, lambda: roles, list(panel._ctl.columns))
        switches = [(kind, lv, a, b) for lv in model.levels
                    for kind, pairs in (("path", itertools.permutations(names, 2)),
                                        ("cov", itertools.combinations_with_replacement(names,
                                                                                        2)))
                    for a, b in pairs]
        text0 = model.to_syntax()
        on0 = {k: switch_is_on(model, k) for k in switches}
        for _ in range(rng.randint(1, 25)):
            key = rng.choice(switches)
            was, text = switch_is_on(model, key), model.to_syntax()
            assert board.toggle(key, not was) is (not was)
            board.toggle(key, was)
            assert model.to_syntax() == text, (seed, key)
            board.toggle(rng.choice(switches), rng.choice([True, False, None]))
            if not model.is_empty():
                assert model.to_parsed() == ms.parse(model.to_syntax())
        for _ in range(500):
            differ = [k for k in switches if switch_is_on(model, k) != on0[k]]
            if not differ:
                break
            key = rng.choice(differ)
            board.toggle(key, on0[key])
        assert model.to_syntax() == text0, seed
