"""The five screens of the panel, built from ipywidgets and Plotly FigureWidgets.

Each builder returns a small namespace of the widgets the panel needs to
reach later, plus ``box``, the screen itself. Builders only lay widgets out;
the panel (:mod:`msem_nb.widget.panel`) wires them to the controller.
"""

from __future__ import annotations

from types import SimpleNamespace

import ipywidgets as W

from msem_nb.widget.frontend import ModelGrid, NotebookBridge

__all__ = ["data_screen", "decomposition_screen", "model_screen", "results_screen",
           "export_screen", "empty_figure", "replace_figure", "STYLE"]

#: Page-wide styles for the ipywidgets parts (monospace syntax box).
STYLE = ("<style>.msem-syntax textarea{font-family:var(--jp-code-font-family,monospace);"
         "font-size:12px;line-height:1.35}"
         # results of the previous model while the new one is being fitted
         ".msem-stale{opacity:.45;transition:opacity .15s}</style>")

NO_CLUSTER = "(none: single-level model)"


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


def data_screen(columns, numeric, cluster, variables) -> SimpleNamespace:
    """Cluster column, variables, and the summary of both."""
    cluster_dd = W.Dropdown(options=[(NO_CLUSTER, None)] + [(str(c), c) for c in columns],
                            value=cluster, description="Cluster",
                            layout=W.Layout(width="360px"))
    options = [c for c in numeric if c != cluster]
    var_sel = W.SelectMultiple(options=options, value=tuple(v for v in variables if v in options),
                               rows=min(12, max(4, len(options))), description="Variables",
                               layout=W.Layout(width="360px"))
    help_ = W.HTML("<p style='color:#555;margin:2px 0'>Ctrl/Cmd-click to choose several "
                   "variables. They become rows and columns of the switch grids on the Model "
                   "screen.</p>")
    summary = W.HTML()
    summary.layout.margin = "0 0 0 24px"
    box = W.HBox([W.VBox([cluster_dd, var_sel, help_]), summary])
    return SimpleNamespace(box=box, cluster=cluster_dd, variables=var_sel, summary=summary)


def decomposition_screen() -> SimpleNamespace:
    """ICC bars, correlation heatmaps and suggested roles."""
    note = W.HTML()
    roles = W.HTML()
    icc = empty_figure()
    corr = empty_figure()
    box = W.VBox([note, roles, icc, corr])
    return SimpleNamespace(box=box, note=note, roles=roles, icc=icc, corr=corr)


def model_screen(estimator: str, missing: str) -> SimpleNamespace:
    """Options, switch grids, syntax box, latent-variable editor and the live diagram."""
    est_dd = W.Dropdown(options=["ML", "MLR"], value=estimator, description="Estimator",
                        layout=W.Layout(width="200px"))
    miss_dd = W.Dropdown(options=[("listwise", "listwise"), ("FIML", "fiml")],
                         value=missing if missing in ("listwise", "fiml") else "listwise",
                         description="Missing", layout=W.Layout(width="220px"))
    refit = W.Button(description="Refit", icon="refresh", layout=W.Layout(width="90px"))
    grid = ModelGrid()
    syntax = W.Textarea(value="", placeholder="level: within\n  y ~ x\nlevel: between\n  y ~ w",
                        continuous_update=True, layout=W.Layout(width="100%", height="260px"))
    syntax.add_class("msem-syntax")
    syntax.add_class("msem-syntax-box")
    lat_name = W.Text(placeholder="name, e.g. fw", description="Latent",
                      layout=W.Layout(width="220px"))
    lat_level = W.Dropdown(options=["within", "between"], description="Level",
                           layout=W.Layout(width="220px"))
    lat_ind = W.SelectMultiple(options=[], rows=5, description="Indicators",
                               layout=W.Layout(width="220px"))
    lat_add = W.Button(description="Add / update", icon="plus", layout=W.Layout(width="130px"))
    lat_remove_dd = W.Dropdown(options=[], description="Remove", layout=W.Layout(width="220px"))
    lat_remove = W.Button(description="Remove", icon="trash", layout=W.Layout(width="130px"))
    lat_msg = W.HTML()
    latent = W.VBox([W.HTML("<b>Latent variables</b>"), lat_name, lat_level, lat_ind,
                     lat_add, W.HBox([lat_remove_dd, lat_remove]), lat_msg])
    diagram_note = W.HTML()
    diagram = empty_figure()
    diagram.add_class("msem-diagram")
    right = W.VBox([W.HTML("<b>Syntax</b> (edit freely; the switches follow when it parses)"),
                    syntax, latent], layout=W.Layout(width="420px", min_width="360px",
                                                     margin="0 0 0 16px"))
    # the FigureWidget's own view ignores later class changes: dim its box instead
    diagram_box = W.Box([diagram])
    box = W.VBox([W.HBox([est_dd, miss_dd, refit]),
                  W.HBox([grid, right]),
                  diagram_note, diagram_box])
    return SimpleNamespace(box=box, estimator=est_dd, missing=miss_dd, refit=refit, grid=grid,
                           syntax=syntax, lat_name=lat_name, lat_level=lat_level,
                           lat_ind=lat_ind, lat_add=lat_add, lat_remove_dd=lat_remove_dd,
                           lat_remove=lat_remove, lat_msg=lat_msg, diagram=diagram,
                           diagram_box=diagram_box, diagram_note=diagram_note)


def results_screen() -> SimpleNamespace:
    """Convergence and fit measures, estimates by level, indirect effects, diagram."""
    fit = W.HTML("<p>No results yet.</p>")
    estimates = W.HTML()
    indirect = W.HTML()
    # its own figure, redrawn only while the screen is shown, so that a
    # switch click redraws one diagram in the browser, not two
    diagram = empty_figure()
    diagram.add_class("msem-results-diagram")
    box = W.VBox([W.HTML("<h4 style='margin:4px 0'>Estimation and fit</h4>"), fit,
                  W.HTML("<h4 style='margin:4px 0'>Estimates</h4>"), estimates,
                  W.HTML("<h4 style='margin:4px 0'>Indirect effects</h4>"), indirect,
                  W.HTML("<h4 style='margin:4px 0'>Path diagram</h4>"), diagram])
    return SimpleNamespace(box=box, fit=fit, estimates=estimates, indirect=indirect,
                           diagram=diagram)


def export_screen() -> SimpleNamespace:
    """Buttons that write a code cell, a report cell or an HTML file; the code to copy."""
    code_btn = W.Button(description="Insert code cell below", icon="code",
                        layout=W.Layout(width="230px"))
    report_btn = W.Button(description="Insert static report below", icon="file-text",
                          layout=W.Layout(width="230px"))
    download_btn = W.Button(description="Download HTML report", icon="download",
                            layout=W.Layout(width="230px"))
    status = W.HTML()
    code = W.Textarea(layout=W.Layout(width="100%", height="220px"))
    code.add_class("msem-syntax")
    bridge = NotebookBridge()
    box = W.VBox([W.HBox([code_btn, report_btn, download_btn]), status, bridge,
                  W.HTML("<b>Code that reproduces the current model</b> (copy it if the "
                         "buttons cannot reach the notebook)"), code])
    return SimpleNamespace(box=box, code_btn=code_btn, report_btn=report_btn,
                           download_btn=download_btn, status=status, code=code, bridge=bridge)
