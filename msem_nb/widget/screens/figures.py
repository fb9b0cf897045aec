"""The screens' figures: :class:`~msem_nb.widget.frontend.PlotView` widgets.

A figure is sent to the page as JSON and drawn there with plotly.js at the
width of its screen; a new figure replaces the old one whole (no stale
titles, axes or panels of the previous one can linger). Until a figure
arrives the view shows a placeholder that says what is coming.
"""

from __future__ import annotations

from msem_nb.widget.frontend import PlotView

__all__ = ["plot_view", "LOADING"]

#: The placeholder of a figure that is being computed.
LOADING = "Loading\u2026"


def plot_view(css_class: str, label: str, placeholder: str = LOADING,
              keep_aspect: bool = False) -> PlotView:
    """An empty figure view.

    Parameters
    ----------
    css_class : str
        Class of the graph div in the page (tests and styles find it by it).
    label : str
        The figure's accessible name.
    placeholder : str
        Shown until :meth:`PlotView.show` gets a figure.
    keep_aspect : bool
        Scale the height with the width (path diagrams).
    """
    return PlotView(css_class=css_class, label=label, placeholder=placeholder,
                    keep_aspect=keep_aspect)
