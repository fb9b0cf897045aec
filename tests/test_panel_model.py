"""The panel's model builder: switches <-> syntax (msem_nb.widget.model, gridspec)."""

import pytest

from msem_nb import ModelSyntaxError, parse
from msem_nb.widget.gridspec import grid_spec, level_variables
from msem_nb.widget.model import ModelState, term_text

FULL = """\
level: within
  motw =~ mot1 + mot2 + mot3 + mot4
  motw ~ ses + hours
  s1 | math ~ hours
  math ~ a*motw + 0.5*x + start(2)*z
  math ~ 1
  y1 ~~ NA*y2 + y3
level: between
  motb =~ mot1 + mot2 + mot3 + mot4
  motb ~ class_climate + teacher_exp + b*ses
  s1 ~ class_climate
  s1 ~~ math
  math ~ motb
  ab := a*b
  a == 2*b
  a > 0
"""


def _statements(text):
    return sorted((s.level, s.lhs, s.op, tuple(s.rhs), s.slope,
                   s.expr.text if s.expr is not None else None) for s in parse(text).statements)


def test_round_trip_keeps_every_statement_and_modifier():
    out = ModelState.from_syntax(FULL).to_syntax()
    assert _statements(out) == _statements(FULL)
    assert ModelState.from_syntax(out).to_syntax() == out      # canonical form is a fixed point


def test_single_level_round_trip_and_empty_models():
    text = "f =~ y1 + y2 + y3\nf ~ x1\ny1 ~~ y2\n"
    assert ModelState.from_syntax(text).to_syntax() == text
    assert ModelState.from_syntax("").to_syntax() == ""
    assert ModelState.from_syntax("level: within\nlevel: between\n").levels == ("within", "between")


def test_term_text_modifiers():
    t = parse("y ~ a*start(0.3)*x + 1e-05*z + -2*w + NA*v").statements[0].rhs
    assert [term_text(x) for x in t] == ["a*start(0.3)*x", "1e-05*z", "-2*w", "NA*v"]


def test_toggles_rewrite_syntax_and_keep_labels():
    m = ModelState.from_syntax(FULL)
    assert m.toggle_path("math", "ses", "within") is True
    assert "math ~ a*motw + 0.5*x + start(2)*z + ses" in m.to_syntax()
    assert m.toggle_path("math", "ses", "within") is False
    assert m.toggle_covariance("y3", "y1", "within") is False        # either order
    assert m.toggle_covariance("y1", "y1", "between", on=True) is True
    assert m.to_syntax().count("y1 ~~ y1") == 1
    with pytest.raises(ValueError):
        m.toggle_path("math", "math", "within")
    with pytest.raises(ValueError):
        m.toggle_path("math", "ses", "middle")


def test_random_slope_replaces_and_restores_the_fixed_path():
    m = ModelState(("within", "between"))
    m.toggle_path("y1", "x1", "within")
    name = m.toggle_random_slope("y1", "x1", taken=["s1"])
    assert name == "s2"                                   # s1 is a data column
    assert not m.has_path("y1", "x1", "within") and m.slope_of("y1", "x1") == "s2"
    m.toggle_path("s2", "w1", "between")
    m.toggle_covariance("s2", "y1", "between")
    assert m.toggle_random_slope("y1", "x1") is None
    assert m.has_path("y1", "x1", "within")
    # the between statements about the slope went with it
    assert "s2" not in m.to_syntax()
    # switching the path off removes a slope as well
    m.toggle_random_slope("y1", "x1", on=True)
    assert m.toggle_path("y1", "x1", "within") is False
    assert m.slope_names() == []


def test_latent_variables_and_level_changes():
    m = ModelState(("within", "between"))
    m.set_latent("fw", ["y1", "y2", "y3"], "within")
    m.toggle_path("fw", "x1", "within")
    m.set_latent("fw", ["y1", "y2"], "within")
    assert "fw =~ y1 + y2\n" in m.to_syntax()
    with pytest.raises(ValueError):
        m.set_latent("fw", [], "within")
    single = m.with_levels(("",))
    assert single.to_syntax() == "fw =~ y1 + y2\nfw ~ x1\n"
    back = single.with_levels(("within", "between"))
    assert back.to_syntax().startswith("level: within\n  fw =~ y1 + y2")
    m.remove_latent("fw", "within")
    assert m.is_empty()


def test_syntax_errors_carry_line_and_column():
    with pytest.raises(ModelSyntaxError) as err:
        ModelState.from_syntax("level: within\n  y1 ~ x1 + \n  + \n")
    assert err.value.line >= 2 and err.value.col >= 1


