"""Tests for msem_nb.syntax: tokenizer, statement parser and expressions."""

import math
import pickle

import pytest

from msem_nb.syntax import (
    EOF,
    NAME,
    NEWLINE,
    NUMBER,
    OP,
    Expression,
    ModelSyntaxError,
    ParsedModel,
    Statement,
    Term,
    Token,
    parse,
    tokenize,
)


def only(text):
    """Parse text that must give exactly one statement."""
    (st,) = parse(text).statements
    return st


def summary(model):
    return [(s.lhs, s.op, tuple(t.name for t in s.rhs)) for s in model.statements]


def syntax_error(text):
    with pytest.raises(ModelSyntaxError) as info:
        parse(text)
    return info.value


def assert_caret(err, line, col, token=None):
    """Check position attributes and that the caret sits under column `col`."""
    assert (err.line, err.col) == (line, col), str(err)
    rendered = str(err).split("\n")
    assert len(rendered) == 3
    header, shown, carets = rendered
    assert header.endswith(f"at line {line}, column {col}:")
    assert shown == "    " + err.source_line
    assert carets.index("^") == 4 + col - 1
    if token is not None:
        assert err.source_line[col - 1 : col - 1 + len(token)] == token
        assert carets.strip() == "^" * len(token)


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------


class TestTokenize:
    def test_kinds_values_and_positions(self):
        toks = tokenize("f =~ y1 + 0.5*x.1\n  y ~~ 1e-3*z")
        assert toks == [
            Token(NAME, "f", 1, 1),
            Token(OP, "=~", 1, 3),
            Token(NAME, "y1", 1, 6),
            Token(OP, "+", 1, 9),
            Token(NUMBER, "0.5", 1, 11),
            Token(OP, "*", 1, 14),
            Token(NAME, "x.1", 1, 15),
            Token(NEWLINE, "\n", 1, 18),
            Token(NAME, "y", 2, 3),
            Token(OP, "~~", 2, 5),
            Token(NUMBER, "1e-3", 2, 8),
            Token(OP, "*", 2, 12),
            Token(NAME, "z", 2, 13),
            Token(EOF, "", 2, 14),
        ]

    def test_longest_operator_wins(self):
        values = [t.value for t in tokenize("a=~b~~c:=d==e**f~g<h>i|j^k") if t.kind == OP]
        assert values == ["=~", "~~", ":=", "==", "**", "~", "<", ">", "|", "^"]

    def test_spaced_tildes_are_two_operators(self):
        values = [t.value for t in tokenize("y ~ ~ x") if t.kind == OP]
        assert values == ["~", "~"]

    def test_comments_are_dropped(self):
        toks = tokenize("y ~ x # a comment ~ =~\nz ~ w ! another one")
        assert [t.value for t in toks if t.kind in (NAME, OP)] == ["y", "~", "x", "z", "~", "w"]

    def test_level_colon_is_separate_from_define(self):
        assert [t.value for t in tokenize("level:1")][:3] == ["level", ":", "1"]
        assert [t.value for t in tokenize("ab:=a")][:3] == ["ab", ":=", "a"]

    def test_crlf_line_endings(self):
        toks = tokenize("a ~ b\r\nc ~ d")
        assert [(t.value, t.line, t.col) for t in toks if t.kind == NAME] == [
            ("a", 1, 1), ("b", 1, 5), ("c", 2, 1), ("d", 2, 5),
        ]

    def test_numbers(self):
        nums = [t.value for t in tokenize("1 2.5 .5 1e3 1E-3 2.e+1") if t.kind == NUMBER]
        assert nums == ["1", "2.5", ".5", "1e3", "1E-3", "2.e+1"]

    def test_dotted_and_underscore_names(self):
        names = [t.value for t in tokenize("x.1 _a .hidden a_b.c") if t.kind == NAME]
        assert names == ["x.1", "_a", ".hidden", "a_b.c"]

    def test_unknown_character(self):
        with pytest.raises(ModelSyntaxError) as info:
            tokenize("y1 ~ x1 @ x2")
        assert_caret(info.value, 1, 9, "@")
        assert "'@'" in info.value.msg

    def test_name_starting_with_digit(self):
        with pytest.raises(ModelSyntaxError) as info:
            tokenize("y ~ 2x")
        assert_caret(info.value, 1, 5, "2x")

    @pytest.mark.parametrize("op", ["<=", ">="])
    def test_unsupported_comparison(self, op):
        with pytest.raises(ModelSyntaxError) as info:
            tokenize(f"a {op} 0")
        assert_caret(info.value, 1, 3, op)

    def test_lone_equals_suggests_operators(self):
        with pytest.raises(ModelSyntaxError) as info:
            tokenize("ab = a*b")
        assert_caret(info.value, 1, 4, "=")
        assert ":=" in info.value.msg and "=~" in info.value.msg

    def test_end_col(self):
        assert Token(OP, "=~", 1, 3).end_col == 5


# ---------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------


