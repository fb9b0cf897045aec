"""Numbers as text: the one formatter behind summaries, reports, tables and the panel.

Every module that prints a number goes through :func:`num` (and :func:`pvalue`),
so they agree on what a missing value looks like: None, NaN and +-inf print as
the caller's ``missing`` text ("NA" by default; table cells pass "" to stay
empty). Integers print as integers, booleans as yes/no, text passes through.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["num", "pvalue"]


def num(x: object, spec: str = ".3f", missing: str = "NA") -> str:
    """`x` formatted with `spec`, or `missing` when it is not a finite number.

    Integers (numpy's too) print as integers whatever `spec`, booleans as
    "yes"/"no", strings pass through unchanged.
    """
    if x is None:
        return missing
    if isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(x)
    return format(f, spec) if math.isfinite(f) else missing


def pvalue(x: object, missing: str = "NA", digits: int = 3) -> str:
    """A p-value as text: ``"<.001"`` below 0.001 (for ``digits=3``), else `x` to
    `digits` decimals; `missing` when `x` is not a finite number.
    """
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return missing
    floor = 10.0 ** -digits
    if math.isfinite(f) and f < floor:
        return "<" + format(floor, f".{digits}f").lstrip("0")
    return num(f, f".{digits}f", missing)
