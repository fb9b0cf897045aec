"""A tiny, dependency-free progress reporter for long loops.

In a terminal it rewrites one line on stderr with ``\\r``; in a Jupyter
notebook it shows an ipywidgets bar when ipywidgets is installed, else a
text line updated in place through ``IPython.display``. Nothing is shown
for work that ends within ``delay`` seconds, so quick calls stay quiet.

IPython and ipywidgets are imported lazily and only when IPython is already
running, which keeps the core free of widget dependencies.
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (not a plain IPython terminal)."""
    # Only look if IPython is already loaded: importing it just to find out
    # would cost half a second in every script.
    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - partially installed IPython
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def format_line(desc: str, done: int, total: int, elapsed: float, width: int = 24) -> str:
    """One progress line: ``desc: 37%|#####   | 370/1000 [00:05<00:08, 71.2/s]``."""
    frac = done / total if total else 1.0
    fill = int(round(width * frac))
    rate = done / elapsed if elapsed > 0 else 0.0
    left = (total - done) / rate if rate > 0 else 0.0
    prefix = f"{desc}: " if desc else ""
    return (f"{prefix}{100 * frac:3.0f}%|{'#' * fill}{' ' * (width - fill)}| {done}/{total} "
            f"[{_clock(elapsed)}<{_clock(left)}, {rate:.1f}/s]")


class _TextView:
    def __init__(self, file):
        self.file = file
        self.last_len = 0

    def show(self, line: str) -> None:
        pad = max(self.last_len - len(line), 0)
        self.file.write("\r" + line + " " * pad)
        self.file.flush()
        self.last_len = len(line)

    def close(self) -> None:
        self.file.write("\n")
        self.file.flush()


class _WidgetView:  # pragma: no cover - needs a notebook front end
    def __init__(self, total: int, desc: str):
        import ipywidgets
        from IPython.display import display
        self.bar = ipywidgets.IntProgress(min=0, max=max(total, 1), description=desc)
        self.label = ipywidgets.HTML()
        display(ipywidgets.HBox([self.bar, self.label]))

    def show(self, line: str, done: int = 0) -> None:
        self.bar.value = done
        self.label.value = line.split("| ", 1)[-1]

    def close(self) -> None:
        self.bar.bar_style = "success"


class _DisplayView:  # pragma: no cover - needs a notebook front end
    def __init__(self):
        from IPython.display import display
        # raw text/plain, so the line shows without a string's quotes
        self.handle = display({"text/plain": ""}, raw=True, display_id=True)
        if self.handle is None:  # no display machinery after all: use text
            raise ImportError("IPython display is not available")

    def show(self, line: str, done: int = 0) -> None:
        self.handle.update({"text/plain": line}, raw=True)

    def close(self) -> None:
        pass


class Progress:
    """Report progress of ``total`` steps.

    Parameters
    ----------
    total : int
        Number of steps.
    desc : str
        Short description shown before the bar.
    enabled : bool, optional
        True always reports (a notebook view in a notebook, else text on
        `file`); False never does; None (default) reports only in a
        notebook or when `file` is a terminal.
    delay : float, optional
        Seconds to wait before showing anything (default
        ``Progress.delay_default``, one second); work that ends sooner
        shows nothing.
    file : file-like, optional
        Where text goes; default ``sys.stderr``.

    Examples
    --------
    >>> with Progress(100, "bootstrap", enabled=False) as bar:
    ...     for _ in range(100):
    ...         bar.update()
    """

    #: Minimum seconds between two redraws; redrawing on every step would
    #: cost more than a fast step.
    interval = 0.1
    delay_default = 1.0

    def __init__(self, total: int, desc: str = "", enabled: bool | None = None,
                 delay: float | None = None, file=None):
        self.total = int(total)
        self.desc = desc
        self.done = 0
        self.delay = float(self.delay_default if delay is None else delay)
        self.file = sys.stderr if file is None else file
        self.start = time.perf_counter()
        self._last_draw = -1.0
        self._view = None
        notebook = in_notebook() and file is None
        if enabled is None:
            isatty = getattr(self.file, "isatty", None)
            enabled = notebook or bool(isatty and isatty())
        self.enabled = bool(enabled)
        self._notebook = notebook

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _make_view(self):
        if self._notebook:
            try:
                return _WidgetView(self.total, self.desc)
            except ImportError:
                try:
                    return _DisplayView()
                except ImportError:
                    pass
        return _TextView(self.file)

    def _draw(self, now: float) -> None:
        if self._view is None:
            self._view = self._make_view()
        line = format_line(self.desc, self.done, self.total, now - self.start)
        if isinstance(self._view, _TextView):
            self._view.show(line)
        else:  # pragma: no cover - notebook only
            self._view.show(line, self.done)
        self._last_draw = now

    def update(self, n: int = 1) -> None:
        """Record `n` more finished steps and redraw when it is time to."""
        self.done = min(self.done + int(n), self.total)
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.start < self.delay or now - self._last_draw < self.interval:
            return
        self._draw(now)

    def close(self) -> None:
        """Draw the final state (if anything was shown) and end the line."""
        if self._view is None:
            return
        self._draw(time.perf_counter())
        self._view.close()
        self._view = None
