"""Where random slopes may be declared, and what they may involve.

A random slope ``s | y ~ x`` is declared in the lowest level's block (within)
and is a latent variable of the block one level up (between), where its mean
is the average slope and its variance how much the slope varies across
clusters. The checks here refuse what the random-slope likelihood
(:mod:`msem_nb.likelihood.slopes`) cannot handle, with a message that says
what to write instead.

A random loading ``f =~ y1 + rv("l2")*y2`` is the random slope ``l2 | y2 ~ f``
(the loading of ``y2`` on the within factor ``f`` is the coefficient of ``y2``
on ``f``, the cell ``(y2, f)`` of the within ``A``), so the same rules apply:
``l2`` is a latent variable of the between level whose mean is the average
loading, and the within loading itself is not a parameter (``f =~ y2`` and the
random loading together are refused, as ``y ~ x`` and ``s | y ~ x`` are).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Sequence

from msem_nb.errors import ModelSpecificationError
from msem_nb.model.blocks import BlockKey
from msem_nb.model.rows import RowAccumulator
from msem_nb.syntax.parser import Statement

__all__ = ["slope_block", "check_slopes", "check_conditioned", "check_same_effect"]


def slope_block(keys: Sequence[BlockKey]) -> int | None:
    """The block that holds the random slopes (as its latent variables): the
    level just above the one they are declared in (the between block)."""
    for b, k in enumerate(keys):
        if k.level == 2:
            return b
    return None


def check_slopes(blocks_stmts: Sequence[Sequence[Statement]],
                 keys: Sequence[BlockKey]) -> tuple[str, ...]:
    """Names of the random slopes, after checking where they are declared."""
    slopes: list[str] = []
    single = len(keys) == 1
    for stmts, key in zip(blocks_stmts, keys):
        for s in stmts:
            if s.op != "|~":
                continue
            if single or not key.is_lowest:
                where = "a single-level model" if single else f"the {key.name} block"
                raise ModelSpecificationError(
                    f"line {s.line}: random slope '{s.slope} | {s.lhs} ~ ...' is declared in "
                    f"{where}; declare random slopes in the 'level: within' block of a two-level "
                    "model")
            if s.slope is not None:  # always set for '|~' statements
                slopes.append(s.slope)
    if not slopes:
        return ()
    low = next(b for b, k in enumerate(keys) if k.is_lowest)
    up = slope_block(keys)
    if up is None:  # pragma: no cover - a lowest block of several implies a level 2
        raise ModelSpecificationError("random slopes need a 'level: between' block")
    within_names = {s.lhs for s in blocks_stmts[low]} | {
        t.name for s in blocks_stmts[low] for t in s.rhs}
    lv_names = {s.lhs for st in blocks_stmts for s in st if s.op == "=~"}
    for s in blocks_stmts[low]:
        if s.op != "|~":
            continue
        if s.slope in within_names or s.slope in lv_names:
            raise ModelSpecificationError(
                f"line {s.line}: the slope name '{s.slope}' is also used as a variable of the "
                "within block. A random slope is a variable of the between level (use it "
                f"there, e.g. '{s.slope} ~ w', '{s.slope} ~~ y'); if '{s.slope}' is a column "
                "of the data, give the slope another name")
    return tuple(slopes)


def check_conditioned(records: Sequence[Mapping[str, Any]], conditioned: Sequence[str]) -> None:
    """Refuse free means, variances or covariances of covariates a random-slope
    likelihood conditions on (``fixed_x=False``): they never enter that likelihood, so
    they would be counted as parameters without being estimated."""
    cond = set(conditioned)
    bad = sorted({r["lhs"] for r in records if r["free"] and r["op"] in ("~~", "~1")
                  and (r["lhs"] in cond or r["rhs"] in cond)})
    if bad:
        raise ModelSpecificationError(
            "fixed_x=False is not available for random-slope models: their likelihood is "
            "conditional on the covariates (" + ", ".join(bad) + "), whose means, variances "
            "and covariances never enter it; use fixed_x=True (the default), as lavaan does")


def check_same_effect(rows: RowAccumulator, s: Statement, b: int) -> None:
    """Refuse statement `s` when a random slope or loading already in `rows` (block `b`)
    describes one of its effects, or when `s` declares one for an effect already there."""
    if s.op == "|~":
        x = s.rhs[0].name
        prev = rows.get(s.lhs, "|~", x, b)
        if prev is not None:
            raise ModelSpecificationError(
                f"line {s.line}: the random slopes '{prev['slope']}' and '{s.slope}' both "
                f"describe '{s.lhs} ~ {x}'; declare the random slope of an effect once")
        if rows.get(s.lhs, "~", x, b) is not None:
            raise ModelSpecificationError(
                f"line {s.line}: '{s.lhs} ~ {x}' and the random slope '{s.slope} | {s.lhs} ~ "
                f"{x}' describe the same effect; drop '{s.lhs} ~ {x}': the mean of "
                f"{s.slope} is the average slope")
        if rows.get(x, "=~", s.lhs, b) is not None:
            raise _loading_twice(s.line, x, s.lhs, str(s.slope))
    elif s.op == "~":
        for t in s.rhs:
            r = rows.get(s.lhs, "|~", t.name, b)
            if r is not None:
                raise ModelSpecificationError(
                    f"line {s.line}: '{s.lhs} ~ {t.name}' and the random slope "
                    f"'{r['slope']} | {s.lhs} ~ {t.name}' describe the same effect; drop "
                    f"'{s.lhs} ~ {t.name}': the mean of {r['slope']} is the average slope")
    elif s.op == "=~":
        for t in s.rhs:
            r = rows.get(t.name, "|~", s.lhs, b)
            if r is not None:
                raise _loading_twice(s.line, s.lhs, t.name, r["slope"])


def _loading_twice(line: int, f: str, y: str, slope: str) -> ModelSpecificationError:
    return ModelSpecificationError(
        f"line {line}: '{f} =~ {y}' and the random loading '{f} =~ rv(\"{slope}\")*{y}' "
        f"(the same as '{slope} | {y} ~ {f}') describe the same loading; give it once: the "
        f"mean of {slope} at the between level is the average loading")
