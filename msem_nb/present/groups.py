"""Multiple groups in the summaries and the report: a section per group.

A multigroup fit (:mod:`msem_nb.model.groups`) has a block per (group, level);
its estimates, R-squares and fit measures carry the group's value as in the
data (``group`` column; ``srmr_group<g>``). The helpers here select one
group's rows and name the group; for a one-group fit they change nothing.
The path diagram of a multigroup fit is each group's diagram (drawn from the
group's rows of the table, :func:`msem_nb.model.groups.group_subtable`)
stacked top to bottom in one figure, a titled section per group.
"""

from __future__ import annotations

import dataclasses
import html
import re

import pandas as pd

from msem_nb.model.groups import group_subtable
from msem_nb.present.diagram import path_diagram
from msem_nb.present.notebook_output import static_figure

__all__ = ["weight_facts", "report_blocks", "group_rows", "group_title", "group_facts", "group_label", "group_estimates",
           "group_diagram", "group_diagrams", "stack_figures", "loadings_figure"]


def group_label(fit, g: int):
    """The value in the data of group `g` (1-based)."""
    return fit.data.labels[g - 1]


def group_rows(fit, table: pd.DataFrame, key) -> pd.DataFrame:
    """The rows of `table` (estimates, R-square) of the group of block `key`; all rows
    for a one-group fit or without a key."""
    if key is None or getattr(fit, "group", None) is None or "group" not in table:
        return table
    return table[table["group"] == group_label(fit, key.group)]


def group_title(fit, key) -> str:
    """``Group 2 [Grant-White]:``."""
    return f"Group {key.group} [{group_label(fit, key.group)}]:"


def weight_facts(fit) -> list[tuple[str, str]]:
    """(label, value) lines of the summary header for a fit with sampling weights
    (:mod:`msem_nb.data.weights`); the other part of the sample's design next to groups."""
    data = fit.data
    col = getattr(data, "weight_column", None)
    if col is not None:
        return [(f"Sampling weights [{col}]", "normalised to N")]
    if hasattr(data, "cluster_weights"):
        return [("Sampling weights (two levels)", f"scaling {data.scaling}")]
    return []


def group_facts(fit) -> list[tuple[str, str]]:
    """(label, value) lines of the summary header: the groups and their sizes."""
    if getattr(fit, "group", None) is None:
        return []
    data = fit.data
    out = [(f"Number of groups [{fit.group}]", str(data.ngroups))]
    for lab, d in zip(data.labels, data.parts):
        size = f"{d.nobs}" + (f" ({d.nclusters} clusters)" if d.nlevels > 1 else "")
        out.append((f"  {lab}", size))
    return out


def group_estimates(fit, g: int) -> pd.DataFrame:
    """Group `g`'s rows of the estimates, in the order of its rows of the table."""
    est = fit.estimates
    n = len(fit.partable.table)
    rows = est.iloc[:n]
    rows = rows[fit.partable.table["group"].to_numpy() == g].reset_index(drop=True)
    return rows.assign(label=_plain_labels(rows["label"]))


def _plain_labels(labels: pd.Series) -> pd.Series:
    """Labels without group_equal's (".p2.", lavaan's names: they only say "equal
    across groups", which the equal estimates show)."""
    auto = labels.fillna("").astype(str).str.fullmatch(r"\.p\d+\.")
    return labels.where(~auto, "")


def group_diagram(fit, g: int, **kw):
    """The path diagram of group `g` (1-based) of a multigroup fit."""
    sub, _ = group_subtable(fit.partable, g)
    sub = dataclasses.replace(sub, table=sub.table.assign(label=_plain_labels(sub.table["label"])))
    kw.setdefault("title", f"Group {g} [{group_label(fit, g)}]")
    return path_diagram(sub, estimates=group_estimates(fit, g), **kw)


def group_diagrams(fit, group=None, **kw):
    """The path diagram of a multigroup fit: one section per group, stacked top to
    bottom in one figure; with ``group`` (a group's value as in the data) that
    group's diagram alone."""
    labels = list(fit.data.labels)
    if group is not None:
        if group not in labels:
            raise ValueError(f"group {group!r} is not one of the groups: "
                             f"{', '.join(map(repr, labels))}")
        return group_diagram(fit, labels.index(group) + 1, **kw)
    what = "standardized (std.all)" if kw.get("standardized") else "unstandardized"
    title = kw.pop("title", f"Path diagram by group: {what} estimates")
    figs = [group_diagram(fit, g, **kw) for g in range(1, len(labels) + 1)]
    return stack_figures(figs, [f"Group {g} [{lab}]" for g, lab in enumerate(labels, 1)],
                         title)


def _shift_path(path: str, dy: float) -> str:
    """An SVG path ("M x,y Q x,y x,y") moved by dy in y."""
    def move(m: re.Match) -> str:
        return f"{m.group(1)},{float(m.group(2)) + dy:.5g}"
    return re.sub(r"(-?[\d.]+(?:e-?\d+)?),(-?[\d.]+(?:e-?\d+)?)", move, path)


def _shift(item: dict, dy: float, prefix: str) -> dict:
    item = dict(item)
    if item.get("yref", "y") == "y":
        for k in ("y", "y0", "y1"):
            if item.get(k) is not None:
                item[k] = item[k] + dy
        if item.get("path"):
            item["path"] = _shift_path(item["path"], dy)
    if item.get("ayref") == "y" and item.get("ay") is not None:
        item["ay"] = item["ay"] + dy
    if item.get("name"):
        item["name"] = f"{prefix}{item['name']}"
    return item


