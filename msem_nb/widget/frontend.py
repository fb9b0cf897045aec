"""The panel's own front-end widgets (anywidget, ES modules in ``js/``).

Small widgets, each a trait-only Python class whose JavaScript module draws
the traits and reports what the user does as messages:

* :class:`ModelGrid` - the path / covariance / random-slope switches (one
  tab stop, arrow keys inside);
* :class:`StatusLine` - loading / fitting / converged / warning / failed,
  with details; it also notices a dead kernel and then disables the panel;
* :class:`SyntaxEditor` - the model text, with line numbers and the line of
  an error marked;
* :class:`PlotView` - a Plotly figure sent as JSON and drawn with plotly.js,
  which reaches the browser once per page (not once per figure, as a
  FigureWidget's does) and only when a figure is first drawn;
* :class:`PlanForm` - the Plan tab's form, progress and results of a power
  study (the study itself runs in Python);
* :class:`NotebookBridge` - inserts cells into the notebook and starts
  downloads (things only the browser side can do);
* :class:`ModelChecks` - the Results screen's modification indices, each
  with a "Free" button, and the "Compare with previous fit" button with the
  likelihood-ratio test.

The modules ship inside the package (``msem_nb/widget/js/*.js``, declared as
package data) and are loaded by anywidget with no build step.
"""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import threading
from pathlib import Path

import anywidget
import traitlets

