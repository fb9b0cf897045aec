"""The panel's own front-end widgets (anywidget, ES modules in ``js/``).

Three small widgets, each a trait-only Python class whose JavaScript module
draws the traits and reports clicks as messages:

* :class:`ModelGrid` - the path / covariance / random-slope switches;
* :class:`StatusLine` - fitting / converged / failed, with error details;
* :class:`NotebookBridge` - inserts cells into the notebook and starts
  downloads (things only the browser side can do).

The modules ship inside the package (``msem_nb/widget/js/*.js``, declared as
package data) and are loaded by anywidget with no build step.
"""

from __future__ import annotations

import base64
import itertools
import threading
from pathlib import Path

import anywidget
import traitlets

__all__ = ["ModelGrid", "StatusLine", "NotebookBridge", "JS_DIR"]

#: Folder of the ES modules.
JS_DIR = Path(__file__).with_name("js")


class ModelGrid(anywidget.AnyWidget):
    """Switch grids of the Model screen.

    Attributes
    ----------
    spec : dict
        What to draw (see :func:`msem_nb.widget.gridspec.grid_spec`).

    Clicks arrive as messages ``{"type": "toggle", "kind", "level", "a",
    "b"}`` with kind "path", "var", "cov" or "slope"; register a handler
    with :meth:`on_toggle`.
    """

    _esm = JS_DIR / "model_grid.js"
    spec = traitlets.Dict().tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._handlers = []
        self.on_msg(self._dispatch)

    def on_toggle(self, fn) -> None:
        """Call ``fn(kind, level, a, b)`` on every click."""
        self._handlers.append(fn)

    def _dispatch(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "toggle":
            return
        args = [str(content.get(k, "")) for k in ("kind", "level", "a", "b")]
        for fn in self._handlers:
            fn(*args)


class StatusLine(anywidget.AnyWidget):
    """One-line status with optional multi-line detail.

    Attributes
    ----------
    state : str
        "idle", "fitting", "ok", "warn" or "error".
    message, detail : str
        Plain text (shown as text, never parsed as HTML).
    """

    _esm = JS_DIR / "status_line.js"
    state = traitlets.Unicode("idle").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    detail = traitlets.Unicode("").tag(sync=True)


class NotebookBridge(anywidget.AnyWidget):
    """Asks the browser to insert notebook cells and to download files.

    Attributes
    ----------
    host_model_id : str
        Model id of the widget whose output cell the new cells go below.
    """

    _esm = JS_DIR / "notebook_bridge.js"
    host_model_id = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._ids = itertools.count(1)
        self._callbacks: dict[int, object] = {}
        self._lock = threading.Lock()
        self.on_msg(self._on_reply)

    def insert_cell(self, source: str, outputs=None, *, trusted: bool = False,
                    callback=None) -> int:
        """Ask the browser to insert a code cell below the panel.

        Parameters
        ----------
        source : str
            The cell's code.
        outputs : list of dict, optional
            nbformat outputs to put in the cell already.
        trusted : bool
            Mark the cell trusted (lets its HTML output run scripts).
        callback : callable, optional
            ``callback(reply)`` with the browser's reply dict (``ok`` and
            ``how`` or ``reason``).

        Returns
        -------
        int
            The request id.
        """
        cell = {"cell_type": "code", "source": source, "metadata": {},
                "outputs": list(outputs or []), "trusted": trusted}
        return self._request({"type": "insert_cell", "cell": cell}, callback)

    def download(self, filename: str, content: bytes | str, mime: str = "text/html",
                 callback=None) -> int:
        """Ask the browser to save `content` as `filename` (through a data: URL)."""
        if isinstance(content, str):
            content = content.encode("utf-8")
        return self._request({"type": "download", "filename": filename, "mime": mime,
                           "b64": base64.b64encode(content).decode("ascii")}, callback)

    def _request(self, msg: dict, callback) -> int:
        with self._lock:
            rid = next(self._ids)
            if callback is not None:
                self._callbacks[rid] = callback
        self.send(dict(msg, request_id=rid))
        return rid

    def _on_reply(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "result":
            return
        with self._lock:
            cb = self._callbacks.pop(content.get("request_id"), None)
        if cb is not None:
            cb(content)
