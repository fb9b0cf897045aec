"""Model syntax: lavaan-style model text to :class:`ParsedModel`.

The package is split by what each module holds:

- :mod:`~msem_nb.syntax.text`: the model text checked to be a str, a byte
  order mark dropped;
- :mod:`~msem_nb.syntax.tokens`: the tokenizer, :class:`Token`, the located
  :class:`ModelSyntaxError`, names in backticks and small token helpers;
- :mod:`~msem_nb.syntax.expressions`: arithmetic expressions of ``:=`` and
  constraints (tree, parser, evaluation);
- :mod:`~msem_nb.syntax.terms`: right-hand-side terms with their modifiers;
- :mod:`~msem_nb.syntax.statements`: :class:`Term`, :class:`Statement` and
  :class:`ParsedModel`, the parser's output;
- :mod:`~msem_nb.syntax.parser`: the statement parser and :func:`parse`
  (its docstring describes the grammar).
"""

from msem_nb.syntax.expressions import FUNCTIONS, Expression
from msem_nb.syntax.parser import LEVEL_NAMES, parse
from msem_nb.syntax.statements import ParsedModel, Statement, Term
from msem_nb.syntax.tokens import (
                                   EOF,
                                   MODEL_OPERATORS,
                                   NAME,
                                   NEWLINE,
                                   NUMBER,
                                   OP,
                                   ModelSyntaxError,
                                   Token,
                                   tokenize,
)

__all__ = [
    "EOF",
    "FUNCTIONS",
    "LEVEL_NAMES",
    "MODEL_OPERATORS",
    "NAME",
    "NEWLINE",
    "NUMBER",
    "OP",
    "Expression",
    "ModelSyntaxError",
    "ParsedModel",
    "Statement",
    "Term",
    "Token",
    "parse",
    "tokenize",
]
