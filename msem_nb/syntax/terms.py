"""Right-hand-side terms of ``=~``, ``~``, ``~~`` and random slopes, with their modifiers.

A term is ``modifier*...*name``: each ``*``-separated piece (a factor) is
read first and given its role once the last one, the variable, is known:

- a number fixes the parameter (``0.5*x``; ``-1*x`` too);
- a name labels it (``a*x``);
- ``NA`` frees it (``NA*x``, e.g. a marker loading);
- ``start(0.3)`` gives its starting value;
- ``rv("s1")`` (lavaan's random-slope modifier) makes the coefficient a random
  slope named ``s1``, a latent variable of the between level; the parser
  turns ``y ~ rv("s1")*x`` into the statement ``s1 | y ~ x``, and a random
  loading ``f =~ y1 + rv("l2")*y2`` into ``f =~ y1`` and ``l2 | y2 ~ f``.

Repeating the same modifier is allowed; two different values for one slot,
or ``NA`` with a fixed value, are errors. A group modifier ``c(...)`` gives
one modifier per group (``c(a1, a2)*x``, ``c(1, NA)*x``, ``c(a, a)*x``):
numbers, ``NA`` or labels, kept in ``Term.groups`` and resolved per group
when the parameter table of a multigroup model is built. :class:`TermParser` reports errors
through any :class:`~msem_nb.syntax.tokens.ErrorReporter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from msem_nb.syntax.statements import Term
from msem_nb.syntax.tokens import (
    NAME,
    NUMBER,
    STRING,
    ErrorReporter,
    Token,
    TokenCursor,
    describe,
    is_op,
    spaced_name_hint,
    spelled,
)

__all__ = ["ParsedTerm", "TermParser"]

_T = TypeVar("_T", float, str)

_FactorKind = Literal["number", "name", "na", "start", "rv", "group"]
#: one group's modifier from ``c(...)``: (fixed value, NA, label)
_GroupValue = tuple[float | None, bool, str | None]


@dataclass(frozen=True)
class _Factor:
    """One ``*``-separated piece of a term, before we know its role."""

    kind: _FactorKind
    tok: Token
    number: float = 0.0  # the value of a "number" or "start" factor
    signed: bool = False
    values: tuple[_GroupValue, ...] = ()  # a "group" factor: one modifier per group

    @property
    def name(self) -> str:
        return self.tok.value


@dataclass(frozen=True)
class ParsedTerm:
    """A :class:`Term` with the tokens that error messages point at.

    Attributes
    ----------
    term : Term
    first : Token
        First token of the term, modifiers included.
    target : Token
        The variable name (or ``1``).
    has_modifiers : bool
        True when the term had ``*`` modifiers (label, value, ``NA``, start).
    rv : Token or None
        The slope name of an ``rv("s")`` modifier (a random coefficient).
    """

    term: Term
    first: Token
    target: Token
    has_modifiers: bool
    rv: Token | None = None

    @property
    def is_intercept(self) -> bool:
        """True for the ``1`` of ``y ~ 1``."""
        return self.term.name == "1"


class TermParser:
    """Parses the ``+``-separated terms on the right of a model operator.

    Parameters
    ----------
    reporter : ErrorReporter
        Builds the errors, located in the model text the tokens came from.
    """

    def __init__(self, reporter: ErrorReporter) -> None:
        self.p = reporter

    def parse(
        self, right: Sequence[Token], op: Token, allow_intercept: bool
    ) -> list[ParsedTerm]:
        """Parse the right-hand side of `op`: terms separated by ``+``.

        Parameters
        ----------
        right : sequence of Token
            The tokens after `op`, to the end of the statement.
        op : Token
            ``=~``, ``~``, ``~~`` (for messages and an empty right side).
        allow_intercept : bool
            Whether ``1`` (an intercept) may be a term, as after ``~``.

        Returns
        -------
        list of ParsedTerm
            In source order; no variable appears twice.

        Raises
        ------
        ModelSyntaxError
            From the reporter, at the first token that does not fit.
        """
        if not right:
            raise self.p.error(f"expected a variable name after '{op.value}'", op)
        cur = TokenCursor(right)
        terms: list[ParsedTerm] = []
        after = op
        while True:
            parsed = self._term(cur, after, allow_intercept)
            for earlier in terms:
                if earlier.term.name == parsed.term.name:
                    what = (
                        "the intercept '1'"
                        if parsed.is_intercept
                        else f"variable {parsed.term.name!r}"
                    )
                    raise self.p.error(
                        f"{what} appears twice on the right of '{op.value}'",
                        parsed.target,
                    )
            terms.append(parsed)
            sep = cur.next()
            if sep is None:
                return terms
            if not is_op(sep, "+"):
                prev = cur.tokens[cur.pos - 2]
                raise self.p.error(
                    f"expected '+' or the end of the statement after "
                    f"{spelled(prev)}, found {describe(sep)}{spaced_name_hint(prev, sep)}",
                    sep,
                )
            after = sep

    def _term(
        self, cur: TokenCursor, after: Token, allow_intercept: bool
    ) -> ParsedTerm:
        start_pos = cur.pos
        factors: list[_Factor] = []
        while True:
            factors.append(self._factor(cur, after))
            star = cur.peek()
            if star is None or not is_op(star, "*"):
                break
            cur.take()
            after = star
        first = cur.tokens[start_pos]

        *modifiers, target = factors
        name = self._target_name(target, allow_intercept)
        fixed: float | None = None
        label: str | None = None
        start: float | None = None
        free = False
        rv: Token | None = None
        groups: tuple[_GroupValue, ...] = ()
        for mod in modifiers:
            if mod.kind == "group":
                groups = self._merge_groups(groups, mod, name)
            elif mod.kind == "rv":
                if rv is not None and rv.value != mod.name:
                    raise self.p.error(
                        f"conflicting random-slope names for {name!r}: {rv.value!r} and "
                        f"{mod.name!r}", mod.tok)
                rv = mod.tok
                if len(modifiers) > 1:
                    raise self.p.error(
                        f"rv(\"{mod.name}\") makes the coefficient of {name!r} random (a "
                        "random slope or loading); it cannot also carry a label, a fixed or a "
                        "start value "
                        f"(constrain the slope at the between level instead, e.g. "
                        f"'{mod.name} ~ 0.5*1')", mod.tok)
            elif mod.kind == "na":
                if fixed is not None:
                    raise self.p.error(
                        f"'NA' (free) conflicts with the fixed value "
                        f"{fixed:g} given for {name!r}",
                        mod.tok,
                    )
                free = True
            elif mod.kind == "number":
                if free:
                    raise self.p.error(
                        f"the fixed value {mod.number:g} conflicts with 'NA' (free) "
                        f"given for {name!r}",
                        mod.tok,
                    )
                fixed = self._merge(fixed, mod.number, "fixed values", name, mod.tok)
            elif mod.kind == "name":
                label = self._merge(label, mod.name, "labels", name, mod.tok)
            else:
                start = self._merge(start, mod.number, "start values", name, mod.tok)

        term = Term(
            name=name,
            fixed=fixed,
            free=free,
            label=label,
            start=start,
            groups=groups,
            line=target.tok.line,
            col=target.tok.col,
        )
        return ParsedTerm(term, first, target.tok, bool(modifiers) and rv is None, rv)

    def _merge(self, old: _T | None, new: _T, noun: str, name: str, tok: Token) -> _T:
        # Repeating the same modifier ("a*a*x") is harmless; two different
        # ones for the same slot are a mistake.
        if old is not None and old != new:
            raise self.p.error(
                f"conflicting {noun} for {name!r}: {old!r} and {new!r}", tok
            )
        return new

    def _merge_groups(self, old: tuple[_GroupValue, ...], mod: _Factor,
                      name: str) -> tuple[_GroupValue, ...]:
        """Two ``c(...)`` on one term combine group by group (``c(a, b)*c(1, NA)*x``)."""
        if not old:
            return mod.values
        if len(old) != len(mod.values):
            raise self.p.error(
                f"the group modifiers of {name!r} have {len(old)} and {len(mod.values)} "
                "values; give one value per group in each c(...)", mod.tok)
        out = []
        for (f1, n1, l1), (f2, n2, l2) in zip(old, mod.values):
            fixed = f1 if f2 is None else self._merge(f1, f2, "fixed values", name, mod.tok)
            label = l1 if l2 is None else self._merge(l1, l2, "labels", name, mod.tok)
            if (n1 or n2) and fixed is not None:
                raise self.p.error(f"'NA' (free) conflicts with the fixed value {fixed:g} "
                                   f"given for {name!r} in the same group", mod.tok)
            out.append((fixed, n1 or n2, label))
        return tuple(out)

    def _target_name(self, target: _Factor, allow_intercept: bool) -> str:
        if target.kind == "name":
            return target.name
        if target.kind == "number":
            if allow_intercept and target.tok.value == "1" and not target.signed:
                return "1"
            wanted = (
                "a variable name or '1' (intercept)" if allow_intercept else "a variable name"
            )
            raise self.p.error(
                f"expected {wanted}, found {describe(target.tok)}", target.tok
            )
        shown = {"na": "NA", "start": "start(...)", "rv": "rv(...)"}[target.kind]
        raise self.p.error(
            f"expected '*' and a variable name after '{shown}'", target.tok
        )

    def _factor(self, cur: TokenCursor, after: Token) -> _Factor:
        tok = cur.next()
        if tok is None:
            raise self.p.error(f"expected a variable name after '{after.value}'", after)
        ahead = cur.peek()
        if is_op(tok, "-", "+") and ahead is not None and ahead.kind == NUMBER:
            num = cur.take()
            value = float(num.value)
            # One token for sign and digits, so messages show "-1", not "-".
            signed = Token(NUMBER, tok.value + num.value, tok.line, tok.col)
            return _Factor("number", signed, -value if tok.value == "-" else value, True)
        if tok.kind == NUMBER:
            return _Factor("number", tok, float(tok.value))
        if tok.kind == NAME:
            if is_op(cur.peek(), "("):
                return self._modifier_call(cur, tok)
            if tok.keyword == "NA":
                return _Factor("na", tok)
            return _Factor("name", tok)
        raise self.p.error(
            f"expected a variable name after '{after.value}', found {describe(tok)}",
            tok,
        )

    def _modifier_call(self, cur: TokenCursor, func: Token) -> _Factor:
        if func.value == "c":
            return self._group_call(cur, func)
        if func.value == "rv":
            return self._rv_call(cur, func)
        if func.value != "start":
            raise self.p.error(
                f"modifier '{func.value}(...)' is not supported: use a label "
                "(a*x), a fixed value (0.5*x), NA*x, start(0.5)*x or rv(\"s1\")*x",
                func,
            )
        paren = cur.take()
        sign = 1.0
        tok = cur.next()
        if tok is not None and is_op(tok, "-", "+"):
            sign = -1.0 if tok.value == "-" else 1.0
            tok = cur.next()
        if tok is None or tok.kind != NUMBER:
            where = tok if tok is not None else cur.previous
            found = f", found {describe(tok)}" if tok is not None else ""
            raise self.p.error(f"expected a number inside start(...){found}", where)
        close = cur.next()
        if not is_op(close, ")"):
            if close is None:
                raise self.p.error("unclosed '(' in start(...)", paren)
            raise self.p.error(
                f"expected ')' to close start(...), found {describe(close)}", close
            )
        return _Factor("start", func, sign * float(tok.value))

    def _rv_call(self, cur: TokenCursor, func: Token) -> _Factor:
        """``rv("s1")`` (or ``rv(s1)``): the name of a random slope."""
        paren = cur.take()
        tok = cur.next()
        if tok is None or tok.kind not in (STRING, NAME) or not tok.value:
            where = tok if tok is not None else paren
            raise self.p.error('expected a slope name inside rv(...), as in rv("s1")', where)
        close = cur.next()
        if not is_op(close, ")"):
            if close is None:
                raise self.p.error("unclosed '(' in rv(...)", paren)
            raise self.p.error(f"expected ')' to close rv(...), found {describe(close)}",
                               close)
        return _Factor("rv", Token(NAME, tok.value, tok.line, tok.col))

    def _group_call(self, cur: TokenCursor, func: Token) -> _Factor:
        """``c(v1, v2, ...)``: a number, ``NA`` or a label per group."""
        paren = cur.take()
        values: list[_GroupValue] = []
        while True:
            tok = cur.next()
            if tok is None:
                raise self.p.error("unclosed '(' in c(...)", paren)
            sign = 1.0
            if is_op(tok, "-", "+"):
                sign = -1.0 if tok.value == "-" else 1.0
                nxt = cur.next()
                if nxt is None or nxt.kind != NUMBER:
                    raise self.p.error("expected a number after the sign in c(...)", tok)
                tok = nxt
            if tok.kind == NUMBER:
                values.append((sign * float(tok.value), False, None))
            elif tok.kind == NAME and tok.keyword == "NA":
                values.append((None, True, None))
            elif tok.kind == NAME:
                values.append((None, False, tok.value))
            else:
                raise self.p.error(
                    f"expected a number, NA or a label inside c(...), found {describe(tok)}",
                    tok)
            sep = cur.next()
            if is_op(sep, ")"):
                return _Factor("group", func, values=tuple(values))
            if sep is None:
                raise self.p.error("unclosed '(' in c(...)", paren)
            if not is_op(sep, ","):
                raise self.p.error(
                    f"expected ',' or ')' in c(...), found {describe(sep)}", sep)