class TestOperators:
    def test_loadings(self):
        st = only("f =~ y1 + y2 + y3")
        assert (st.lhs, st.op, st.level) == ("f", "=~", None)
        assert st.rhs == (Term("y1"), Term("y2"), Term("y3"))
        assert (st.line, st.col) == (1, 1)
        assert [(t.line, t.col) for t in st.rhs] == [(1, 6), (1, 11), (1, 16)]

    def test_regression(self):
        st = only("y ~ x1 + x2")
        assert (st.lhs, st.op) == ("y", "~")
        assert st.rhs == (Term("x1"), Term("x2"))

    def test_covariance_and_variance(self):
        m = parse("y1 ~~ y2\ny1 ~~ y1")
        assert summary(m) == [("y1", "~~", ("y2",)), ("y1", "~~", ("y1",))]

    def test_intercept(self):
        st = only("y ~ 1")
        assert st.op == "~1"
        assert st.rhs == (Term("1"),)

    def test_fixed_intercept(self):
        st = only("y ~ 0*1")
        assert st.op == "~1"
        assert st.rhs == (Term("1", fixed=0.0),)

    def test_labelled_intercept(self):
        st = only("y ~ a*1")
        assert st.op == "~1" and st.rhs[0].label == "a"

    def test_regression_with_intercept_splits(self):
        m = parse("y ~ 1 + x")
        assert summary(m) == [("y", "~1", ("1",)), ("y", "~", ("x",))]

    def test_intercept_after_regressors_keeps_order(self):
        m = parse("y ~ x1 + 1 + x2")
        assert summary(m) == [("y", "~", ("x1", "x2")), ("y", "~1", ("1",))]

    def test_one_is_a_modifier_before_star(self):
        st = only("f =~ 1*y1")
        assert st.rhs == (Term("y1", fixed=1.0),)

    def test_define(self):
        st = only("ab := a*b")
        assert (st.lhs, st.op, st.rhs) == ("ab", ":=", ())
        assert st.expr == Expression("a*b", ("a", "b"))
        assert (st.expr.line, st.expr.col) == (1, 7)
        assert st.lhs_expr is None

    @pytest.mark.parametrize("op", ["==", "<", ">"])
    def test_constraints(self, op):
        st = only(f"a {op} b")
        assert (st.lhs, st.op, st.rhs) == ("a", op, ())
        assert st.lhs_expr == Expression("a", ("a",))
        assert st.expr == Expression("b", ("b",))

    def test_constraint_with_expressions_on_both_sides(self):
        st = only("2*a == b + c")
        assert st.op == "=="
        assert st.lhs == "2*a"
        assert st.lhs_expr.names == ("a",)
        assert st.expr.text == "b + c"
        assert st.expr.names == ("b", "c")
        assert st.lhs_expr.evaluate({"a": 3}) == 6.0
        assert (st.line, st.col) == (1, 1)

    def test_constraint_against_number(self):
        st = only("a > 0")
        assert st.expr.names == () and st.expr.evaluate({}) == 0.0

    def test_random_slope(self):
        st = only("s1 | y ~ x")
        assert st == Statement("y", "|~", (Term("x"),), None, 0, 0, slope="s1")
        assert (st.line, st.col) == (1, 1)
        assert (st.rhs[0].line, st.rhs[0].col) == (1, 10)


# ---------------------------------------------------------------------------
# Modifiers
# ---------------------------------------------------------------------------


