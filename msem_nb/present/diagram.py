"""Path diagrams of single- and two-level models as Plotly figures.

Drawing conventions (as in the Mplus User's Guide): one panel per level,
from the top level down (the Between panel above the Within panel), titled
from :data:`PANEL_TITLES` (a generic "Level n" title for other levels);
observed variables are rectangles and latent ones
ellipses. In Within, a filled dot at the end of a box marks the random
intercept of a variable that also has a between part; in Between that part
is an ellipse with the variable's name. A random slope is a filled dot on
its within arrow, named, and an ellipse in Between. Covariances are curved
two-headed arrows. Arrows carry the estimate (or the standardized one) with
significance stars; the hover text gives estimate, SE, z, p and CI.
Paths with p >= .05 are dashed, grey and thinner.

Where things go is decided by :mod:`msem_nb.present.layout`; this module only
styles. Everything is drawn with layout shapes and annotations (plus one
invisible marker trace for the hover text of the nodes), so the figure is
plain JSON and renders offline. Plotly is needed (``pip install
'msem_nb[plot]'``) and imported inside the functions.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from msem_nb.model.partable import ParTable, build_partable
from msem_nb.present.layout import MAX_LABEL, compute_layout, model_graph
from msem_nb.present.notebook_output import static_figure
from msem_nb.syntax import parse

__all__ = ["path_diagram"]

_FILL = {"observed": "#ffffff", "latent": "#e3edf9", "random_intercept": "#f6ead8",
         "random_slope": "#fbd9c4"}
_LINE = "#3a3a3a"
_WEAK = "#a0a0a0"
#: Panel titles and fills per level name; levels not listed get a generic title.
PANEL_TITLES = {"between": "Between (cluster level)", "within": "Within (individual level)"}
_PANEL_FILL = {"between": "rgba(76,120,168,0.06)", "within": "rgba(245,133,24,0.05)"}
_PANEL_FILL_OTHER = "rgba(120,120,120,0.05)"
_DOT_R = 0.075
_PAD = 0.03            # arrows stop a little short of the boxes
_HEAD = 0.2            # length of the segment that carries an arrowhead
_UNIT_PX = 70          # screen pixels per diagram unit at full size
_KIND_TEXT = {"observed": "observed variable", "latent": "latent variable",
              "random_intercept": "random intercept (between part)",
              "random_slope": "random slope"}


def _panel_title(level: str, number: int) -> str:
    named = level and not level.isdigit()
    return PANEL_TITLES.get(level, f"Level {number} ({level})" if named else f"Level {number}")


def _esc(s) -> str:
    # Plotly treats label and hover text as a small HTML subset.
    return html.escape(str(s), quote=False)


def _short(name: str) -> str:
    name = str(name)
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "\u2026"


def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _stars(p) -> str:
    if not _finite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def _pfmt(p) -> str:
    if not _finite(p):
        return "NA"
    return "< .001" if p < 0.001 else f"{p:.3f}".replace("0.", ".", 1)


def _resolve(source, estimates):
    """Parameter table and estimates (or None) of what is to be drawn."""
    if isinstance(source, str):
        return build_partable(parse(source)), estimates
    if isinstance(source, ParTable):
        return source, estimates
    if hasattr(source, "partable") and hasattr(source, "estimates"):
        return source.partable, source.estimates if estimates is None else estimates
    raise TypeError("path_diagram needs a FitResult, a ParTable or model syntax text, "
                    f"not {type(source).__name__}")


class _Values:
    """Estimates looked up by parameter-table row (or by lhs/op/rhs/level)."""

    def __init__(self, table: pd.DataFrame, est: pd.DataFrame | None):
        self.table = table.reset_index(drop=True)
        self.est = None if est is None else est.reset_index(drop=True)
        self.by_key = {}
        self.aligned = False
        if self.est is not None:
            n = len(self.table)
            cols = ["lhs", "op", "rhs", "level"]
            if len(self.est) >= n and all(c in self.est for c in cols):
                a = self.est.loc[: n - 1, cols].astype(str).to_numpy()
                b = self.table[cols].astype(str).to_numpy()
                self.aligned = bool(n and (a == b).all())
            for i, r in enumerate(self.est.to_dict("records")):
                k = (r.get("lhs"), r.get("op"), r.get("rhs"), r.get("level"))
                self.by_key.setdefault(k, i)
                if r.get("op") == "~~":
                    self.by_key.setdefault((r.get("rhs"), "~~", r.get("lhs"), r.get("level")), i)

    @property
    def fitted(self) -> bool:
        return self.est is not None

    def row(self, i: int) -> dict:
        return self.table.iloc[i].to_dict()

    def est_row(self, i: int) -> dict | None:
        """Estimate row of parameter-table row i."""
        if self.est is None:
            return None
        if self.aligned:
            return self.est.iloc[i].to_dict()
        r = self.table.iloc[i]
        return self.lookup(r["lhs"], r["op"], r["rhs"], r["level"])

    def lookup(self, lhs, op, rhs, level) -> dict | None:
        if self.est is None:
            return None
        j = self.by_key.get((lhs, op, rhs, level))
        return None if j is None else self.est.iloc[j].to_dict()

    def table_row(self, lhs, op, rhs, level) -> dict | None:
        t = self.table
        m = t[(t["lhs"] == lhs) & (t["op"] == op) & (t["rhs"] == rhs) & (t["level"] == level)]
        return None if m.empty else m.iloc[0].to_dict()


# -- geometry -----------------------------------------------------------------

def _boundary(p, toward):
    """Point where the ray from p's centre toward `toward` leaves p's outline."""
    dx, dy = toward[0] - p.x, toward[1] - p.y
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    hw, hh = p.width / 2 + _PAD, p.height / 2 + _PAD
    if p.kind == "observed":
        t = min(hw / abs(ux) if ux else math.inf, hh / abs(uy) if uy else math.inf)
    else:
        t = 1.0 / math.sqrt((ux / hw) ** 2 + (uy / hh) ** 2)
    return (p.x + t * ux, p.y + t * uy)


def _bezier(p0, c, p1, t):
    a, b, d = (1 - t) ** 2, 2 * (1 - t) * t, t ** 2
    return (a * p0[0] + b * c[0] + d * p1[0], a * p0[1] + b * c[1] + d * p1[1])


def _hits(points, places, skip):
    """Whether any point falls inside a node other than those in `skip`."""
    for key, p in places.items():
        if key in skip:
            continue
        hw, hh = p.width / 2 + 0.05, p.height / 2 + 0.05
        for x, y in points:
            if abs(x - p.x) < hw and abs(y - p.y) < hh:
                return True
    return False


def _route(a, b, places, skip, bulges):
    """A quadratic curve from a to b: the first bulge whose curve misses other nodes."""
    mx, my = (a.x + b.x) / 2, (a.y + b.y) / 2
    dx, dy = b.x - a.x, b.y - a.y
    d = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / d, dx / d
    best = None
    for k in bulges:
        c = (mx + k * nx, my + k * ny)
        p0 = _boundary(a, c if k else (b.x, b.y))
        p1 = _boundary(b, c if k else (a.x, a.y))
        if not k:
            c = ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2)
        pts = [_bezier(p0, c, p1, t / 20) for t in range(1, 20)]
        if best is None:
            best = (p0, c, p1)
        if not _hits(pts, places, skip):
            return p0, c, p1
    return best


def _head(tip, control, name, color, width):
    """An annotation drawing only an arrowhead at `tip`, pointing away from `control`."""
    dx, dy = tip[0] - control[0], tip[1] - control[1]
    d = math.hypot(dx, dy) or 1.0
    tail = (tip[0] - _HEAD * dx / d, tip[1] - _HEAD * dy / d)
    return dict(x=_r(tip[0]), y=_r(tip[1]), ax=_r(tail[0]), ay=_r(tail[1]), xref="x", yref="y",
                axref="x", ayref="y", text="", showarrow=True, arrowhead=2, arrowsize=1.1,
                arrowwidth=width, arrowcolor=color, standoff=0, name=name)


def _r(v: float) -> float:
    # rounding keeps the JSON identical across platforms and calls
    return round(float(v), 5)


# -- text ---------------------------------------------------------------------

def _arrow_text(kind, src, dst, level):
    sym = {"=~": "\u2192", "~": "\u2190", "|~": "\u2190", "~~": "\u2194"}[kind]
    a, b = (dst, src) if kind in ("~", "|~") else (src, dst)
    where = f" ({level})" if level else ""
    return f"<b>{_esc(a)} {sym} {_esc(b)}</b>{where}"


def _value_hover(e: dict | None, t: dict, level_pct: float = 95) -> str:
    if e is None or not _finite(e.get("est")):
        if _finite(t.get("ustart")) and not t.get("free"):
            return f"fixed at {float(t['ustart']):g}"
        return "free parameter" + (f" labelled {_esc(t['label'])}" if t.get("label") else "")
    free = bool(e.get("free", True)) and _finite(e.get("se")) and float(e.get("se") or 0) > 0
    lines = [f"estimate {e['est']:.3f}" + (f", SE {e['se']:.3f}" if free else " (fixed)")]
    if free and _finite(e.get("z")):
        lines.append(f"z {e['z']:.2f}, p {_pfmt(e.get('pvalue'))}")
    if free and _finite(e.get("ci_lower")) and _finite(e.get("ci_upper")):
        lines.append(f"{level_pct:g}% CI [{e['ci_lower']:.3f}, {e['ci_upper']:.3f}]")
    if _finite(e.get("std_all")):
        lines.append(f"standardized (std.all) {e['std_all']:.3f}")
    if e.get("label"):
        lines.append(f"label {_esc(e['label'])}")
    return "<br>".join(lines)


def _value_label(e: dict | None, t: dict, standardized: bool, digits: int, stars: bool) -> str:
    lab = t.get("label") if isinstance(t.get("label"), str) else ""
    if e is None or not _finite(e.get("est")):
        if _finite(t.get("ustart")) and not t.get("free"):
            return f"{float(t['ustart']):g}"
        return _esc(lab)
    v = e.get("std_all") if standardized else e.get("est")
    if not _finite(v):
        return _esc(lab)
    txt = f"{float(v):.{digits}f}"
    if stars and e.get("free", True):
        txt += _stars(e.get("pvalue"))
    return f"{_esc(lab)} = {txt}" if lab else txt


def _weak(e: dict | None, alpha: float) -> bool:
    return e is not None and _finite(e.get("pvalue")) and float(e["pvalue"]) >= alpha


# -- the figure ----------------------------------------------------------------

def path_diagram(source, standardized: bool = False, *, estimates: pd.DataFrame | None = None,
                 exo_covariances: bool = False, stars: bool = True, digits: int = 2,
                 alpha: float = 0.05, title: str | None = None, max_width: int = 1100):
    """Draw the path diagram of a model.

    Parameters
    ----------
    source : FitResult, ParTable or str
        A fitted model (arrows carry estimates), or the parameter table or
        the syntax of an unfitted one (arrows carry only fixed values and
        labels).
    standardized : bool
        Label arrows with completely standardized estimates (std.all)
        instead of unstandardized ones.
    estimates : pandas.DataFrame, optional
        Estimates to show instead of the source's own (columns as
        ``FitResult.estimates``: lhs, op, rhs, level, est, se, z, pvalue,
        ci_lower, ci_upper, std_all, free, label).
    exo_covariances : bool
        Also draw the covariances among observed exogenous covariates
        (fixed at their sample values; left out by default).
    stars : bool
        Append ``*``, ``**``, ``***`` for p < .05, .01, .001.
    digits : int
        Decimals of the arrow labels.
    alpha : float
        Paths with p >= alpha are drawn dashed, grey and thinner.
    title : str, optional
        Figure title (escaped); a default says what the numbers are.
    max_width : int
        Largest figure width in pixels; larger models are drawn smaller.

    Returns
    -------
    plotly.graph_objects.Figure
        Nodes, arrows and covariances are layout shapes named
        ``node:<level>:<var>``, ``path:<level>:<from>-><to>`` and
        ``cov:<level>:<a><-><b>``; labels are annotations. The figure also
        renders as static HTML in notebooks (see
        :mod:`msem_nb.present.notebook_output`).

    Examples
    --------
    >>> import msem_nb as ms
    >>> from msem_nb.present.diagram import path_diagram
    >>> fig = path_diagram("f =~ y1 + y2 + y3\\nf ~ x")
    >>> [a.text for a in fig.layout.annotations if (a.name or "").startswith("label:")]
    ['y1', 'y2', 'y3', 'x', 'f']
    """
    pt, est = _resolve(source, estimates)
    # hover text names the fit's own interval level (95% when drawing bare estimates)
    ci_pct = 100 * float(getattr(source, "ci_level", 0.95))
    vals = _Values(pt.table, est)
    graph = model_graph(pt, exo_covariances=exo_covariances)
    places = compute_layout(pt, graph)
    multi = graph.multilevel
    # a random slope is a variable of the level above its arrow: its mean and
    # variance rows are there
    slope_level = {v: lvl for lvl in graph.levels for v, kind in graph.nodes[lvl].items()
                   if kind == "random_slope"}
    shapes, annotations = [], []
    order = list(places)

    # directed arrows
    edge_shapes, heads, labels, curve_pts = [], [], [], []
    for e in graph.arrows():
        a, b = places[(e.level, e.src)], places[(e.level, e.dst)]
        t = vals.row(e.row)
        er = vals.est_row(e.row)
        if e.slope:
            mean = vals.lookup(e.slope, "~1", "", slope_level.get(e.slope))
            if (er is None or not _finite(er.get("est"))) and mean is not None:
                er = mean
        weak = _weak(er, alpha)
        color, width = (_WEAK, 1.0) if weak else (_LINE, 1.6)
        skip = {(e.level, e.src), (e.level, e.dst)}
        bulges = [0] if e.op == "=~" else [0, 0.8, -0.8, 1.6, -1.6]
        p0, c, p1 = _route(a, b, places, skip, bulges)
        name = f"path:{e.level}:{e.src}->{e.dst}"
        curve_pts += [(e.level, *_bezier(p0, c, p1, k / 8)) for k in range(9)]
        edge_shapes.append(dict(type="path", xref="x", yref="y", name=name,
                                path=f"M {_r(p0[0])},{_r(p0[1])} Q {_r(c[0])},{_r(c[1])} "
                                     f"{_r(p1[0])},{_r(p1[1])}",
                                line=dict(color=color, width=width,
                                          dash="dash" if weak else "solid")))
        heads.append(_head(p1, c, f"head:{name}", color, width))
        where = 0.62 if e.op == "=~" else (0.3 if e.slope else 0.5)
        lx, ly = _bezier(p0, c, p1, where)
        hover = _arrow_text(e.op, e.src, e.dst, e.level) + "<br>" + _value_hover(er, t, ci_pct)
        # a random slope's mean has no meaningful std.all (it is scaled by the
        # slope's own SD): its arrow keeps the unstandardized average slope
        text = _value_label(er, t, standardized and not e.slope, digits, stars)
        # a random loading (f =~ rv("l")*y) is the slope of y on f: named as written
        what = "loading" if e.slope in getattr(pt, "random_loadings", {}) else "slope"
        if e.slope:
            hover += f"<br>average of random {what} {_esc(e.slope)} (unstandardized)"
        if e.slope:
            sx, sy = _bezier(p0, c, p1, 0.55)
            shapes_dot = dict(type="circle", xref="x", yref="y", x0=_r(sx - _DOT_R),
                              x1=_r(sx + _DOT_R), y0=_r(sy - _DOT_R), y1=_r(sy + _DOT_R),
                              fillcolor=_LINE, line=dict(color=_LINE, width=1),
                              name=f"slope-dot:{e.slope}")
            edge_shapes.append(shapes_dot)
            var = vals.lookup(e.slope, "~~", e.slope, slope_level.get(e.slope))
            shover = (f"<b>random {what} {_esc(e.slope)}</b>: {_esc(e.dst)} on {_esc(e.src)}, "
                      "varies across clusters")
            if mean is not None and _finite(mean.get("est")):
                shover += f"<br>mean {what} {mean['est']:.3f}"
            if var is not None and _finite(var.get("est")):
                shover += f"<br>{what} variance {var['est']:.3f}"
            labels.append(dict(x=_r(sx), y=_r(sy + 0.24), xref="x", yref="y",
                               text=f"<i>{_esc(_short(e.slope))}</i>", showarrow=False,
                               font=dict(size=0, color=_LINE), hovertext=shover,
                               name=f"slope-label:{e.slope}"))
        if text:
            labels.append(dict(x=_r(lx), y=_r(ly), xref="x", yref="y", text=text,
                               showarrow=False, font=dict(size=0, color=color),
                               bgcolor="rgba(255,255,255,0.9)", borderpad=1, hovertext=hover,
                               name=f"est:{name}"))

    # covariances: curved, two-headed, bulging away from the middle of their panel
    centre = {}
    for lvl in graph.levels:
        pts = [places[k] for k in order if k[0] == lvl]
        centre[lvl] = (sum(p.x for p in pts) / len(pts), sum(p.y for p in pts) / len(pts)) \
            if pts else (0.0, 0.0)
    for e in graph.covariances():
        a, b = places[(e.level, e.src)], places[(e.level, e.dst)]
        t = vals.row(e.row)
        er = vals.est_row(e.row)
        weak = _weak(er, alpha)
        color, width = (_WEAK, 0.9) if weak else (_LINE, 1.2)
        d = math.hypot(b.x - a.x, b.y - a.y)
        mx, my = (a.x + b.x) / 2, (a.y + b.y) / 2
        nx, ny = -(b.y - a.y) / (d or 1), (b.x - a.x) / (d or 1)
        cx, cy = centre[e.level]
        sign = 1.0 if (nx * (mx - cx) + ny * (my - cy)) >= 0 else -1.0
        k = sign * (0.35 + 0.22 * d)
        p0, c, p1 = _route(a, b, places, {(e.level, e.src), (e.level, e.dst)},
                           [k, -k, 2 * k, -2 * k, 3 * k, -3 * k, 4.5 * k, -4.5 * k])
        name = f"cov:{e.level}:{e.src}<->{e.dst}"
        curve_pts += [(e.level, *_bezier(p0, c, p1, k / 8)) for k in range(9)]
        edge_shapes.append(dict(type="path", xref="x", yref="y", name=name,
                                path=f"M {_r(p0[0])},{_r(p0[1])} Q {_r(c[0])},{_r(c[1])} "
                                     f"{_r(p1[0])},{_r(p1[1])}",
                                line=dict(color=color, width=width,
                                          dash="dash" if weak else "solid")))
        heads.append(_head(p1, c, f"head:{name}:1", color, width))
        heads.append(_head(p0, c, f"head:{name}:0", color, width))
        text = _value_label(er, t, standardized, digits, stars)
        if text:
            lx, ly = _bezier(p0, c, p1, 0.5)
            labels.append(dict(x=_r(lx), y=_r(ly), xref="x", yref="y", text=text,
                               showarrow=False, font=dict(size=0, color=color),
                               bgcolor="rgba(255,255,255,0.9)", borderpad=1,
                               hovertext=_arrow_text("~~", e.src, e.dst, e.level) + "<br>"
                               + _value_hover(er, t, ci_pct), name=f"est:{name}"))

    # extent of everything drawn: nodes, curves and their labels
    pts = [(p.x + sx * p.width / 2, p.y + sy * p.height / 2) for p in places.values()
           for sx in (-1, 1) for sy in (-1, 1)] + [(x, y) for _, x, y in curve_pts]
    x0, x1 = min(x for x, _ in pts) - 0.7, max(x for x, _ in pts) + 0.7
    y0, y1 = min(y for _, y in pts) - 0.7, max(y for _, y in pts) + 0.7
    if multi:
        y1 += 0.4   # room for the panel title
    unit = min(_UNIT_PX, max_width / max(x1 - x0, 1e-9))
    font = max(7, round(12 * unit / _UNIT_PX, 1))
    small = max(6, round(10.5 * unit / _UNIT_PX, 1))
    for a in labels:
        a["font"]["size"] = font if a["name"].startswith("slope-label") else small

    # panels, from the top level down
    if multi:
        for number, lvl in reversed(list(enumerate(graph.levels, start=1))):
            keys = [k for k in order if k[0] == lvl]
            if not keys:
                continue
            ys = [places[k].y + s * places[k].height / 2 for k in keys for s in (-1, 1)] \
                + [y for lv, _, y in curve_pts if lv == lvl]
            lo, hi = min(ys) - 0.45, max(ys) + 0.65
            shapes.append(dict(type="rect", xref="x", yref="y", x0=_r(x0 + 0.15), x1=_r(x1 - 0.15),
                               y0=_r(lo), y1=_r(hi), layer="below", line=dict(width=0),
                               fillcolor=_PANEL_FILL.get(lvl, _PANEL_FILL_OTHER),
                               name=f"panel:{lvl}"))
            title_text = _esc(_panel_title(lvl, number))
            annotations.append(dict(x=_r(x0 + 0.3), y=_r(hi - 0.08), xref="x", yref="y",
                                    text=f"<b>{title_text}</b>", showarrow=False,
                                    xanchor="left", yanchor="top", font=dict(size=font),
                                    name=f"panel-title:{lvl}"))

    # nodes (after the edges, so that boxes cover the line ends)
    node_shapes, node_labels = [], []
    hx, hy, htext = [], [], []
    endogenous = {(e.level, e.dst) for e in graph.arrows()}
    for key in order:
        lvl, v = key
        p = places[key]
        kind = p.kind
        node_shapes.append(dict(
            type="rect" if kind == "observed" else "circle", xref="x", yref="y",
            x0=_r(p.x - p.width / 2), x1=_r(p.x + p.width / 2),
            y0=_r(p.y - p.height / 2), y1=_r(p.y + p.height / 2),
            fillcolor=_FILL[kind], line=dict(color=_LINE, width=1.3), name=f"node:{lvl}:{v}"))
        if p.dot:
            dx = p.x + {"right": p.width / 2, "left": -p.width / 2}.get(p.dot, 0.0)
            dy = p.y + (p.height / 2 if p.dot == "top" else 0.0)
            node_shapes.append(dict(type="circle", xref="x", yref="y", x0=_r(dx - _DOT_R),
                                    x1=_r(dx + _DOT_R), y0=_r(dy - _DOT_R), y1=_r(dy + _DOT_R),
                                    fillcolor=_LINE, line=dict(color=_LINE, width=1),
                                    name=f"ri-dot:{v}"))
        node_labels.append(dict(x=_r(p.x), y=_r(p.y), xref="x", yref="y",
                                text=_esc(_short(v)), showarrow=False, font=dict(size=font),
                                name=f"label:{lvl}:{v}"))
        hx.append(_r(p.x))
        hy.append(_r(p.y))
        htext.append(_node_hover(vals, graph, key, kind, key in endogenous))

    shapes += edge_shapes + node_shapes
    annotations += heads + labels + node_labels
    if title is None:
        if vals.fitted:
            title = "Path diagram: " + ("standardized (std.all)" if standardized
                                        else "unstandardized") + " estimates"
        else:
            title = "Path diagram (model not fitted)"
    legend = []
    if vals.fitted:
        legend.append(f"* p < .05, ** p < .01, *** p < .001; dashed grey: p \u2265 {alpha:g}")
    if multi:
        legend.append("\u25cf on a box: random intercept (its between part is an ellipse above)")
    if graph.slopes:
        legend.append("\u25cf on an arrow: random slope")
    if legend:
        annotations.append(dict(x=0, y=0, xref="paper", yref="paper", xanchor="left",
                                yanchor="top", yshift=-6, showarrow=False, align="left",
                                text="<br>".join(legend), font=dict(size=small, color="#555"),
                                name="legend"))
    # small models still need room for the title and the legend lines
    width = max(int(round((x1 - x0) * unit)) + 40, 620)
    height = int(round((y1 - y0) * unit)) + 90 + 16 * len(legend)
    layout = dict(
        title=dict(text=_esc(title), x=0.02, xanchor="left", font=dict(size=font + 3)),
        shapes=shapes, annotations=annotations, width=width, height=height,
        margin=dict(l=20, r=20, t=60, b=30 + 16 * len(legend)),
        plot_bgcolor="white", paper_bgcolor="white",
        showlegend=False, hovermode="closest", dragmode="pan",
        # a fixed template: the picture must not depend on the user's plotly defaults
        template="none", font=dict(family="Arial, Helvetica, sans-serif", color="#222"),
        xaxis=dict(range=[_r(x0), _r(x1)], visible=False, showgrid=False, zeroline=False),
        yaxis=dict(range=[_r(y0), _r(y1)], visible=False, showgrid=False, zeroline=False,
                   scaleanchor="x", scaleratio=1))
    trace = dict(type="scatter", mode="markers", x=hx, y=hy, hovertext=htext,
                 hovertemplate="%{hovertext}<extra></extra>", name="nodes",
                 marker=dict(size=max(10, int(unit * 0.5)), opacity=0), showlegend=False)
    return static_figure(dict(data=[trace], layout=layout))


def _node_hover(vals: _Values, graph, key, kind, endogenous: bool) -> str:
    lvl, v = key
    where = f", {lvl} level" if lvl else ""
    text = f"<b>{_esc(v)}</b><br>{_KIND_TEXT[kind]}{where}"
    if kind == "random_slope" and v in graph.slopes:
        y, x = graph.slopes[v]
        text += f" of {_esc(y)} on {_esc(x)}"
    if kind == "random_intercept":
        text += f" of {_esc(v)}"
    if lvl == graph.lowest and graph.multilevel and v in graph.both:
        text += "<br>\u25cf: has a between part (random intercept)"
    var = vals.lookup(v, "~~", v, lvl) if vals.fitted else None
    if var is not None and _finite(var.get("est")):
        what = "residual variance" if endogenous else "variance"
        text += f"<br>{what} {var['est']:.3f}"
        if _finite(var.get("se")) and var.get("free", True):
            text += f" (SE {var['se']:.3f})"
        if endogenous and _finite(var.get("std_all")) and 0 <= var["std_all"] <= 1:
            text += f"<br>R\u00b2 {1 - var['std_all']:.3f}"
    mean = vals.lookup(v, "~1", "", lvl) if vals.fitted else None
    if mean is not None and _finite(mean.get("est")) and mean.get("free", True) \
            and _finite(mean.get("se")) and mean["se"] > 0:
        what = "intercept" if endogenous else "mean"
        text += f"<br>{what} {mean['est']:.3f} (SE {mean['se']:.3f})"
    return text

