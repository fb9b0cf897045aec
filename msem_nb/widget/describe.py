"""What the panel says in words: an exception (one line and a detail), a diagram as text."""

from __future__ import annotations

import traceback

from msem_nb.errors import DataError, ModelSpecificationError, MsemError, NotIdentifiedError
from msem_nb.format import num
from msem_nb.syntax.parser import ModelSyntaxError

__all__ = ["describe_error", "diagram_text"]


def describe_error(exc: BaseException) -> tuple[str, str]:
    """A one-line message and a multi-line detail for an exception.

    Returns
    -------
    (message, detail) : tuple of str
        Plain text (the status line shows it as text).
    """
    if isinstance(exc, ModelSyntaxError):
        return (f"Syntax error at line {exc.line}, column {exc.col}: {exc.msg}", str(exc))
    if isinstance(exc, NotIdentifiedError):
        return f"Model not identified: {exc}", ""
    if isinstance(exc, ModelSpecificationError):
        return f"Model cannot be estimated as written: {exc}", ""
    if isinstance(exc, DataError):
        return f"Problem with the data: {exc}", ""
    if isinstance(exc, MsemError):
        return str(exc), ""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
    return f"Unexpected error ({type(exc).__name__}): {exc}", tb


_LEVEL_NAMES = {"within": "Within level", "between": "Between level", "": "Model"}


def diagram_text(partable, estimates=None) -> str:
    """A text version of the path diagram: per level, what measures, predicts and covaries.

    Parameters
    ----------
    partable : ParTable
        The model drawn.
    estimates : pandas.DataFrame, optional
        ``FitResult.estimates`` (numbers in brackets); None for the model alone.

    Returns
    -------
    str
        One line per level, e.g. ``"Within level: motw measured by mot1 (1.00),
        mot2 (0.93); math on motw (0.45); random slope s1: math on hours."``;
        the accessible description of the diagram.
    """
    tab = partable.table
    est = {}
    if estimates is not None:
        for r in estimates.to_dict("records"):
            est.setdefault((r["lhs"], r["op"], r["rhs"], r["level"]), r["est"])

    def value(r) -> str:
        v = est.get((r["lhs"], r["op"], r["rhs"], r["level"]))
        return "" if v is None else f" ({num(v, '.2f', missing='NA')})"

    lines = []
    for level in dict.fromkeys(tab["level"].tolist()):
        rows = [r for r in tab.to_dict("records") if r["level"] == level]
        parts = []
        for op, verb in (("=~", "measured by"), ("~", "on")):
            by: dict[str, list[str]] = {}
            for r in rows:
                if r["op"] == op:
                    by.setdefault(r["lhs"], []).append(r["rhs"] + value(r))
            parts += [f"{lhs} {verb} {', '.join(rhs)}" for lhs, rhs in by.items()]
        parts += [f"random slope {r['slope']}: {r['lhs']} on {r['rhs']}"
                  for r in rows if r["op"] == "|~"]
        parts += [f"{r['lhs']} with {r['rhs']}{value(r)}" for r in rows
                  if r["op"] == "~~" and r["lhs"] != r["rhs"] and r["user"]]
        if parts:
            name = _LEVEL_NAMES.get(level, f"Level {level}")
            lines.append(f"{name}: {'; '.join(parts)}.")
    return "\n".join(lines) or "The model has no paths yet."