def stack_figures(figs: list, titles: list[str], title: str | None = None):
    """One figure with `figs` (path diagrams in data coordinates) stacked top to
    bottom, each section titled; the first figure's legend and style are kept."""
    first = figs[0].to_plotly_json()
    layout = first["layout"]
    shapes, annotations, traces = [], [], []
    top = None
    gap = 0.6
    x_lo, x_hi, pixels = [], [], 0.0
    for k, (fig, name) in enumerate(zip(figs, titles), start=1):
        js = fig.to_plotly_json()
        lay = js["layout"]
        y0, y1 = lay["yaxis"]["range"]
        x0, x1 = lay["xaxis"]["range"]
        dy = 0.0 if top is None else top - gap - y1
        prefix = f"group{k}:"
        shapes += [_shift(s, dy, prefix) for s in lay.get("shapes", ())]
        annotations += [_shift(a, dy, prefix) for a in lay.get("annotations", ())
                        if a.get("yref") != "paper"]
        annotations.append(dict(x=x0, y=y1 + dy + 0.35, xref="x", yref="y", xanchor="left",
                                showarrow=False, text=f"<b>{html.escape(name)}</b>",
                                font=dict(size=14), name=f"group-title:{k}"))
        for t in js["data"]:
            t = dict(t)
            t["y"] = [y + dy for y in t.get("y", ())]
            traces.append(t)
        x_lo.append(x0)
        x_hi.append(x1)
        pixels += lay["height"] - 60
        top = y0 + dy
    assert top is not None
    y_top = layout["yaxis"]["range"][1] + 0.6
    layout = dict(layout, shapes=shapes,
                  annotations=annotations + [a for a in layout.get("annotations", ())
                                             if a.get("yref") == "paper"],
                  height=int(pixels + 60), width=max(f.layout.width or 0 for f in figs))
    layout["xaxis"] = dict(layout["xaxis"], range=[min(x_lo), max(x_hi)])
    layout["yaxis"] = dict(layout["yaxis"], range=[top, y_top])
    layout["title"] = dict(layout.get("title", {}), text=html.escape(title or ""))
    return static_figure(dict(data=traces, layout=layout))


def report_blocks(fit, levels):
    """(level, estimates, block key, heading) per section of the report's estimates:
    one per level, or per (group, level) for a multigroup fit."""
    if getattr(fit, "group", None) is None:
        for level in levels:
            yield level, fit.estimates, None, f"Level: {level}" if level else ""
        return
    for key in fit.partable.block_keys:
        head = f"Group {key.group} [{group_label(fit, key.group)}]"
        yield (key.name, group_rows(fit, fit.estimates, key), key,
               head + (f", level: {key.name}" if key.name else ""))


def loadings_figure(fit, standardized: bool = False, title: str | None = None):
    """The factor loadings of every group side by side, with their confidence intervals.

    One marker per group (a multigroup fit) or per level (a two-level fit in
    one group: indicators of the within and the between factor side by
    side), so that loadings that differ stand out; fixed loadings (markers)
    have no interval. Plotly figure.
    """
    est = fit.estimates
    load = est[est["op"] == "=~"]
    col = "std_all" if standardized else "est"
    if getattr(fit, "group", None) is not None:
        series = [(str(lab), load[load["group"] == lab]) for lab in fit.data.labels]
        keys = [f"{r.lhs} =~ {r.rhs}" + (f" [{r.level}]" if r.level else "")
                for r in series[0][1].itertuples()]

        def xkey(r):
            return f"{r.lhs} =~ {r.rhs}" + (f" [{r.level}]" if r.level else "")
    else:
        levels = [lvl for lvl in fit.partable.level_names]
        series = [(lvl or "estimate", load[load["level"] == lvl]) for lvl in levels]
        keys = list(dict.fromkeys(r.rhs for r in load.itertuples()))

        def xkey(r):
            return r.rhs
    pos = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    width = 0.7 / max(len(series), 1)
    traces = []
    for s, (name, rows) in enumerate(series):
        xs, ys, lo, hi, text = [], [], [], [], []
        for r in rows.itertuples():
            k = xkey(r)
            if k not in pos:
                pos[k] = len(pos)
            xs.append(pos[k] - 0.35 + width * (s + 0.5))
            y = getattr(r, col)
            ys.append(y)
            free = bool(r.free) and not standardized
            lo.append(y - r.ci_lower if free else 0.0)
            hi.append(r.ci_upper - y if free else 0.0)
            text.append(f"{html.escape(k)}<br>{html.escape(name)}: {y:.3f}"
                        + (f" [{r.ci_lower:.3f}, {r.ci_upper:.3f}]" if free else " (fixed)"))
        traces.append(dict(type="scatter", mode="markers", name=html.escape(name), x=xs, y=ys,
                           error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo),
                           hovertext=text, hovertemplate="%{hovertext}<extra></extra>",
                           marker=dict(size=9)))
    names = list(pos)
    what = "standardized loadings (std.all)" if standardized else "loadings"
    layout = dict(
        title=dict(text=html.escape(title or f"Factor {what} by "
                                    + ("group" if getattr(fit, "group", None) else "level")),
                   x=0.02, xanchor="left"),
        xaxis=dict(tickmode="array", tickvals=list(range(len(names))), zeroline=False,
                   ticktext=[html.escape(n) for n in names], tickangle=-30),
        yaxis=dict(title=what, zeroline=True), template="none", height=420,
        width=max(620, 70 * len(names) + 200), margin=dict(l=60, r=20, t=60, b=120),
        legend=dict(orientation="h", y=1.08, x=1, xanchor="right"))
    return static_figure(dict(data=traces, layout=layout))
