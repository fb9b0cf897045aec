"""The final records of a parameter table: free parameter indices and labels.

:func:`make_table` numbers the rows built by :mod:`msem_nb.model.partable`'s
rules into :class:`~msem_nb.model.rows.ParRow` records: ``free`` is 0 for a
fixed row and otherwise the 1-based index into the free parameter vector;
rows with the same label, and labels joined by ``a == b``, share an index
(union-find over the labels). :func:`check_labels` refuses labels that are
ambiguous or unknown (a label on fixed and free rows, a ``:=`` name that is
already a label, a constraint naming no label).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from msem_nb.errors import ModelSpecificationError
from msem_nb.model.blocks import BlockKey
from msem_nb.model.rows import BuildRow, ParRow
from msem_nb.syntax.expressions import Expression
from msem_nb.syntax.statements import Statement

__all__ = ["make_table", "check_labels", "simple_equalities"]


def simple_equalities(constraints: Iterable[Statement]) -> list[tuple[str, str]]:
    """Pairs of labels constrained equal by ``a == b`` statements."""
    out: list[tuple[str, str]] = []
    for c in constraints:
        if c.op == "==" and c.lhs_expr is not None and c.expr is not None:
            if _is_label(c.lhs_expr) and _is_label(c.expr):
                out.append((c.lhs_expr.text, c.expr.text))
    return out


def _is_label(expr: Expression) -> bool:
    return len(expr.names) == 1 and expr.text.strip() == expr.names[0]


def _num(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def make_table(rows: Sequence[BuildRow], constraints: Iterable[Statement],
                keys: Sequence[BlockKey]) -> list[ParRow]:
    """Final records (free indices resolved), for :meth:`ParTable.from_records`."""
    labels = [r["label"] or "" for r in rows]
    free = _free_indices([bool(r["free"]) for r in rows], labels, constraints)
    recs: list[ParRow] = [{"id": i, "lhs": r["lhs"], "op": r["op"], "rhs": r["rhs"], "block": r["block"],
             "group": keys[r["block"]].group, "level": r["level"], "user": bool(r["user"]), "free": int(f), "label": lab,
             "ustart": _num(r["ustart"]), "start": _num(r["start"]), "exo": bool(r["exo"]),
             "plabel": f".p{i}.", "line": r.get("line", 0), "slope": r.get("slope", ""),
             "loading": bool(r.get("loading", False))}
            for i, (r, f, lab) in enumerate(zip(rows, free, labels), start=1)]
    return recs




def _free_indices(free: Sequence[bool], labels: Sequence[str],
                  constraints: Iterable[Statement]) -> np.ndarray:
    """1-based free parameter index per row; shared labels share an index."""
    # union-find over labels merged by 'a == b'
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.get(a, a) != a:
            a = parent[a]
        return a

    for a, b in simple_equalities(constraints):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    out = np.zeros(len(free), dtype=int)
    by_label: dict[str, int] = {}
    k = 0
    for i in range(len(free)):
        if not free[i]:
            continue
        lab = labels[i]
        if lab:
            root = find(lab)
            if root in by_label:
                out[i] = by_label[root]
                continue
            k += 1
            by_label[root] = k
        else:
            k += 1
        out[i] = k
    return out


def check_labels(recs: Sequence[ParRow], defined: Iterable[Statement],
                  constraints: Iterable[Statement]) -> None:
    labels = {r["label"] for r in recs if r["label"]}
    # fixed rows with labels that also label free rows: lavaan treats the
    # label as an equality; we refuse the ambiguous case instead.
    kinds: dict[str, set[bool]] = {}
    for r in recs:
        if r["label"]:
            kinds.setdefault(r["label"], set()).add(r["free"] > 0)
    for name, k in kinds.items():
        if len(k) == 2:
            raise ModelSpecificationError(
                f"label '{name}' is on both a fixed and a free parameter; give the fixed one "
                "its value on every row or remove the label")
    known = set(labels)
    defined_at: dict[str, int] = {}
    for d in defined:
        assert d.expr is not None  # the parser gives every ':=' its expression
        if d.lhs in labels or d.lhs in defined_at:
            why = (f"is defined twice (lines {defined_at[d.lhs]} and {d.line})" if d.lhs in
                   defined_at else "is already the label of a parameter (line "
                   f"{next(r['line'] for r in recs if r['label'] == d.lhs)})")
            raise ModelSpecificationError(f"line {d.line}: '{d.lhs}' in '{d.lhs} := "
                                          f"{d.expr.text}' {why}; use another name")
        defined_at[d.lhs] = d.line
        missing = [n for n in d.expr.names if n not in known]
        if missing:
            raise ModelSpecificationError(
                f"line {d.line}: '{d.lhs} := {d.expr.text}' uses unknown label(s) "
                f"{', '.join(missing)}; known labels: {', '.join(sorted(known)) or '(none)'}")
        known.add(d.lhs)
    for c in constraints:
        for e in (c.lhs_expr, c.expr):
            if e is None:
                continue
            missing = [n for n in e.names if n not in known]
            if missing:
                raise ModelSpecificationError(
                    f"line {c.line}: constraint uses unknown label(s) {', '.join(missing)}; "
                    f"known labels: {', '.join(sorted(known)) or '(none)'}")
