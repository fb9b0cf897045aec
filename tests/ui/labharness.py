"""A throw-away JupyterLab driven by headless Chromium (Playwright), for UI tests.

Used by the tests in ``tests/ui`` (through the ``lab_page`` fixture of
``tests/ui/conftest.py``) and by ``bench/bench_panel.py``.
Facts it relies on are in the project's UI-TESTING notes: Debian's
``/usr/bin/chromium`` through Playwright's ``executable_path``, a Lab on a
free 127.0.0.1 port with its own config/settings/workspace folders, news and
update checks off, and a watchdog that kills Lab whatever happens.

The Lab runs without ``expose_app_in_browser``: cells are run with the
keyboard, so the panel's cell insertion is tested in a stock JupyterLab.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-dev-shm-usage"]


def browser_available() -> bool:
    """Chromium and Playwright are both here."""
    return Path(CHROMIUM).exists() and importlib.util.find_spec("playwright") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings: Path) -> None:
    def put(plugin: str, values: dict):
        pkg, name = plugin.split(":")
        d = settings / pkg
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
    # the news pop-up ignores news_url=None; only this setting stops it
    put("@jupyterlab/apputils-extension:notification",
        {"fetchNews": "false", "checkForUpdates": False})
    put("@jupyterlab/extensionmanager-extension:plugin", {"enabled": False})


def _write_kernelspec(data_dir: Path) -> None:
    # "python3" runs this very interpreter, whatever other kernelspecs the
    # machine has (the user data folder comes first on Jupyter's path)
    d = data_dir / "kernels" / "python3"
    d.mkdir(parents=True, exist_ok=True)
    (d / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))


def notebook_json(cells: list[str]) -> dict:
    """A minimal nbformat 4 notebook of code cells."""
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}",
                       "metadata": {}, "outputs": [], "source": src}
                      for i, src in enumerate(cells)],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


class Lab:
    """JupyterLab in a temporary folder, killed on :meth:`stop` or by the watchdog.

    Parameters
    ----------
    watchdog : float
        Seconds after which Lab (and its kernels) are killed regardless.
    """

    def __init__(self, watchdog: float = 300.0):
        self.tmp = Path(tempfile.mkdtemp(prefix="msem_lab_"))
        self.root = self.tmp / "work"
        self.root.mkdir()
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._watchdog = threading.Timer(watchdog, self._kill)
        self._watchdog.daemon = True
        self.log = self.tmp / "lab.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "Lab":
        settings = self.tmp / "settings"
        _write_settings(settings)
        env = dict(os.environ)
        data_dir = self.tmp / "data"
        _write_kernelspec(data_dir)
        env.update(JUPYTER_CONFIG_DIR=str(self.tmp / "config"),
                   JUPYTER_DATA_DIR=str(data_dir),
                   JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.tmp / "workspaces"),
                   JUPYTER_RUNTIME_DIR=str(self.tmp / "runtime"))
        # the kernel imports the same msem_nb as this process
        spec = importlib.util.find_spec("msem_nb")
        if spec is not None and spec.origin:
            pkg_parent = str(Path(spec.origin).parent.parent)
            env["PYTHONPATH"] = os.pathsep.join(
                [pkg_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
               f"--port={self.port}", "--ServerApp.ip=127.0.0.1",
               "--ServerApp.port_retries=0", "--ServerApp.token=", "--ServerApp.password=",
               "--ServerApp.allow_root=True", "--ServerApp.disable_check_xsrf=True",
               f"--ServerApp.root_dir={self.root}", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        self._logf = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._watchdog.start()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early; log: {self.log}\n"
                                   + self.log.read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"JupyterLab did not start in {timeout} s; log: {self.log}")

    def write_notebook(self, name: str, cells: list[str]) -> str:
        (self.root / name).write_text(json.dumps(notebook_json(cells)))
        return name

    def copy_in(self, path) -> None:
        shutil.copy(path, self.root / Path(path).name)

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)   # Lab and its kernels
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        self._watchdog.cancel()
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self._kill()
        if getattr(self, "_logf", None):
            self._logf.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)


def open_notebook(page, lab: Lab, name: str, timeout: float = 90_000) -> None:
    """Open a notebook and wait until its kernel is connected and idle."""
    page.goto(f"{lab.url}/lab/tree/{name}", timeout=timeout)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout)
    # the toolbar's indicator can say idle while the status bar still reads
    # "Initializing": wait for the status bar
    page.wait_for_function(
        """() => {
            const t = document.querySelector('#jp-main-statusbar')?.textContent || '';
            return /Idle/.test(t) && !/Initializing|Connecting|No Kernel|Starting/.test(t);
        }""", timeout=timeout)


def run_cell(page, index: int = 0) -> None:
    """Run cell `index` with Shift+Enter (no Lab command API needed)."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Escape")      # command mode: Shift+Enter runs, does not type
    page.keyboard.press("Shift+Enter")