def test_grid_spec_follows_roles_and_model():
    m = ModelState.from_syntax("level: within\n s1 | y1 ~ x1\n fw =~ y2 + y3\n"
                               "level: between\n y1 ~ w1\n s1 ~ w1\n")
    roles = {"y1": "both", "y2": "both", "y3": "both", "x1": "within-only",
             "w1": "between-only", "x3": "both"}
    spec = grid_spec(m, ["y1", "y2", "y3", "x1", "x3", "w1"], roles)
    within, between = spec["levels"]
    assert [v["name"] for v in within["vars"]] == ["y1", "y2", "y3", "x1", "x3", "fw"]
    assert [v["name"] for v in between["vars"]] == ["y1", "y2", "y3", "x3", "w1", "s1"]
    assert between["vars"][-1]["kind"] == "slope"
    assert within["slopes"] == [["y1", "x1", "s1"]]
    assert "x1" in within["slope_x"] and "w1" not in within["slope_x"]
    assert between["paths"] == [["y1", "w1"], ["s1", "w1"]]
    # a variable the model uses is offered even when its role says otherwise
    assert "x1" in [v["name"] for v in level_variables(
        ModelState.from_syntax("level: within\n y1 ~ 1\nlevel: between\n y1 ~ x1\n"),
        "between", ["y1"], {"x1": "within-only"})]


def _parsed_states():
    """States reached by reading syntax, by switches and by changing the levels."""
    yield ModelState.from_syntax(FULL)
    yield ModelState.from_syntax("f =~ y1 + y2 + y3\nf ~ x1 + b*x2\ny1 ~~ y2\ny1 ~ 1\n"
                                 "y2 ~ 0.25*1\nab := b^2\n")
    m = ModelState.from_syntax(FULL)
    m.toggle_path("math", "ses", "within")
    m.toggle_covariance("math", "ses", "between")
    m.toggle_random_slope("mot1", "hours")
    m.set_latent("fz", ["y1", "y2"], "between")
    yield m
    yield m.with_levels(("",))
    yield m.with_levels(("",)).with_levels(("within", "between"))


def test_state_is_the_parsed_form_of_its_syntax():
    # what a refit uses instead of parsing to_syntax() again
    for m in _parsed_states():
        text = m.to_syntax()
        parsed = m.to_parsed()
        assert parsed == parse(text)
        assert parsed.statements == parse(text).statements and parsed.source == text
        assert [s.level for s in parsed.statements] == [s.level for s in parse(text).statements]
        assert m.to_parsed(source="typed").source == "typed"


def test_levels_are_the_models_level_names():
    two = ModelState.from_syntax("level: 2\n  y1 ~ w1\nlevel: 1\n  y1 ~ x1\n")
    assert two.levels == ("within", "between") and two.multilevel
    assert (two.slope_level, two.cluster_level) == ("within", "between")
    assert two.has_path("y1", "x1", 1) and two.has_path("y1", "w1", "2")
    single = ModelState.from_syntax("y1 ~ x1\n")
    assert single.levels == ("",) and not single.multilevel
    assert (single.slope_level, single.cluster_level) == (None, None)
    assert single.has_path("y1", "x1", "within")          # the one level, by any name
    with pytest.raises(ValueError, match="single-level"):
        single.block("between")
    with pytest.raises(ValueError, match="'within' or 'between'"):
        two.block("middle")
    with pytest.raises(ValueError, match="level names"):
        ModelState(("within", "classroom"))


def test_a_level_the_panel_cannot_show_is_a_located_error():
    # the parser accepts any level label; the panel's grids have up to three levels
    # (issue 17: three-level models in the panel), a fourth is an error at its header line
    from msem_nb.syntax import ModelSyntaxError
    from msem_nb.widget.model import read_syntax
    state, _ = read_syntax("level: 1\n y ~ x\nlevel: 2\n y ~ w\nlevel: 3\n y ~ z")
    assert state.levels == ("within", "between", "3")
    with pytest.raises(ModelSyntaxError) as err:
        read_syntax("level: 1\n y ~ x\nlevel: 2\n y ~ w\nlevel: 3\n y ~ z\nlevel: 4\n y ~~ y")
    assert err.value.line == 7 and "four-level models are not supported" in str(err.value)
    with pytest.raises(ModelSyntaxError) as err:
        read_syntax("level: within\n y ~ x\nlevel: school\n y ~~ y")
    assert err.value.line == 3 and "level 'school'" in str(err.value)


def test_names_that_need_backticks_keep_them():
    # a column such as "math score" or "a<b>" is written in backticks, so the syntax box
    # (and the exported code) parses back to the same model
    text = ("level: within\n  `f 1` =~ `math score` + `a<b>` + y\n  `math score` ~ 0.5*`x-1`\n"
            "  `a<b>` ~~ `NA`\n  `math score` ~ 1\nlevel: between\n  `math score` ~~ `math score`\n")
    m = ModelState.from_syntax(text)
    out = m.to_syntax()
    assert out == text
    assert m.to_parsed() == parse(out)
    m.toggle_covariance("math score", "y", "within", on=True)
    assert "  `math score` ~~ y\n" in m.to_syntax()
    assert m.to_parsed() == parse(m.to_syntax())
