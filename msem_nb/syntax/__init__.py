"""Model syntax: tokens with source positions, expressions, statements."""

from msem_nb.syntax.parser import (Expression, ModelSyntaxError, ParsedModel, Statement, Term,
                                   parse, tokenize)

__all__ = ["Expression", "ModelSyntaxError", "ParsedModel", "Statement", "Term", "parse",
           "tokenize"]
