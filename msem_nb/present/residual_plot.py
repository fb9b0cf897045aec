"""A heatmap of the covariance residuals per level, the largest ones outlined.

Plotly is optional: it is imported inside :func:`residual_heatmap`. The
figure reads a :class:`~msem_nb.inference.residuals.Residuals` and never refits.
Each level is one panel (lower triangle, diagonal included), coloured on a
diverging scale centred at zero and shared by the panels; the ``top`` cells
with the largest absolute residuals over all levels get a black outline and
bold text, so the misfit stands out at a glance.
"""

from __future__ import annotations

import html

import numpy as np

from msem_nb.format import num

__all__ = ["residual_heatmap"]


def _go_subplots():
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the figure needs plotly: pip install 'msem_nb[plot]' "
                          "(or pip install plotly)") from err
    return go, make_subplots


def _largest(levels, top: int) -> set[tuple[int, int, int]]:
    """(panel, row, column) of the `top` largest absolute residuals (lower triangle)."""
    cells = []
    for k, lv in enumerate(levels):
        m = lv.cov.to_numpy()
        for i in range(len(m)):
            for j in range(i + 1):
                if np.isfinite(m[i, j]):
                    cells.append((abs(m[i, j]), k, i, j))
    cells.sort(key=lambda c: -c[0])
    return {(k, i, j) for _, k, i, j in cells[:max(top, 0)]}


def residual_heatmap(res, top: int = 5, title: str | None = None):
    """Heatmap of covariance residuals, one panel per level.

    Parameters
    ----------
    res : Residuals
        From ``fit.residuals(type=...)``.
    top : int
        How many of the largest absolute residuals (over all levels) to outline.
    title : str, optional
        Figure title; default names the residual type.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    go, make_subplots = _go_subplots()
    levels = res.levels
    titles = [html.escape(lv.level) if lv.level else "" for lv in levels]
    fig = make_subplots(rows=1, cols=len(levels), subplot_titles=titles,
                        horizontal_spacing=0.12)
    vmax = max((np.nanmax(np.abs(lv.cov.to_numpy())) for lv in levels), default=0.0)
    vmax = float(vmax) if vmax > 0 else 1.0
    marked = _largest(levels, top)
    digits = ".2f" if res.type == "standardized" else ".3f"
    for k, lv in enumerate(levels):
        names = [html.escape(str(v)) for v in lv.cov.index]
        m = lv.cov.to_numpy().astype(float)
        z = np.where(np.tril(np.ones_like(m, dtype=bool)), m, np.nan)
        text = [[("<b>" + num(z[i, j], digits) + "</b>" if (k, i, j) in marked
                  else num(z[i, j], digits, missing=""))
                 for j in range(len(names))] for i in range(len(names))]
        hover = [[f"{names[i]} ~~ {names[j]}: {num(z[i, j], '.4f')}" if j <= i else ""
                  for j in range(len(names))] for i in range(len(names))]
        fig.add_trace(go.Heatmap(
            z=z, x=names, y=names, zmin=-vmax, zmax=vmax, zmid=0.0, colorscale="RdBu_r",
            text=text, texttemplate="%{text}", textfont=dict(size=11), hovertext=hover,
            hoverinfo="text",
            showscale=(k == len(levels) - 1), colorbar=dict(title=res.type)),
            row=1, col=k + 1)
        for (kk, i, j) in sorted(marked):
            if kk != k:
                continue
            axis = "" if k == 0 else str(k + 1)
            fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                          xref=f"x{axis}", yref=f"y{axis}", line=dict(color="black", width=2))
        fig.update_yaxes(autorange="reversed", row=1, col=k + 1)
    label = {"raw": "Covariance residuals", "cor": "Correlation residuals",
             "standardized": "Standardized residuals (z)"}.get(res.type, "Residuals")
    fig.update_layout(title=html.escape(title) if title else
                      f"{label} (observed - model); the {len(marked)} largest outlined",
                      width=max(420, 380 * len(levels)), height=460,
                      plot_bgcolor="white")
    return fig
