"""The grid of a power study: parameter names, designs, scenarios, seeds, missing shares.

Everything the user types is checked here, before any replication runs, and
turned into plain values: a parameter is named ``"lhs op rhs [level]"``
(``"y ~ x [between]"``, ``"y ~~ y [within]"``, ``"y ~1 [between]"``), by a
label or ``:=`` name (``"ab"``), or, in ``vary`` only, as ``"icc(y)"`` (the
intra-class correlation of y, reached through y's between (residual)
variance). A design is one number of clusters J and one cluster size (an
int, or an inclusive ``(min, max)`` range drawn per cluster); a scenario is
one combination of the ``vary`` values. The designs of a study are every
scenario x cluster size x J, in that order.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from msem_nb.errors import ModelSpecificationError

__all__ = ["ParamKey", "Design", "parse_key", "param_name", "match_rows", "make_designs",
           "check_seed", "check_missing", "check_positive_int", "size_label", "parse_numbers",
           "parse_sizes"]

_KEY = re.compile(r"^\s*(?P<lhs>[^\s\[\]~=:]+)\s*(?P<op>=~|~~|~1|~|:=)\s*(?P<rhs>[^\s\[\]]*)\s*"
                  r"(?:\[\s*(?P<level>[^\]\s]+)\s*\])?\s*$")
_ICC = re.compile(r"^\s*icc\s*\(\s*(?P<var>[^\s()]+)\s*\)\s*$", re.IGNORECASE)
_NAME = re.compile(r"^\s*(?P<name>[A-Za-z_.][\w.]*)\s*(?:\[\s*(?P<level>[^\]\s]+)\s*\])?\s*$")


@dataclass(frozen=True)
class ParamKey:
    """A parameter named by the user: a row pattern, a label, or an ICC."""

    text: str
    lhs: str = ""
    op: str = ""
    rhs: str = ""
    level: str | None = None
    label: str | None = None
    icc: str | None = None


def parse_key(text: object, *, allow_icc: bool = False) -> ParamKey:
    """Read ``"y ~ x [between]"``, a label, or (with `allow_icc`) ``"icc(y)"``."""
    if not isinstance(text, str) or not text.strip():
        raise ModelSpecificationError(
            f"a parameter is named as text such as 'y ~ x [between]', not {text!r}")
    m = _ICC.match(text)
    if m:
        if not allow_icc:
            raise ModelSpecificationError(
                f"'{text}' is not a model parameter; icc(...) can only be varied (vary=)")
        return ParamKey(text.strip(), icc=m["var"])
    m = _KEY.match(text)
    if m:
        op, rhs = m["op"], m["rhs"]
        if op == "~" and rhs == "1":
            op, rhs = "~1", ""
        if op != "~1" and not rhs:
            raise ModelSpecificationError(
                f"parameter '{text}' has no right-hand side; write it as 'y ~ x [between]'")
        return ParamKey(text.strip(), m["lhs"], op, rhs, m["level"])
    m = _NAME.match(text)
    if m:
        return ParamKey(text.strip(), level=m["level"], label=m["name"])
    raise ModelSpecificationError(
        f"cannot read the parameter name '{text}'; write it as 'lhs op rhs [level]', e.g. "
        "'y ~ x [between]' or 'y ~~ y [within]', or give its label")


def param_name(lhs: str, op: str, rhs: str, level: str) -> str:
    """The display name of a row: ``"y ~ x [between]"``, ``"ab"`` for ``:=``."""
    if op == ":=":
        return lhs
    core = f"{lhs} ~1" if op == "~1" else f"{lhs} {op} {rhs}"
    return f"{core} [{level}]" if level else core


def match_rows(key: ParamKey, rows: Sequence[Mapping], what: str) -> int:
    """The one position in `rows` (dicts with lhs, op, rhs, level, label) that `key` names.

    Raises ``ModelSpecificationError`` for no match (listing some names) or
    several (asking for a level).
    """
    hits = []
    for i, r in enumerate(rows):
        if key.label is not None:
            ok = (r.get("label") == key.label or (r["op"] == ":=" and r["lhs"] == key.label))
        else:
            same = (r["lhs"], r["rhs"]) == (key.lhs, key.rhs)
            swapped = key.op == "~~" and (r["lhs"], r["rhs"]) == (key.rhs, key.lhs)
            ok = r["op"] == key.op and (same or swapped)
        if ok and (key.level is None or r["level"] == key.level):
            hits.append(i)
    if not hits:
        names = [param_name(r["lhs"], r["op"], r["rhs"], r["level"]) for r in rows]
        shown = ", ".join(f"'{n}'" for n in names[:12]) + (", ..." if len(names) > 12 else "")
        raise ModelSpecificationError(
            f"'{key.text}' is not a parameter of the {what}; its parameters are {shown}")
    if len({rows[i].get("free") or ("row", i) for i in hits}) > 1 and len(hits) > 1:
        levels = sorted({str(rows[i]["level"]) for i in hits})
        raise ModelSpecificationError(
            f"'{key.text}' names {len(hits)} parameters of the {what} (levels "
            f"{', '.join(levels)}); add the level, e.g. '{key.text} [{levels[-1]}]'")
    return hits[0]


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """`value` as an int of at least `minimum`, or a library error."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise ModelSpecificationError(f"{name} must be a whole number, not {value!r}")
    v = int(value)  # type: ignore[call-overload]
    if v < minimum:
        raise ModelSpecificationError(f"{name} must be at least {minimum}, not {v}")
    return v


