"""The panel's model builder: a model as switchable pieces, and back to syntax.

The Model screen shows, for each level, every regression path and every
covariance among the chosen variables as a switch. :class:`ModelState` is
what those switches describe, together with everything the switches cannot
show (labels, fixed values, intercepts, defined parameters, constraints),
which is carried along unchanged so that editing the syntax by hand and then
switching a path on does not lose the hand-written parts.

The round trip is ``ModelState.from_syntax(text).to_syntax()``: it gives
back an equivalent model in a canonical layout (one line per left-hand side
and operator). Parsing goes through :func:`msem_nb.syntax.parser.parse`, so the
panel accepts exactly the language that :func:`msem_nb.fit` accepts.

No ipywidgets here: this module is plain Python and unit-tested as such.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from msem_nb.syntax.parser import ParsedModel, Statement, Term, parse

__all__ = ["ModelState", "Block", "TWO_LEVELS", "SINGLE_LEVEL", "term_text", "syntax_number"]

#: Level names of a two-level model, in the order the syntax lists them.
TWO_LEVELS = ("within", "between")
#: The one "level" of a single-level model.
SINGLE_LEVEL = ("",)


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
    t : msem_nb.syntax.parser.Term

    Returns
    -------
    str
        e.g. ``"a*x"``, ``"0.5*x"``, ``"NA*y1"``, ``"start(0.3)*x"``.
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
    return "*".join(mods + [t.name])


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
        Random slope name -> (outcome, covariate term); within level only.
    other : list of str
        Statements kept as written: intercepts, ``:=``, constraints.
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
        ``("within", "between")`` for a two-level model, ``("",)`` for a
        single-level one.

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
        if levels not in (TWO_LEVELS, SINGLE_LEVEL):
            raise ValueError(f"levels must be {TWO_LEVELS} or {SINGLE_LEVEL}, not {levels}")
        self.levels = levels
        self.blocks = {lv: Block() for lv in levels}

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
        if not text or not text.strip() or _only_headers(text):
            return cls(TWO_LEVELS if "level" in (text or "") else SINGLE_LEVEL)
        return cls.from_parsed(parse(text))

    @classmethod
    def from_parsed(cls, parsed: ParsedModel) -> "ModelState":
        """Build the state from a parsed model (see :func:`msem_nb.parse`)."""
        state = cls(TWO_LEVELS if parsed.levels else SINGLE_LEVEL)
        for s in parsed.statements:
            state._add_statement(s)
        return state

    def _add_statement(self, s: Statement) -> None:
        blk = self.blocks[s.level or ""] if self.levels == TWO_LEVELS else self.blocks[""]
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
            blk.other.append(_statement_text(s))

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
                out.append(f"level: {lv}")
            out += [indent + line for line in _block_lines(self.blocks[lv])]
        return "\n".join(out) + "\n"

    def is_empty(self) -> bool:
        return all(b.is_empty() for b in self.blocks.values())

    # -- queries ------------------------------------------------------------
    def block(self, level) -> Block:
        """The block of `level` ("within", "between"; "" or None when single-level)."""
        key = self._level_key(level)
        return self.blocks[key]

    def _level_key(self, level) -> str:
        if self.levels == SINGLE_LEVEL:
            if level not in (None, "", "within"):
                raise ValueError(f"the model is single-level; there is no level {level!r}")
            return ""
        lv = {"1": "within", "2": "between", 1: "within", 2: "between"}.get(level, level)
        if lv not in TWO_LEVELS:
            raise ValueError(f"level must be 'within' or 'between', not {level!r}")
        return lv

    def latent_names(self, level=None) -> list[str]:
        """Latent variables of one level, or of every level when `level` is None."""
        levels = self.levels if level is None else (self._level_key(level),)
        return list(dict.fromkeys(f for lv in levels for f in self.blocks[lv].latents))

    def slope_names(self) -> list[str]:
        return [s for b in self.blocks.values() for s in b.slopes]

    def has_path(self, lhs, rhs, level=None) -> bool:
        return (lhs, rhs) in self.block(level).paths

    def has_covariance(self, a, b, level=None) -> bool:
        return self.block(level).cov_key(a, b) is not None

    def slope_of(self, y, x) -> str | None:
        """Name of the random slope of y on x, or None."""
        if self.levels == SINGLE_LEVEL:
            return None
        for name, (yy, t) in self.blocks["within"].slopes.items():
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
        slope = self.slope_of(lhs, rhs) if blk is self.blocks.get("within") else None
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
        if self.levels == SINGLE_LEVEL:
            raise ValueError("random slopes need a two-level model (choose a cluster column)")
        blk = self.blocks["within"]
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
        self.blocks["within"].slopes.pop(name, None)
        # the slope is a between-level variable; statements about it would
        # otherwise name a variable that no longer exists
        blk = self.blocks["between"]
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
        """This model as a two-level or single-level model.

        Going to one level keeps the within block; going to two levels puts
        the single-level statements in the within block.
        """
        levels = tuple(levels)
        if levels == self.levels:
            return self.copy()
        out = ModelState(levels)
        src = self.blocks["within"] if self.levels == TWO_LEVELS else self.blocks[""]
        dst = out.blocks[levels[0]]
        dst.latents = copy.deepcopy(src.latents)
        dst.paths = dict(src.paths)
        dst.covs = dict(src.covs)
        dst.other = list(src.other)
        if levels == TWO_LEVELS:
            dst.slopes = {}
        else:
            # slopes become fixed paths in a single-level model
            for y, t in src.slopes.values():
                dst.paths[(y, t.name)] = _plain(t.name)
        return out


def _only_headers(text: str) -> bool:
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    return all(not ln or ln.replace(" ", "").lower().startswith("level:") for ln in lines)


def _group(pairs):
    """[(lhs, text)] -> {lhs: [text, ...]} in order of first appearance."""
    out: dict[str, list[str]] = {}
    for lhs, txt in pairs:
        out.setdefault(lhs, []).append(txt)
    return out


def _block_lines(blk: Block) -> list[str]:
    lines = [f"{f} =~ {' + '.join(term_text(t) for t in terms)}"
             for f, terms in blk.latents.items() if terms]
    lines += [f"{name} | {y} ~ {term_text(t)}" for name, (y, t) in blk.slopes.items()]
    for y, rhs in _group(((y, term_text(t)) for (y, _), t in blk.paths.items())).items():
        lines.append(f"{y} ~ {' + '.join(rhs)}")
    for a, rhs in _group(((a, term_text(t)) for (a, _), t in blk.covs.items())).items():
        lines.append(f"{a} ~~ {' + '.join(rhs)}")
    return lines + list(blk.other)


def _statement_text(s: Statement) -> str:
    if s.op == "~1":
        return f"{s.lhs} ~ {term_text(s.rhs[0])}"
    if s.op == ":=":
        return f"{s.lhs} := {s.expr.text}"
    if s.op in ("==", "<", ">"):
        return f"{s.lhs} {s.op} {s.expr.text}"
    raise ValueError(f"unexpected operator {s.op!r}")  # pragma: no cover