class TestModifiers:
    def test_label(self):
        assert only("y ~ a*x").rhs == (Term("x", label="a"),)

    @pytest.mark.parametrize(
        "text, value",
        [("0.5*x", 0.5), ("-0.5*x", -0.5), ("1e-3*x", 1e-3), ("+2*x", 2.0), ("0*x", 0.0)],
    )
    def test_fixed(self, text, value):
        (term,) = only(f"f =~ {text}").rhs
        assert term.fixed == value and not term.free and term.label is None

    def test_na_frees(self):
        (term,) = only("f =~ NA*y1").rhs
        assert term.free is True and term.fixed is None

    def test_start(self):
        assert only("f =~ start(0.3)*y1").rhs == (Term("y1", start=0.3),)
        assert only("f =~ start(-2)*y1").rhs == (Term("y1", start=-2.0),)

    @pytest.mark.parametrize(
        "text",
        ["NA*a*x", "a*NA*x"],
    )
    def test_na_with_label(self, text):
        assert only(f"f =~ {text}").rhs == (Term("x", free=True, label="a"),)

    @pytest.mark.parametrize("text", ["a*start(1)*x", "start(1)*a*x"])
    def test_label_with_start(self, text):
        assert only(f"f =~ {text}").rhs == (Term("x", label="a", start=1.0),)

    def test_label_with_fixed(self):
        assert only("f =~ a*0.5*x").rhs == (Term("x", fixed=0.5, label="a"),)

    def test_identical_duplicate_is_accepted(self):
        assert only("f =~ a*a*x").rhs == (Term("x", label="a"),)

    def test_mixed_terms_keep_order_and_positions(self):
        st = only("f =~ NA*y1 + 1*y2 + lam3*y3")
        assert st.rhs == (
            Term("y1", free=True),
            Term("y2", fixed=1.0),
            Term("y3", label="lam3"),
        )
        # A term's position is that of its variable, not of its modifiers.
        assert [t.col for t in st.rhs] == [9, 16, 26]

    @pytest.mark.parametrize(
        "text, col, token",
        [
            ("f =~ 0.5*0.3*x", 10, "0.3"),
            ("f =~ a*b*x", 8, "b"),
            ("f =~ start(1)*start(2)*x", 15, "start"),
            ("f =~ NA*0.5*x", 9, "0.5"),
            ("f =~ 0.5*NA*x", 10, "NA"),
        ],
    )
    def test_conflicting_modifiers(self, text, col, token):
        assert_caret(syntax_error(text), 1, col, token)

    def test_group_modifier_values_per_group(self):
        # c(...) gives one modifier per group (multigroup fits, msem_nb.model.groups)
        t = parse("f =~ c(a, b)*y1 + c(1, NA)*y2 + c(-0.5, x)*NA*y3").statements[0].rhs
        assert t[0].groups == ((None, False, "a"), (None, False, "b"))
        assert t[1].groups == ((1.0, False, None), (None, True, None))
        assert t[2].groups == ((-0.5, False, None), (None, False, "x")) and t[2].free

    def test_group_modifier_errors_point_at_the_token(self):
        assert_caret(syntax_error("f =~ c(a, )*y1"), 1, 11, ")")
        assert_caret(syntax_error("f =~ c(a b)*y1"), 1, 10, "b")
        err = syntax_error("f =~ c(a, b)*c(1, 2, 3)*y1")
        assert_caret(err, 1, 14, "c")
        assert "one value per group" in err.msg

    def test_other_function_modifier_rejected(self):
        err = syntax_error("f =~ equal(a)*y1")
        assert_caret(err, 1, 6, "equal")
        assert "not supported" in err.msg

    def test_start_needs_number(self):
        assert_caret(syntax_error("f =~ start(a)*y1"), 1, 12, "a")

    def test_modifier_without_variable(self):
        err = syntax_error("f =~ 0.5*")
        assert_caret(err, 1, 9, "*")
        assert "expected a variable name after '*'" in err.msg

    def test_number_alone_is_not_a_variable(self):
        err = syntax_error("f =~ 0.5")
        assert_caret(err, 1, 6, "0.5")

    def test_two_only_valid_as_modifier(self):
        assert_caret(syntax_error("y ~ 2"), 1, 5, "2")

    def test_negative_one_is_not_an_intercept(self):
        assert_caret(syntax_error("y ~ -1"), 1, 5, "-1")

    def test_intercept_only_for_regression(self):
        assert_caret(syntax_error("y ~~ 1"), 1, 6, "1")
        assert_caret(syntax_error("f =~ 1"), 1, 6, "1")

    def test_na_needs_variable(self):
        assert_caret(syntax_error("f =~ NA"), 1, 6, "NA")


# ---------------------------------------------------------------------------
# Expansion, separators, continuation, comments
# ---------------------------------------------------------------------------


class TestStatements:
    def test_multi_lhs_expansion(self):
        m = parse("y1 + y2 ~ a*x + z")
        assert summary(m) == [("y1", "~", ("x", "z")), ("y2", "~", ("x", "z"))]
        assert m.statements[0].rhs == m.statements[1].rhs
        assert [(s.line, s.col) for s in m.statements] == [(1, 1), (1, 6)]

    def test_multi_lhs_for_covariances_and_loadings(self):
        assert summary(parse("a + b ~~ c")) == [("a", "~~", ("c",)), ("b", "~~", ("c",))]
        assert summary(parse("f1 + f2 =~ y")) == [("f1", "=~", ("y",)), ("f2", "=~", ("y",))]

    def test_multi_lhs_with_intercept(self):
        assert summary(parse("y1 + y2 ~ 1 + x")) == [
            ("y1", "~1", ("1",)),
            ("y1", "~", ("x",)),
            ("y2", "~1", ("1",)),
            ("y2", "~", ("x",)),
        ]

    def test_semicolons(self):
        m = parse("f =~ y1 + y2; y1 ~~ y2 ;x ~ 1;")
        assert summary(m) == [("f", "=~", ("y1", "y2")), ("y1", "~~", ("y2",)), ("x", "~1", ("1",))]
        assert [(s.line, s.col) for s in m.statements] == [(1, 1), (1, 15), (1, 25)]

    def test_empty_statements_between_semicolons(self):
        assert len(parse(";; y ~ x ;;\n;").statements) == 1

    def test_continuation_line_ends_with_plus(self):
        m = parse("f =~ y1 +\n     y2 +\n\n   # a comment line\n\n     y3\ng =~ z")
        assert summary(m) == [("f", "=~", ("y1", "y2", "y3")), ("g", "=~", ("z",))]
        assert (m.statements[0].rhs[2].line, m.statements[0].rhs[2].col) == (6, 6)
        assert m.statements[1].line == 7

    def test_continuation_next_line_starts_with_plus(self):
        m = parse("y ~ x1\n    + x2\n\n    + x3\nz ~ w")
        assert summary(m) == [("y", "~", ("x1", "x2", "x3")), ("z", "~", ("w",))]

    def test_continuation_after_star(self):
        assert only("f =~ 0.5*\n y1").rhs == (Term("y1", fixed=0.5),)

    def test_continuation_line_starts_with_star(self):
        assert only("f =~ lam\n   * y1").rhs == (Term("y1", label="lam"),)

    def test_continuation_after_operator(self):
        st = only("f =~\n  y1 + y2")
        assert st.rhs == (Term("y1"), Term("y2"))

    def test_continuation_line_starts_with_operator(self):
        st = only("f\n  =~ y1 + y2")
        assert (st.lhs, st.op, len(st.rhs)) == ("f", "=~", 2)

    def test_comment_between_continued_lines(self):
        st = only("y ~ x1 + # first\n    x2 ! second")
        assert st.rhs == (Term("x1"), Term("x2"))

    def test_comments_hash_and_bang(self):
        m = parse("# header\n! also a comment\ny ~ x # trailing\nz ~ w ! trailing\n")
        assert summary(m) == [("y", "~", ("x",)), ("z", "~", ("w",))]
        assert [s.line for s in m.statements] == [3, 4]

    def test_statement_order_preserved(self):
        text = "a ~ b\nf =~ y1 + y2\nab := a*b\nc ~~ d\ne ~ 1\na > 0"
        assert [s.op for s in parse(text).statements] == ["~", "=~", ":=", "~~", "~1", ">"]

    def test_source_kept(self):
        text = "y ~ x\n"
        m = parse(text)
        assert isinstance(m, ParsedModel)
        assert m.source == text and m.levels == ()

    def test_multiline_expression_text(self):
        st = only("ab := a*b +\n   c  # comment\n")
        assert st.expr.text == "a*b + c"
        assert st.expr.names == ("a", "b", "c")

    def test_expression_keeps_user_spacing(self):
        assert only("d := a  *  b").expr.text == "a  *  b"

    def test_terms_and_statements_compare_without_positions(self):
        assert Term("x", line=3, col=4) == Term("x")
        assert only("y ~ x") == only("\n\n   y ~    x")