def check_seed(seed: object) -> int | None:
    """A seed for :class:`numpy.random.SeedSequence`: None or a non-negative int."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ModelSpecificationError(
            f"seed must be a non-negative whole number (or None), not {seed!r}")
    if int(seed) < 0:
        raise ModelSpecificationError(f"seed must be non-negative, not {seed}")
    return int(seed)


def _size(value: object) -> int | tuple[int, int]:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ModelSpecificationError(
                f"a cluster-size range is (min, max), not {value!r}")
        lo = check_positive_int(value[0], "cluster_size")
        hi = check_positive_int(value[1], "cluster_size")
        if hi < lo:
            raise ModelSpecificationError(
                f"cluster_size range {value!r}: the maximum is below the minimum")
        return (lo, hi) if hi > lo else lo
    return check_positive_int(value, "cluster_size")


def size_label(size: int | tuple[int, int]) -> str:
    """``"10"`` or ``"5-15"``."""
    return f"{size[0]}-{size[1]}" if isinstance(size, tuple) else str(size)


@dataclass(frozen=True)
class Design:
    """One cell of the grid: J clusters of a size, in one scenario of `vary`."""

    index: int
    n_clusters: int
    cluster_size: int | tuple[int, int]
    scenario: int
    values: tuple[tuple[str, float], ...] = ()

    @property
    def mean_size(self) -> float:
        s = self.cluster_size
        return (s[0] + s[1]) / 2 if isinstance(s, tuple) else float(s)

    @property
    def n_units(self) -> float:
        """Expected number of level-1 units."""
        return self.n_clusters * self.mean_size


def make_designs(n_clusters: object, cluster_size: object,
                 vary: Mapping[str, Sequence[float]] | None) -> list[Design]:
    """Every scenario x cluster size x J, validated (see the module docstring)."""
    if n_clusters is None:
        raise ModelSpecificationError("give n_clusters, e.g. n_clusters=[30, 50, 100]")
    js = [n_clusters] if np.ndim(n_clusters) == 0 else list(n_clusters)  # type: ignore[arg-type]
    if not js:
        raise ModelSpecificationError("n_clusters is empty; give at least one number of clusters")
    js = [check_positive_int(j, "n_clusters") for j in js]
    if isinstance(cluster_size, list):
        if not cluster_size:
            raise ModelSpecificationError("cluster_size is an empty list; give at least one size")
        sizes = [_size(s) for s in cluster_size]
    else:
        sizes = [_size(cluster_size)]
    keys, grids = [], []
    for k, vals in (vary or {}).items():
        arr = [vals] if np.ndim(vals) == 0 else list(vals)
        if not arr:
            raise ModelSpecificationError(f"vary['{k}'] is empty; give at least one value")
        try:
            arr = [float(v) for v in arr]
        except (TypeError, ValueError) as exc:
            raise ModelSpecificationError(f"vary['{k}'] must hold numbers, not {vals!r}") \
                from exc
        if not all(np.isfinite(arr)):
            raise ModelSpecificationError(f"vary['{k}'] must hold finite numbers")
        keys.append(k)
        grids.append(arr)
    out = []
    for s, combo in enumerate(itertools.product(*grids)):
        for size in sizes:
            for j in js:
                out.append(Design(len(out), j, size, s, tuple(zip(keys, combo))))
    return out


def check_missing(missing: object, names: Sequence[str]) -> dict[str, float]:
    """MCAR shares per variable: ``{"y": 0.2}``, each in [0, 1)."""
    if missing is None:
        return {}
    if not isinstance(missing, Mapping):
        raise ModelSpecificationError(
            "missing= takes the share of missing values per variable, e.g. {'y': 0.2}")
    out = {}
    for v, share in missing.items():
        if v not in names:
            raise ModelSpecificationError(
                f"missing: '{v}' is not a variable of the population model; its variables "
                f"are {', '.join(names)}")
        try:
            p = float(share)
        except (TypeError, ValueError) as exc:
            raise ModelSpecificationError(f"missing['{v}'] must be a share, not {share!r}") \
                from exc
        if not 0.0 <= p < 1.0:
            raise ModelSpecificationError(
                f"missing['{v}'] = {share!r}: a share of missing values is in [0, 1)")
        if p > 0:
            out[str(v)] = p
    return out


def parse_numbers(text: str, name: str) -> list[int]:
    """Whole numbers typed as ``"30,50,100"`` (the command line, the panel)."""
    try:
        out = [int(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError as exc:
        raise ModelSpecificationError(
            f"{name} takes whole numbers separated by commas, such as 30,50,100, not "
            f"'{text}'") from exc
    if not out:
        raise ModelSpecificationError(f"{name} is empty; give at least one number")
    return out


def parse_sizes(text: str, name: str = "cluster size") -> int | tuple[int, int] | list:
    """Cluster sizes typed as ``"10"``, ``"5-15"`` (a range) or ``"10,20"`` (designs)."""
    designs: list = []
    for part in (p for p in str(text).replace(" ", "").split(",") if p):
        lo, sep, hi = part.partition("-")
        try:
            designs.append((int(lo), int(hi)) if sep else int(lo))
        except ValueError as exc:
            raise ModelSpecificationError(
                f"{name} takes sizes such as 10, 5-15 or 10,20, not '{text}'") from exc
    if not designs:
        raise ModelSpecificationError(f"{name} is empty; give a size such as 10")
    return designs[0] if len(designs) == 1 else designs
