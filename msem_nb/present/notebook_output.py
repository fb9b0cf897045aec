"""Plotly figures as static HTML that survives ``jupyter nbconvert`` offline.

In a Jupyter kernel, plotly's default renderer emits only the Plotly mime
type, which nbconvert's HTML exporter drops: the figure is blank in the
exported page. The figures and reports of msem_nb therefore also emit a
``text/html`` div, and the plotly.js library (about 5 MB) is embedded in the
first such output of a kernel session only, so a notebook run from top to
bottom carries it once. Outside a kernel every HTML fragment is
self-contained.

Plotly is imported inside the functions: ``import msem_nb`` never needs it.
"""

from __future__ import annotations

import sys

__all__ = ["figure_html", "plotlyjs_script", "static_figure", "show", "reset_plotlyjs",
           "PLOTLYJS_MARK"]

#: A string found in every embedded copy of plotly.js (its licence header).
PLOTLYJS_MARK = "* plotly.js v"

_SENT = False          # plotly.js already emitted in this kernel session
_CLASS = None


def _plotly():
    try:
        import plotly  # noqa: F401
    except ImportError as err:
        raise ImportError("diagrams need plotly: pip install 'msem_nb[plot]' "
                          "(or pip install plotly)") from err
    return plotly


def _in_kernel() -> bool:
    """True inside a running Jupyter kernel (not plain Python or a terminal IPython)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def reset_plotlyjs() -> None:
    """Forget that plotly.js was emitted (the next notebook output embeds it again)."""
    global _SENT
    _SENT = False


def _claim_plotlyjs() -> bool:
    """Whether the next HTML output must carry plotly.js itself."""
    global _SENT
    if not _in_kernel():
        return True
    if _SENT:
        return False
    _SENT = True
    return True


def plotlyjs_script() -> str:
    """``<script>`` tags holding the whole plotly.js library (no network needed)."""
    _plotly()
    from plotly.offline import get_plotlyjs
    # "</script" cannot occur in a minified library that we embed verbatim;
    # guard anyway, since it would end the tag early.
    js = get_plotlyjs().replace("</script", "<\\/script")
    return ("<script type=\"text/javascript\">window.PlotlyConfig = {MathJaxConfig: 'local'};"
            "</script>\n<script type=\"text/javascript\">" + js + "</script>\n")


def figure_html(fig, *, include_plotlyjs: bool | None = None, div_id: str | None = None) -> str:
    """An HTML ``<div>`` that draws `fig`, with no reference to any server.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure or dict
    include_plotlyjs : bool, optional
        Embed plotly.js before the div. By default: always outside a Jupyter
        kernel, and only in the first output of a kernel session inside one.
    div_id : str, optional
        Id of the div (plotly picks a random one by default).

    Returns
    -------
    str
    """
    _plotly()
    import plotly.io as pio
    if include_plotlyjs is None:
        include_plotlyjs = _claim_plotlyjs()
    body = pio.to_html(fig, full_html=False, include_plotlyjs=False, include_mathjax=False,
                       div_id=div_id, config={"displaylogo": False, "responsive": True},
                       validate=False)
    return (plotlyjs_script() if include_plotlyjs else "") + body


def static_figure(fig=None, **kwargs):
    """A copy of `fig` that also renders as static HTML in notebooks.

    The returned object is a ``plotly.graph_objects.Figure`` whose notebook
    representation carries both the Plotly mime type (interactive in
    JupyterLab) and a ``text/html`` div that nbconvert keeps.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure or dict, optional
    **kwargs
        Passed to the Figure constructor (data, layout).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    cls = _static_class()
    return cls(fig, **kwargs) if fig is not None else cls(**kwargs)


def show(fig) -> None:
    """Display any Plotly figure so that it survives nbconvert offline."""
    from IPython.display import display
    display(static_figure(fig))


def _static_class():
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    _plotly()
    import plotly.graph_objects as go

    class StaticFigure(go.Figure):
        """A Plotly figure that adds a static HTML representation."""

        def _repr_mimebundle_(self, include=None, exclude=None, validate=True, **kwargs):
            try:
                bundle = super()._repr_mimebundle_(include, exclude, validate, **kwargs)
            except Exception:  # a renderer that cannot run here must not hide the figure
                bundle = {}
            bundle = dict(bundle or {})
            if "application/vnd.plotly.v1+json" not in bundle:
                import json

                import plotly.io as pio
                # through JSON: numpy arrays in the figure are not serialisable as they are
                bundle["application/vnd.plotly.v1+json"] = json.loads(pio.to_json(self,
                                                                                 validate=False))
            if "text/html" not in bundle:
                bundle["text/html"] = figure_html(self)
            bundle.setdefault("text/plain", f"<{type(self).__name__}>")
            return bundle

        def _repr_html_(self):
            return figure_html(self)

        def _ipython_display_(self):
            from IPython.display import display
            display(self._repr_mimebundle_(), raw=True)

    StaticFigure.__module__ = __name__
    _CLASS = StaticFigure
    return _CLASS