# ---------------------------------------------------------------------------
# Levels
# ---------------------------------------------------------------------------


M1 = """
level: 1
  fw =~ y1 + y2 + y3
  fw ~ x1 + x2 + x3
level: 2
  fb =~ y1 + y2 + y3
  fb ~ w1 + w2
"""


class TestLevels:
    def test_lavaan_m1(self):
        m = parse(M1)
        assert m.levels == ("within", "between")
        ys = (Term("y1"), Term("y2"), Term("y3"))
        assert m.statements == (
            Statement("fw", "=~", ys, "within", 0, 0),
            Statement("fw", "~", (Term("x1"), Term("x2"), Term("x3")), "within", 0, 0),
            Statement("fb", "=~", ys, "between", 0, 0),
            Statement("fb", "~", (Term("w1"), Term("w2")), "between", 0, 0),
        )
        assert [(s.line, s.col) for s in m.statements] == [(3, 3), (4, 3), (6, 3), (7, 3)]

    @pytest.mark.parametrize(
        "first, second",
        [
            ("level: within", "level: between"),
            ("level:1", "level:2"),
            ("LEVEL : Within", "Level :BETWEEN"),
            ("level: 1 # the within part", "level: 2 ! between"),
        ],
    )
    def test_level_spellings(self, first, second):
        m = parse(f"{first}\n y ~ x\n{second}\n y ~ w\n")
        assert m.levels == ("within", "between")
        assert [s.level for s in m.statements] == ["within", "between"]

    def test_between_first(self):
        m = parse("level: 2\n fb =~ y1 + y2\nlevel: 1\n fw =~ y1 + y2")
        assert m.levels == ("between", "within")
        assert [s.level for s in m.statements] == ["between", "within"]

    def test_single_level_block(self):
        m = parse("level: between\ny ~ w")
        assert m.levels == ("between",)
        assert m.statements[0].level == "between"

    def test_level_line_does_not_join_continuations(self):
        # "=~ y1" right after a level line is a missing lhs, not a continuation.
        err = syntax_error("level: 1\n=~ y1")
        assert_caret(err, 2, 1, "=~")

    def test_dangling_plus_before_level_line(self):
        err = syntax_error("level: 1\nf =~ y1 +\nlevel: 2\ng =~ y1")
        assert_caret(err, 2, 9, "+")

    def test_level_as_variable_name(self):
        assert summary(parse("level ~ x")) == [("level", "~", ("x",))]

    def test_statement_before_first_level(self):
        err = syntax_error("f =~ y1 + y2\nlevel: 1\nfw =~ y1 + y2")
        assert_caret(err, 1, 1, "f")
        assert "statement before the first 'level:' line" in err.msg

    def test_statement_before_level_reported_before_later_errors(self):
        err = syntax_error("  a ~ b\nlevel: 1\ny ~ ~ x")
        assert_caret(err, 1, 3, "a")

    def test_duplicate_level(self):
        err = syntax_error("level: 1\ny ~ x\nlevel: within\ny ~ z")
        assert_caret(err, 3, 8, "within")
        assert "twice" in err.msg

    @pytest.mark.parametrize("name", ["0", "00", "1.5", "2e1", ".5"])
    def test_level_number_must_be_a_positive_integer(self, name):
        err = syntax_error(f"level: {name}\ny ~ x")
        assert_caret(err, 1, 8, name)
        assert name in err.msg
        assert "positive integer" in err.msg

    @pytest.mark.parametrize("bad", ["-", "("])
    def test_level_label_must_be_a_number_or_name(self, bad):
        err = syntax_error(f"level: {bad}1\ny ~ x")
        assert_caret(err, 1, 8, bad)
        assert f"found '{bad}'" in err.msg

    def test_numbered_levels_beyond_two_are_kept(self):
        m = parse("level: 1\n y ~ x\nlevel: 2\n y ~ w\nlevel: 3\n y ~ z")
        assert m.levels == ("within", "between", "3")
        assert [s.level for s in m.statements] == ["within", "between", "3"]

    def test_named_levels_are_kept_as_written(self):
        m = parse("level: School\n y ~ x\nlevel: district_2\n y ~ w")
        assert m.levels == ("School", "district_2")
        assert [s.level for s in m.statements] == ["School", "district_2"]

    def test_levels_in_order_of_appearance(self):
        m = parse("level: school\n y ~ w\nlevel: 1\n y ~ x\nlevel: 12\n y ~ z")
        assert m.levels == ("school", "within", "12")

    def test_level_numbers_are_read_as_integers(self):
        # "01" is level 1; "003" and "3" are the same label.
        assert parse("level: 01\n y ~ x").levels == ("within",)
        err = syntax_error("level: 003\n y ~ x\nlevel: 3\n y ~ w")
        assert_caret(err, 3, 8, "3")
        assert "'3' appears twice (first at line 1)" in err.msg

    def test_duplicate_named_level(self):
        err = syntax_error("level: school\n y ~ x\nlevel: 1\n y ~ w\nlevel: school\n y ~ z")
        assert_caret(err, 5, 8, "school")
        assert "'school' appears twice (first at line 1)" in err.msg

    def test_extra_tokens_after_a_named_level(self):
        err = syntax_error("level: school district\ny ~ x")
        assert_caret(err, 1, 15, "district")

    def test_missing_level_name(self):
        err = syntax_error("level:\ny ~ x")
        assert_caret(err, 1, 6, ":")

    def test_extra_tokens_on_level_line(self):
        err = syntax_error("level: 1 y ~ x")
        assert_caret(err, 1, 10, "y")

    def test_level_then_semicolon_statement(self):
        m = parse("level: 1; y ~ x")
        assert m.statements[0].level == "within"

    def test_only_level_lines_is_empty(self):
        err = syntax_error("level: 1\nlevel: 2\n")
        assert (err.line, err.col) == (1, 1)
        assert "no statements" in err.msg

    def test_random_slope_in_within_block(self):
        m = parse("level: 1\n  s1 | y ~ x\n  fw =~ y + z\nlevel: 2\n  y ~~ s1")
        st = m.statements[0]
        assert (st.lhs, st.op, st.slope, st.level) == ("y", "|~", "s1", "within")
        assert (st.line, st.col) == (2, 3)
        assert summary(m)[2] == ("y", "~~", ("s1",))


