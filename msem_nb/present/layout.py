"""Where the boxes of a path diagram go: a pure function of the parameter table.

The diagram code (:mod:`msem_nb.present.diagram`) only styles what this module
places, so the picture of a model never depends on its estimates and the
same model always gives the same picture.

Rules, per level (a *panel*):

* regressions flow left to right: a variable's column is the length of the
  longest chain of regressions that leads to it, so exogenous variables are
  in the first column and outcomes to the right;
* an observed variable that only indicates a factor is not given a column of
  its own: it sits in a row beside its factor, below it in the Within panel
  and above it in the Between panel (so that the two panels mirror each
  other across the line between them);
* within a column, variables are ordered by the mean row of their
  predecessors (one forward, one backward and one more forward sweep),
  ties broken by their order in the parameter table;
* in a multilevel model each level's panel is drawn above the panel of the
  level below it (Between above Within); levels are read from the
  parameter table's block keys, lowest first.

Sizes are in diagram units (roughly 70 screen pixels each); boxes in the
same panel never overlap by construction: every column is as wide as its
widest entry and entries in a column are stacked with a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["NodePlace", "ModelGraph", "Edge", "model_graph", "compute_layout", "node_size",
           "KINDS"]

#: Node kinds: rectangles for "observed", ellipses for the others.
KINDS = ("observed", "latent", "random_intercept", "random_slope")

_COL_GAP = 1.7        # room between columns for arrow labels
_ROW_GAP = 0.75       # vertical room between entries of a column
_GROUP_GAP = 1.25     # factor to its row of indicators (loading labels sit here)
_IND_GAP = 0.3        # between indicators in a row
_PANEL_GAP = 1.6      # between the Between and the Within panel
MAX_LABEL = 24       # longer names are shortened on the box (full name on hover)


class NodePlace(NamedTuple):
    """Centre, kind and size of one node of the diagram."""

    x: float
    y: float
    kind: str
    width: float
    height: float
    #: side of the box that carries a random-intercept dot ("left", "right", "top"), or "".
    dot: str = ""


@dataclass(frozen=True)
class Edge:
    """A drawn path: a directed arrow (``~``, ``=~``, ``|~``) or a covariance."""

    level: str
    src: str          # tail of an arrow (predictor, factor); first variable of a covariance
    dst: str          # head of an arrow (outcome, indicator); second variable of a covariance
    op: str           # "~", "=~", "|~" or "~~"
    row: int          # index of the parameter-table row that gives the estimate
    slope: str = ""   # name of the random slope carried by a within arrow


@dataclass
class ModelGraph:
    """Nodes and edges of each level, read from a parameter table."""

    levels: list = field(default_factory=list)      # lowest first: ["within", "between"] or [""]
    nodes: dict = field(default_factory=dict)       # level -> {name: kind}, in table order
    edges: list = field(default_factory=list)       # Edge, directed ones first per level
    both: frozenset = frozenset()                    # variables with a within and a between part
    slopes: dict = field(default_factory=dict)      # slope name -> (outcome, predictor)

    @property
    def lowest(self) -> str:
        """Name of the lowest level (the rows): "within", or "" for one level."""
        return self.levels[0] if self.levels else ""

    @property
    def multilevel(self) -> bool:
        return len(self.levels) > 1

    def arrows(self, level=None):
        """Directed edges (of one level, or all)."""
        return [e for e in self.edges if e.op != "~~" and (level is None or e.level == level)]

    def covariances(self, level=None):
        """Two-headed edges (of one level, or all)."""
        return [e for e in self.edges if e.op == "~~" and (level is None or e.level == level)]


def _uniq(seq):
    out = []
    for v in seq:
        if v not in out:
            out.append(v)
    return out


def _slope_name(row: dict) -> str:
    for key in ("slope", "label"):
        v = row.get(key)
        if isinstance(v, str) and v:
            return v
    return ""


def model_graph(partable, *, exo_covariances: bool = False) -> ModelGraph:
    """Nodes and edges to draw for a parameter table.

    Parameters
    ----------
    partable : ParTable
        From :func:`msem_nb.model.partable.build_partable` or ``FitResult.partable``.
    exo_covariances : bool
        Also draw the covariances among observed exogenous covariates, which
        are fixed at their sample values (lavaan's fixed.x) and usually left
        out of a diagram.

    Returns
    -------
    ModelGraph
    """
    tab = partable.table
    rows = tab.to_dict("records")
    levels = list(partable.level_names)
    slopes = {}
    for r in rows:
        if r["op"] == "|~":
            name = _slope_name(r)
            if name:
                slopes[name] = (r["lhs"], r["rhs"])
    both = frozenset(partable.roles()[2])
    g = ModelGraph(levels=levels, both=both, slopes=slopes)
    for b, bv in enumerate(partable.blocks):
        lvl = bv.level
        # random intercepts and slopes are the higher-level parts of lowest-level things
        higher = not partable.is_lowest(b)
        lv = set(bv.lv)
        names = list(bv.ov) + list(bv.lv)
        # names mentioned only in rows (slopes at the between level, say)
        for r in rows:
            if r["level"] == lvl and r["op"] in ("~", "=~", "~~", "|~"):
                names += [r["lhs"], r["rhs"]]
        kinds = {}
        for v in _uniq(names):
            if not isinstance(v, str) or not v:
                continue
            if higher and v in slopes:
                kinds[v] = "random_slope"
            elif v in lv:
                kinds[v] = "latent"
            elif higher and v in both:
                kinds[v] = "random_intercept"
            else:
                kinds[v] = "observed"
        g.nodes[lvl] = kinds
    seen = {}
    directed, covs = [], []
    for i, r in enumerate(rows):
        op, lvl = r["op"], r["level"]
        if op in ("~", "|~"):
            key = (lvl, r["rhs"], r["lhs"])
            slope = _slope_name(r) if op == "|~" else ""
            if key in seen:
                # 'y ~ x' together with 's | y ~ x': one arrow that carries the slope
                j = seen[key]
                old = directed[j]
                directed[j] = Edge(lvl, old.src, old.dst, old.op if op == "|~" else op,
                                   old.row if old.op == "~" else i, slope or old.slope)
                continue
            seen[key] = len(directed)
            directed.append(Edge(lvl, r["rhs"], r["lhs"], op, i, slope))
        elif op == "=~":
            directed.append(Edge(lvl, r["lhs"], r["rhs"], op, i))
        elif op == "~~" and r["lhs"] != r["rhs"]:
            if r.get("exo") and not exo_covariances:
                continue
            covs.append(Edge(lvl, r["lhs"], r["rhs"], op, i))
    g.edges = directed + covs
    return g


def node_size(name: str, kind: str) -> tuple[float, float]:
    """Width and height of a node box for a label of this length."""
    n = min(len(str(name)), MAX_LABEL)
    w = min(max(0.35 + 0.1 * n, 0.9), 0.35 + 0.1 * MAX_LABEL)
    if kind == "observed":
        return round(w, 4), 0.55
    # an ellipse needs more room than a box around the same text
    return round(w * 1.28 + 0.1, 4), 0.7


def _ranks(nodes, edges):
    """Longest-path column of every node; back edges of cycles are ignored."""
    succ = {v: [] for v in nodes}
    for a, b in edges:
        if a in succ and b in succ and b not in succ[a] and a != b:
            succ[a].append(b)
    # depth-first search in table order marks the edges that close a cycle
    state = {v: 0 for v in nodes}
    keep = []
    order = []
    for root in nodes:
        if state[root]:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            v, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[v] = 2
                order.append(v)
                stack.pop()
                continue
            if state[nxt] == 1:
                continue          # back edge: a feedback loop, not a column step
            keep.append((v, nxt))
            if state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    rank = {v: 0 for v in nodes}
    for v in reversed(order):     # reverse post-order is a topological order
        for a, b in keep:
            if a == v:
                rank[b] = max(rank[b], rank[a] + 1)
    return rank, keep


def _order_columns(cols, preds, succs, index):
    """Barycentre ordering of each column; deterministic."""
    def pos_map():
        return {v: (i + 0.5) / len(c) for c in cols for i, v in enumerate(c)}

    def sweep(rng, neighbours):
        for r in rng:
            pos = pos_map()
            col = cols[r]

            def key(v):
                ns = [pos[u] for u in neighbours[v] if u in pos and u not in col]
                own = (col.index(v) + 0.5) / len(col)
                return (sum(ns) / len(ns) if ns else own, index[v])
            cols[r] = sorted(col, key=key)

    n = len(cols)
    sweep(range(1, n), preds)
    sweep(range(n - 2, -1, -1), succs)
    sweep(range(1, n), preds)
    return cols


def _panel_layout(kinds: dict, arrows: list, below: bool) -> dict:
    """Positions in one panel, centred on (0, 0); y grows upwards."""
    names = list(kinds)
    index = {v: i for i, v in enumerate(names)}
    structural_use = set()
    for e in arrows:
        if e.op in ("~", "|~"):
            structural_use.update((e.src, e.dst))
    # indicators that only measure a factor ride along with their first factor
    group: dict[str, list] = {}
    grouped = set()
    for e in arrows:
        if e.op != "=~":
            continue
        v = e.dst
        if (kinds.get(v) in ("observed", "random_intercept") and v not in structural_use
                and v not in grouped and v not in group and kinds.get(e.src) is not None):
            group.setdefault(e.src, []).append(v)
            grouped.add(v)
    structural = [v for v in names if v not in grouped]
    links = [(e.src, e.dst) for e in arrows if e.src in structural and e.dst in structural]
    rank, kept = _ranks(structural, links)
    ncol = max(rank.values(), default=0) + 1
    cols = [[v for v in structural if rank[v] == r] for r in range(ncol)]
    preds = {v: [a for a, b in kept if b == v] for v in structural}
    succs = {v: [b for a, b in kept if a == v] for v in structural}
    cols = _order_columns(cols, preds, succs, index)

    size = {v: node_size(v, kinds[v]) for v in names}

    def entry_size(v):
        w, h = size[v]
        inds = group.get(v, [])
        if not inds:
            return w, h
        row_w = sum(size[i][0] for i in inds) + _IND_GAP * (len(inds) - 1)
        row_h = max(size[i][1] for i in inds)
        return max(w, row_w), h + _GROUP_GAP + row_h

    # With no regressions at all (a measurement model), the factors stand
    # side by side with their indicators beneath them, not in a tall column.
    flat = ncol == 1 and len(cols[0]) > 1 and bool(group)
    if flat:
        cols = [[v] for v in cols[0]]
        ncol = len(cols)
    gap = _COL_GAP * 0.6 if flat else _COL_GAP
    col_w = [max(entry_size(v)[0] for v in col) if col else 0.0 for col in cols]
    xs, x = [], 0.0
    for r, w in enumerate(col_w):
        xs.append(x + w / 2)
        x += w + gap
    place: dict[str, tuple[float, float]] = {}
    for r, col in enumerate(cols):
        heights = [entry_size(v)[1] for v in col]
        total = sum(heights) + _ROW_GAP * (len(col) - 1)
        top = total / 2
        for v, h in zip(col, heights):
            w_v, h_v = size[v]
            if flat:
                # every factor on the line y = 0
                top = h_v / 2 if below or not group.get(v) else h - h_v / 2
            inds = group.get(v, [])
            if inds:
                row_h = max(size[i][1] for i in inds)
                if below:
                    fy = top - h_v / 2
                    iy = top - h + row_h / 2
                else:
                    iy = top - row_h / 2
                    fy = top - h + h_v / 2
                row_w = sum(size[i][0] for i in inds) + _IND_GAP * (len(inds) - 1)
                ix = xs[r] - row_w / 2
                for i in inds:
                    place[i] = (ix + size[i][0] / 2, iy)
                    ix += size[i][0] + _IND_GAP
                place[v] = (xs[r], fy)
            else:
                place[v] = (xs[r], top - h / 2)
            top -= h + _ROW_GAP
    # Shift each column up or down (as a whole, so nothing in it can come to
    # overlap) to bring its variables level with their predecessors: arrows
    # then run as flat as the stacking allows.
    for r in range(1, ncol):
        diffs = [sum(place[u][1] for u in preds[v]) / len(preds[v]) - place[v][1]
                 for v in cols[r] if preds[v]]
        if not diffs:
            continue
        dy = sum(diffs) / len(diffs)
        for v in cols[r]:
            for w in [v] + group.get(v, []):
                place[w] = (place[w][0], place[w][1] + dy)
    # centre the panel horizontally on 0
    span = x - gap
    return {v: (px - span / 2, py) for v, (px, py) in place.items()}


def compute_layout(partable, graph: ModelGraph | None = None) -> dict:
    """Place every node of a path diagram.

    Parameters
    ----------
    partable : ParTable
        Parameter table of a fitted or unfitted model.
    graph : ModelGraph, optional
        Result of :func:`model_graph` for `partable` (computed if omitted).

    Returns
    -------
    dict
        ``(level, name) -> NodePlace(x, y, kind, width, height, dot)``, where
        level is "within", "between" or "" (single-level model) and kind is
        one of :data:`KINDS`. Coordinates are diagram units, y upwards; each
        level's panel lies above the one of the level below it (Between
        above Within). The same table always gives the same dictionary.
    """
    g = graph if graph is not None else model_graph(partable)
    # indicators sit below their factor in the lowest panel, above it higher up
    panels = {lvl: _panel_layout(g.nodes[lvl], g.arrows(lvl), below=lvl == g.lowest)
              for lvl in g.levels}
    out = {}
    offset = {lvl: 0.0 for lvl in g.levels}

    def extent(lvl):
        half = {v: node_size(v, g.nodes[lvl][v])[1] / 2 for v in panels[lvl]}
        return (min(y - half[v] for v, (_, y) in panels[lvl].items()),
                max(y + half[v] for v, (_, y) in panels[lvl].items()))

    below = None
    for lvl in g.levels:
        if not panels[lvl]:
            continue
        if below is not None:
            # the lowest box of this panel clears the highest of the panel below
            offset[lvl] = offset[below] + extent(below)[1] - extent(lvl)[0] + _PANEL_GAP
        below = lvl
    for lvl in g.levels:
        for v, (x, y) in panels[lvl].items():
            kind = g.nodes[lvl][v]
            w, h = node_size(v, kind)
            dot = ""
            if lvl == g.lowest and g.multilevel and v in g.both:
                # the dot goes on an end of the box that arrows do not use
                ins = any(e.dst == v for e in g.arrows(lvl))
                outs = _has_outgoing(g, lvl, v)
                dot = "top" if ins and outs else "left" if outs else "right"
            out[(lvl, v)] = NodePlace(round(x, 6), round(y + offset[lvl], 6), kind, w, h, dot)
    return out


def _has_outgoing(g: ModelGraph, lvl: str, v: str) -> bool:
    return any(e.src == v for e in g.arrows(lvl) if e.op in ("~", "|~"))