__all__ = ["ModelGrid", "StatusLine", "SyntaxEditor", "PlotView", "NotebookBridge",
           "ModelChecks", "PlanForm", "JS_DIR", "figure_json", "plotlyjs_bytes"]

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
        "idle", "loading", "fitting", "ok", "warn" or "error". The page adds
        "disconnected" by itself when the kernel behind the panel stops.
    message, detail : str
        Plain text (shown as text, never parsed as HTML).
    """

    _esm = JS_DIR / "status_line.js"
    state = traitlets.Unicode("idle").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    detail = traitlets.Unicode("").tag(sync=True)
    # the page finds this widget's own model by it, to watch its connection
    own_id = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.own_id = self.model_id


class SyntaxEditor(anywidget.AnyWidget):
    """A labelled text box for the model, with line numbers and an error marker.

    Attributes
    ----------
    value : str
        The text (typing in the page changes it).
    error : dict
        ``{"line": int, "col": int, "message": str}`` shown beside the editor
        with the line marked; ``{}`` for none.
    label, hint, placeholder : str
    """

    _esm = JS_DIR / "syntax_editor.js"
    value = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Dict().tag(sync=True)
    label = traitlets.Unicode("Model syntax").tag(sync=True)
    hint = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)
    rows = traitlets.Int(14).tag(sync=True)

    def show_error(self, line: int = 0, col: int = 0, message: str = "") -> None:
        """Mark `line` (1-based; 0 for no line) and show `message` beside the editor."""
        self.error = {"line": int(line), "col": int(col), "message": str(message)} \
            if message else {}


def plotlyjs_bytes() -> bytes:
    """plotly.js as shipped with the installed plotly (the file plotly's own HTML embeds)."""
    global _PLOTLYJS
    if _PLOTLYJS is None:
        spec = importlib.util.find_spec("plotly")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("the panel's figures need plotly: pip install plotly")
        path = Path(list(spec.submodule_search_locations)[0]) / "package_data" / "plotly.min.js"
        _PLOTLYJS = path.read_bytes()
    return _PLOTLYJS


_PLOTLYJS: bytes | None = None


def figure_json(fig) -> str:
    """A Plotly figure (or its dict) as strict JSON: NaN and infinities become null.

    Plotly's own encoder turns numpy arrays into typed arrays and non-finite
    numbers into ``null``, which plotly.js draws as gaps; a plain
    ``json.dumps`` would write ``NaN``, which no browser parses.
    """
    if fig is None:
        return ""
    import plotly.io as pio
    text = pio.to_json(fig, validate=False)
    # the encoder's own guarantee, checked: never send what the page cannot parse
    json.loads(text, parse_constant=_refuse_constant)
    return text


def _refuse_constant(name: str):
    raise ValueError(f"non-JSON number {name} in a figure")


class PlotView(anywidget.AnyWidget):
    """A Plotly figure drawn in the page with plotly.js, following the panel's width.

    Attributes
    ----------
    figure : str
        The figure as JSON (:func:`figure_json`); "" shows `placeholder`.
    css_class : str
        Class of the graph div (``msem-diagram``, ...).
    label : str
        The figure's accessible name.
    description : str
        Its text version: shown under the figure (collapsed) and read as its
        accessible description.
    keep_aspect : bool
        Scale the height with the width (diagrams), within the window.
    placeholder : str
        Shown while there is no figure (e.g. "Loading ...").

    The page asks for plotly.js once (message ``{"type": "need_plotly"}``)
    and gets it as a binary buffer; every later figure on the page uses it.
    """

    _esm = JS_DIR / "plot_view.js"
    figure = traitlets.Unicode("").tag(sync=True)
    css_class = traitlets.Unicode("").tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    description = traitlets.Unicode("").tag(sync=True)
    keep_aspect = traitlets.Bool(False).tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.on_msg(self._on_msg)
        self._shown = None      # the figure object drawn last

    def show(self, fig, description: str | None = None) -> None:
        """Draw `fig` (a Plotly figure or dict; None clears it) and its text version."""
        with self.hold_sync():
            self.figure = figure_json(fig)
            if description is not None:
                self.description = description
        self._shown = fig

    @property
    def shown(self):
        """The figure object last given to :meth:`show`."""
        return self._shown

    def data(self) -> dict:
        """The figure as the page gets it (a dict; empty without a figure)."""
        return json.loads(self.figure) if self.figure else {}

    def _on_msg(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "need_plotly":
            try:
                lib = plotlyjs_bytes()
            except Exception as exc:  # noqa: BLE001 - the page says why instead of drawing
                self.send({"type": "plotly_js", "error": str(exc)})
                return
            self.send({"type": "plotly_js"}, buffers=[lib])


class PlanForm(anywidget.AnyWidget):
    """The Plan tab's form: inputs as traits, commands as messages.

    Attributes
    ----------
    parameters : list of str
        Parameters offered (``"y ~ x [between]"``); ``parameter`` the chosen one.
    effect : str
        Its population value as typed ("" keeps the fitted ``estimate``).
    clusters, sizes : str
        ``"20,40,80"``; ``"10"``, ``"5-15"`` or ``"10,20"``.
    reps, seed : int
    state : str
        "idle", "running", "done", "error" or "cancelled"; ``done`` of
        ``total`` replications while running.
    message : str
        One line of plain text.
    rows : list of dict
        The results, one dict per design (n_clusters, cluster_size, power,
        rel_bias, se_sd_ratio, coverage, converged).
    code : str
        The study as Python.

    The buttons send ``{"type": "run"}``, ``{"type": "cancel"}`` and
    ``{"type": "insert_code"}``; register a handler with :meth:`on_command`.
    """

    _esm = JS_DIR / "plan_form.js"
    parameters = traitlets.List(traitlets.Unicode()).tag(sync=True)
    parameter = traitlets.Unicode("").tag(sync=True)
    effect = traitlets.Unicode("").tag(sync=True)
    estimate = traitlets.Float(None, allow_none=True).tag(sync=True)
    clusters = traitlets.Unicode("20,40,80").tag(sync=True)
    sizes = traitlets.Unicode("10").tag(sync=True)
    reps = traitlets.Int(200).tag(sync=True)
    seed = traitlets.Int(1).tag(sync=True)
    state = traitlets.Unicode("idle").tag(sync=True)
    done = traitlets.Int(0).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    rows = traitlets.List().tag(sync=True)
    code = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._handlers = []
        self.on_msg(self._dispatch)

    def on_command(self, fn) -> None:
        """Call ``fn(name)`` for every command ("run", "cancel", "insert_code")."""
        self._handlers.append(fn)

    def _dispatch(self, _widget, content, _buffers) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind in ("run", "cancel", "insert_code"):
            for fn in self._handlers:
                fn(kind)


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


class ModelChecks(anywidget.AnyWidget):
    """Modification indices with "Free" buttons, and the comparison with the previous fit.

    Attributes
    ----------
    modindices : dict
        :func:`msem_nb.widget.modindex.modindex_spec` (formatted text).
    comparison : dict
        :func:`msem_nb.widget.checks.comparison_spec`, or ``state`` and
        ``message`` alone.

    Clicks arrive as messages ``{"type": "free" | "unfree", "id"}`` and
    ``{"type": "compare"}``; register handlers with :meth:`on_free` and
    :meth:`on_compare`.
    """

    _esm = JS_DIR / "model_checks.js"
    modindices = traitlets.Dict().tag(sync=True)
    comparison = traitlets.Dict().tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._free: list = []
        self._compare: list = []
        self.on_msg(self._dispatch)

    def on_free(self, fn) -> None:
        """Call ``fn(id, on)`` on every "Free" (on=True) and "Undo" (on=False) click."""
        self._free.append(fn)

    def on_compare(self, fn) -> None:
        """Call ``fn()`` when "Compare with previous fit" is clicked."""
        self._compare.append(fn)

    def _dispatch(self, _widget, content, _buffers) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind in ("free", "unfree"):
            for fn in self._free:
                fn(str(content.get("id", "")), kind == "free")
        elif kind == "compare":
            for fn in self._compare:
                fn()