# ---------------------------------------------------------------------------
# Random slopes
# ---------------------------------------------------------------------------


class TestRandomSlopes:
    def test_one_slope_per_covariate(self):
        err = syntax_error("s1 | y ~ x1 + x2")
        assert_caret(err, 1, 15, "x2")
        assert "one slope name per covariate" in err.msg

    def test_second_covariate_with_modifier_points_at_term_start(self):
        err = syntax_error("s1 | y ~ x1 + a*x2")
        assert_caret(err, 1, 15, "a")

    def test_multiple_slopes_as_separate_statements(self):
        m = parse("s1 | y ~ x1\ns2 | y ~ x2")
        assert [(s.slope, s.rhs[0].name) for s in m.statements] == [("s1", "x1"), ("s2", "x2")]

    def test_duplicate_slope_name(self):
        err = syntax_error("s1 | y ~ x1\ns1 | y ~ x2")
        assert_caret(err, 2, 1, "s1")

    def test_one_outcome(self):
        assert_caret(syntax_error("s | y1 + y2 ~ x"), 1, 8, "+")

    def test_needs_regression(self):
        assert_caret(syntax_error("s | f =~ x"), 1, 7, "=~")

    def test_missing_covariate(self):
        assert_caret(syntax_error("s | y ~"), 1, 7, "~")

    def test_numeric_slope_name(self):
        assert_caret(syntax_error("1 | y ~ x"), 1, 1, "1")

    def test_no_modifiers(self):
        assert_caret(syntax_error("s | y ~ 0.5*x"), 1, 9, "0.5")

    def test_no_intercept(self):
        assert_caret(syntax_error("s | y ~ 1"), 1, 9, "1")

    @pytest.mark.parametrize(
        "text", ["y | t1 + t2", "y | t1", "y | a*t1 + b*t2", "u | 0.5*t1", "y |\n  t1 + t2"]
    )
    def test_thresholds_are_not_taken_for_a_random_slope(self, text):
        err = syntax_error(text)
        assert_caret(err, 1, 3, "|")
        assert err.msg.startswith("thresholds ('y | t1 + t2') are not supported")

    def test_thresholds_inside_a_level_block(self):
        err = syntax_error("level: 1\n  y1 | t1 + t2\nlevel: 2\n  y1 ~~ y1")
        assert_caret(err, 2, 6, "|")
        assert "thresholds" in err.msg

    def test_slope_with_outcome_named_like_a_threshold(self):
        st = only("s1 | t1 ~ x")
        assert (st.lhs, st.op, st.slope, st.rhs) == ("t1", "|~", "s1", (Term("x"),))

    def test_incomplete_slope_is_not_a_threshold(self):
        err = syntax_error("s | y")
        assert_caret(err, 1, 5, "y")
        assert "random slopes are written 's | y ~ x'" in err.msg


