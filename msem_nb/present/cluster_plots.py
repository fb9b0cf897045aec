"""Figures of the clusters' own estimates in random-slope models: caterpillar and spaghetti.

The caterpillar plot shows every cluster's empirical Bayes estimate of one random
effect (its posterior mean, :mod:`msem_nb.inference.cluster_effects`) with an
interval of plus or minus z posterior SDs, sorted; a line marks the fixed part
(the model-implied average) and a band the range that holds the middle share of
the clusters' effects according to the model (average plus or minus z times the
effect's SD across clusters, which includes the spread of its fixed part when it is
regressed on between covariates). The spaghetti plot draws the clusters' regression
lines over the data. Plotly is optional and imported inside the functions.
"""

from __future__ import annotations

import html
from statistics import NormalDist

import numpy as np

from msem_nb.errors import ModelSpecificationError
from msem_nb.format import num
from msem_nb.inference.cluster_effects import ClusterEffects, SlopeLines
from msem_nb.present.notebook_output import static_figure

__all__ = ["caterpillar_figure", "spaghetti_figure"]


def _go():
    try:
        import plotly.graph_objects as go
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the figure needs plotly: pip install 'msem_nb[plot]' "
                          "(or pip install plotly)") from err
    return go


def caterpillar_figure(ce: ClusterEffects, effect: str, ci_level: float = 0.95,
                       cluster: str | None = None, title: str | None = None):
    """The clusters' estimates of `effect`, sorted, with posterior intervals.

    Parameters
    ----------
    ce : ClusterEffects
        A fit's ``cluster_effects``.
    effect : str
        One of ``ce.names`` (a random slope, a between latent variable, ...).
    ci_level : float
        Coverage of the intervals (posterior mean plus or minus z posterior SDs) and
        of the model's band.
    cluster : str, optional
        The cluster column's name (hover text).
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        A subclass that also renders as static HTML (survives nbconvert).
    """
    if effect not in ce.names:
        raise ModelSpecificationError(
            f"{effect!r} is not a between random effect of this model; its effects: "
            f"{', '.join(ce.names)}")
    if not 0 < ci_level < 1:
        raise ValueError(f"ci_level must be between 0 and 1, not {ci_level!r}")
    go = _go()
    esc = html.escape
    k = ce.names.index(effect)
    z = NormalDist().inv_cdf(0.5 + ci_level / 2)
    mean, sd = ce.mean[:, k], ce.sd[:, k]
    order = np.argsort(mean, kind="stable")
    rank = np.arange(1, len(order) + 1)
    pct = f"{ci_level * 100:g}%"
    who = esc(str(cluster)) if cluster else "cluster"
    hover = [f"{who} <b>{esc(str(ce.ids[j]))}</b><br>{esc(effect)}: {num(mean[j])}<br>"
             f"{pct} interval [{num(mean[j] - z * sd[j])}, {num(mean[j] + z * sd[j])}]"
             for j in order]
    avg = float(ce.prior_mean[:, k].mean())
    # the effect's SD across clusters: its residual variance plus the spread of its fixed
    # part over the clusters' between covariates (s ~ w)
    spread = z * float(np.sqrt(max(ce.prior_var[k], 0.0) + np.var(ce.prior_mean[:, k])))
    fig = go.Figure()
    fig.add_hrect(y0=avg - spread, y1=avg + spread, fillcolor="#1f77b4", opacity=0.08,
                  line_width=0)
    fig.add_hline(y=avg, line_dash="dash", line_color="#555555")
    fig.add_trace(go.Scatter(
        x=rank, y=mean[order], mode="markers", name=esc(effect), showlegend=False,
        marker=dict(size=6, color="#1f77b4"),
        error_y=dict(type="data", array=z * sd[order], thickness=1, width=0,
                     color="rgba(31,119,180,0.5)"),
        hovertext=hover, hoverinfo="text"))
    fig.add_annotation(x=1, xref="paper", y=avg, yref="y", xanchor="right", yanchor="bottom",
                       showarrow=False, text=f"fixed part {num(avg)}; band: {pct} of the "
                       f"clusters (model)", font=dict(size=11, color="#555555"))
    fig.update_xaxes(title_text=f"{who}s, sorted by their estimate", showgrid=False)
    fig.update_yaxes(title_text=f"{esc(effect)}: posterior mean, {pct} interval")
    fig.update_layout(title=esc(title or f"{effect} in each cluster"), template="plotly_white",
                      height=420, width=820)
    return static_figure(fig)


def spaghetti_figure(lines: SlopeLines, cluster: str | None = None, title: str | None = None,
                     points: bool = True, centred: str | None = None):
    """The clusters' regression lines of one random slope over the data.

    Parameters
    ----------
    lines : SlopeLines
        From :func:`msem_nb.inference.cluster_effects.slope_lines`.
    cluster : str, optional
        The cluster column's name (hover text).
    title : str, optional
    points : bool
        Draw the data rows (grey) under the lines.
    centred : str, optional
        How the covariate was centred before the fit ("cluster" or "grand"; the axis
        says so).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    go = _go()
    esc = html.escape
    who = esc(str(cluster)) if cluster else "cluster"
    fig = go.Figure()
    if points:
        fig.add_trace(go.Scattergl(
            x=lines.points[:, 1], y=lines.points[:, 2], mode="markers", name="data",
            marker=dict(size=4, color="rgba(120,120,120,0.35)"), hoverinfo="skip"))
    xs, ys, hover = [], [], []
    for j, cid in enumerate(lines.ids):
        lo, hi = lines.x_range[j]
        text = (f"{who} <b>{esc(str(cid))}</b><br>{esc(lines.slope)}: "
                f"{num(lines.slopes[j])}")
        for x in (lo, hi):
            xs.append(float(x))
            ys.append(float(lines.intercept[j] + lines.slopes[j] * x))
            hover.append(text)
        xs.append(None)
        ys.append(None)
        hover.append("")
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{who}s",
                             line=dict(width=1, color="rgba(31,119,180,0.55)"),
                             hovertext=hover, hoverinfo="text"))
    a, b = lines.average
    lo, hi = float(lines.x_range[:, 0].min()), float(lines.x_range[:, 1].max())
    fig.add_trace(go.Scatter(x=[lo, hi], y=[a + b * lo, a + b * hi], mode="lines",
                             name=f"fixed part ({esc(lines.slope)} = {num(b)})",
                             line=dict(width=3, color="black"), hoverinfo="skip"))
    outcome = esc(lines.outcome)
    if lines.latent:
        outcome = f"{outcome} (the marker of {esc(lines.latent)})"
    how = {"cluster": " (centred within clusters)", "grand": " (grand-mean centred)"}
    fig.update_xaxes(title_text=esc(lines.covariate) + how.get(centred or "", ""))
    fig.update_yaxes(title_text=outcome)
    fig.update_layout(
        title=esc(title or f"{lines.outcome} on {lines.covariate}: a line per cluster"),
        template="plotly_white", height=460, width=820,
        legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"))
    return static_figure(fig)
