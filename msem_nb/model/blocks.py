"""Blocks: a model is a list of blocks keyed by (group, level).

As in lavaan's parameter table (columns ``block``, ``group``, ``level``),
every parameter belongs to one block, and a block holds the variables and
parameters of one level of one group. Code that needs "the within part" or
"the between part" asks for the block of that level instead of assuming a
position, so that a second group or a third level means more blocks, not
edits across the package.

Conventions:

* groups are numbered from 1, as lavaan's ``group`` column (one group for now);
* levels are numbered from 1, the lowest (rows): ``within`` is level 1 and
  ``between`` level 2 (:data:`LEVEL_NUMBERS`); a single-level model has one
  block, level 1, whose name is ``""``;
* a three-level model (rows in classes in schools) has levels 1, 2 and 3:
  ``within`` (``1``), ``between`` (``2``) and ``3`` keep their numbers, and
  any other names (``class``, ``school``) take the remaining numbers in the
  order their ``level:`` lines appear (:func:`level_keys`);
* blocks are ordered by (group, level), lowest level first, whatever order
  the ``level:`` lines have in the syntax.

The level names come from the parsed model (``ParsedModel.levels``);
:func:`level_keys` turns them into block keys and refuses what the
likelihoods cannot handle (more than three levels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from msem_nb.errors import ModelSpecificationError

__all__ = ["BlockKey", "BlockQueries", "LEVEL_NUMBERS", "WITHIN", "BETWEEN", "level_keys",
           "default_key", "ov_positions", "MAX_LEVELS"]

#: Name of the lowest level of a two-level model (rows, level 1).
WITHIN = "within"
#: Name of the cluster level of a two-level model (level 2).
BETWEEN = "between"
#: The level names a model may use, and their level numbers (1 = lowest).
LEVEL_NUMBERS = {WITHIN: 1, BETWEEN: 2}

_COUNT_WORDS = {3: "three", 4: "four", 5: "five"}
#: The most levels a model may have (rows, clusters, clusters of clusters).
MAX_LEVELS = 3


@dataclass(frozen=True, order=True)
class BlockKey:
    """Where a block sits: its group (1-based) and level (1 = lowest), plus the level's name.

    Keys compare and sort by (group, level); ``name`` is the level's name as
    written in the syntax (``"within"``, ``"between"``), ``""`` for a
    single-level model.
    """

    group: int
    level: int
    name: str = field(default="", compare=False)

    @property
    def is_lowest(self) -> bool:
        """True for the level of the rows (within, or the only level)."""
        return self.level == 1

    @property
    def title(self) -> str:
        """How the level is named in headings: its name, with its number when the
        name does not say it (``"Level 3 (school)"``, ``"within"``)."""
        if not self.name or self.name in LEVEL_NUMBERS:
            return self.name
        if self.name.isdigit():
            return f"level {self.name}"
        return f"level {self.level} ({self.name})"

    def __str__(self) -> str:
        where = self.name or f"level {self.level}"
        return where if self.group == 1 else f"group {self.group}, {where}"


def default_key(level_name: str, group: int = 1) -> BlockKey:
    """The key of a block of level `level_name` ("" for a single-level model)."""
    if not level_name:
        return BlockKey(group, 1, "")
    if level_name not in LEVEL_NUMBERS:
        raise ModelSpecificationError(
            f"unknown level {level_name!r}; known levels: {', '.join(LEVEL_NUMBERS)}")
    return BlockKey(group, LEVEL_NUMBERS[level_name], level_name)


def level_keys(labels: Sequence[str], group: int = 1) -> tuple[BlockKey, ...]:
    """Block keys of one group for the level labels of a parsed model, lowest level first.

    Parameters
    ----------
    labels : sequence of str
        ``ParsedModel.levels``: the level names in the order their blocks
        appear; empty for a single-level model.
    group : int
        The group (1-based).

    Raises
    ------
    ModelSpecificationError
        For more than three levels, a level name other than within/between in
        a two-level model, a two-level model that lacks one of its two
        levels, or three labels that do not make levels 1, 2 and 3.
    """
    names = tuple(dict.fromkeys(labels))
    if not names:
        return (BlockKey(group, 1, ""),)
    unknown = [n for n in names if n not in LEVEL_NUMBERS]
    given = ", ".join(repr(n) for n in names)
    if len(names) > MAX_LEVELS:
        count = _COUNT_WORDS.get(len(names), str(len(names)))
        raise ModelSpecificationError(
            f"the model has {len(names)} levels ({given}); {count}-level models are not "
            "supported: write a model with at most three levels ('level: 1', 'level: 2', "
            "'level: 3')")
    if len(names) == MAX_LEVELS:
        return _three_level_keys(names, group)
    if unknown:
        raise ModelSpecificationError(
            f"level{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)} "
            f"{'are' if len(unknown) > 1 else 'is'} not supported yet (levels given: {given}); "
            "a two-level model has a 'level: within' (or 'level: 1') and a 'level: between' "
            "(or 'level: 2') block, a three-level model a third block ('level: 3')")
    missing = [n for n in LEVEL_NUMBERS if n not in names]
    if missing:
        raise ModelSpecificationError(
            "a two-level model needs both a 'level: within' and a 'level: between' block; "
            f"'{missing[0]}' is missing")
    return tuple(sorted(BlockKey(group, LEVEL_NUMBERS[n], n) for n in names))


def _three_level_keys(names: Sequence[str], group: int) -> tuple[BlockKey, ...]:
    """Keys of a three-level model: within/1, between/2 and 3 keep their numbers,
    other names take the remaining numbers in the order they are written."""
    fixed = {n: LEVEL_NUMBERS.get(n, int(n) if n.isdigit() else 0) for n in names}
    given = ", ".join(repr(n) for n in names)
    beyond = [n for n, k in fixed.items() if k > MAX_LEVELS]
    if beyond:
        raise ModelSpecificationError(
            f"level {beyond[0]!r} has no place in a three-level model (levels given: {given}); "
            "its levels are 1 (rows), 2 and 3 (the highest)")
    free = iter(k for k in range(1, MAX_LEVELS + 1) if k not in fixed.values())
    numbers = {n: (k or next(free)) for n, k in fixed.items()}
    return tuple(sorted(BlockKey(group, numbers[n], n) for n in names))


def ov_positions(ov: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """Positions of the observed variables `ov` in the data vector `names`."""
    names = list(names)
    return np.array([names.index(v) for v in ov], dtype=int)


class BlockQueries:
    """Questions about the blocks, for any object with ``block_keys``.

    Shared by the parameter table and the model specification, whose blocks
    are in the same order.
    """

    @property
    def block_keys(self) -> tuple[BlockKey, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def level_names(self) -> tuple[str, ...]:
        """Names of the levels, lowest first (``("",)`` for a single-level model)."""
        return tuple(dict.fromkeys(k.name for k in sorted(self.block_keys)))

    @property
    def groups(self) -> tuple[int, ...]:
        """The group numbers (1-based)."""
        return tuple(sorted({k.group for k in self.block_keys}))

    @property
    def multilevel(self) -> bool:
        """True when the model has more than one level."""
        return len({k.level for k in self.block_keys}) > 1

    def find_block(self, level: str | int, group: int = 1) -> int | None:
        """Index of the block of `level` (name or number) in `group`, or None."""
        for b, k in enumerate(self.block_keys):
            if k.group == group and (k.name == level if isinstance(level, str)
                                     else k.level == level):
                return b
        return None

    def block_of(self, level: str | int, group: int = 1) -> int:
        """Index of the block of `level` (name or number) in `group`.

        Raises
        ------
        KeyError
            When the model has no such block.
        """
        b = self.find_block(level, group)
        if b is None:
            raise KeyError(f"the model has no block of level {level!r} in group {group}; "
                           f"its blocks: {', '.join(map(str, self.block_keys))}")
        return b

    def blocks_of_level(self, level: str | int) -> tuple[int, ...]:
        """Indices of the blocks of `level` (name or number), one per group."""
        return tuple(b for b, k in enumerate(self.block_keys)
                     if (k.name == level if isinstance(level, str) else k.level == level))

    def is_lowest(self, b: int) -> bool:
        """True when block `b` is at the lowest level (the rows)."""
        return self.block_keys[b].is_lowest
