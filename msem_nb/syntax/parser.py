"""Parser for lavaan-style model syntax with two-level blocks and random slopes.

The accepted language is lavaan's model syntax::

    level: 1                      # or "level: within"
      fw =~ y1 + a*y2 + start(0.8)*y3
      fw ~ x1 + x2
      s1 | y1 ~ x1                # random slope of y1 on x1, named s1
    level: 2                      # or "level: between"
      fb =~ y1 + y2 + y3
      y1 ~ 1                      # intercept
    ab := a*b                     # defined parameter
    a > 0                         # inequality constraint

Parsing happens in three passes.  :func:`tokenize` turns the text into
tokens that remember where they came from; the tokens are then grouped into
statements (``;`` and line breaks end a statement unless the statement is
obviously incomplete); each statement is finally parsed by a small
hand-written recursive-descent parser.  Every error is a
:class:`ModelSyntaxError` carrying the line and column of the offending
token, so a notebook user can see exactly where the model text is wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from msem_nb.errors import MsemError

__all__ = [
    "ModelSyntaxError",
    "Token",
    "Term",
    "Expression",
    "Statement",
    "ParsedModel",
    "tokenize",
    "parse",
    "NAME",
    "NUMBER",
    "OP",
    "NEWLINE",
    "EOF",
    "MODEL_OPERATORS",
    "LEVEL_NAMES",
    "FUNCTIONS",
]


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class ModelSyntaxError(MsemError):
    """A mistake in the model text, located at a line and column.

    Parameters
    ----------
    msg : str
        What went wrong, preferably saying what was expected.
    line, col : int
        1-based position of the offending token.
    source_line : str
        The text of that line, shown under the message.
    length : int, optional
        Number of characters to underline with ``^`` (the token's width).

    Attributes
    ----------
    msg, line, col, source_line, length
        As given.

    Examples
    --------
    >>> str(ModelSyntaxError("unexpected '+'", 1, 7, "fw =~ + y1"))
    "unexpected '+' at line 1, column 7:\\n    fw =~ + y1\\n          ^"
    """

    def __init__(
        self, msg: str, line: int, col: int, source_line: str = "", length: int = 1
    ) -> None:
        self.msg = msg
        self.line = line
        self.col = col
        self.source_line = source_line
        self.length = max(1, length)
        super().__init__(self._render())

    def _render(self) -> str:
        # Copy tabs from the source line into the padding so the caret stays
        # under the right character whatever the terminal's tab width is.
        pad = "".join(
            "\t" if i < len(self.source_line) and self.source_line[i] == "\t" else " "
            for i in range(self.col - 1)
        )
        return (
            f"{self.msg} at line {self.line}, column {self.col}:\n"
            f"    {self.source_line}\n"
            f"    {pad}{'^' * self.length}"
        )

    def __reduce__(self):
        # The default reduce would call __init__ with the rendered text only.
        return (
            type(self),
            (self.msg, self.line, self.col, self.source_line, self.length),
        )


# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------

NAME = "name"
NUMBER = "number"
OP = "op"
NEWLINE = "newline"
EOF = "eof"


@dataclass(frozen=True)
class Token:
    """One lexical unit of the model text.

    Attributes
    ----------
    kind : str
        One of ``"name"``, ``"number"``, ``"op"``, ``"newline"``, ``"eof"``.
    value : str
        The exact source text of the token (numbers are kept as written).
    line, col : int
        1-based position of the first character.
    """

    kind: str
    value: str
    line: int
    col: int

    @property
    def end_col(self) -> int:
        """Column just past the last character of the token."""
        return self.col + len(self.value)


# Operator table: symbol -> role.  The tokenizer tries longer symbols first,
# so "=~" wins over a lone "=", "~~" over "~" and "**" over "*".
_OPERATORS: dict[str, str] = {
    "=~": "model",
    "~~": "model",
    ":=": "model",
    "==": "model",
    "~": "model",
    "<": "model",
    ">": "model",
    "|": "slope",
    "+": "arith",
    "-": "arith",
    "*": "arith",
    "/": "arith",
    "^": "arith",
    "**": "arith",
    "(": "paren",
    ")": "paren",
    ",": "punct",
    ";": "punct",
    ":": "punct",
}

# Symbols people plausibly type that lavaan does not have; caught in the
# tokenizer so the message can suggest the right operator.
_UNSUPPORTED_OPERATORS: dict[str, str] = {
    "<=": "'<=' is not supported: use '<' for inequality constraints",
    ">=": "'>=' is not supported: use '>' for inequality constraints",
    "=": (
        "'=' is not an operator: use '=~' for loadings, ':=' for defined "
        "parameters or '==' for equality constraints"
    ),
}

#: Operators that separate the two sides of a statement.
MODEL_OPERATORS: frozenset[str] = frozenset(
    s for s, role in _OPERATORS.items() if role == "model"
)

_MAX_OP_LEN = max(len(s) for s in (*_OPERATORS, *_UNSUPPORTED_OPERATORS))

_NUMBER_RE = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Letters or underscore first (a dot too, as in R, unless it starts a number
# like ".5"); then letters, digits, underscores and dots, so "x.1" is one name.
_NAME_RE = re.compile(r"(?:[^\W\d]|\.(?![0-9]))[\w.]*")
_SPACE_RE = re.compile(r"[ \t\f\v]+")
_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
_COMMENT_CHARS = "#!"


def _split_lines(text: str) -> list[str]:
    # str.splitlines would also split on form feeds and unicode separators,
    # which would make our line numbers disagree with the user's editor.
    return _LINE_BREAK_RE.split(text)


def tokenize(text: str) -> list[Token]:
    """Split model text into tokens, dropping whitespace and comments.

    Parameters
    ----------
    text : str
        The model text.  Comments start with ``#`` or ``!`` and run to the end
        of the line.

    Returns
    -------
    list of Token
        Names, numbers and operators in source order, a ``"newline"`` token at
        the end of every line but the last, and a final ``"eof"`` token.

    Raises
    ------
    ModelSyntaxError
        On a character that cannot start any token (e.g. ``@``), a malformed
        number such as ``2a`` or an unsupported operator such as ``<=``.

    Examples
    --------
    >>> [t.value for t in tokenize("f =~ y1 + 0.5*y2  # comment")]
    ['f', '=~', 'y1', '+', '0.5', '*', 'y2', '']
    """
    lines = _split_lines(text)
    tokens: list[Token] = []
    for lineno, line in enumerate(lines, start=1):
        pos = 0
        while pos < len(line):
            ch = line[pos]
            col = pos + 1
            space = _SPACE_RE.match(line, pos)
            if space:
                pos = space.end()
                continue
            if ch in _COMMENT_CHARS:
                break
            number = _NUMBER_RE.match(line, pos)
            if number:
                end = number.end()
                if end < len(line) and (line[end].isalnum() or line[end] in "_."):
                    bad = re.match(r"[\w.]*", line[pos:]).group()
                    raise ModelSyntaxError(
                        f"malformed number or name {bad!r} (names cannot start with a digit)",
                        lineno, col, line, len(bad),
                    )
                tokens.append(Token(NUMBER, number.group(), lineno, col))
                pos = end
                continue
            name = _NAME_RE.match(line, pos)
            if name:
                tokens.append(Token(NAME, name.group(), lineno, col))
                pos = name.end()
                continue
            for size in range(_MAX_OP_LEN, 0, -1):
                symbol = line[pos : pos + size]
                if len(symbol) < size:
                    continue
                if symbol in _OPERATORS:
                    tokens.append(Token(OP, symbol, lineno, col))
                    pos += size
                    break
                if symbol in _UNSUPPORTED_OPERATORS:
                    raise ModelSyntaxError(
                        _UNSUPPORTED_OPERATORS[symbol], lineno, col, line, size
                    )
            else:
                raise ModelSyntaxError(
                    f"unexpected character {ch!r}", lineno, col, line
                )
        if lineno < len(lines):
            tokens.append(Token(NEWLINE, "\n", lineno, len(line) + 1))
    tokens.append(Token(EOF, "", len(lines), len(lines[-1]) + 1))
    return tokens


def _describe(tok: Token) -> str:
    if tok.kind == NUMBER:
        return f"number '{tok.value}'"
    if tok.kind in (NEWLINE, EOF):
        return "the end of the statement"
    return f"'{tok.value}'"


def _is_op(tok: Token | None, *symbols: str) -> bool:
    return tok is not None and tok.kind == OP and tok.value in symbols


# ---------------------------------------------------------------------------
# Expressions (right-hand sides of :=, ==, <, >)
# ---------------------------------------------------------------------------

#: Functions allowed in defined parameters and constraints.
FUNCTIONS: Mapping[str, Callable[[float], float]] = {
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "abs": abs,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
}


@dataclass(frozen=True)
class _Num:
    value: float

    def evaluate(self, env: Mapping[str, float], text: str) -> float:
        return self.value


@dataclass(frozen=True)
class _Name:
    name: str

    def evaluate(self, env: Mapping[str, float], text: str) -> float:
        try:
            return float(env[self.name])
        except KeyError:
            raise KeyError(
                f"unknown parameter {self.name!r} in expression {text!r}"
            ) from None


@dataclass(frozen=True)
class _Neg:
    operand: object

    def evaluate(self, env: Mapping[str, float], text: str) -> float:
        return -self.operand.evaluate(env, text)


def _power(base: float, exponent: float) -> float:
    # math.pow raises on (-8) ** (1/3) where ** would quietly return a
    # complex number, which no parameter can be.
    return math.pow(base, exponent)


_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "^": _power,
}


@dataclass(frozen=True)
class _Binary:
    op: str
    left: object
    right: object

    def evaluate(self, env: Mapping[str, float], text: str) -> float:
        return _BINARY[self.op](
            self.left.evaluate(env, text), self.right.evaluate(env, text)
        )


@dataclass(frozen=True)
class _Call:
    func: str
    arg: object

    def evaluate(self, env: Mapping[str, float], text: str) -> float:
        return float(FUNCTIONS[self.func](self.arg.evaluate(env, text)))


@dataclass(frozen=True)
class Expression:
    """An arithmetic expression over parameter labels.

    Attributes
    ----------
    text : str
        Source text of the expression (continuation lines joined by a space).
    names : tuple of str
        Parameter labels referenced, in order of first appearance; function
        names such as ``exp`` are not included.
    line, col : int
        Position of the expression's first token (not used in comparisons).
    tree : object
        The parsed form; built from ``text`` on first use when not given.
    """

    text: str
    names: tuple[str, ...]
    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)
    tree: object = field(default=None, repr=False, compare=False)

    def evaluate(self, env: Mapping[str, float]) -> float:
        """Compute the value of the expression.

        Parameters
        ----------
        env : mapping of str to float
            Values of the parameters named in :attr:`names`.

        Returns
        -------
        float

        Raises
        ------
        KeyError
            If a referenced name is missing from ``env``.
        ValueError, ZeroDivisionError, OverflowError
            From the arithmetic itself, e.g. ``log(-1)`` or ``1/0``.

        Examples
        --------
        >>> parse("ab := a*b^2").statements[0].expr.evaluate({"a": 2, "b": 3})
        18.0
        """
        tree = self.tree
        if tree is None:
            tree = _parse_standalone_expression(self.text)
            # Frozen, so cache behind the dataclass's back; the tree takes no
            # part in equality or hashing.
            object.__setattr__(self, "tree", tree)
        return float(tree.evaluate(env, self.text))


# ---------------------------------------------------------------------------
# Statements
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One right-hand-side term of ``=~``, ``~``, ``~~`` or a random slope.

    Attributes
    ----------
    name : str
        Variable name, or ``"1"`` for an intercept.
    fixed : float or None
        Fixed value from a numeric modifier (``0.5*x``).
    free : bool
        True when ``NA*x`` frees the parameter (e.g. a marker loading).
    label : str or None
        Parameter label from ``a*x``.
    start : float or None
        Starting value from ``start(0.3)*x``.
    line, col : int
        Position of the variable name (not used in comparisons).
    """

    name: str
    fixed: float | None = None
    free: bool = False
    label: str | None = None
    start: float | None = None
    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Statement:
    """One parsed statement, with a single left-hand side.

    Attributes
    ----------
    lhs : str
        Left-hand variable; for ``:=`` the new parameter's name; for ``==``,
        ``<`` and ``>`` the text of the left expression.
    op : str
        ``"=~"``, ``"~"``, ``"~~"``, ``"~1"``, ``":="``, ``"=="``, ``"<"``,
        ``">"`` or ``"|~"`` (random slope).
    rhs : tuple of Term
        Terms for ``=~``, ``~``, ``~~`` and ``|~``; a single ``Term("1")`` for
        ``~1``; empty otherwise.
    level : str or None
        ``"within"``, ``"between"`` or None when the model has no levels.
    line, col : int
        Position of the left-hand side (not used in comparisons).
    expr : Expression or None
        Right-hand expression of ``:=``, ``==``, ``<`` and ``>``.
    slope : str or None
        Name of the random slope for ``|~``.
    lhs_expr : Expression or None
        Left-hand expression of ``==``, ``<`` and ``>``.
    """

    lhs: str
    op: str
    rhs: tuple[Term, ...]
    level: str | None
    line: int = field(compare=False)
    col: int = field(compare=False)
    expr: Expression | None = None
    slope: str | None = None
    lhs_expr: Expression | None = None


@dataclass(frozen=True)
class ParsedModel:
    """The result of :func:`parse`.

    Attributes
    ----------
    statements : tuple of Statement
        In source order, one per left-hand side.
    levels : tuple of str
        Level names in the order their blocks appear (``"within"``,
        ``"between"``); empty for a single-level model.
    source : str
        The model text as given.
    """

    statements: tuple[Statement, ...]
    levels: tuple[str, ...]
    source: str


#: Accepted spellings of level names, lower-cased, and what they mean.
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


@dataclass(frozen=True)
class _Factor:
    """One ``*``-separated piece of a term, before we know its role."""

    kind: str  # "number", "name", "na" or "start"
    value: object
    tok: Token
    signed: bool = False


@dataclass(frozen=True)
class _ParsedTerm:
    term: Term
    first: Token  # first token of the term, modifiers included
    target: Token
    has_modifiers: bool

    @property
    def is_intercept(self) -> bool:
        return self.term.name == "1"


class _Cursor:
    """Read position in one statement's tokens."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self, ahead: int = 0) -> Token | None:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def next(self) -> Token | None:
        tok = self.peek()
        if tok is not None:
            self.pos += 1
        return tok

    @property
    def at_end(self) -> bool:
        return self.pos >= len(self.tokens)

    @property
    def previous(self) -> Token:
        return self.tokens[self.pos - 1]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = _split_lines(text)

    # -- errors --------------------------------------------------------------

    def error(self, msg: str, tok: Token) -> ModelSyntaxError:
        source_line = self.lines[tok.line - 1] if tok.line <= len(self.lines) else ""
        return ModelSyntaxError(msg, tok.line, tok.col, source_line, len(tok.value))

    # -- statement boundaries ------------------------------------------------

    @staticmethod
    def _is_level_line(toks: Sequence[Token]) -> bool:
        return (
            len(toks) >= 2
            and toks[0].kind == NAME
            and toks[0].value.lower() == "level"
            and _is_op(toks[1], ":")
        )

    def units(self, tokens: Sequence[Token]) -> list[list[Token]]:
        """Group tokens into statements (and level lines)."""
        # Segments are runs of tokens between line breaks and ';'.  A line
        # break is a soft boundary that continuation can bridge; ';' is hard.
        segments: list[tuple[list[Token], bool]] = []
        current: list[Token] = []
        soft = True
        for tok in tokens:
            if tok.kind in (NEWLINE, EOF) or _is_op(tok, ";"):
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
                if st.op == "|~":
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
                "expected a level name after 'level:' (within, between, 1 or 2)", colon
            )
        name_tok = unit[2]
        level = LEVEL_NAMES.get(name_tok.value.lower())
        if level is None:
            raise self.error(
                f"unknown level {name_tok.value!r}: expected 'within' (or 1) or "
                "'between' (or 2)",
                name_tok,
            )
        if len(unit) > 3:
            raise self.error(
                f"unexpected {_describe(unit[3])} after the level name; a "
                "'level:' line holds only the level name",
                unit[3],
            )
        if level in seen:
            raise self.error(
                f"level {level!r} appears twice (first at line {seen[level].line})",
                name_tok,
            )
        seen[level] = name_tok
        return level

    # -- single statements ---------------------------------------------------

    def _statement(self, toks: list[Token], level: str | None) -> list[Statement]:
        if len(toks) >= 2 and _is_op(toks[1], "|"):
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
            ok = toks[i].kind == NAME if expect_name else _is_op(toks[i], "+")
            if not ok:
                return self.error(
                    "expected an operator such as '=~', '~', '~~' or ':=', "
                    f"found {_describe(toks[i])}",
                    toks[i],
                )
            i += 1
        return self.error(
            "expected an operator such as '=~', '~', '~~' or ':=' after "
            f"{_describe(toks[-1])}",
            toks[-1],
        )

    def _lhs_names(self, left: Sequence[Token], op: Token) -> list[Token]:
        if not left:
            raise self.error(f"expected a variable name before '{op.value}'", op)
        names: list[Token] = []
        cur = _Cursor(left)
        while True:
            tok = cur.next()
            if tok is None:
                raise self.error(
                    f"expected a variable name after {_describe(cur.previous)}",
                    cur.previous,
                )
            if tok.kind != NAME:
                raise self.error(
                    f"expected a variable name on the left of '{op.value}', "
                    f"found {_describe(tok)}",
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
            if not _is_op(sep, "+"):
                raise self.error(
                    f"expected '+' or '{op.value}' after '{tok.value}', "
                    f"found {_describe(sep)}",
                    sep,
                )

    def _relation(
        self, left: list[Token], op: Token, right: list[Token], level: str | None
    ) -> list[Statement]:
        lhs = self._lhs_names(left, op)
        terms = self._terms(right, op, allow_intercept=op.value == "~")
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
        return out

    def _terms(
        self, right: Sequence[Token], op: Token, allow_intercept: bool
    ) -> list[_ParsedTerm]:
        if not right:
            raise self.error(f"expected a variable name after '{op.value}'", op)
        cur = _Cursor(right)
        terms: list[_ParsedTerm] = []
        after = op
        while True:
            parsed = self._term(cur, op, after, allow_intercept)
            for earlier in terms:
                if earlier.term.name == parsed.term.name:
                    what = (
                        "the intercept '1'"
                        if parsed.is_intercept
                        else f"variable {parsed.term.name!r}"
                    )
                    raise self.error(
                        f"{what} appears twice on the right of '{op.value}'",
                        parsed.target,
                    )
            terms.append(parsed)
            sep = cur.next()
            if sep is None:
                return terms
            if not _is_op(sep, "+"):
                raise self.error(
                    f"expected '+' or the end of the statement after "
                    f"'{cur.tokens[cur.pos - 2].value}', found {_describe(sep)}",
                    sep,
                )
            after = sep

    def _term(
        self, cur: _Cursor, op: Token, after: Token, allow_intercept: bool
    ) -> _ParsedTerm:
        first = cur.peek()
        factors: list[_Factor] = []
        while True:
            factors.append(self._factor(cur, after))
            star = cur.peek()
            if not _is_op(star, "*"):
                break
            cur.next()
            after = star

        *modifiers, target = factors
        name = self._target_name(target, allow_intercept)
        values: dict[str, object] = {}
        free = False
        for mod in modifiers:
            if mod.kind == "na":
                if "fixed" in values:
                    raise self.error(
                        f"'NA' (free) conflicts with the fixed value "
                        f"{values['fixed']:g} given for {name!r}",
                        mod.tok,
                    )
                free = True
                continue
            slot = {"number": "fixed", "name": "label", "start": "start"}[mod.kind]
            if slot == "fixed" and free:
                raise self.error(
                    f"the fixed value {mod.value:g} conflicts with 'NA' (free) "
                    f"given for {name!r}",
                    mod.tok,
                )
            if slot in values and values[slot] != mod.value:
                noun = {"fixed": "fixed values", "label": "labels", "start": "start values"}
                raise self.error(
                    f"conflicting {noun[slot]} for {name!r}: "
                    f"{values[slot]!r} and {mod.value!r}",
                    mod.tok,
                )
            values[slot] = mod.value

        term = Term(
            name=name,
            fixed=values.get("fixed"),
            free=free,
            label=values.get("label"),
            start=values.get("start"),
            line=target.tok.line,
            col=target.tok.col,
        )
        return _ParsedTerm(term, first, target.tok, bool(modifiers))

    def _target_name(self, target: _Factor, allow_intercept: bool) -> str:
        if target.kind == "name":
            return target.value
        if target.kind == "number":
            if allow_intercept and target.tok.value == "1" and not target.signed:
                return "1"
            wanted = (
                "a variable name or '1' (intercept)" if allow_intercept else "a variable name"
            )
            raise self.error(
                f"expected {wanted}, found {_describe(target.tok)}", target.tok
            )
        shown = "NA" if target.kind == "na" else "start(...)"
        raise self.error(
            f"expected '*' and a variable name after '{shown}'", target.tok
        )

    def _factor(self, cur: _Cursor, after: Token) -> _Factor:
        tok = cur.next()
        if tok is None:
            raise self.error(f"expected a variable name after '{after.value}'", after)
        if _is_op(tok, "-", "+") and cur.peek() is not None and cur.peek().kind == NUMBER:
            num = cur.next()
            value = float(num.value)
            # One token for sign and digits, so messages show "-1", not "-".
            signed = Token(NUMBER, tok.value + num.value, tok.line, tok.col)
            return _Factor("number", -value if tok.value == "-" else value, signed, True)
        if tok.kind == NUMBER:
            return _Factor("number", float(tok.value), tok)
        if tok.kind == NAME:
            if _is_op(cur.peek(), "("):
                return self._modifier_call(cur, tok)
            if tok.value == "NA":
                return _Factor("na", None, tok)
            return _Factor("name", tok.value, tok)
        raise self.error(
            f"expected a variable name after '{after.value}', found {_describe(tok)}",
            tok,
        )

    def _modifier_call(self, cur: _Cursor, func: Token) -> _Factor:
        if func.value == "c":
            raise self.error(
                "group modifiers such as c(...) are not supported: models have a "
                "single group (use a label like a*x or a value like 0.5*x)",
                func,
            )
        if func.value != "start":
            raise self.error(
                f"modifier '{func.value}(...)' is not supported: use a label "
                "(a*x), a fixed value (0.5*x), NA*x or start(0.5)*x",
                func,
            )
        paren = cur.next()
        sign = 1.0
        tok = cur.next()
        if _is_op(tok, "-", "+"):
            sign = -1.0 if tok.value == "-" else 1.0
            tok = cur.next()
        if tok is None or tok.kind != NUMBER:
            where = tok if tok is not None else cur.previous
            found = f", found {_describe(tok)}" if tok is not None else ""
            raise self.error(f"expected a number inside start(...){found}", where)
        close = cur.next()
        if not _is_op(close, ")"):
            if close is None:
                raise self.error("unclosed '(' in start(...)", paren)
            raise self.error(
                f"expected ')' to close start(...), found {_describe(close)}", close
            )
        return _Factor("start", sign * float(tok.value), func)

    def _random_slope(self, toks: list[Token], level: str | None) -> Statement:
        slope, bar = toks[0], toks[1]
        if slope.kind != NAME:
            raise self.error(
                f"expected a slope name before '|', found {_describe(slope)}", slope
            )
        cur = _Cursor(toks[2:])
        outcome = cur.next()
        if outcome is None:
            raise self.error("expected an outcome name after '|'", bar)
        if outcome.kind != NAME:
            raise self.error(
                f"expected an outcome name after '|', found {_describe(outcome)}",
                outcome,
            )
        op = cur.next()
        if op is None:
            raise self.error(
                f"expected '~' after '{outcome.value}' (random slopes are "
                "written 's | y ~ x')",
                outcome,
            )
        if _is_op(op, "+"):
            raise self.error(
                "a random slope has one outcome: write one 's | y ~ x' "
                "statement per outcome",
                op,
            )
        if not _is_op(op, "~"):
            raise self.error(
                f"expected '~' after '{outcome.value}' (random slopes are "
                f"written 's | y ~ x'), found {_describe(op)}",
                op,
            )
        terms = self._terms(toks[2 + cur.pos :], op, allow_intercept=False)
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
                f"expected a parameter name before ':=', found {_describe(left[0])}",
                left[0],
            )
        if len(left) > 1:
            raise self.error(
                "the left of ':=' must be a single parameter name, found "
                f"{_describe(left[1])}",
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
        tree = _ExpressionParser(self, toks, names).parse()
        return Expression(
            self._span_text(toks), tuple(names), toks[0].line, toks[0].col, tree
        )

    def _span_text(self, toks: Sequence[Token]) -> str:
        # Rebuild from the source rather than joining token values, so the
        # user's own spacing survives ("a*b + c"); comments and line breaks
        # inside a continued expression become a single space.
        parts = [toks[0].value]
        for prev, tok in zip(toks, toks[1:]):
            if tok.line == prev.line:
                parts.append(self.lines[tok.line - 1][prev.end_col - 1 : tok.col - 1])
            else:
                parts.append(" ")
            parts.append(tok.value)
        return "".join(parts)


class _ExpressionParser:
    """Recursive descent over arithmetic, with R's precedences.

    expr    := product (('+' | '-') product)*
    product := unary (('*' | '/') unary)*
    unary   := ('-' | '+') unary | power
    power   := atom (('^' | '**') unary)?       # right-assoc; -a^2 = -(a^2)
    atom    := NUMBER | NAME | NAME '(' expr ')' | '(' expr ')'
    """

    def __init__(self, parser: _Parser, toks: Sequence[Token], names: list[str]):
        self.p = parser
        self.cur = _Cursor(toks)
        self.names = names

    def parse(self):
        node = self.expr()
        tok = self.cur.peek()
        if tok is not None:
            if _is_op(tok, ")"):
                raise self.p.error("unmatched ')'", tok)
            raise self.p.error(
                f"unexpected {_describe(tok)} after '{self.cur.previous.value}' "
                "in expression",
                tok,
            )
        return node

    def expr(self):
        node = self.product()
        while _is_op(self.cur.peek(), "+", "-"):
            op = self.cur.next().value
            node = _Binary(op, node, self.product())
        return node

    def product(self):
        node = self.unary()
        while _is_op(self.cur.peek(), "*", "/"):
            op = self.cur.next().value
            node = _Binary(op, node, self.unary())
        return node

    def unary(self):
        if _is_op(self.cur.peek(), "-", "+"):
            sign = self.cur.next().value
            operand = self.unary()
            return _Neg(operand) if sign == "-" else operand
        return self.power()

    def power(self):
        node = self.atom()
        if _is_op(self.cur.peek(), "^", "**"):
            self.cur.next()
            node = _Binary("^", node, self.unary())
        return node

    def atom(self):
        tok = self.cur.next()
        if tok is None:
            prev = self.cur.previous
            raise self.p.error(
                f"expected a number, a name or '(' after '{prev.value}'", prev
            )
        if tok.kind == NUMBER:
            return _Num(float(tok.value))
        if tok.kind == NAME:
            if _is_op(self.cur.peek(), "("):
                if tok.value not in FUNCTIONS:
                    allowed = ", ".join(sorted(FUNCTIONS))
                    raise self.p.error(
                        f"unknown function {tok.value!r} (allowed: {allowed})", tok
                    )
                return _Call(tok.value, self.group(self.cur.next()))
            if tok.value not in self.names:
                self.names.append(tok.value)
            return _Name(tok.value)
        if _is_op(tok, "("):
            return self.group(tok)
        if _is_op(tok, ")"):
            raise self.p.error("unmatched ')'", tok)
        raise self.p.error(
            f"expected a number, a name or '(', found {_describe(tok)}", tok
        )

    def group(self, open_tok: Token):
        node = self.expr()
        close = self.cur.next()
        if close is None:
            raise self.p.error("unclosed '(': expected ')'", open_tok)
        if not _is_op(close, ")"):
            raise self.p.error(
                f"expected ')' to close the '(' at column {open_tok.col}, "
                f"found {_describe(close)}",
                close,
            )
        return node


def _parse_standalone_expression(text: str):
    # For Expression objects built by hand (without a tree): parse their text
    # on its own, so positions in errors refer to that text.
    parser = _Parser(text)
    toks = [t for t in tokenize(text) if t.kind not in (NEWLINE, EOF)]
    if not toks:
        raise ModelSyntaxError("empty expression", 1, 1, parser.lines[0])
    return _ExpressionParser(parser, toks, []).parse()


def parse(text: str) -> ParsedModel:
    """Parse lavaan-style model syntax.

    Parameters
    ----------
    text : str
        The model.  Statements are separated by line breaks or ``;``; a
        statement continues on the next line when a line ends with an
        operator (``+``, ``*``, ``=~``, ...) or the next line starts with one.
        ``level: within`` / ``level: 1`` and ``level: between`` /
        ``level: 2`` lines open the two blocks of a multilevel model.

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

    Examples
    --------
    >>> m = parse("level: 1\\n fw =~ y1 + y2\\nlevel: 2\\n fb =~ y1 + y2")
    >>> [(s.level, s.lhs, s.op, [t.name for t in s.rhs]) for s in m.statements]
    [('within', 'fw', '=~', ['y1', 'y2']), ('between', 'fb', '=~', ['y1', 'y2'])]
    """
    return _Parser(text).parse()
