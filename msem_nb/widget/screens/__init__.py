"""The panel's screens: one module per tab, each behind the :class:`~.base.Screen` protocol.

``data`` (cluster column and variables), ``decomposition`` (ICCs and
roles), ``model_builder`` (switches, syntax, latent variables, live
diagram), ``results`` (fit, estimates, indirect effects, modification
indices with Free buttons, residual heatmaps, the previous fit), ``compare``
(one effect six ways), ``plan`` (a power study of the model shown, in the
background) and ``export`` (code, report, file). A screen lays
out its widgets and shows what it is given; the panel
(:mod:`msem_nb.widget.panel`) wires it to the controller and builds the
tabs by iterating its screens. A new tab is a new module here with a
``title``, a ``box``, ``on_show()`` and ``update(...)``, added to the
panel's list.
"""

from msem_nb.widget.screens.base import Screen

__all__ = ["Screen"]
