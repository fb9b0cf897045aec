"""Correlation views of the panel's data: plain correlations, and a caution on weak ICCs.

Single-level mode has no within/between decomposition; the panel shows the
plain (Pearson, pairwise complete) correlations of the chosen variables
instead. In two-level mode, a variable with almost no between-cluster
variance (a small ICC) has between-level correlations that rest on very
little information: they can come out anywhere up to +-1. Such variables are
named in a caution and marked in the heatmaps.

Formulas: ``r_ab`` is the Pearson correlation over the rows where both a and
b are observed (:meth:`pandas.DataFrame.corr`); a variable's ICC is the
decomposition's ML ICC (:class:`~msem_nb.inference.decompose.Decomposition`).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from msem_nb.format import num

__all__ = ["LOW_ICC", "MARK", "plain_correlations", "correlation_heatmap", "low_icc",
           "low_icc_caution", "mark_low_icc"]

#: Below this ICC a variable's between-level correlations get a caution.
LOW_ICC = 0.02
#: Appended to a variable's label in the heatmaps when its ICC is low.
MARK = " \u26a0"


def plain_correlations(data: pd.DataFrame, variables) -> pd.DataFrame:
    """Pearson correlations of the numeric `variables`, each pair on its complete rows."""
    cols = [v for v in variables if v in data.columns and pd.api.types.is_numeric_dtype(data[v])]
    return data[cols].astype(float).corr()


def correlation_heatmap(corr: pd.DataFrame, title: str = "Correlations"):
    """One heatmap of a correlation matrix on a -1..1 scale (blank where undefined)."""
    import plotly.graph_objects as go
    labels = [html.escape(str(v)) for v in corr.columns]
    z = corr.to_numpy(dtype=float)
    text = [[num(v, ".2f") if np.isfinite(v) else "" for v in row] for row in z]
    p = len(labels)
    fig = go.Figure(go.Heatmap(
        z=z, x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu", zmid=0, text=text,
        texttemplate="%{text}", textfont=dict(size=max(7, min(12, int(90 / max(p, 1))))),
        hovertemplate="%{y} with %{x}: %{z:.3f}<extra></extra>", xgap=1, ygap=1,
        colorbar=dict(title="r", thickness=14)))
    fig.update_layout(title=html.escape(title), width=620, height=max(320, 140 + 30 * p),
                      template="plotly_white", margin=dict(l=10, r=10, t=60, b=10))
    fig.update_xaxes(type="category", tickangle=-45)
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def low_icc(dec, threshold: float = LOW_ICC) -> dict[str, float]:
    """Variables of a decomposition whose ICC is below `threshold` (name -> ICC)."""
    icc = dec.icc
    return {str(v): float(i) for v, i in icc.items() if np.isfinite(i) and i < threshold}


def low_icc_caution(low: dict[str, float], threshold: float = LOW_ICC) -> str:
    """A sentence naming the low-ICC variables (plain text; "" when there are none)."""
    if not low:
        return ""
    names = ", ".join(f"{v} (ICC {num(i, '.3f')})" for v, i in low.items())
    return (f"Caution: almost no between-cluster variance (ICC below {threshold:g}) in {names}. "
            "Their between-level correlations rest on very little information and can land "
            f"anywhere up to \u00b11; they are marked{MARK} in the heatmaps. Treat such a "
            "variable as within-only rather than reading its between correlations.")


def mark_low_icc(fig, low: dict[str, float]):
    """`fig` (the decomposition's correlation heatmaps) with low-ICC variables marked."""
    if not low or fig is None:
        return fig
    marked = {html.escape(v): html.escape(v) + MARK for v in low}
    for trace in fig.data:
        for axis in ("x", "y"):
            values = getattr(trace, axis, None)
            if values is not None:
                trace[axis] = [marked.get(str(v), v) for v in values]
    return fig
