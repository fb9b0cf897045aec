"""Model statements as lavaan syntax text: the panel writes the text it shows from these.

:func:`syntax_number` writes a number that parses back to the same float,
:func:`term_text` a right-hand-side term with its modifiers and
:func:`statement_text` one statement as a line, so that
``parse(text)`` of what they write gives back the same statements
(:mod:`msem_nb.widget.model` relies on it).
"""

from __future__ import annotations

import math

from msem_nb.syntax import Statement, Term
from msem_nb.syntax.tokens import quote_name

__all__ = ["syntax_number", "term_text", "statement_text"]


def syntax_number(v: float) -> str:
    """A number as model syntax text that parses back to exactly the same float.

    Not :func:`msem_nb.format.num`, which rounds for display: a fixed value
    written into the syntax must survive the round trip, so this is ``repr``
    (shortest exact text), with whole numbers written without ``.0``.
    """
    v = float(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def term_text(t: Term) -> str:
    """A right-hand-side term with its modifiers, as lavaan syntax.

    Parameters
    ----------
    t : msem_nb.syntax.Term

    Returns
    -------
    str
        e.g. ``"a*x"``, ``"0.5*x"``, ``"NA*y1"``, ``"start(0.3)*x"``; a name that
        is not a plain name in backticks (``"`math score`"``), so the text parses
        back to the same names.
    """
    mods = []
    if t.label:
        mods.append(t.label)
    if t.fixed is not None and math.isfinite(t.fixed):
        mods.append(syntax_number(t.fixed))
    if t.free:
        mods.append("NA")
    if t.start is not None:
        mods.append(f"start({syntax_number(t.start)})")
    # "1" is the intercept of a ~1 statement, not a variable
    return "*".join(mods + [t.name if t.name == "1" else quote_name(t.name)])


def statement_text(s: Statement) -> str:
    """One statement as a line of lavaan syntax (no indentation).

    Parameters
    ----------
    s : msem_nb.syntax.parser.Statement

    Returns
    -------
    str
        e.g. ``"y ~ a*x + z"``, ``"s1 | y ~ x"``, ``"ab := a*b"``.
    """
    lhs = quote_name(s.lhs)
    if s.op in ("=~", "~", "~~"):
        return f"{lhs} {s.op} {' + '.join(term_text(t) for t in s.rhs)}"
    if s.op == "|~":
        return f"{s.slope} | {lhs} ~ {term_text(s.rhs[0])}"
    if s.op == "~1":
        return f"{lhs} ~ {term_text(s.rhs[0])}"
    if s.op in (":=", "==", "<", ">") and s.expr is not None:
        return f"{s.lhs} {s.op} {s.expr.text}"
    raise ValueError(f"unexpected operator {s.op!r}")  # pragma: no cover
