"""Arithmetic expressions over parameter labels: the tree, its parser and evaluation.

Defined parameters (``ab := a*b``) and constraints (``a == 2*b``, ``a > 0``)
have arithmetic on their sides. This module holds:

- the tree nodes (``NumNode``, ``NameNode``, ``NegNode``, ``BinaryNode``, ``CallNode``), each
  with ``evaluate(env, text) -> float``. Their class names are read by
  :mod:`msem_nb.inference.defined`, which walks the same tree with numpy
  arrays, so renaming a node class silently sends it to its slower path;
- :data:`FUNCTIONS`, the functions an expression may call;
- :class:`Expression`, the expression as a statement keeps it (source text,
  referenced labels, tree);
- :class:`ExpressionParser`, a recursive-descent parser with R's precedences
  (grammar in its docstring). It reports errors through any
  :class:`~msem_nb.syntax.tokens.ErrorReporter`, so it needs nothing from the statement parser.

Evaluation uses ``math``: ``a^b`` is ``math.pow``, so a negative base with a
fractional exponent raises ``ValueError`` instead of giving a complex number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from msem_nb.syntax.tokens import (
    EOF,
    NAME,
    NEWLINE,
    NUMBER,
    ErrorReporter,
    ModelSyntaxError,
    SourceText,
    Token,
    TokenCursor,
    describe,
    is_op,
    tokenize,
)

__all__ = [
    "FUNCTIONS",
    "ExpressionNode",
    "NumNode",
    "NameNode",
    "NegNode",
    "BinaryNode",
    "CallNode",
    "Expression",
    "ExpressionParser",
    "parse_expression_text",
]


class ExpressionNode(Protocol):
    """A node of an expression tree."""

    def evaluate(self, env: Mapping[str, float], text: str) -> float:
        """The node's value; `text` is the whole expression, for messages."""
        ...


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
class NumNode:
    value: float

    def evaluate(self, env: Mapping[str, float], text: str) -> float:
        return self.value


@dataclass(frozen=True)
class NameNode:
    name: str

    def evaluate(self, env: Mapping[str, float], text: str) -> float:
        try:
            return float(env[self.name])
        except KeyError:
            raise KeyError(
                f"unknown parameter {self.name!r} in expression {text!r}"
            ) from None


@dataclass(frozen=True)
class NegNode:
    operand: ExpressionNode

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
class BinaryNode:
    op: str
    left: ExpressionNode
    right: ExpressionNode

    def evaluate(self, env: Mapping[str, float], text: str) -> float:
        return _BINARY[self.op](
            self.left.evaluate(env, text), self.right.evaluate(env, text)
        )


@dataclass(frozen=True)
class CallNode:
    func: str
    arg: ExpressionNode

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
    tree : ExpressionNode or None
        The parsed form; built from ``text`` on first use when not given.
    """

    text: str
    names: tuple[str, ...]
    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)
    tree: ExpressionNode | None = field(default=None, repr=False, compare=False)

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
        >>> from msem_nb.syntax import parse
        >>> parse("ab := a*b^2").statements[0].expr.evaluate({"a": 2, "b": 3})
        18.0
        """
        tree = self.tree
        if tree is None:
            tree = parse_expression_text(self.text)
            # Frozen, so cache behind the dataclass's back; the tree takes no
            # part in equality or hashing.
            object.__setattr__(self, "tree", tree)
        return float(tree.evaluate(env, self.text))


