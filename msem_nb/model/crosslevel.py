"""Cross-level invariance: the same loadings for a factor's within and between parts.

In a two-level factor model the between factor of a set of indicators means
"the cluster-level part of the within factor" only when its loadings equal
the within factor's (Jak 2019; Mehta & Neale 2005); then the between factor
variance over the total is the factor's ICC. :func:`equal_across_levels`
pairs, in every group, a factor of the lowest level with the factor of a
higher level that has the same indicators, and makes each free loading equal
to its partner by one shared label (labels already tying loadings, e.g.
across groups, are merged, so both constraints hold). Markers must be the
same indicator at both levels (both loadings fixed at 1), or the pair is
refused.
"""

from __future__ import annotations

from msem_nb.errors import ModelSpecificationError
from msem_nb.model.groups import build_row
from msem_nb.model.partable import ParTable, make_table
from msem_nb.model.rows import BuildRow

__all__ = ["equal_across_levels", "factor_pairs"]


def _indicators(pt: ParTable, b: int) -> dict[str, list[int]]:
    """Factor -> positions (in the records) of its loading rows, in block `b`."""
    out: dict[str, list[int]] = {}
    for i, r in enumerate(pt.records):
        if r["block"] == b and r["op"] == "=~":
            out.setdefault(r["lhs"], []).append(i)
    return out


def factor_pairs(pt: ParTable) -> list[tuple[int, str, str]]:
    """(group, within factor, higher-level factor) with the same indicators."""
    out = []
    rec = pt.records
    for g in pt.groups:
        low = pt.block_of(1, g)
        lows = _indicators(pt, low)
        for b, key in enumerate(pt.block_keys):
            if key.group != g or key.is_lowest:
                continue
            for fb, rows_b in _indicators(pt, b).items():
                ind_b = {rec[i]["rhs"] for i in rows_b}
                for fw, rows_w in lows.items():
                    if {rec[i]["rhs"] for i in rows_w} == ind_b:
                        out.append((g, fw, fb))
    return out


def equal_across_levels(pt: ParTable) -> ParTable:
    """`pt` with every paired factor's loadings equal across levels (module docstring).

    Raises
    ------
    ModelSpecificationError
        No within factor has a between factor with the same indicators, or a
        pair's loading is fixed at one level and free at the other.
    """
    pairs = factor_pairs(pt)
    if not pairs:
        raise ModelSpecificationError(
            "no factor of the between level has the same indicators as a factor of the within "
            "level, so there are no loadings to hold equal across levels; give the between "
            "factor the within factor's indicators")
    rec = pt.records
    labels = [r["label"] or "" for r in rec]
    for i, r in enumerate(rec):
        if r["op"] == "=~" and r["free"] > 0 and not labels[i]:
            labels[i] = f".cl{r['id']}."
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.get(a, a) != a:
            a = parent[a]
        return a

    for g, fw, fb in pairs:
        low = pt.block_of(1, g)
        by = {(r["block"], r["lhs"], r["rhs"]): i for i, r in enumerate(rec) if r["op"] == "=~"}
        for b, key in enumerate(pt.block_keys):
            if key.group != g or key.is_lowest:
                continue
            for (blk, f, y), i in list(by.items()):
                if blk != b or f != fb:
                    continue
                j = by[(low, fw, y)]
                if (rec[i]["free"] > 0) != (rec[j]["free"] > 0):
                    raise ModelSpecificationError(
                        f"the loading of {y} is fixed on {fw if rec[j]['free'] == 0 else fb} "
                        f"but free on {fb if rec[j]['free'] == 0 else fw}: give both factors "
                        "the same marker (the first indicator) to hold loadings equal across "
                        "levels")
                if rec[i]["free"] > 0:
                    ra, rb = find(labels[j]), find(labels[i])
                    if ra != rb:
                        parent[rb] = ra
    rows: list[BuildRow] = []
    for r, lab in zip(rec, labels):
        row = build_row(r)
        row["label"] = find(lab) if lab else ""
        rows.append(row)
    return ParTable.from_records(make_table(rows, pt.constraints, pt.block_keys), pt.blocks,
                                 pt.meanstructure, pt.nlevels, pt.defined, pt.constraints)
