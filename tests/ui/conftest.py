"""Real-browser tests of the panel: the shared Lab + Chromium fixture, skip rules, screenshots.

The tests need Debian's ``/usr/bin/chromium`` and the ``playwright`` package
(never ``playwright install``). They are skipped only when chromium is absent
*and* the ``CI`` variable is unset; under CI a missing browser fails them.

Every test module of this folder runs one JupyterLab, one notebook and one
panel for all its tests (module scope): :func:`lab_page` starts them from
what the module declares, and a failing test saves a screenshot of the page
(its path is printed). A module sets

* ``CELL`` - the notebook's first cell (it builds and shows the panel);
* ``T`` - the timeout in milliseconds for the panel's first fit (default 60 s);
* optionally ``FILES`` (paths copied beside the notebook), ``VIEWPORT``
  (default 1400x1000), ``WATCHDOG`` (seconds after which Lab is killed
  whatever happens, default 300), ``DOWNLOADS`` (accept downloads),
  ``BEFORE_RUN`` (JavaScript evaluated in the page before the cell runs) and
  ``READY`` (a JavaScript predicate waited for once the status line is green).
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from labharness import (  # noqa: E402
    Lab,
    browser_available,
    launch_browser,
    open_notebook,
    run_cell,
    screenshot,
)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    if browser_available():
        return
    if os.environ.get("CI"):
        return      # the tests then fail in their fixture, loudly
    skip = pytest.mark.skip(reason="/usr/bin/chromium or playwright is not installed "
                                   "(set CI=1 to make this a failure)")
    for item in items:
        if Path(item.fspath).parent == here:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        page = getattr(item, "_msem_page", None) or getattr(item.module, "_PAGE", None)
        if page is not None:
            path = screenshot(page, item.name)
            rep.sections.append(("screenshot", path))
            print(f"\nscreenshot of the failing page: {path}")


@pytest.fixture(scope="module")
def lab_page(request):
    """(lab, page): Lab, Chromium and the module's panel cell, run until the panel is green."""
    mod = request.module
    if not browser_available():
        pytest.fail("CI is set but /usr/bin/chromium or playwright is missing")
    from playwright.sync_api import sync_playwright
    timeout = getattr(mod, "T", 60_000)
    lab = Lab(watchdog=getattr(mod, "WATCHDOG", 300)).start()
    pw = browser = None
    try:
        for path in getattr(mod, "FILES", ()):
            lab.copy_in(path)
        name = lab.write_notebook(mod.__name__.rsplit(".", 1)[-1] + ".ipynb", [mod.CELL])
        pw = sync_playwright().start()
        browser = launch_browser(pw)
        context = browser.new_context(viewport=getattr(mod, "VIEWPORT",
                                                       {"width": 1400, "height": 1000}),
                                      accept_downloads=getattr(mod, "DOWNLOADS", False))
        pg = context.new_page()
        mod._PAGE = pg          # for the screenshot hook
        open_notebook(pg, lab, name)
        if getattr(mod, "BEFORE_RUN", None):
            pg.evaluate(mod.BEFORE_RUN)
        run_cell(pg, 0)
        pg.wait_for_selector(".msem-status[data-state=ok]", timeout=timeout)
        if getattr(mod, "READY", None):
            pg.wait_for_function(mod.READY, timeout=timeout)
        yield lab, pg
    finally:
        mod._PAGE = None
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        lab.stop()


@pytest.fixture
def page(lab_page):
    """The page of the module's panel (see :func:`lab_page`)."""
    return lab_page[1]
