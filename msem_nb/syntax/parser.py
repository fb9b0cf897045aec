"""Parser for lavaan-style model syntax with level blocks and random slopes.

The accepted language is lavaan's model syntax::

    level: 1                      # or "level: within"
      fw =~ y1 + a*y2 + start(0.8)*y3
      fw ~ x1 + x2
      s1 | y1 ~ x1                # random slope of y1 on x1, named s1
      fw =~ y1 + rv("l2")*y2      # random loading of y2, named l2 (is 'l2 | y2 ~ fw')
    level: 2                      # or "level: between"
      fb =~ y1 + y2 + y3
      y1 ~ 1                      # intercept
    ab := a*b                     # defined parameter
    a > 0                         # inequality constraint

A level label is a positive integer or a name (``level: 3``,
``level: school``); ``1``/``within`` and ``2``/``between`` are recorded as
``"within"`` and ``"between"``, other labels as written. The parser only
records the levels; the parameter table decides which sets it can fit.
Threshold statements (``y | t1 + t2``) are recognised and rejected: only
continuous variables are modelled.

Parsing happens in three passes.  :func:`~msem_nb.syntax.tokens.tokenize`
turns the text into tokens that remember where they came from; the tokens
are then grouped into statements (``;`` and line breaks end a statement
unless the statement is obviously incomplete); each statement is finally
parsed by a small hand-written recursive-descent parser.  Every error is a
:class:`~msem_nb.syntax.tokens.ModelSyntaxError` carrying the line and
column of the offending token, so a notebook user can see exactly where the
model text is wrong.

This module holds the statement level (level lines, statement boundaries,
left-hand sides, random slopes, definitions and constraints) and
:func:`parse`. Right-hand-side terms are read by
:mod:`msem_nb.syntax.terms`, arithmetic by :mod:`msem_nb.syntax.expressions`;
the results are the dataclasses of :mod:`msem_nb.syntax.statements`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from msem_nb.syntax.expressions import Expression, ExpressionParser
from msem_nb.syntax.statements import ParsedModel, Statement, Term
from msem_nb.syntax.terms import ParsedTerm, TermParser
from msem_nb.syntax.tokens import (
    EOF,
    MODEL_OPERATORS,
    NAME,
    NEWLINE,
    NUMBER,
    OP,
    ModelSyntaxError,
    SourceText,
    Token,
    TokenCursor,
    describe,
    is_op,
    spaced_name_hint,
    spelled,
    tokenize,
)

__all__ = ["parse", "LEVEL_NAMES"]


#: Level labels with a fixed meaning, lower-cased, and what they mean. Any
#: other label (``level: 3``, ``level: school``) is kept as written.
LEVEL_NAMES: Mapping[str, str] = {
    "1": "within",
    "within": "within",
    "2": "between",
    "between": "between",
}

# Tokens that make a statement continue onto the next line when they end a
# line (something must follow them) or start one (nothing can precede them
# in a fresh statement).
_BINARY_SYMBOLS = MODEL_OPERATORS | {"|", "+", "-", "*", "/", "^", "**"}
_CONTINUES_AT_END = _BINARY_SYMBOLS | {"("}
_CONTINUES_AT_START = _BINARY_SYMBOLS | {")"}


_THRESHOLD_NAME = re.compile(r"t[0-9]+")


def _is_threshold(toks: Sequence[Token]) -> bool:
    # lavaan writes thresholds "y | t1 + t2" (with optional modifiers, as in
    # "y | a*t1"): no model operator, and t<number> names after the bar. A
    # random slope always has its "~"; without one, "s | y" is an incomplete
    # slope and gets the random-slope parser's message.
    if any(t.kind == OP and t.value in MODEL_OPERATORS for t in toks):
        return False
    return any(t.kind == NAME and _THRESHOLD_NAME.fullmatch(t.value) for t in toks[2:])


class _Parser(SourceText):
    """The statement parser for one model text (errors via :meth:`SourceText.error`)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.terms = TermParser(self)
        # (level, factor) pairs with an '=~' statement of fixed-or-free loadings so far
        self._factors: set[tuple[str | None, str]] = set()

    # -- statement boundaries ------------------------------------------------

    @staticmethod
    def _is_level_line(toks: Sequence[Token]) -> bool:
        return (
            len(toks) >= 2
            and toks[0].keyword is not None
            and toks[0].keyword.lower() == "level"
            and is_op(toks[1], ":")
        )

    def units(self, tokens: Sequence[Token]) -> list[list[Token]]:
        """Group tokens into statements (and level lines)."""
        # Segments are runs of tokens between line breaks and ';'.  A line
        # break is a soft boundary that continuation can bridge; ';' is hard.
        segments: list[tuple[list[Token], bool]] = []
        current: list[Token] = []
        soft = True
        for tok in tokens:
            if tok.kind in (NEWLINE, EOF) or is_op(tok, ";"):
                if current:
                    segments.append((current, soft))
                    current = []
                    soft = True
                # Blank lines after a ';' must not soften it again.
                if tok.kind == OP:
                    soft = False
                continue
            current.append(tok)

        units: list[list[Token]] = []
        for seg, soft_start in segments:
            prev = units[-1] if units else None
            if (
                prev is not None
                and soft_start
                and not self._is_level_line(prev)
                and not self._is_level_line(seg)
                and (
                    (prev[-1].kind == OP and prev[-1].value in _CONTINUES_AT_END)
                    or (seg[0].kind == OP and seg[0].value in _CONTINUES_AT_START)
                )
            ):
                prev.extend(seg)
            else:
                units.append(list(seg))
        return units

    # -- whole model ---------------------------------------------------------

    def parse(self) -> ParsedModel:
        units = self.units(tokenize(self.text))
        uses_levels = any(self._is_level_line(u) for u in units)

        statements: list[Statement] = []
        levels: list[str] = []
        level_tokens: dict[str, Token] = {}
        slope_tokens: dict[str, Token] = {}
        level: str | None = None
        for unit in units:
            if self._is_level_line(unit):
                level = self._level(unit, level_tokens)
                levels.append(level)
                continue
            if uses_levels and level is None:
                raise self.error(
                    "statement before the first 'level:' line (a model with "
                    "levels must start with 'level: within' or 'level: 1')",
                    unit[0],
                )
            new = self._statement(unit, level)
            for st in new:
                if st.slope is not None:
                    if st.slope in slope_tokens:
                        first = slope_tokens[st.slope]
                        raise self.error(
                            f"random slope {st.slope!r} is already defined at "
                            f"line {first.line}",
                            unit[0],
                        )
                    slope_tokens[st.slope] = unit[0]
            statements.extend(new)

        if not statements:
            raise ModelSyntaxError(
                "the model has no statements", 1, 1, self.lines[0] if self.lines else ""
            )
        return ParsedModel(tuple(statements), tuple(levels), self.text)

    def _level(self, unit: Sequence[Token], seen: dict[str, Token]) -> str:
        colon = unit[1]
        if len(unit) < 3:
            raise self.error(
                "expected a level label after 'level:' (a positive integer such as 1 or 2, "
                "or a name such as within, between or school)",
                colon,
            )
        label_tok = unit[2]
        level = self._level_label(label_tok)
        if len(unit) > 3:
            raise self.error(
                f"unexpected {describe(unit[3])} after the level name; a "
                "'level:' line holds only the level name",
                unit[3],
            )
        if level in seen:
            raise self.error(
                f"level {level!r} appears twice (first at line {seen[level].line})",
                label_tok,
            )
        seen[level] = label_tok
        return level

    def _level_label(self, tok: Token) -> str:
        if tok.kind == NAME:
            return LEVEL_NAMES.get(tok.value.lower(), tok.value)
        if tok.kind == NUMBER:
            # The tokenizer's numbers are ASCII, so isdigit() means an integer
            # written without sign, point or exponent.
            if not tok.value.isdigit() or int(tok.value) == 0:
                raise self.error(
                    f"invalid level {tok.value!r}: level numbers are positive "
                    "integers (1, 2, 3, ...)",
                    tok,
                )
            number = str(int(tok.value))
            return LEVEL_NAMES.get(number, number)
        raise self.error(
            "expected a level label after 'level:' (a positive integer or a name), "
            f"found {describe(tok)}",
            tok,
        )

    # -- single statements ---------------------------------------------------

    def _statement(self, toks: list[Token], level: str | None) -> list[Statement]:
        if len(toks) >= 2 and is_op(toks[1], "|"):
            if _is_threshold(toks):
                raise self.error(
                    "thresholds ('y | t1 + t2') are not supported: models have "
                    "continuous variables only (a random slope is written "
                    "'s | y ~ x')",
                    toks[1],
                )
            return [self._random_slope(toks, level)]
        op_index = next(
            (i for i, t in enumerate(toks) if t.kind == OP and t.value in MODEL_OPERATORS),
            None,
        )
        if op_index is None:
            raise self._missing_operator(toks)
        op = toks[op_index]
        left, right = toks[:op_index], toks[op_index + 1 :]
        if op.value in ("=~", "~", "~~"):
            return self._relation(left, op, right, level)
        if op.value == ":=":
            return [self._definition(left, op, right, level)]
        return [self._constraint(left, op, right, level)]

    def _missing_operator(self, toks: Sequence[Token]) -> ModelSyntaxError:
        # Skip what could still be a valid left side ("y1 + y2") so the caret
        # lands on the first token that cannot belong there.
        i = 0
        while i < len(toks):
            expect_name = i % 2 == 0
            ok = toks[i].kind == NAME if expect_name else is_op(toks[i], "+")
            if not ok:
                hint = spaced_name_hint(toks[i - 1], toks[i]) if i else ""
                return self.error(
                    "expected an operator such as '=~', '~', '~~' or ':=', "
                    f"found {describe(toks[i])}{hint}",
                    toks[i],
                )
            i += 1
        return self.error(
            "expected an operator such as '=~', '~', '~~' or ':=' after "
            f"{describe(toks[-1])}",
            toks[-1],
        )

    def _lhs_names(self, left: Sequence[Token], op: Token) -> list[Token]:
        if not left:
            raise self.error(f"expected a variable name before '{op.value}'", op)
        names: list[Token] = []
        cur = TokenCursor(left)
        while True:
            tok = cur.next()
            if tok is None:
                raise self.error(
                    f"expected a variable name after {describe(cur.previous)}",
                    cur.previous,
                )
            if tok.kind != NAME:
                raise self.error(
                    f"expected a variable name on the left of '{op.value}', "
                    f"found {describe(tok)}",
                    tok,
                )
            if any(t.value == tok.value for t in names):
                raise self.error(
                    f"variable {tok.value!r} appears twice on the left of '{op.value}'",
                    tok,
                )
            names.append(tok)
            sep = cur.next()
            if sep is None:
                return names
            if not is_op(sep, "+"):
                raise self.error(
                    f"expected '+' or '{op.value}' after {spelled(tok)}, "
                    f"found {describe(sep)}{spaced_name_hint(tok, sep)}",
                    sep,
                )

    def _relation(
        self, left: list[Token], op: Token, right: list[Token], level: str | None
    ) -> list[Statement]:
        lhs = self._lhs_names(left, op)
        terms = self.terms.parse(right, op, allow_intercept=op.value == "~")
        random = [t for t in terms if t.rv is not None]
        if random and op.value == "=~":
            self._check_random_loadings(lhs, terms, level)
        elif random and op.value != "~":
            raise self.error(
                f"rv(...) cannot follow '{op.value}': a random slope is allowed after '~' only "
                "(as in 'y ~ rv(\"s1\")*x'), a random loading after '=~' (as in "
                "'f =~ y1 + rv(\"l2\")*y2')",
                random[0].first)
        terms = [t for t in terms if t.rv is None]
        regular = tuple(t.term for t in terms if not t.is_intercept)
        intercepts = [t for t in terms if t.is_intercept]
        intercept_first = bool(intercepts) and terms[0].is_intercept

        out: list[Statement] = []
        for name in lhs:
            parts: list[Statement] = []
            if regular:
                parts.append(
                    Statement(name.value, op.value, regular, level, name.line, name.col)
                )
            if intercepts:
                icpt = Statement(
                    name.value, "~1", (intercepts[0].term,), level, name.line, name.col
                )
                # Keep the order the user wrote: "y ~ 1 + x" lists the
                # intercept first, "y ~ x + 1" last.
                if intercept_first:
                    parts.insert(0, icpt)
                else:
                    parts.append(icpt)
            out.extend(parts)
            if op.value == "=~":
                # a random loading f =~ rv("l")*y is the random slope l | y ~ f
                if regular:
                    self._factors.add((level, name.value))
                out.extend(Statement(t.term.name, "|~", (Term(name.value, line=name.line,
                                                              col=name.col),),
                                     level, t.first.line, t.first.col, slope=t.rv.value,
                                     loading=True)
                           for t in random if t.rv is not None)
                continue
            # lavaan's y ~ rv("s")*x is the statement s | y ~ x
            out.extend(Statement(name.value, "|~", (t.term,), level, t.first.line,
                                 t.first.col, slope=t.rv.value)
                       for t in random if t.rv is not None)
        return out

    def _check_random_loadings(self, lhs: Sequence[Token], terms: Sequence[ParsedTerm],
                               level: str | None) -> None:
        """Where ``f =~ rv("l")*y`` may stand: in the within block, not on the marker."""
        first_rv = next(t for t in terms if t.rv is not None)
        rv = first_rv.rv
        assert rv is not None
        y = first_rv.term.name
        if level is None or level == "between":
            where = "in a single-level model" if level is None else "at the between level"
            f = lhs[0].value
            raise self.error(
                f"rv(\"{rv.value}\") {where}: a random loading varies over clusters; write "
                f"'{f} =~ ... + rv(\"{rv.value}\")*{y}' in the 'level: within' block of a "
                f"two-level model (the loading's mean and variance are then those of "
                f"{rv.value} at the between level)",
                first_rv.first)
        if terms[0].rv is None:
            return
        regular = [t.term.name for t in terms if t.rv is None]
        other = regular[0] if regular else "y1"
        for name in lhs:
            if (level, name.value) in self._factors:
                continue
            raise self.error(
                f"rv(\"{rv.value}\") on the first indicator of {name.value!r}: the first "
                f"loading is fixed at 1 to set the scale of {name.value!r} (lavaan's rule), so "
                "it cannot be random. Put an indicator with a fixed loading first "
                f"('{name.value} =~ {other} + rv(\"{rv.value}\")*{y}'), or set the scale by "
                f"the factor's variance: '{name.value} =~ NA*{other} + "
                f"rv(\"{rv.value}\")*{y}' with '{name.value} ~~ 1*{name.value}'",
                terms[0].first)

    def _random_slope(self, toks: list[Token], level: str | None) -> Statement:
        slope, bar = toks[0], toks[1]
        if slope.kind != NAME:
            raise self.error(
                f"expected a slope name before '|', found {describe(slope)}", slope
            )
        cur = TokenCursor(toks[2:])
        outcome = cur.next()
        if outcome is None:
            raise self.error("expected an outcome name after '|'", bar)
        if outcome.kind != NAME:
            raise self.error(
                f"expected an outcome name after '|', found {describe(outcome)}",
                outcome,
            )
        op = cur.next()
        if op is None:
            raise self.error(
                f"expected '~' after '{outcome.value}' (random slopes are "
                "written 's | y ~ x')",
                outcome,
            )
        if is_op(op, "+"):
            raise self.error(
                "a random slope has one outcome: write one 's | y ~ x' "
                "statement per outcome",
                op,
            )
        if not is_op(op, "~"):
            raise self.error(
                f"expected '~' after '{outcome.value}' (random slopes are "
                f"written 's | y ~ x'), found {describe(op)}",
                op,
            )
        terms = self.terms.parse(toks[2 + cur.pos :], op, allow_intercept=False)
        if len(terms) > 1:
            extra = terms[1]
            raise self.error(
                f"one slope name per covariate: write a separate statement such "
                f"as 's2 | {outcome.value} ~ {extra.term.name}'",
                extra.first,
            )
        if terms[0].has_modifiers:
            raise self.error(
                "modifiers (labels, fixed or start values) are not allowed on a "
                "random-slope covariate",
                terms[0].first,
            )
        return Statement(
            outcome.value,
            "|~",
            (terms[0].term,),
            level,
            slope.line,
            slope.col,
            slope=slope.value,
        )

    def _definition(
        self, left: list[Token], op: Token, right: list[Token], level: str | None
    ) -> Statement:
        if not left:
            raise self.error("expected a parameter name before ':='", op)
        if left[0].kind != NAME:
            raise self.error(
                f"expected a parameter name before ':=', found {describe(left[0])}",
                left[0],
            )
        if len(left) > 1:
            raise self.error(
                "the left of ':=' must be a single parameter name, found "
                f"{describe(left[1])}",
                left[1],
            )
        expr = self._expression(right, op, "after")
        return Statement(left[0].value, ":=", (), level, left[0].line, left[0].col, expr=expr)

    def _constraint(
        self, left: list[Token], op: Token, right: list[Token], level: str | None
    ) -> Statement:
        lhs_expr = self._expression(left, op, "before")
        expr = self._expression(right, op, "after")
        return Statement(
            lhs_expr.text,
            op.value,
            (),
            level,
            lhs_expr.line,
            lhs_expr.col,
            expr=expr,
            lhs_expr=lhs_expr,
        )

    # -- expressions ---------------------------------------------------------

    def _expression(self, toks: list[Token], op: Token, side: str) -> Expression:
        if not toks:
            raise self.error(f"expected an expression {side} '{op.value}'", op)
        names: list[str] = []
        tree = ExpressionParser(self, toks, names).parse()
        return Expression(
            self.span_text(toks), tuple(names), toks[0].line, toks[0].col, tree
        )