class ExpressionParser:
    """Recursive descent over arithmetic, with R's precedences.

    ::

        expr    := product (('+' | '-') product)*
        product := unary (('*' | '/') unary)*
        unary   := ('-' | '+') unary | power
        power   := atom (('^' | '**') unary)?       # right-assoc; -a^2 = -(a^2)
        atom    := NUMBER | NAME | NAME '(' expr ')' | '(' expr ')'

    Parameters
    ----------
    reporter : ErrorReporter
        Builds the errors, located in the model text the tokens came from.
    toks : sequence of Token
        The expression's tokens (non-empty, no line ends).
    names : list of str
        Receives the parameter labels referenced, in order of first
        appearance.
    """

    def __init__(
        self, reporter: ErrorReporter, toks: Sequence[Token], names: list[str]
    ) -> None:
        self.p = reporter
        self.cur = TokenCursor(toks)
        self.names = names

    def parse(self) -> ExpressionNode:
        """Parse all the tokens as one expression.

        Returns
        -------
        ExpressionNode
            The root of the tree.

        Raises
        ------
        ModelSyntaxError
            From the reporter, at the first token that does not fit.
        """
        node = self.expr()
        tok = self.cur.peek()
        if tok is not None:
            if is_op(tok, ")"):
                raise self.p.error("unmatched ')'", tok)
            raise self.p.error(
                f"unexpected {describe(tok)} after '{self.cur.previous.value}' "
                "in expression",
                tok,
            )
        return node

    def expr(self) -> ExpressionNode:
        """``expr := product (('+' | '-') product)*``"""
        node = self.product()
        while is_op(self.cur.peek(), "+", "-"):
            op = self.cur.take().value
            node = BinaryNode(op, node, self.product())
        return node

    def product(self) -> ExpressionNode:
        """``product := unary (('*' | '/') unary)*``"""
        node = self.unary()
        while is_op(self.cur.peek(), "*", "/"):
            op = self.cur.take().value
            node = BinaryNode(op, node, self.unary())
        return node

    def unary(self) -> ExpressionNode:
        """``unary := ('-' | '+') unary | power``"""
        if is_op(self.cur.peek(), "-", "+"):
            sign = self.cur.take().value
            operand = self.unary()
            return NegNode(operand) if sign == "-" else operand
        return self.power()

    def power(self) -> ExpressionNode:
        """``power := atom (('^' | '**') unary)?``"""
        node = self.atom()
        if is_op(self.cur.peek(), "^", "**"):
            self.cur.take()
            node = BinaryNode("^", node, self.unary())
        return node

    def atom(self) -> ExpressionNode:
        """``atom := NUMBER | NAME | NAME '(' expr ')' | '(' expr ')'``"""
        tok = self.cur.next()
        if tok is None:
            prev = self.cur.previous
            raise self.p.error(
                f"expected a number, a name or '(' after '{prev.value}'", prev
            )
        if tok.kind == NUMBER:
            return NumNode(float(tok.value))
        if tok.kind == NAME:
            if is_op(self.cur.peek(), "("):
                if tok.value not in FUNCTIONS:
                    allowed = ", ".join(sorted(FUNCTIONS))
                    raise self.p.error(
                        f"unknown function {tok.value!r} (allowed: {allowed})", tok
                    )
                return CallNode(tok.value, self.group(self.cur.take()))
            if tok.value not in self.names:
                self.names.append(tok.value)
            return NameNode(tok.value)
        if is_op(tok, "("):
            return self.group(tok)
        if is_op(tok, ")"):
            raise self.p.error("unmatched ')'", tok)
        raise self.p.error(
            f"expected a number, a name or '(', found {describe(tok)}", tok
        )

    def group(self, open_tok: Token) -> ExpressionNode:
        """The expression after `open_tok` (a ``(``), up to its ``)``."""
        node = self.expr()
        close = self.cur.next()
        if close is None:
            raise self.p.error("unclosed '(': expected ')'", open_tok)
        if not is_op(close, ")"):
            raise self.p.error(
                f"expected ')' to close the '(' at column {open_tok.col}, "
                f"found {describe(close)}",
                close,
            )
        return node


def parse_expression_text(text: str) -> ExpressionNode:
    """Parse `text` on its own as one arithmetic expression.

    Used for :class:`Expression` objects built by hand (without a tree), so
    positions in errors refer to `text` itself.

    Parameters
    ----------
    text : str

    Returns
    -------
    ExpressionNode

    Raises
    ------
    ModelSyntaxError
        When `text` is empty or not an expression.
    """
    source = SourceText(text)
    toks = [t for t in tokenize(text) if t.kind not in (NEWLINE, EOF)]
    if not toks:
        raise ModelSyntaxError("empty expression", 1, 1, source.lines[0])
    return ExpressionParser(source, toks, []).parse()
