"""The notebook panel of msem_nb (needs the ``widget`` extra).

``msem_nb.Panel`` is :class:`msem_nb.widget.panel.Panel`. Plain Python (no
widgets): ``model`` (model builder: switches <-> syntax <-> parsed model),
``gridspec``, ``controller`` (state and rules) with its ``view`` protocol,
``refit`` (parsed model -> FitResult through the one pipeline),
``scheduler`` (worker thread, debounce, generations), ``comparison``,
``guess``, ``describe``, ``tables``, ``effects``, ``export``. Widgets:
``frontend`` (anywidget), ``screens`` (one module per tab) and ``panel``.
The browser side is ``js/*.js``.
"""

from msem_nb.widget.panel import Panel

__all__ = ["Panel"]
