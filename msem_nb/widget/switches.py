"""Reversible switches: what a click changes in a :class:`~msem_nb.widget.model.ModelState`.

A switch of the Model screen (a regression path, a (co)variance, a random
slope) or of the Results screen's modification indices (those, and a loading
``f =~ y``) changes more than its own statement. Switching a within path on can
add the outcome's between variance (its random intercept: a variable with
between-cluster variance that the model names only at the within level would
otherwise be within-only); switching a path off removes its random slope and
the between statements about that slope; making a path random drops the
path's label. :class:`Switchboard` makes these changes so that they can be
taken back:

* **Items.** The model is read as items: a path ``("path", level, y, x)``, a
  (co)variance ``("cov", level, a, b)``, a loading ``("load", level, f, y)``,
  a random slope ``("slope", name)`` and every other statement ``("other",
  level, text)``. A toggle removes some
  items and adds others.
* **Memory.** The items a toggle removes are kept under its switch. Toggling
  that switch the other way puts them back (where their place is still free)
  instead of adding defaults: right after the toggle, exactly (the parts
  added on its behalf and their owners too); after other changes, the
  switch's own items, with the parts on behalf the model needs by then. An
  item's last value (its label, a fixed value) is also kept, so a path
  switched off and on again in any way gets its label back.
* **Parts added on a switch's behalf** (the between variances) are recorded
  with the switches that needed them (*owners*). A part goes when its last
  owner is off, so switching paths off in any order removes it exactly when
  nothing needs it any more. A part that the user clicks becomes the user's.
* **Order.** Each item keeps the rank it first had (the model's own order,
  then the order of first appearance), and the blocks are kept sorted by
  rank, so the text depends only on which items are on, not on the order of
  the clicks. Latent variables and their indicators are ranked too; a latent
  variable (re)defined on the Model screen takes the order it is given.
* **Loadings** are switches that own no parts: a loading offered by a
  modification index names an indicator already in its block (the index is
  computed among the block's variables). A latent variable whose last
  loading is switched off disappears, and comes back with it.

Invariants (tested with random walks): toggling a switch and then toggling
it back gives back the same syntax, at any point of any sequence of toggles;
and after any sequence, switching back every switch that differs from the
starting model, in any order, gives back the starting syntax.

Typed syntax and a change of the cluster column start afresh
(:meth:`Switchboard.reset`): the text the user wrote is theirs, nothing in it
is "added on behalf".
"""

from __future__ import annotations

from typing import Callable

from msem_nb.syntax import Term
from msem_nb.widget.levels import role_levels
from msem_nb.widget.model import ModelState, statement_text

__all__ = ["Switchboard", "switch_is_on"]

# item kinds: ("path", lv, y, x) | ("cov", lv, a, b) | ("load", lv, f, y) | ("slope", name)
# | ("other", lv, text); ("latent", lv, f) is ranked only (a latent's place in its block)
Item = tuple
# switch keys: ("path", lv, y, x) | ("cov", lv, a, b) | ("load", lv, f, y) | ("slope", y, x)
# | ("latent", lv, name)
Switch = tuple
# a removed item: (item key, value, owners of a part added on behalf, or None)
Saved = tuple


def switch_is_on(model: ModelState, key: Switch) -> bool:
    """Whether switch `key` is on in `model` (a random slope counts as its path being on)."""
    kind = key[0]
    if kind == "path":
        _, lv, y, x = key
        return (y, x) in model.blocks[lv].paths or (
            lv == model.slope_level and model.slope_of(y, x) is not None)
    if kind == "cov":
        _, lv, a, b = key
        return model.blocks[lv].cov_key(a, b) is not None
    if kind == "slope":
        return model.slope_of(key[1], key[2]) is not None
    if kind == "latent":
        return key[2] in model.blocks[key[1]].latents
    if kind == "load":
        _, lv, f, y = key
        return any(t.name == y for t in model.blocks[lv].latents.get(f, ()))
    raise ValueError(f"unknown switch {key!r}")


