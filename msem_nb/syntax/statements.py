"""What the parser produces: :class:`Term`, :class:`Statement` and :class:`ParsedModel`.

These frozen dataclasses are the whole interface between the model syntax
and the rest of the package: :func:`msem_nb.syntax.parser.parse` builds them,
the parameter table (:mod:`msem_nb.model.partable`) and the panel read them.
Positions (``line``, ``col``) are kept for messages and take no part in
comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from msem_nb.syntax.expressions import Expression

__all__ = ["Term", "Statement", "ParsedModel"]



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
    groups : tuple of (fixed, free, label)
        Per-group modifiers from ``c(...)`` (``c(a1, a2)*x``, ``c(1, NA)*x``):
        one entry per group, in the order of the groups; empty without them.
    line, col : int
        Position of the variable name (not used in comparisons).
    """

    name: str
    fixed: float | None = None
    free: bool = False
    label: str | None = None
    start: float | None = None
    groups: tuple[tuple[float | None, bool, str | None], ...] = ()
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
        Label of the statement's level block (as in
        :attr:`ParsedModel.levels`), or None when the model has no levels.
    line, col : int
        Position of the left-hand side (not used in comparisons).
    expr : Expression or None
        Right-hand expression of ``:=``, ``==``, ``<`` and ``>``.
    slope : str or None
        Name of the random slope for ``|~``.
    lhs_expr : Expression or None
        Left-hand expression of ``==``, ``<`` and ``>``.
    loading : bool
        True for a ``|~`` statement written as a random loading,
        ``f =~ rv("l2")*y2``: the statement ``l2 | y2 ~ f`` (the loading of
        ``y2`` on the within factor ``f`` is the coefficient of ``y2`` on ``f``),
        kept apart so that summaries can call it a loading.
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
    loading: bool = False


@dataclass(frozen=True)
class ParsedModel:
    """The result of :func:`msem_nb.syntax.parser.parse`.

    Attributes
    ----------
    statements : tuple of Statement
        In source order, one per left-hand side.
    levels : tuple of str
        Level labels in the order their blocks appear: ``"within"`` (for
        ``level: 1`` or ``level: within``), ``"between"`` (``2`` or
        ``between``), any other label as written (``"3"``, ``"school"``);
        empty for a single-level model.
    source : str
        The model text as given.
    """

    statements: tuple[Statement, ...]
    levels: tuple[str, ...]
    source: str
