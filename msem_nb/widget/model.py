"""The panel's model builder: a model as switchable pieces, and back to syntax.

The Model screen shows, for each level, every regression path and every
covariance among the chosen variables as a switch. :class:`ModelState` is
what those switches describe, together with everything the switches cannot
show (labels, fixed values, intercepts, defined parameters, constraints),
which is carried along unchanged so that editing the syntax by hand and then
switching a path on does not lose the hand-written parts.

The round trip is ``ModelState.from_syntax(text).to_syntax()``: it gives
back an equivalent model in a canonical layout (one line per left-hand side
and operator). Parsing goes through :func:`msem_nb.syntax.parse`, so the
panel accepts exactly the language that :func:`msem_nb.fit` accepts.

The state is also a parsed model: :meth:`ModelState.to_parsed` gives the
:class:`~msem_nb.syntax.parser.ParsedModel` of its canonical text without
writing the text and parsing it, so a refit after a switch goes straight to
the parameter table. Invariant (tested): ``state.to_parsed() ==
parse(state.to_syntax())``; the text is rendered from the same statements
(:func:`statement_text`), so the two cannot drift apart.

Levels are data: a model has the level names of its blocks, lowest first
(``("",)`` when single-level, :data:`TWO_LEVELS`, or three names such as
:data:`THREE_LEVELS` for rows in classes in schools, ordered by
:func:`msem_nb.model.blocks.level_keys`); random slopes are declared at the
lowest level of a two-level model (:attr:`ModelState.slope_level`) and are
variables of the level above (:attr:`ModelState.cluster_level`). A
three-level model of :data:`THREE_LEVELS` writes its headers as numbers (``level: 1``,
``level: 2``, ``level: 3``).

No ipywidgets here: this module is plain Python and unit-tested as such.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

from msem_nb.errors import ModelSpecificationError
from msem_nb.model.blocks import level_keys
from msem_nb.syntax import LEVEL_NAMES, ModelSyntaxError, ParsedModel, Statement, Term, parse
from msem_nb.widget.syntax_text import statement_text, syntax_number, term_text

__all__ = ["ModelState", "Block", "TWO_LEVELS", "THREE_LEVELS", "SINGLE_LEVEL", "term_text", "syntax_number",
           "statement_text", "read_syntax"]

#: Level names of a model with a cluster column, lowest first, as the syntax lists them.
TWO_LEVELS = ("within", "between")
#: Level names of a model with two cluster columns (rows in classes in schools), as the
#: parser names ``level: 1``, ``level: 2`` and ``level: 3``.
THREE_LEVELS = ("within", "between", "3")
#: How a three-level model's headers name the levels the parser calls within and between.
_NUMBERED = {"within": "1", "between": "2"}
#: The one "level" of a single-level model.
SINGLE_LEVEL = ("",)
#: Level names the syntax knows.
_KNOWN_LEVELS = frozenset(LEVEL_NAMES.values())


def _plain(name: str) -> Term:
    return Term(name)


@dataclass
class Block:
    """The statements of one level.

    Attributes
    ----------
    latents : dict
        Factor name -> list of indicator terms (``f =~ ...``).
    paths : dict
        (outcome, predictor) -> predictor term (``outcome ~ predictor``).
    covs : dict
        (a, b) -> b's term (``a ~~ b``); a == b is a (residual) variance.
    slopes : dict
        Random slope name -> (outcome, covariate term); lowest level only.
    other : list of Statement
        Statements kept as parsed: intercepts, ``:=``, constraints.
    """

    latents: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)
    covs: dict = field(default_factory=dict)
    slopes: dict = field(default_factory=dict)
    other: list = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.latents or self.paths or self.covs or self.slopes or self.other)

    def cov_key(self, a: str, b: str):
        """The stored key of the covariance of a and b (either order), or None."""
        for key in ((a, b), (b, a)):
            if key in self.covs:
                return key
        return None

    def names(self) -> list[str]:
        """Variables this block mentions, in order of first mention."""
        seen: dict[str, None] = {}
        for f, terms in self.latents.items():
            seen[f] = None
            for t in terms:
                seen[t.name] = None
        for y, t in self.slopes.values():
            seen[y] = None
            seen[t.name] = None
        for (y, x) in self.paths:
            seen[y] = None
            seen[x] = None
        for (a, b) in self.covs:
            seen[a] = None
            seen[b] = None
        return list(seen)


class ModelState:
    """A model as switchable pieces per level.

    Parameters
    ----------
    levels : tuple of str
        Level names, lowest first: ``("within", "between")`` for a two-level
        model, three names for a three-level one (:data:`THREE_LEVELS`),
        ``("",)`` for a single-level one.

    Examples
    --------
    >>> m = ModelState(("within", "between"))
    >>> m.toggle_path("y1", "x1", "within")
    True
    >>> m.toggle_covariance("y1", "y1", "between")
    True
    >>> print(m.to_syntax(), end="")
    level: within
      y1 ~ x1
    level: between
      y1 ~~ y1
    """

    def __init__(self, levels=TWO_LEVELS):
        levels = tuple(levels)
        if len(levels) == 3 and _ordered_levels(levels) == levels:
            pass
        elif levels != SINGLE_LEVEL and (not levels or len(set(levels)) != len(levels)
                                         or len(levels) > 2
                                         or not set(levels) <= _KNOWN_LEVELS):
            raise ValueError(f"levels must be distinct level names of the syntax "
                             f"({', '.join(sorted(_KNOWN_LEVELS))}), three levels lowest "
                             f"first (as {THREE_LEVELS}) or {SINGLE_LEVEL}, not {levels}")
        self.levels = levels
        self.blocks = {lv: Block() for lv in levels}

    @property
    def multilevel(self) -> bool:
        """True when the model has level blocks (a cluster column)."""
        return self.levels != SINGLE_LEVEL

    @property
    def threelevel(self) -> bool:
        """True for a model with three levels (two cluster columns)."""
        return len(self.levels) == 3

    @property
    def slope_level(self) -> str | None:
        """The level whose paths can be random slopes (the lowest of a two-level model);
        None single-level and with three levels (msem_nb fits no random slopes there)."""
        return self.levels[0] if len(self.levels) == 2 else None

    @property
    def cluster_level(self) -> str | None:
        """The level above :attr:`slope_level`: where random slopes are variables
        and a variable's cluster part lives; None without one."""
        return self.levels[1] if len(self.levels) > 1 else None

    # -- construction ------------------------------------------------------
    @classmethod
    def from_syntax(cls, text: str) -> "ModelState":
        """Read model syntax.

        Parameters
        ----------
        text : str
            lavaan-style syntax; an empty or blank text gives an empty model
            (single-level).

        Returns
        -------
        ModelState

        Raises
        ------
        msem_nb.ModelSyntaxError
            When the text does not parse (with line and column).
        """
        return read_syntax(text)[0]

    @classmethod
    def from_parsed(cls, parsed: ParsedModel) -> "ModelState":
        """Build the state from a parsed model (see :func:`msem_nb.parse`)."""
        names = tuple(dict.fromkeys(parsed.levels))
        state = cls(_ordered_levels(names) if len(names) == 3
                    else TWO_LEVELS if names else SINGLE_LEVEL)
        for s in parsed.statements:
            state._add_statement(s)
        return state

    def _add_statement(self, s: Statement) -> None:
        blk = self.blocks[s.level or ""]
        if s.op == "=~":
            terms = blk.latents.setdefault(s.lhs, [])
            known = {t.name: i for i, t in enumerate(terms)}
            for t in s.rhs:
                if t.name in known:
                    terms[known[t.name]] = t
                else:
                    terms.append(t)
        elif s.op == "~":
            for t in s.rhs:
                blk.paths[(s.lhs, t.name)] = t
        elif s.op == "~~":
            for t in s.rhs:
                key = blk.cov_key(s.lhs, t.name) or (s.lhs, t.name)
                blk.covs[key] = t
        elif s.op == "|~":
            blk.slopes[s.slope] = (s.lhs, s.rhs[0])
        else:
            blk.other.append(s)

    def copy(self) -> "ModelState":
        return copy.deepcopy(self)

    # -- output -------------------------------------------------------------
    def to_syntax(self) -> str:
        """The model as lavaan-style syntax (canonical layout).

        Returns
        -------
        str
            Empty for an empty model. A two-level model always lists both
            level headers, even when a block is empty (fit() then says
            which block needs statements).
        """
        if self.is_empty():
            return ""
        out = []
        for lv in self.levels:
            indent = "  " if lv else ""
            if lv:
                out.append(f"level: {_NUMBERED.get(lv, lv) if self.levels == THREE_LEVELS else lv}")
            out += [indent + statement_text(st)
                    for st in _block_statements(self.blocks[lv], lv or None)]
        return "\n".join(out) + "\n"

    def to_statements(self) -> list[Statement]:
        """The model's statements, in the order :meth:`to_syntax` writes them.

        Returns
        -------
        list of Statement
            Equal to ``parse(self.to_syntax()).statements`` (positions aside).
        """
        return [st for lv in self.levels
                for st in _block_statements(self.blocks[lv], lv or None)]

    def to_parsed(self, source: str | None = None) -> ParsedModel:
        """What :func:`msem_nb.parse` gives for :meth:`to_syntax`, without parsing.

        Parameters
        ----------
        source : str, optional
            The text recorded as the model's source (default :meth:`to_syntax`).

        Returns
        -------
        ParsedModel
        """
        return ParsedModel(tuple(self.to_statements()), tuple(lv for lv in self.levels if lv),
                           self.to_syntax() if source is None else source)

    def is_empty(self) -> bool:
        return all(b.is_empty() for b in self.blocks.values())

    # -- queries ------------------------------------------------------------
    def block(self, level) -> Block:
        """The block of `level` ("within", "between"; "" or None when single-level)."""
        key = self.level_key(level)
        return self.blocks[key]

    def level_key(self, level) -> str:
        """The block key of `level` ("1" and 1 name "within"; "" when single-level)."""
        if not self.multilevel:
            if level not in (None, "", "within"):
                raise ValueError(f"the model is single-level; there is no level {level!r}")
            return ""
        lv = LEVEL_NAMES.get(str(level), str(level))     # "1", 1 -> "within", 3 -> "3"
        if lv not in self.levels:
            raise ValueError(f"level must be {' or '.join(map(repr, self.levels))}, "
                             f"not {level!r}")
        return lv

    def latent_names(self, level=None) -> list[str]:
        """Latent variables of one level, or of every level when `level` is None."""
        levels = self.levels if level is None else (self.level_key(level),)
        return list(dict.fromkeys(f for lv in levels for f in self.blocks[lv].latents))

    def slope_names(self) -> list[str]:
        return [s for b in self.blocks.values() for s in b.slopes]

    def has_path(self, lhs, rhs, level=None) -> bool:
        return (lhs, rhs) in self.block(level).paths

    def has_covariance(self, a, b, level=None) -> bool:
        return self.block(level).cov_key(a, b) is not None

    def slope_of(self, y, x) -> str | None:
        """Name of the random slope of y on x, or None."""
        if self.slope_level is None:
            return None
        for name, (yy, t) in self.blocks[self.slope_level].slopes.items():
            if yy == y and t.name == x:
                return name
        return None

    # -- switches -------------------------------------------------------------
    def toggle_path(self, lhs: str, rhs: str, level=None, on: bool | None = None) -> bool:
        """Switch the regression ``lhs ~ rhs`` on or off (None flips it).

        A random slope of lhs on rhs counts as the path being on; switching
        the path off removes the slope too.

        Returns
        -------
        bool
            Whether the path is on afterwards.
        """
        blk = self.block(level)
        if lhs == rhs:
            raise ValueError(f"a variable cannot be regressed on itself ('{lhs} ~ {rhs}')")
        slope = self.slope_of(lhs, rhs) if blk is self.blocks.get(self.slope_level) else None
        now = (lhs, rhs) in blk.paths or slope is not None
        want = (not now) if on is None else bool(on)
        if want and not now:
            blk.paths[(lhs, rhs)] = _plain(rhs)
        elif not want and now:
            blk.paths.pop((lhs, rhs), None)
            if slope is not None:
                self._drop_slope(slope)
        return want

    def toggle_covariance(self, a: str, b: str, level=None, on: bool | None = None) -> bool:
        """Switch the covariance ``a ~~ b`` on or off (a == b: the variance).

        Returns
        -------
        bool
            Whether it is on afterwards.
        """
        blk = self.block(level)
        key = blk.cov_key(a, b)
        want = (key is None) if on is None else bool(on)
        if want and key is None:
            blk.covs[(a, b)] = _plain(b)
        elif not want and key is not None:
            del blk.covs[key]
        return want

    def toggle_random_slope(self, y: str, x: str, on: bool | None = None,
                            name: str | None = None, taken=()) -> str | None:
        """Make the within path ``y ~ x`` a random slope, or fixed again.

        Parameters
        ----------
        y, x : str
            Outcome and observed within covariate.
        on : bool, optional
            True makes it random, False fixed, None flips.
        name : str, optional
            Name of a new slope; by default the first free ``s1``, ``s2``, ...
        taken : iterable of str
            Names that a new slope must not take (data columns).

        Returns
        -------
        str or None
            The slope's name, or None when the path is now fixed.
        """
        if self.slope_level is None:
            raise ValueError("random slopes need a two-level model (one cluster column); "
                             "msem_nb fits none in single- or three-level models")
        blk = self.blocks[self.slope_level]
        current = self.slope_of(y, x)
        want = (current is None) if on is None else bool(on)
        if want and current is None:
            name = name or self._free_slope_name(taken)
            term = blk.paths.pop((y, x), None) or _plain(x)
            # a label or start value on the fixed path has no meaning for
            # the slope's declaration; the slope keeps only the covariate
            blk.slopes[name] = (y, _plain(term.name))
            return name
        if not want and current is not None:
            self._drop_slope(current)
            blk.paths[(y, x)] = _plain(x)
            return None
        return current

    def _drop_slope(self, name: str) -> None:
        self.blocks[self.slope_level].slopes.pop(name, None)
        # the slope is a variable of the level above; statements about it
        # would otherwise name a variable that no longer exists
        blk = self.blocks[self.cluster_level]
        blk.paths = {k: t for k, t in blk.paths.items() if name not in k}
        blk.covs = {k: t for k, t in blk.covs.items() if name not in k}

    def _free_slope_name(self, taken) -> str:
        used = set(taken) | set(self.slope_names()) | set(self.latent_names())
        for blk in self.blocks.values():
            used |= set(blk.names())
        k = 1
        while f"s{k}" in used:
            k += 1
        return f"s{k}"

    def set_latent(self, name: str, indicators, level=None) -> None:
        """Define (or redefine) latent variable `name` measured by `indicators`.

        Terms that already carry modifiers (labels, fixed loadings) keep
        them when the indicator stays.
        """
        blk = self.block(level)
        indicators = list(dict.fromkeys(indicators))
        if not indicators:
            raise ValueError(f"latent variable '{name}' needs at least one indicator")
        if name in indicators:
            raise ValueError(f"latent variable '{name}' cannot be its own indicator")
        old = {t.name: t for t in blk.latents.get(name, [])}
        blk.latents[name] = [old.get(v, _plain(v)) for v in indicators]

    def remove_latent(self, name: str, level=None) -> None:
        """Remove latent variable `name` and every path or covariance that names it."""
        blk = self.block(level)
        blk.latents.pop(name, None)
        blk.paths = {k: t for k, t in blk.paths.items() if name not in k}
        blk.covs = {k: t for k, t in blk.covs.items() if name not in k}

    def remove_variable(self, name: str) -> None:
        """Remove every statement that names observed variable `name`."""
        for lv, blk in self.blocks.items():
            for f in list(blk.latents):
                blk.latents[f] = [t for t in blk.latents[f] if t.name != name]
                if not blk.latents[f]:
                    self.remove_latent(f, lv or None)
            blk.paths = {k: t for k, t in blk.paths.items() if name not in k}
            blk.covs = {k: t for k, t in blk.covs.items() if name not in k}
            for s, (y, t) in list(blk.slopes.items()):
                if name in (y, t.name):
                    self._drop_slope(s)

    def with_levels(self, levels) -> "ModelState":
        """This model with other levels (a cluster column chosen or dropped).

        The lowest level's statements go to the new lowest level; the other
        levels start empty. Random slopes stay random in a multilevel model
        and become fixed paths in a single-level one.
        """
        levels = tuple(levels)
        if levels == self.levels:
            return self.copy()
        out = ModelState(levels)
        src = self.blocks[self.levels[0]]
        dst = out.blocks[levels[0]]
        dst.latents = copy.deepcopy(src.latents)
        dst.paths = dict(src.paths)
        dst.covs = dict(src.covs)
        dst.other = list(src.other)
        if out.multilevel:
            # a single-level model has no random slopes to carry over
            dst.slopes = dict(src.slopes) if self.multilevel else {}
        else:
            for y, t in src.slopes.values():
                dst.paths[(y, t.name)] = _plain(t.name)
        return out