# ---------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------


class TestExpressions:
    def test_names_and_evaluate(self):
        expr = only("ab := a*b + c^2 - exp(d)/2").expr
        assert expr.text == "a*b + c^2 - exp(d)/2"
        assert expr.names == ("a", "b", "c", "d")
        env = {"a": 2.0, "b": 3.0, "c": -1.5, "d": 0.7}
        assert expr.evaluate(env) == pytest.approx(2 * 3 + 1.5**2 - math.exp(0.7) / 2)

    def test_names_first_appearance_without_duplicates_or_functions(self):
        expr = only("d := sqrt(b) * a + log(b) - a").expr
        assert expr.names == ("b", "a")

    @pytest.mark.parametrize(
        "text, expected",
        [
            ("2 + 3 * 4", 14.0),
            ("(2 + 3) * 4", 20.0),
            ("2 ^ 3 ^ 2", 512.0),  # right-associative
            ("2 ** 3", 8.0),
            ("-2 ^ 2", -4.0),  # as in R: -(2^2)
            ("2 ^ -1", 0.5),
            ("--3", 3.0),
            ("+4 - -1", 5.0),
            ("8 / 4 / 2", 1.0),  # left-associative
            ("10 - 4 - 3", 3.0),
            ("abs(-3) + sqrt(16)", 7.0),
            ("log(exp(2.5))", 2.5),
            ("1e-3 * 1000", 1.0),
        ],
    )
    def test_arithmetic(self, text, expected):
        assert only(f"p := {text}").expr.evaluate({}) == pytest.approx(expected)

    def test_trig_functions(self):
        expr = only("p := sin(a) + cos(a) + tan(a)").expr
        assert expr.evaluate({"a": 0.3}) == pytest.approx(
            math.sin(0.3) + math.cos(0.3) + math.tan(0.3)
        )

    def test_unknown_name_raises_key_error(self):
        expr = only("ab := a*b").expr
        with pytest.raises(KeyError, match="'b'"):
            expr.evaluate({"a": 1.0})

    def test_negative_base_fractional_power_is_an_error(self):
        with pytest.raises(ValueError):
            only("p := a ^ 0.5").expr.evaluate({"a": -4.0})

    def test_result_is_float(self):
        value = only("p := a + 1").expr.evaluate({"a": 1})
        assert isinstance(value, float) and value == 2.0

    def test_no_python_eval(self):
        # Nothing reaches Python's eval: strings are not tokens, and a dotted
        # name is only ever looked up in the environment.
        assert_caret(syntax_error("p := __import__('os')"), 1, 17, "'")
        expr = only("p := a.__class__").expr
        assert expr.names == ("a.__class__",)
        with pytest.raises(KeyError):
            expr.evaluate({"a": 1.0})
        assert expr.evaluate({"a.__class__": 2.0}) == 2.0

    def test_handmade_expression_parses_its_text(self):
        expr = Expression("x*y + 1", ("x", "y"))
        assert expr.evaluate({"x": 2, "y": 5}) == 11.0

    def test_unknown_function(self):
        err = syntax_error("p := foo(a)")
        assert_caret(err, 1, 6, "foo")
        assert "unknown function" in err.msg

    def test_unclosed_paren(self):
        err = syntax_error("p := (a*b")
        assert_caret(err, 1, 6, "(")
        assert "unclosed" in err.msg

    def test_unclosed_function_paren(self):
        assert_caret(syntax_error("p := exp(a"), 1, 9, "(")

    def test_unmatched_close_paren(self):
        err = syntax_error("p := a*b)")
        assert_caret(err, 1, 9, ")")
        assert "unmatched" in err.msg

    def test_unbalanced_in_constraint(self):
        assert_caret(syntax_error("(a + b == c"), 1, 1, "(")
        assert_caret(syntax_error("a == (b + c))"), 1, 13, ")")

    def test_dangling_operator_in_expression(self):
        assert_caret(syntax_error("p := a +"), 1, 8, "+")

    def test_two_names_in_a_row(self):
        assert_caret(syntax_error("p := a b"), 1, 8, "b")

    def test_double_operator_in_expression(self):
        assert_caret(syntax_error("p := a * / b"), 1, 10, "/")

    def test_empty_sides_of_constraint(self):
        assert_caret(syntax_error("== b"), 1, 1, "==")
        assert_caret(syntax_error("a >"), 1, 3, ">")

    def test_chained_constraint_rejected(self):
        assert_caret(syntax_error("a == b == c"), 1, 8, "==")


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class TestErrors:
    def test_error_is_value_error_with_rendering(self):
        err = syntax_error("f =~ y1\n  fw =~ + y1")
        assert isinstance(err, ValueError)
        assert_caret(err, 2, 9, "+")
        assert err.source_line == "  fw =~ + y1"
        assert str(err) == (
            "expected a variable name after '=~', found '+' at line 2, column 9:\n"
            "      fw =~ + y1\n"
            "            ^"
        )

    def test_caret_follows_tabs(self):
        err = syntax_error("\ty ~\t@")
        lines = str(err).split("\n")
        assert lines[2] == "    \t   \t^"

    def test_pickle_roundtrip(self):
        err = syntax_error("y ~")
        back = pickle.loads(pickle.dumps(err))
        assert (back.line, back.col, back.msg, str(back)) == (err.line, err.col, err.msg, str(err))

    def test_unknown_character(self):
        assert_caret(syntax_error("y1 ~ x1 @ x2"), 1, 9, "@")

    def test_missing_rhs(self):
        err = syntax_error("y ~")
        assert_caret(err, 1, 3, "~")
        assert err.msg == "expected a variable name after '~'"

    def test_missing_rhs_on_later_line(self):
        err = syntax_error("f =~ y1 + y2\nf =~   \n")
        assert_caret(err, 2, 3, "=~")
        assert "expected a variable name after '=~'" in err.msg

    def test_missing_lhs(self):
        err = syntax_error("=~ y1")
        assert_caret(err, 1, 1, "=~")
        assert "expected a variable name before '=~'" in err.msg

    def test_two_operators(self):
        err = syntax_error("y ~ ~ x")
        assert_caret(err, 1, 5, "~")
        assert "expected a variable name after '~'" in err.msg

    def test_dangling_plus_at_end_of_input(self):
        err = syntax_error("f =~ y1 + y2 +\n\n# done\n")
        assert_caret(err, 1, 14, "+")
        assert "expected a variable name after '+'" in err.msg

    def test_number_on_lhs(self):
        err = syntax_error("y1 + 2 ~ x")
        assert_caret(err, 1, 6, "2")
        assert "variable name" in err.msg

    def test_number_as_lhs(self):
        assert_caret(syntax_error("1 =~ y1"), 1, 1, "1")

    def test_dangling_plus_in_lhs(self):
        assert_caret(syntax_error("y1 + ~ x"), 1, 4, "+")

    def test_missing_plus_between_lhs_names(self):
        assert_caret(syntax_error("y1 y2 ~ x"), 1, 4, "y2")

    def test_missing_plus_between_terms(self):
        err = syntax_error("y ~ x1 x2")
        assert_caret(err, 1, 8, "x2")
        assert "expected '+'" in err.msg

    def test_minus_between_terms(self):
        assert_caret(syntax_error("y ~ x1 - x2"), 1, 8, "-")

    def test_duplicate_rhs_variable(self):
        assert_caret(syntax_error("f =~ y1 + y2 + y1"), 1, 16, "y1")

    def test_duplicate_intercept(self):
        assert_caret(syntax_error("y ~ 1 + x + 1"), 1, 13, "1")

    def test_duplicate_lhs(self):
        assert_caret(syntax_error("y + y ~ x"), 1, 5, "y")

    def test_define_with_non_identifier_lhs(self):
        err = syntax_error("2 := a*b")
        assert_caret(err, 1, 1, "2")
        assert "parameter name" in err.msg

    def test_define_with_expression_lhs(self):
        assert_caret(syntax_error("a*b := c"), 1, 2, "*")
        assert_caret(syntax_error("a + b := c"), 1, 3, "+")

    def test_define_without_lhs_or_rhs(self):
        assert_caret(syntax_error(":= a"), 1, 1, ":=")
        assert_caret(syntax_error("ab :="), 1, 4, ":=")

    def test_no_operator(self):
        err = syntax_error("y1 + y2")
        assert_caret(err, 1, 6, "y2")
        assert "operator" in err.msg
        assert_caret(syntax_error("a * b"), 1, 3, "*")

    def test_bar_outside_random_slope(self):
        assert_caret(syntax_error("y ~ x | z"), 1, 7, "|")

    def test_empty_model(self):
        for text in ["", "   \n\n", "# only a comment\n! and another", ";;"]:
            err = syntax_error(text)
            assert (err.line, err.col) == (1, 1)
            assert err.msg == "the model has no statements"
            assert str(err).split("\n")[2] == "    ^"

    def test_error_on_continued_line_points_at_right_line(self):
        err = syntax_error("y ~ x1 +\n    x2 +\n    @")
        assert_caret(err, 3, 5, "@")
        err = syntax_error("y ~ x1\n  + x2 x3")
        assert_caret(err, 2, 8, "x3")

    def test_semicolon_is_a_hard_boundary(self):
        # A ';' ends the statement even though the next line starts with '+'.
        assert_caret(syntax_error("y ~ x;\n + z"), 2, 2, "+")
        assert_caret(syntax_error("y ~ x +; z ~ w"), 1, 7, "+")