def parse(text: str) -> ParsedModel:
    """Parse lavaan-style model syntax.

    Parameters
    ----------
    text : str
        The model.  Statements are separated by line breaks or ``;``; a
        statement continues on the next line when a line ends with an
        operator (``+``, ``*``, ``=~``, ...) or the next line starts with one.
        ``level: <label>`` lines open the blocks of a multilevel model; a
        label is a positive integer or a name. ``1``/``within`` and
        ``2``/``between`` (any case) are recorded as ``"within"`` and
        ``"between"``; any other label as written (``"3"``, ``"school"``).
        Which sets of levels can be fitted is decided by the parameter
        table (:func:`msem_nb.model.partable.build_partable`), not here.

    Returns
    -------
    ParsedModel
        Statements in source order, expanded to one per left-hand side:
        ``y1 + y2 ~ x`` gives two statements, and ``y ~ 1 + x`` gives a
        ``"~1"`` and a ``"~"`` statement.

    Raises
    ------
    ModelSyntaxError
        With the line and column of the first mistake.
    ModelSpecificationError
        When `text` is not a str (None, bytes, ...). A byte order mark at
        its start is dropped.

    Examples
    --------
    >>> m = parse("level: 1\\n fw =~ y1 + y2\\nlevel: 2\\n fb =~ y1 + y2")
    >>> [(s.level, s.lhs, s.op, [t.name for t in s.rhs]) for s in m.statements]
    [('within', 'fw', '=~', ['y1', 'y2']), ('between', 'fb', '=~', ['y1', 'y2'])]
    """
    return _Parser(text).parse()
