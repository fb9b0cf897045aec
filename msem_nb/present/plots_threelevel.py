"""Plotly figures of a three-level variance decomposition.

Pure functions of a :class:`~msem_nb.inference.decompose_threelevel.ThreeLevelDecomposition`
(``ms.decompose(df, cluster=[class, school])``): the share of each variable's
variance at levels 1, 2 and 3 as stacked bars (each bar sums to 1), and the
level-1, level-2 and level-3 correlation matrices side by side. Plotly is
imported inside the functions (the ``plot`` extra); names reach the figures
escaped, as in :mod:`msem_nb.present.plots`.
"""

from __future__ import annotations

import html

import numpy as np

from msem_nb.format import num

__all__ = ["share_figure", "level_correlation_figure"]

_WIDTH = 900
_COLOURS = ("#4C78A8", "#F58518", "#54A24B")
_LEVELS = ("level 1 (rows)", "level 2 (clusters)", "level 3 (higher clusters)")


def _go():
    try:
        import plotly.graph_objects as go
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the figures need plotly: pip install 'msem_nb[plot]' "
                          "(or pip install plotly)") from err
    return go


def share_figure(dec):
    """Stacked horizontal bars: each variable's share of variance at levels 1, 2 and 3.

    Parameters
    ----------
    dec : ThreeLevelDecomposition

    Returns
    -------
    plotly.graph_objects.Figure
        Three bar traces (one per level), variables from top to bottom in
        input order; the hover text gives the share, the design effect and
        the suggested role.
    """
    go = _go()
    labels = [html.escape(str(v)) for v in dec.names]
    shares = dec.shares.to_numpy(dtype=float)
    deff = dec.design_effect.to_numpy(dtype=float)
    roles = [html.escape(str(r)) for r in dec.roles["role"]]
    fig = go.Figure()
    for k, (name, colour) in enumerate(zip(_LEVELS, _COLOURS)):
        hover = [f"<b>{lab}</b><br>{name}: {num(s[k], '.3f')}<br>design effect: "
                 f"{num(d, '.2f')}<br>suggested role: {r}"
                 for lab, s, d, r in zip(labels, shares, deff, roles)]
        fig.add_trace(go.Bar(x=shares[:, k], y=labels, orientation="h", name=name,
                             text=[num(s, ".2f") for s in shares[:, k]], textposition="inside",
                             hovertext=hover, hoverinfo="text", marker_color=colour))
    fig.update_layout(
        barmode="stack", title="Share of variance at each level (three-level decomposition)",
        width=_WIDTH, height=max(300, 170 + 28 * len(labels)),
        # below the axis title, levels in the order of the bars
        legend=dict(orientation="h", y=-0.35, traceorder="normal"),
        margin=dict(l=10, r=30, t=60, b=110),
        template="plotly_white")
    fig.update_xaxes(title_text="share of variance (ML, saturated three-level model)",
                     range=[0, 1.0])
    fig.update_yaxes(title_text="variable", autorange="reversed", type="category")
    return fig


def level_correlation_figure(dec):
    """Level-1, level-2 and level-3 correlation heatmaps side by side.

    Parameters
    ----------
    dec : ThreeLevelDecomposition

    Returns
    -------
    plotly.graph_objects.Figure
        Three heatmap traces on one diverging scale from -1 to 1; a variable
        with no part at a level has blank cells there.
    """
    go = _go()
    from plotly.subplots import make_subplots

    labels = [html.escape(str(v)) for v in dec.names]
    panels = list(zip(_LEVELS, (dec.level1_corr, dec.level2_corr, dec.level3_corr)))
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[f"{t}" for t, _ in panels])
    p = len(labels)
    font = max(6, min(12, int(90 / max(p, 1))))
    for col, (title, mat) in enumerate(panels, start=1):
        z = mat.to_numpy(dtype=float)
        text = [[num(v, ".2f") if np.isfinite(v) else "" for v in row] for row in z]
        fig.add_trace(go.Heatmap(
            z=z, x=labels, y=labels, zmin=-1, zmax=1, coloraxis="coloraxis", name=title,
            text=text, texttemplate="%{text}", textfont=dict(size=font),
            hovertemplate="%{y} with %{x}: %{z:.3f}<extra>" + title + "</extra>",
            xgap=1, ygap=1), row=1, col=col)
    fig.update_layout(
        title="Correlations at level 1, level 2 and level 3",
        coloraxis=dict(colorscale="RdBu", cmin=-1, cmax=1, cmid=0,
                       colorbar=dict(title="r", thickness=14, len=0.9)),
        width=_WIDTH, height=max(360, 160 + 30 * p), template="plotly_white",
        margin=dict(l=10, r=10, t=80, b=10))
    fig.update_xaxes(type="category", tickangle=-45)
    fig.update_yaxes(type="category", autorange="reversed")
    return fig