# ---------------------------------------------------------------------------
# Names in backticks, byte order marks, models that are not text
# ---------------------------------------------------------------------------


class TestBacktickNames:
    def test_token_value_is_the_text_inside(self):
        toks = tokenize("`math score` ~ a*`2nd wave`")
        assert toks[0] == Token(NAME, "math score", 1, 1, quoted=True)
        assert (toks[0].width, toks[0].end_col) == (12, 13)
        assert toks[1] == Token(OP, "~", 1, 14)
        assert toks[4] == Token(NAME, "2nd wave", 1, 18, quoted=True)
        assert toks[4].end_col == 28

    def test_statements_use_the_names(self):
        m = parse("level: within\n `math score` ~ `s.e.s`\nlevel: between\n"
                  " `math score` ~ 1 + `teacher-exp`")
        assert summary(m) == [("math score", "~", ("s.e.s",)),
                              ("math score", "~1", ("1",)),
                              ("math score", "~", ("teacher-exp",))]
        (reg,) = [s for s in m.statements if s.level == "within"]
        assert (reg.line, reg.col) == (2, 2)
        assert (reg.rhs[0].line, reg.rhs[0].col) == (2, 17)

    def test_modifiers_and_expressions(self):
        st = only("f =~ NA*`item 1` + b*`item 2`")
        assert [(t.name, t.free, t.label) for t in st.rhs] == [
            ("item 1", True, None), ("item 2", False, "b")]
        st = only("ind := `a 1` * b")
        assert st.expr.names == ("a 1", "b")

    def test_quoted_name_is_never_a_keyword(self):
        # a column called NA, or level
        st = only("f =~ `NA` + y")
        assert [(t.name, t.free) for t in st.rhs] == [("NA", False), ("y", False)]
        assert summary(parse("`level` ~ x")) == [("level", "~", ("x",))]

    def test_caret_after_a_quoted_name(self):
        err = syntax_error("`math score` ~ x @")
        assert_caret(err, 1, 18, "@")
        err = syntax_error("y ~ `a b` `c d`")
        assert_caret(err, 1, 11, "`c d`")

    def test_unterminated_backtick(self):
        err = syntax_error("y ~ x\n  z ~ `math score + w\nq ~ r")
        assert_caret(err, 2, 7, "`")
        assert "unterminated" in err.msg and "backtick" in err.msg

    def test_backtick_does_not_run_over_the_line_end(self):
        assert_caret(syntax_error("y ~ `a\nb` + x"), 1, 5, "`")

    def test_empty_backticks(self):
        err = syntax_error("y ~ `` + x")
        assert_caret(err, 1, 5, "``")
        assert "empty name" in err.msg

    @pytest.mark.parametrize("text, col, token", [
        ("math score ~ ses", 6, "score"),
        ("y ~ math score", 10, "score"),
        ("math score", 6, "score"),
    ])
    def test_two_names_in_a_row_suggest_backticks(self, text, col, token):
        err = syntax_error(text)
        assert_caret(err, 1, col, token)
        assert "written in backticks: `math score`" in err.msg

    def test_leading_digit_suggests_backticks(self):
        err = syntax_error("y ~ 2nd")
        assert_caret(err, 1, 5, "2nd")
        assert "`2nd`" in err.msg

    def test_plain_and_quoted_names(self):
        from msem_nb.syntax.tokens import is_plain_name, quote_name
        for name in ("y1", "x.1", "_a", "Größe", "math_score"):
            assert is_plain_name(name) and quote_name(name) == name
            assert only(f"y ~ {quote_name(name)}").rhs[0].name == name
        for name in ("math score", "2nd", "a-b", "", " y", "NA"):
            assert quote_name(name) == f"`{name}`"
        assert not is_plain_name("math score") and is_plain_name("NA")


class TestModelText:
    def test_byte_order_mark_is_dropped(self):
        m = parse("\ufeffy ~ x\nz ~ y")
        assert summary(m) == [("y", "~", ("x",)), ("z", "~", ("y",))]
        assert m.source == "y ~ x\nz ~ y"
        assert (m.statements[0].line, m.statements[0].col) == (1, 1)
        # positions count from after the mark, as an editor shows them
        assert_caret(syntax_error("\ufeffy ~ @"), 1, 5, "@")

    @pytest.mark.parametrize("model, words", [
        (None, "missing (None)"),
        (b"y ~ x", "model.decode('utf-8')"),
        (3, "not int"),
        (["y ~ x"], "not list"),
    ])
    def test_not_text(self, model, words):
        from msem_nb.errors import ModelSpecificationError
        with pytest.raises(ModelSpecificationError, match="lavaan-style text") as info:
            parse(model)
        assert words in str(info.value)

    def test_path_suggests_reading_the_file(self, tmp_path):
        from msem_nb.errors import ModelSpecificationError
        with pytest.raises(ModelSpecificationError, match=r"read_text\(\)"):
            parse(tmp_path / "model.txt")