#: In-page latency of one switch click: resolves with the milliseconds from the
#: click to the diagram (the graph div with class msem-diagram) having, or no
#: longer having, the arrow ``path:<level>:<rhs>-><lhs>``. A MutationObserver
#: started just before the click sees the redraw; Playwright's own round trips
#: are not in the number.
MEASURE_TOGGLE_JS = """([level, lhs, rhs, want]) => new Promise((resolve, reject) => {
  const gd = document.querySelector('.js-plotly-plot.msem-diagram');
  const sel = `button.msem-cell[data-kind=path][data-level="${level}"]` +
              `[data-a="${lhs}"][data-b="${rhs}"]`;
  const btn = document.querySelector(sel);
  if (!gd || !btn) { reject(new Error('no diagram or no switch ' + sel)); return; }
  const name = `path:${level}:${rhs}->${lhs}`;
  const has = () => ((gd.layout && gd.layout.shapes) || []).some(s => s.name === name);
  let t0 = 0;
  const obs = new MutationObserver(() => {
    if (has() === want) { const dt = performance.now() - t0; obs.disconnect(); resolve(dt); }
  });
  obs.observe(gd, {subtree: true, childList: true, attributes: true});
  setTimeout(() => { obs.disconnect(); reject(new Error('diagram did not change in 20 s')); },
             20000);
  t0 = performance.now();
  btn.click();
})"""


#: Like MEASURE_TOGGLE_JS, in more detail: resolves with the milliseconds from the click
#: to (``confirm``) the switch confirmed by the kernel (its pending mark gone: one round
#: trip with almost no work), (``diagram``) the diagram redrawn with (or without) the
#: arrow, and (``fitted``) the diagram of the new fit drawn (the first redraw after the
#: status line leaves "fitting"). Times come from the page's own clock (Plotly's
#: ``plotly_afterplot`` event and MutationObservers started just before the click).
MEASURE_CLICK_JS = """([level, lhs, rhs, want]) => new Promise((resolve, reject) => {
  const gd = document.querySelector('.js-plotly-plot.msem-diagram');
  const sel = `button.msem-cell[data-kind=path][data-level="${level}"]` +
              `[data-a="${lhs}"][data-b="${rhs}"]`;
  const btn = document.querySelector(sel);
  const status = document.querySelector('.msem-status');
  if (!gd || !btn || !status) { reject(new Error('no diagram or no switch ' + sel)); return; }
  const name = `path:${level}:${rhs}->${lhs}`;
  const has = () => ((gd.layout && gd.layout.shapes) || []).some(s => s.name === name);
  const out = {};
  let fitting = false;
  let t0 = 0;
  const now = () => performance.now() - t0;
  const done = () => {
    if (out.confirm !== undefined && out.diagram !== undefined && out.fitted !== undefined) {
      obs.disconnect(); sobs.disconnect(); bobs.disconnect();
      gd.removeListener('plotly_afterplot', onPlot);
      resolve(out);
    }
  };
  const onPlot = () => {
    if (has() !== want) return;
    if (out.diagram === undefined) out.diagram = now();
    const st = status.dataset.state;
    if (fitting && (st === 'ok' || st === 'warn' || st === 'error') && out.fitted === undefined)
      out.fitted = now();
    done();
  };
  const obs = new MutationObserver(() => {
    if (out.diagram === undefined && has() === want) { out.diagram = now(); done(); }
  });
  const sobs = new MutationObserver(() => { if (status.dataset.state === 'fitting') fitting = true; });
  const bobs = new MutationObserver(() => {
    if (out.confirm === undefined && !btn.classList.contains('msem-pending') &&
        btn.getAttribute('aria-pressed') === String(want)) { out.confirm = now(); done(); }
  });
  obs.observe(gd, {subtree: true, childList: true, attributes: true});
  sobs.observe(status, {subtree: true, attributes: true});
  bobs.observe(btn, {attributes: true});
  gd.on('plotly_afterplot', onPlot);
  setTimeout(() => { obs.disconnect(); sobs.disconnect(); bobs.disconnect();
                     reject(new Error('no redraw in 30 s: ' + JSON.stringify(out))); }, 30000);
  t0 = performance.now();
  btn.click();
})"""


def open_tab(page, title: str) -> None:
    """Open the panel's tab `title`."""
    page.locator(".msem-panel .lm-TabBar-tab", has_text=title).first.click()


def diagram_shapes(page) -> list:
    """Names of the layout shapes of the panel's diagram."""
    return page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot.msem-diagram');
        return gd && gd.layout ? (gd.layout.shapes || []).map(s => s.name) : [];
    }""")


def screenshot(page, name: str) -> str:
    """Save a screenshot under the temporary folder and return its path."""
    d = Path(tempfile.gettempdir()) / "msem_ui_shots"
    d.mkdir(exist_ok=True)
    path = d / f"{name}-{int(time.time())}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception as exc:  # noqa: BLE001 - a failed screenshot must not hide the failure
        return f"(screenshot failed: {exc})"
    return str(path)
