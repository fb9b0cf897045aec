"""Names in the model text that the data do not have, where they are, and what was meant.

A misspelt variable (``sess`` for ``ses``) is found before any fit: the
panel names it with its line and column, suggests the nearest column of the
data (``did you mean 'ses'?``), marks that line in the editor and keeps the
name out of the switch grids. Every suggestion is a real column name of the
data; the messages are plain text (the page shows them as text).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from msem_nb.syntax import ParsedModel

__all__ = ["UnknownName", "unknown_names", "suggest", "unknown_message", "locate"]


@dataclass(frozen=True)
class UnknownName:
    """A variable of the model that is not a column, with its first position."""

    name: str
    line: int
    col: int
    suggestion: str | None


def suggest(name: str, columns) -> str | None:
    """The column that `name` most likely means, or None.

    A column equal up to case wins; otherwise the closest by
    :func:`difflib.get_close_matches` (ratio at least 0.6).
    """
    cols = [str(c) for c in columns]
    low = {c.lower(): c for c in cols}
    if name.lower() in low:
        return low[name.lower()]
    close = difflib.get_close_matches(name, cols, n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_names(parsed: ParsedModel, columns) -> list[UnknownName]:
    """Variables that `parsed` uses but neither the data nor the model define.

    Latent variables (left of ``=~``) and random slopes (``s | y ~ x``) are
    defined by the model; labels and ``:=`` parameters are not variables.

    Returns
    -------
    list of UnknownName
        In order of first appearance.
    """
    cols = {str(c) for c in columns}
    defined = {s.lhs for s in parsed.statements if s.op == "=~"}
    defined |= {s.slope for s in parsed.statements if s.op == "|~" and s.slope}
    seen: dict[str, tuple[int, int]] = {}

    def use(name: str, line: int, col: int) -> None:
        if name not in cols and name not in defined and name != "1" and name not in seen:
            seen[name] = (line, col)

    for s in parsed.statements:
        if s.op in ("~", "~~", "|~", "~1"):
            use(s.lhs, s.line, s.col)
        if s.op in ("=~", "~", "~~", "|~"):
            for t in s.rhs:
                use(t.name, t.line or s.line, t.col or s.col)
    return [UnknownName(n, line, col, suggest(n, cols)) for n, (line, col) in seen.items()]


def unknown_message(unknown: list[UnknownName]) -> str:
    """One line naming the unknown variables, where they are and what was probably meant."""
    parts = []
    for u in unknown:
        hint = f" \u2014 did you mean '{u.suggestion}'?" if u.suggestion else ""
        parts.append(f"'{u.name}' (line {u.line}, column {u.col}){hint}")
    what = "Unknown variable" if len(unknown) == 1 else "Unknown variables"
    listed = "; ".join(parts)
    end = "" if listed.endswith("?") else "."
    return (f"{what} {listed}{end} A variable must be a column of the data, a latent "
            "variable (f =~ ...) or a random slope (s | y ~ x).")


def locate(message: str, text: str) -> tuple[int, int]:
    """Where in `text` an error about a quoted name ('x') points: (line, column), 1-based.

    The first name quoted in `message` that occurs in `text` as a whole word;
    (0, 0) when none does.
    """
    for name in re.findall(r"'([^'\n]+)'", message):
        pattern = re.compile(r"(?<![\w.])" + re.escape(name) + r"(?![\w.])")
        for i, line in enumerate(text.splitlines(), start=1):
            code = line.split("#", 1)[0]
            m = pattern.search(code)
            if m:
                return i, m.start() + 1
    return 0, 0
