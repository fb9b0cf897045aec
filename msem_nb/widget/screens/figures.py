"""Plotly FigureWidgets of the screens: an empty one, and redrawing one in few messages."""

from __future__ import annotations

__all__ = ["empty_figure", "replace_figure"]


def empty_figure(height: int = 120):
    """An empty Plotly FigureWidget (filled in later with :func:`replace_figure`)."""
    import plotly.graph_objects as go
    fw = go.FigureWidget()
    fw.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                     xaxis=dict(visible=False), yaxis=dict(visible=False),
                     template="plotly_white")
    return fw


def replace_figure(fw, fig) -> None:
    """Make FigureWidget `fw` show `fig` (None: blank), in as few messages as possible.

    Traces of the same number and types are updated in place (one restyle
    message); otherwise they are replaced. Layout keys that `fig` lacks are
    cleared so nothing of the old figure lingers.
    """
    if fig is None:
        import plotly.graph_objects as go
        fig = go.Figure(layout=dict(height=60, xaxis=dict(visible=False),
                                    yaxis=dict(visible=False), template="plotly_white"))
    same = (len(fw.data) == len(fig.data)
            and all(a.type == b.type for a, b in zip(fw.data, fig.data)))
    if not same:
        fw.data = []
        fw.add_traces(list(fig.data))
    new_layout = fig.layout.to_plotly_json()
    stale = [k for k in fw.layout.to_plotly_json() if k not in new_layout and k != "template"]
    with fw.batch_update():
        if same:
            for old, new in zip(fw.data, fig.data):
                old.update(new.to_plotly_json(), overwrite=True)
        for k in stale:
            fw.layout[k] = None
        fw.layout = fig.layout
