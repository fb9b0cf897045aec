"""Run the front end's unit tests (``js/*.test.mjs``) with ``node --test``.

The panel's ES modules (``msem_nb/widget/js``) hold no statistics, only
drawing and message plumbing; their tests use a small fake DOM
(``js/fake_dom.mjs``). Without node the test is skipped, except under CI
(the ``CI`` variable set), where a missing node is a failure.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_node_unit_tests():
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is needed for the front-end tests (apt-get install nodejs)")
        pytest.skip("node is not installed")
    files = sorted(str(p) for p in (ROOT / "js").glob("*.test.mjs"))
    assert files, "no js/*.test.mjs files found"
    proc = subprocess.run([node, "--test", *files], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout
