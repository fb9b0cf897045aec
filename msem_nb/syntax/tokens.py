"""Tokens of the model syntax: the tokenizer, located errors and token helpers.

This module holds the first pass of parsing. :func:`tokenize` turns the model
text into :class:`Token` objects that remember their line and column; every
later mistake is reported as a :class:`ModelSyntaxError` at such a position
(built by :class:`SourceText`). A name that is not a plain identifier (a
column called ``math score``, ``2nd wave`` or ``a-b``) is written in backticks,
as in R and lavaan: ```math score` ~ ses`` gives a NAME token whose value is
the text between the backticks (:func:`is_plain_name`, :func:`quote_name`).
The small helpers :func:`describe`,
:func:`is_op`, :class:`TokenCursor` and the :class:`ErrorReporter` protocol
are shared by the expression parser
(:mod:`msem_nb.syntax.expressions`), the term parser
(:mod:`msem_nb.syntax.terms`) and the statement parser
(:mod:`msem_nb.syntax.parser`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

from msem_nb.errors import MsemError
from msem_nb.syntax.text import model_text

__all__ = [
    "ModelSyntaxError",
    "Token",
    "NAME",
    "NUMBER",
    "STRING",
    "OP",
    "NEWLINE",
    "EOF",
    "MODEL_OPERATORS",
    "tokenize",
    "split_lines",
    "describe",
    "is_op",
    "TokenCursor",
    "ErrorReporter",
    "SourceText",
    "is_plain_name",
    "quote_name",
    "spelled",
    "spaced_name_hint",
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

    def __reduce__(self) -> tuple[type[ModelSyntaxError], tuple[str, int, int, str, int]]:
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
#: a double- or single-quoted literal, as in lavaan's ``rv("s1")``
STRING = "string"
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
        The exact source text of the token (numbers are kept as written);
        for a name in backticks, the text between them.
    line, col : int
        1-based position of the first character (the opening backtick of a
        quoted name).
    quoted : bool
        True for a name written in backticks: it is never a keyword (``NA``,
        ``start``, ``level``) and it spans two more columns than its value.
    """

    kind: str
    value: str
    line: int
    col: int
    quoted: bool = False

    @property
    def width(self) -> int:
        """Number of source characters of the token (backticks included)."""
        return len(self.value) + (2 if self.quoted else 0)

    @property
    def end_col(self) -> int:
        """Column just past the last character of the token."""
        return self.col + self.width

    @property
    def keyword(self) -> str | None:
        """The value of an unquoted name (which may be a keyword), else None."""
        return self.value if self.kind == NAME and not self.quoted else None


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
_WORD_RE = re.compile(r"[\w.]*")
_SPACE_RE = re.compile(r"[ \t\f\v]+")
_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
_COMMENT_CHARS = "#!"
_BACKTICK = "`"
# Plain names that mean something else where a variable can stand ("NA*x").
_KEYWORD_NAMES = frozenset({"NA"})


def is_plain_name(text: str) -> bool:
    """Whether `text` can be written in a model as it is, without backticks.

    Parameters
    ----------
    text : str

    Returns
    -------
    bool
        True for names such as ``y1``, ``math_score``, ``x.1`` or ``Größe``
        (letters, digits, ``_`` and ``.``, not starting with a digit).

    Examples
    --------
    >>> is_plain_name("math_score"), is_plain_name("math score"), is_plain_name("2nd")
    (True, False, False)
    """
    return bool(text) and _NAME_RE.fullmatch(text) is not None


def quote_name(text: str) -> str:
    """`text` as it is written in a model: in backticks unless it is a plain name.

    ``NA`` (a keyword) is quoted too.

    Examples
    --------
    >>> quote_name("y1"), quote_name("math score")
    ('y1', '`math score`')
    """
    plain = is_plain_name(text) and text not in _KEYWORD_NAMES
    return text if plain else f"{_BACKTICK}{text}{_BACKTICK}"


def split_lines(text: str) -> list[str]:
    """Split text at line breaks the way an editor numbers its lines.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of str
        The lines without their ``\\n``, ``\\r\\n`` or ``\\r`` endings; at least
        one (empty) line.
    """
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
        number such as ``2a``, an unsupported operator such as ``<=`` or a
        backtick without its closing one on the same line.
    ModelSpecificationError
        When `text` is not a str (see :func:`msem_nb.syntax.text.model_text`).

    Notes
    -----
    A name in backticks (```math score```) may hold any characters but a
    backtick and a line break. A byte order mark at the very start of the
    text (saved by some editors) is dropped before anything is counted, so
    columns are those an editor shows.

    Examples
    --------
    >>> [t.value for t in tokenize("f =~ y1 + 0.5*y2  # comment")]
    ['f', '=~', 'y1', '+', '0.5', '*', 'y2', '']
    """
    lines = split_lines(model_text(text))
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
            if ch == _BACKTICK:
                tokens.append(_quoted_name(line, lineno, pos))
                pos = tokens[-1].end_col - 1
                continue
            # a quoted literal only as the argument of rv(...): elsewhere a
            # quote stays an unexpected character (nothing is a string to evaluate)
            if ch in "\"'" and len(tokens) >= 2 and tokens[-1].kind == OP \
                    and tokens[-1].value == "(" and tokens[-2].value == "rv":
                close = line.find(ch, pos + 1)
                if close < 0:
                    raise ModelSyntaxError(f"unclosed quote {ch}", lineno, col, line)
                tokens.append(Token(STRING, line[pos + 1:close], lineno, col))
                pos = close + 1
                continue
            number = _NUMBER_RE.match(line, pos)
            if number:
                end = number.end()
                if end < len(line) and (line[end].isalnum() or line[end] in "_."):
                    # _WORD_RE matches the empty string, so it always matches.
                    word = _WORD_RE.match(line, pos)
                    bad = word.group() if word else line[pos:end]
                    raise ModelSyntaxError(
                        f"malformed number or name {bad!r} (names cannot start with a digit; "
                        f"a column with such a name is written in backticks: `{bad}`)",
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


def _quoted_name(line: str, lineno: int, pos: int) -> Token:
    """The NAME token of a backtick-quoted name starting at ``line[pos]``."""
    close = line.find(_BACKTICK, pos + 1)
    if close < 0:
        raise ModelSyntaxError(
            "unterminated name in backticks: close it with a second '`' on the same line "
            "(e.g. `math score`)", lineno, pos + 1, line)
    value = line[pos + 1 : close]
    if not value.strip():
        raise ModelSyntaxError("empty name between backticks", lineno, pos + 1, line,
                               close - pos + 1)
    return Token(NAME, value, lineno, pos + 1, quoted=True)


# ---------------------------------------------------------------------------
# Helpers shared by the expression and statement parsers
# ---------------------------------------------------------------------------


def describe(tok: Token) -> str:
    """How an error message names a token.

    Parameters
    ----------
    tok : Token

    Returns
    -------
    str
        ``number '0.5'`` for numbers, ``the end of the statement`` for line
        ends, and the quoted text otherwise (``'+'``).
    """
    if tok.kind == NUMBER:
        return f"number '{tok.value}'"
    if tok.kind == STRING:
        return f"string '{tok.value}'"
    if tok.kind in (NEWLINE, EOF):
        return "the end of the statement"
    if tok.quoted:
        return f"`{tok.value}`"
    return f"'{tok.value}'"


def spelled(tok: Token) -> str:
    """A token as the user wrote it, quoted for a message: ``'y1'`` or ```math score```."""
    return f"`{tok.value}`" if tok.quoted else f"'{tok.value}'"


def spaced_name_hint(prev: Token, tok: Token) -> str:
    """A hint when two names follow each other on a line: maybe one name with a space.

    Parameters
    ----------
    prev, tok : Token
        The token read last and the one that does not fit after it.

    Returns
    -------
    str
        ``" (a name with spaces is written in backticks: `math score`)"``
        when both are unquoted names on the same line, else ``""``.
    """
    if prev.keyword is None or tok.keyword is None or prev.line != tok.line:
        return ""
    return f" (a name with spaces is written in backticks: `{prev.value} {tok.value}`)"


def is_op(tok: Token | None, *symbols: str) -> bool:
    """Whether `tok` is one of the operators `symbols`.

    Parameters
    ----------
    tok : Token or None
        None (past the end of a statement) is never an operator.
    *symbols : str
        Operator texts such as ``"+"`` or ``"=~"``.

    Returns
    -------
    bool
    """
    return tok is not None and tok.kind == OP and tok.value in symbols


class TokenCursor:
    """Read position in one statement's tokens.

    Parameters
    ----------
    tokens : sequence of Token
        The statement's tokens, without line ends.

    Attributes
    ----------
    tokens : sequence of Token
    pos : int
        Index of the next token to read.
    """

    def __init__(self, tokens: Sequence[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self, ahead: int = 0) -> Token | None:
        """The token `ahead` places after the next one, or None past the end."""
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def next(self) -> Token | None:
        """Consume and return the next token, or None at the end."""
        tok = self.peek()
        if tok is not None:
            self.pos += 1
        return tok

    def take(self) -> Token:
        """Consume the next token, which the caller has seen with :meth:`peek`.

        Raises
        ------
        IndexError
            At the end of the tokens: a bug in the caller, not in the model.
        """
        tok = self.next()
        if tok is None:
            raise IndexError("no token left to take")
        return tok

    @property
    def at_end(self) -> bool:
        """True when every token has been read."""
        return self.pos >= len(self.tokens)

    @property
    def previous(self) -> Token:
        """The token read last (the cursor must have moved)."""
        return self.tokens[self.pos - 1]


class ErrorReporter(Protocol):
    """Something that turns a message and a token into a located syntax error.

    The expression and term parsers need only this from whoever drives them;
    :class:`SourceText` is the usual one.
    """

    def error(self, msg: str, tok: Token) -> ModelSyntaxError:
        """The error to raise for `tok` (see :meth:`SourceText.error`)."""
        ...


class SourceText:
    """Model text split into lines, which turns a message and a token into an error.

    Parameters
    ----------
    text : str
        The model text that was tokenized.

    Attributes
    ----------
    text : str
        As given, less a byte order mark at its start.
    lines : list of str
        As :func:`split_lines` gives them.
    """

    def __init__(self, text: str) -> None:
        # positions count from after a byte order mark, as tokenize does
        self.text = model_text(text)
        self.lines = split_lines(self.text)

    def error(self, msg: str, tok: Token) -> ModelSyntaxError:
        """A :class:`ModelSyntaxError` underlining `tok` in its source line.

        Parameters
        ----------
        msg : str
        tok : Token

        Returns
        -------
        ModelSyntaxError
            For the caller to raise.
        """
        source_line = self.lines[tok.line - 1] if tok.line <= len(self.lines) else ""
        return ModelSyntaxError(msg, tok.line, tok.col, source_line, tok.width)

    def span_text(self, toks: Sequence[Token]) -> str:
        """The source text from the first to the last of `toks`.

        Parameters
        ----------
        toks : sequence of Token
            Non-empty, in source order.

        Returns
        -------
        str
            The user's own spacing within a line; a line break (and any
            comment before it) between two tokens becomes a single space.
        """
        # Rebuild from the source rather than joining token values, so the
        # user's own spacing survives ("a*b + c").
        parts = [toks[0].value]
        for prev, tok in pairwise(toks):
            if tok.line == prev.line:
                parts.append(self.lines[tok.line - 1][prev.end_col - 1 : tok.col - 1])
            else:
                parts.append(" ")
            parts.append(tok.value)
        return "".join(parts)
