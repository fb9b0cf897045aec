"""Plotly figures of a variance decomposition.

Plotly is an optional dependency (the ``plot`` extra): it is imported inside
the functions so that ``import msem_nb`` never needs it. Every function is
pure: it reads a :class:`~msem_nb.inference.decompose.Decomposition` and returns a new
``plotly.graph_objects.Figure``.
"""

from __future__ import annotations

import html

import numpy as np

from msem_nb.format import num

__all__ = ["icc_figure", "correlation_figure"]

_WIDTH = 900


def _go():
    try:
        import plotly.graph_objects as go
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the figures need plotly: pip install 'msem_nb[plot]' "
                          "(or pip install plotly)") from err
    return go


def _labels(dec) -> list[str]:
    # Plotly renders a subset of HTML in labels; escaping shows names as typed.
    return [html.escape(str(v)) for v in dec.names]



def icc_figure(dec):
    """Horizontal bar chart of the ML ICC of every variable.

    Parameters
    ----------
    dec : Decomposition

    Returns
    -------
    plotly.graph_objects.Figure
        One bar trace, variables from top to bottom in input order; the
        hover text gives ICC, ICC(1), design effect and suggested role.
    """
    go = _go()
    labels = _labels(dec)
    icc = dec.icc.to_numpy(dtype=float)
    roles = dec.roles["role"].tolist()
    hover = [f"<b>{lab}</b><br>ICC: {num(i, '.3f')}<br>ICC(1): {num(a, '.3f')}"
             f"<br>design effect: {num(d, '.2f')}<br>suggested role: {html.escape(r)}"
             for lab, i, a, d, r in zip(labels, icc, dec.icc_anova.to_numpy(dtype=float),
                                        dec.design_effect.to_numpy(dtype=float), roles)]
    bar = go.Bar(x=icc, y=labels, orientation="h", name="ICC",
                 text=[num(i, ".2f") for i in icc], textposition="outside",
                 hovertext=hover, hoverinfo="text", marker_color="#4C78A8")
    fig = go.Figure(bar)
    fig.update_layout(
        title="Intraclass correlations (between-cluster share of variance)",
        width=_WIDTH, height=max(260, 120 + 28 * len(labels)), showlegend=False,
        margin=dict(l=10, r=30, t=60, b=50), template="plotly_white")
    # ICC is a proportion; a fixed 0..1 axis keeps figures comparable.
    fig.update_xaxes(title_text="ICC (ML, saturated two-level model)", range=[0, 1.08])
    fig.update_yaxes(title_text="variable", autorange="reversed", type="category")
    return fig


def correlation_figure(dec):
    """Total, within and between correlation heatmaps side by side.

    Parameters
    ----------
    dec : Decomposition

    Returns
    -------
    plotly.graph_objects.Figure
        Three heatmap traces (total, within, between) on one diverging
        colour scale from -1 to 1 with a single colour bar; cells show the
        correlations with two decimals (blank where undefined).
    """
    go = _go()
    from plotly.subplots import make_subplots

    labels = _labels(dec)
    panels = [("total", dec.total_corr), ("within", dec.within_corr),
              ("between", dec.between_corr)]
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[f"{t} correlations" for t, _ in panels])
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
        title="Total, within-cluster and between-cluster correlations",
        coloraxis=dict(colorscale="RdBu", cmin=-1, cmax=1, cmid=0,
                       colorbar=dict(title="r", thickness=14, len=0.9)),
        width=_WIDTH, height=max(360, 160 + 30 * p), template="plotly_white",
        margin=dict(l=10, r=10, t=80, b=10))
    fig.update_xaxes(type="category", tickangle=-45)
    fig.update_yaxes(type="category", autorange="reversed")
    return fig
