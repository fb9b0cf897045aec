"""The forest plot of a :class:`~msem_nb.teaching.approaches.Comparison`.

Plotly is optional (the ``plot`` extra) and imported inside the function, so
``import msem_nb`` never needs it.
"""

from __future__ import annotations

import html

from msem_nb.format import num
from msem_nb.present.notebook_output import static_figure

__all__ = ["forest_figure", "effect_rank"]


def effect_rank(effect: str) -> int:
    """Sort key of an effect name: within, then between, then conflated."""
    # whatever the order in which the approaches reported them
    return 0 if "within" in effect else 1 if "between" in effect else 2

_PALETTE = ["#7f7f7f", "#bcbd22", "#ff7f0e", "#d62728", "#9467bd", "#1f77b4"]


def forest_figure(cmp, truth: dict | None = None):
    """Effects with confidence intervals, grouped by effect, one colour per approach.

    Parameters
    ----------
    cmp : Comparison
    truth : dict, optional
        Effect -> true value, drawn as a black line in the effect's group.

    Returns
    -------
    plotly.graph_objects.Figure
        A subclass that also renders as static HTML (survives nbconvert).
    """
    try:
        import plotly.graph_objects as go
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the figure needs plotly: pip install 'msem_nb[plot]' "
                          "(or pip install plotly)") from err
    esc = html.escape
    tab = cmp.table
    effects = sorted(dict.fromkeys(tab["effect"]), key=effect_rank)
    # one row per (effect, approach), effects top to bottom with a gap
    ypos, ticks, headers, y = {}, [], [], 0.0
    for eff in effects:
        headers.append((y, eff))
        y += 1
        for app in tab.loc[tab["effect"] == eff, "approach"]:
            ypos[(eff, app)] = y
            ticks.append((y, app))
            y += 1
        y += 0.6
    fig = go.Figure()
    for k, app in enumerate(cmp.models):  # every approach, in the table's order
        sub = tab[tab["approach"] == app]
        if sub.empty:
            continue
        est = sub["estimate"].to_numpy(float)
        lo, hi = sub["ci_lower"].to_numpy(float), sub["ci_upper"].to_numpy(float)
        hover = [f"<b>{esc(app)}</b><br>{esc(e)}: {num(v)}<br>"
                 f"{int(cmp.ci_level * 100)}% CI [{num(a)}, {num(b)}]<br>"
                 f"n = {n:,} {esc(u)}"
                 for e, v, a, b, n, u in zip(sub["effect"], est, lo, hi, sub["n_used"],
                                             sub["n_unit"])]
        fig.add_trace(go.Scatter(
            x=est, y=[ypos[(e, app)] for e in sub["effect"]], mode="markers",
            name=esc(app), showlegend=False,
            marker=dict(size=9, color=_PALETTE[k % len(_PALETTE)]),
            error_x=dict(type="data", symmetric=False, array=hi - est,
                         arrayminus=est - lo, thickness=1.5, width=4),
            hovertext=hover, hoverinfo="text"))
    fig.add_vline(x=0, line_dash="dash", line_color="#999999")
    for y0, eff in headers:
        fig.add_annotation(x=0, xref="paper", y=y0, yref="y", text=f"<b>{esc(eff)}</b>",
                           showarrow=False, xanchor="left", font=dict(size=13))
        if truth and eff in truth:
            rows = [ypos[k] for k in ypos if k[0] == eff]
            fig.add_shape(type="line", x0=truth[eff], x1=truth[eff], y0=min(rows) - 0.4,
                          y1=max(rows) + 0.4, line=dict(color="black", width=2))
    if truth:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="true value",
                                 line=dict(color="black", width=2)))
    fig.update_yaxes(tickvals=[t[0] for t in ticks], ticktext=[esc(t[1]) for t in ticks],
                     autorange="reversed", showgrid=False)
    fig.update_xaxes(title_text="estimate with confidence interval", zeroline=False)
    fig.update_layout(
        title=esc(f"{cmp.question}: six ways to estimate the effect"),
        height=140 + 26 * (len(ticks) + len(headers)), width=950,
        template="plotly_white", legend=dict(orientation="h", x=1, xanchor="right",
                                             y=1.02, yanchor="bottom"),
        margin=dict(l=300))
    # as the path diagrams do: a static HTML form too, so that the figure
    # survives nbconvert
    return static_figure(fig)