def _ordered_levels(names) -> tuple:
    """Three level names lowest first (:func:`~msem_nb.model.blocks.level_keys`); ValueError
    for names that do not make levels 1, 2 and 3."""
    try:
        return tuple(k.name for k in level_keys(tuple(names)))
    except ModelSpecificationError as err:
        raise ValueError(str(err)) from None


def _only_headers(text: str) -> bool:
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    return all(not ln or ln.replace(" ", "").lower().startswith("level:") for ln in lines)


def _group(pairs):
    """[(lhs, term)] -> {lhs: [term, ...]} in order of first appearance."""
    out: dict[str, list[Term]] = {}
    for lhs, term in pairs:
        out.setdefault(lhs, []).append(term)
    return out


def _block_statements(blk: Block, level: str | None) -> list[Statement]:
    """One block's statements in canonical order: one per left-hand side and operator."""
    out = [Statement(f, "=~", tuple(terms), level, 0, 0)
           for f, terms in blk.latents.items() if terms]
    out += [Statement(y, "|~", (t,), level, 0, 0, slope=name)
            for name, (y, t) in blk.slopes.items()]
    out += [Statement(y, "~", tuple(terms), level, 0, 0)
            for y, terms in _group((y, t) for (y, _), t in blk.paths.items()).items()]
    out += [Statement(a, "~~", tuple(terms), level, 0, 0)
            for a, terms in _group((a, t) for (a, _), t in blk.covs.items()).items()]
    # kept statements belong to the block they are in now (with_levels moves them)
    return out + [st if st.level == level else replace(st, level=level) for st in blk.other]


