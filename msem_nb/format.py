"""Numbers as text: the one formatter behind summaries, reports, tables and the panel.

Missing values (None, NaN, +-inf) print as ``missing`` ("" by default, so a
table cell stays empty; text that reads as a sentence passes ``"NA"``).
"""

from __future__ import annotations

import math

__all__ = ["num", "pvalue"]


def num(x: object, spec: str = ".3f", missing: str = "NA") -> str:
    """`x` formatted with `spec`, or `missing` when it is not a finite number.

    Integers (and bools) print as integers whatever `spec`, strings pass
    through unchanged.
    """
    if x is None:
        return missing
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return str(int(x))
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(f):
        return missing
    if float(f).is_integer() and isinstance(x, int):
        return str(int(f))
    return format(f, spec)


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
