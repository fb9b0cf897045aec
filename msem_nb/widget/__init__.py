"""The notebook panel of msem_nb (needs the ``widget`` extra).

``msem_nb.Panel`` is :class:`msem_nb.widget.panel.Panel`. Plain Python (no
widgets): ``model`` (model builder: switches <-> syntax <-> parsed model),
``switches`` (reversible toggles), ``gridspec``, ``controller`` (state and
rules) with its ``view`` protocol, ``refit`` (parsed model -> FitResult
through the one pipeline), ``scheduler`` (worker thread, debounce,
generations), ``status`` (what the status line says about a fit), ``names``
(unknown variables, suggestions), ``datasummary`` and ``correlations`` (the
Data and Decomposition tabs' content), ``comparison``, ``guess``,
``describe``, ``tables``, ``effects``, ``export``, ``modindex`` and
``checks`` (the Results screen's modification indices, residual heatmaps and
comparison with the previous fit). Widgets: ``frontend`` (anywidget: grid,
status line, syntax editor, figure view, notebook bridge, model checks),
``screens`` (one module per tab) and ``panel``. The browser side is
``js/*.js``.
"""

from msem_nb.widget.panel import Panel

__all__ = ["Panel"]