def read_syntax(text: str) -> tuple[ModelState, ParsedModel | None]:
    """Model syntax as a :class:`ModelState`, with the parsed model it came from.

    Parameters
    ----------
    text : str

    Returns
    -------
    (ModelState, ParsedModel or None)
        The parsed model is None when the text has no statements (blank, or
        level headers only); the state is then an empty model, two-level
        when the text names levels.

    Raises
    ------
    msem_nb.ModelSyntaxError
        When the text does not parse (with line and column).
    """
    if not text or not text.strip() or _only_headers(text):
        return ModelState(TWO_LEVELS if "level" in (text or "") else SINGLE_LEVEL), None
    parsed = parse(text)
    names = tuple(dict.fromkeys(parsed.levels))
    extra = [lvl for lvl in names if lvl not in TWO_LEVELS]
    problem = None
    if len(names) >= 3:
        try:
            _ordered_levels(names)
        except ValueError as err:
            problem = str(err)
    elif extra:
        problem = (f"level '{extra[0]}' is not one of a two-level model (level: within / "
                   "level: between); a three-level model has three level blocks (level: 1, "
                   "level: 2, level: 3)")
    if problem is not None:
        # a level the panel cannot show is reported at its header line
        bad = extra[-1] if extra else names[-1]
        lines = text.splitlines()
        at = next((i for i, ln in enumerate(lines)
                   if ln.strip().lower().startswith("level") and bad in ln), 0)
        raise ModelSyntaxError(problem, at + 1, 1, lines[at] if lines else "")
    return ModelState.from_parsed(parsed), parsed