class Switchboard:
    """Toggles on a model that can be taken back (see the module docstring).

    Parameters
    ----------
    model : ModelState
        Changed in place.
    roles : callable
        ``roles()`` -> {variable: suggested role} from the decomposition
        (empty while unknown); a variable with role "both" gets a between
        variance when a switch makes it an outcome at the within level (in a
        three-level model, a variance at each higher level its role names).
    columns : iterable of str
        Data columns (a new random slope's name must not be one).

    Attributes
    ----------
    model : ModelState
    auto : dict
        Parts added on behalf of switches: item key -> set of owner switches.
    """

    def __init__(self, model: ModelState, roles: Callable[[], dict] = dict, columns=()):
        self._roles = roles
        self.columns = set(map(str, columns))
        self.reset(model)

    def reset(self, model: ModelState) -> None:
        """Start afresh from `model` (typed syntax, new levels): no memory, no parts on behalf."""
        self.model = model
        self.auto: dict[Item, set[Switch]] = {}
        # switch -> (direction of its last toggle, what that toggle removed, the toggle's
        # number: an undo right after it can restore exactly)
        self.memory: dict[Switch, tuple[bool, list[Saved], int]] = {}
        self._rank: dict[Item, int] = {}
        self._next_rank = 0
        # the last value of every item removed here: a path switched back on gets its label
        self._terms: dict[Item, object] = {}
        self._version = 0
        self._sort()

    # -- the switches ---------------------------------------------------------------
    def toggle(self, key: Switch, on: bool | None = None) -> bool:
        """Switch `key` on (True), off (False) or over (None); returns whether it is on.

        `key` is ``("path", level, y, x)``, ``("cov", level, a, b)`` (a == b:
        the variance), ``("load", level, f, y)`` or ``("slope", y, x)``;
        `level` is a level name of the model ("" when single-level).
        """
        now = switch_is_on(self.model, key)
        want = (not now) if on is None else bool(on)
        if want == now:
            return now
        before = self.on_switches()
        removed = self._remove(key, want)
        last = self.memory.pop(key, None)
        if last is not None and last[0] != want:
            # undo this switch's last toggle: put back what it removed. Right after it,
            # exactly (parts on behalf and their owners too, claiming nothing new); later,
            # the switch's own items, and its parts on behalf as the model needs them now
            exact = last[2] == self._version
            self._restore([s for s in last[1] if exact or s[2] is None])
            if want and not switch_is_on(self.model, key):
                self._add_default(key, want)
            removed += self._sync_auto(before, claim=not exact)
        else:
            # first toggle here, or the switch moved without one (a part added on behalf)
            self._add_default(key, want)
            removed += self._sync_auto(before)
        # kept even when empty: "this toggle removed nothing" is what undoing it needs
        self._version += 1
        self.memory[key] = (want, removed, self._version)
        self._sort()
        return want

    def set_latent(self, name: str, indicators, level: str) -> None:
        """Define latent `name` at `level` (a switch of its own: it owns the parts it needs)."""
        before = self.on_switches()
        self.model.set_latent(name, indicators, level or None)
        # the order chosen here is the latent's order from now on
        for t in self.model.blocks[level].latents[name]:
            self._rank.pop(("load", level, name, t.name), None)
            self._ranked(("load", level, name, t.name))
        self._sync_auto(before)
        self._claim(("latent", level, name))
        self._version += 1
        self._sort()

    def remove_latent(self, name: str, level: str) -> None:
        """Remove latent `name` at `level` and what it named; parts it alone needed go too."""
        before = self.on_switches()
        self.model.remove_latent(name, level or None)
        self._sync_auto(before)
        self._version += 1
        self._sort()

    def claim_all(self) -> None:
        """Give every outcome at the lowest level what it needs (after the roles arrive)."""
        for key in sorted(self.on_switches()):
            self._claim(key)
        self._version += 1
        self._sort()

    def on_switches(self) -> set[Switch]:
        """The switches that are on and can own parts: paths, random slopes, latents."""
        m = self.model
        out: set[Switch] = set()
        for lv, blk in m.blocks.items():
            out.update(("path", lv, y, x) for (y, x) in blk.paths)
            out.update(("latent", lv, f) for f in blk.latents)
            for y, t in blk.slopes.values():
                out.add(("slope", y, t.name))
                out.add(("path", lv, y, t.name))
        return out

    # -- one toggle's parts ----------------------------------------------------------
    def _remove(self, key: Switch, want: bool) -> list[Saved]:
        """Remove what switching `key` to `want` removes; returns the items removed."""
        kind, m = key[0], self.model
        out: list[Saved] = []
        if kind == "path" and not want:
            _, lv, y, x = key
            out += self._take(("path", lv, y, x))
            name = m.slope_of(y, x) if lv == m.slope_level else None
            if name is not None:
                out += self._take_slope(name)
        elif kind == "cov" and not want:
            _, lv, a, b = key
            stored = m.blocks[lv].cov_key(a, b)
            out += self._take(("cov", lv, *stored))
        elif kind == "load" and not want:
            out += self._take(key)
        elif kind == "slope":
            _, y, x = key
            if want:
                out += self._take(("path", m.slope_level, y, x))
            else:
                out += self._take_slope(m.slope_of(y, x))
        return out

    def _add_default(self, key: Switch, want: bool) -> None:
        kind, m = key[0], self.model
        if kind == "path" and want:
            _, lv, y, x = key
            self._put(("path", lv, y, x), self._remembered(("path", lv, y, x), Term(x)))
        elif kind == "cov" and want:
            _, lv, a, b = key
            if ("cov", lv, b, a) in self._rank and ("cov", lv, a, b) not in self._rank:
                a, b = b, a         # the orientation it had before keeps its place
            self._put(("cov", lv, a, b), self._remembered(("cov", lv, a, b), Term(b)))
        elif kind == "load" and want:
            self._put(key, self._remembered(key, Term(key[3])))
        elif kind == "slope":
            _, y, x = key
            if want:
                self._put(("slope", self._free_slope_name()), (y, Term(x)))
            else:
                item = ("path", m.slope_level, y, x)
                self._put(item, self._remembered(item, Term(x)))

    def _remembered(self, item: Item, default):
        """The value `item` had when it was last removed (its label...), else `default`."""
        return self._terms.get(item, default)

    def _take_slope(self, name: str) -> list[Saved]:
        """Remove random slope `name` and every statement about it (its a variable above)."""
        m = self.model
        out = self._take(("slope", name))
        for lv, blk in m.blocks.items():
            out += [s for k in [("path", lv, *p) for p in blk.paths if name in p]
                    for s in self._take(k)]
            out += [s for k in [("cov", lv, *c) for c in blk.covs if name in c]
                    for s in self._take(k)]
            out += [s for k in [("other", lv, statement_text(st)) for st in blk.other
                                if st.lhs == name] for s in self._take(k)]
        return out

    # -- parts added on behalf ---------------------------------------------------------
    def _needs(self, key: Switch) -> list[str]:
        """Variables that switch `key` makes outcomes at the lowest level of a multilevel model."""
        m = self.model
        if m.cluster_level is None:
            return []
        lowest = m.levels[0]
        if key[0] == "path" and key[1] == lowest:
            return [key[2]]
        if key[0] == "slope":
            return [key[1]]
        if key[0] == "latent" and key[1] == lowest:
            return [t.name for t in m.blocks[lowest].latents.get(key[2], [])]
        return []

    def _claim(self, key: Switch) -> None:
        m = self.model
        roles = self._roles() or {}
        for v in self._needs(key):
            at = role_levels(roles.get(v), m.levels) or ()
            if m.levels[0] not in at:
                continue
            # the variable's parts at the levels above (between; classes and schools)
            for above in m.levels[1:]:
                if above not in at:
                    continue
                stored = m.blocks[above].cov_key(v, v)
                if stored is not None:
                    item = ("cov", above, *stored)
                    if item in self.auto:
                        self.auto[item].add(key)
                elif v not in m.blocks[above].names():
                    # its part at that level would otherwise be left out of the model
                    item = ("cov", above, v, v)
                    self._put(item, Term(v))
                    self.auto[item] = {key}

    def _sync_auto(self, before: set[Switch], claim: bool = True) -> list[Saved]:
        """Owners follow the switches: switches that came on claim what they need (if
        `claim`), owners that went off are dropped, and a part left without owners goes.

        Returns what to remember to undo this: the parts removed, and ``(("owner", item),
        None, owners)`` for the owners dropped from parts that stay.
        """
        now = self.on_switches()
        if claim:
            for key in sorted(now - before):
                self._claim(key)
        out: list[Saved] = []
        for item in list(self.auto):
            owners = self.auto[item]
            if owners <= now:
                continue
            if owners & now:
                self.auto[item] = owners & now
                out.append((("owner", item), None, owners - now))
                continue
            value = self._get(item)
            del self.auto[item]
            # a part the user has since edited (a label, a fixed value) is theirs now
            if value is not None and value == Term(item[2]):
                out.append((item, value, owners))
                self._drop(item)
        return out

    # -- items ----------------------------------------------------------------------------
    def _get(self, item: Item):
        kind, m = item[0], self.model
        if kind == "path":
            return m.blocks[item[1]].paths.get((item[2], item[3]))
        if kind == "cov":
            stored = m.blocks[item[1]].cov_key(item[2], item[3])
            return None if stored is None else m.blocks[item[1]].covs[stored]
        if kind == "slope":
            for blk in m.blocks.values():
                if item[1] in blk.slopes:
                    return blk.slopes[item[1]]
            return None
        if kind == "load":
            return next((t for t in m.blocks[item[1]].latents.get(item[2], ())
                         if t.name == item[3]), None)
        for st in m.blocks[item[1]].other:
            if statement_text(st) == item[2]:
                return st
        return None

    def _take(self, item: Item) -> list[Saved]:
        """Remove `item` if present; returns [(item, value, owners)] or []."""
        value = self._get(item)
        if value is None:
            return []
        owners = self.auto.pop(item, None)
        self._drop(item)
        self._terms[item] = value
        return [(item, value, owners)]

    def _drop(self, item: Item) -> None:
        kind, m = item[0], self.model
        if kind == "path":
            m.blocks[item[1]].paths.pop((item[2], item[3]), None)
        elif kind == "cov":
            blk = m.blocks[item[1]]
            stored = blk.cov_key(item[2], item[3])
            if stored is not None:
                del blk.covs[stored]
        elif kind == "slope":
            for blk in m.blocks.values():
                blk.slopes.pop(item[1], None)
        elif kind == "load":
            blk = m.blocks[item[1]]
            left = [t for t in blk.latents.get(item[2], ()) if t.name != item[3]]
            if left:
                blk.latents[item[2]] = left
            else:
                # no indicator left: no latent variable (its last loading brings it back)
                blk.latents.pop(item[2], None)
        else:
            blk = m.blocks[item[1]]
            blk.other = [st for st in blk.other if statement_text(st) != item[2]]

    def _put(self, item: Item, value) -> None:
        kind, m = item[0], self.model
        self._ranked(item)
        if kind == "path":
            m.blocks[item[1]].paths[(item[2], item[3])] = value
        elif kind == "cov":
            m.blocks[item[1]].covs[(item[2], item[3])] = value
        elif kind == "slope":
            m.blocks[m.slope_level].slopes[item[1]] = value
        elif kind == "load":
            self._ranked(("latent", item[1], item[2]))
            m.blocks[item[1]].latents.setdefault(item[2], []).append(value)
        else:
            m.blocks[item[1]].other.append(value)

    def _fits(self, item: Item, value) -> bool:
        """Whether a remembered item can go back: its place is still free."""
        m = self.model
        if self._get(item) is not None:
            return False
        if item[0] == "slope":
            y, t = value
            return (m.slope_level is not None and m.slope_of(y, t.name) is None
                    and (y, t.name) not in m.blocks[m.slope_level].paths
                    and item[1] not in self.columns)
        # a fixed path and a random slope of the same outcome and covariate exclude each other
        return not (item[0] == "path" and item[1] == m.slope_level
                    and m.slope_of(item[2], item[3]) is not None)

    def _restore(self, saved: list[Saved]) -> None:
        # slopes first: a statement about a slope comes back only with its slope
        slopes = {s[0][1] for s in saved if s[0][0] == "slope"}
        back: set[str] = set()
        for item, value, owners in sorted(saved, key=lambda s: (s[0][0] == "owner", s[0][0] != "slope")):
            if item[0] == "owner":
                if item[1] in self.auto:
                    self.auto[item[1]] |= set(owners)
                continue
            if (_names(item, value) & slopes) - back or not self._fits(item, value):
                continue
            self._put(item, value)
            if item[0] == "slope":
                back.add(item[1])
            if owners:
                self.auto[item] = set(owners)

    def _free_slope_name(self) -> str:
        m = self.model
        used = self.columns | set(m.slope_names()) | set(m.latent_names())
        # a remembered slope keeps its name: undoing its removal must not find it taken
        used |= {item[1] for _want, saved, _v in self.memory.values()
                 for item, _v, _o in saved if item[0] == "slope"}
        for blk in m.blocks.values():
            used |= set(blk.names())
        k = 1
        while f"s{k}" in used:
            k += 1
        return f"s{k}"

    # -- order ------------------------------------------------------------------------------
    def _ranked(self, item: Item) -> None:
        """Give `item` the next rank unless it has one."""
        if item not in self._rank:
            self._rank[item] = self._next_rank
            self._next_rank += 1

    def _sort(self) -> None:
        """Keep every block in the order its items first appeared."""
        rank, ranked = self._rank, self._ranked
        for lv, blk in self.model.blocks.items():
            for f, terms in blk.latents.items():
                ranked(("latent", lv, f))
                for t in terms:
                    ranked(("load", lv, f, t.name))
            for k in blk.paths:
                ranked(("path", lv, *k))
            for k in blk.covs:
                ranked(("cov", lv, *k))
            for s in blk.slopes:
                ranked(("slope", s))
            for st in blk.other:
                ranked(("other", lv, statement_text(st)))
            blk.latents = {f: sorted(terms, key=lambda t, f=f: rank[("load", lv, f, t.name)])
                           for f, terms in sorted(blk.latents.items(),
                                                  key=lambda kv: rank[("latent", lv, kv[0])])}
            blk.paths = dict(sorted(blk.paths.items(), key=lambda kv: rank[("path", lv, *kv[0])]))
            blk.covs = dict(sorted(blk.covs.items(), key=lambda kv: rank[("cov", lv, *kv[0])]))
            blk.slopes = dict(sorted(blk.slopes.items(), key=lambda kv: rank[("slope", kv[0])]))
            blk.other = sorted(blk.other,
                               key=lambda st: rank[("other", lv, statement_text(st))])


def _names(item: Item, value) -> set:
    if item[0] in ("path", "cov"):
        return {item[2], item[3]}
    if item[0] == "other":
        return {value.lhs}
    return set()
