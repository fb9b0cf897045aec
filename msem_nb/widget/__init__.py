"""The notebook panel of msem_nb (needs the ``widget`` extra).

``msem_nb.Panel`` is :class:`msem_nb.widget.panel.Panel`. Modules:
``model`` (model builder: switches <-> syntax), ``scheduler`` (worker thread,
debounce, generations), ``controller`` (state and rules), ``gridspec``,
``tables``, ``effects``, ``export`` (plain Python), and ``frontend``,
``screens``, ``panel`` (widgets). The browser side is ``js/*.js``.
"""

from msem_nb.widget.panel import Panel

__all__ = ["Panel"]
