"""Running a notebook in a kernel of this very Python (reports saved as executed .ipynb)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["execute_notebook"]


def execute_notebook(nb, cwd=".", timeout: int = 300):
    """Run a notebook in place, in a kernel of this very Python.

    The ``python3`` kernel spec usually starts whatever ``python`` is first
    on PATH, which need not be the interpreter that has msem_nb (think of a
    virtual environment that is not activated); so the kernel command is
    pinned to ``sys.executable``.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Executed in place.
    cwd : str or Path
        Working folder of the kernel.
    timeout : int
        Seconds per cell.

    Returns
    -------
    nbformat.NotebookNode
    """
    import subprocess
    import sys

    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    km = KernelManager(kernel_name="python3")
    km.kernel_spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(cwd).resolve())}})
    # the kernel's start-up chatter would land on our stderr; cell errors
    # still reach us through nbclient
    client.execute(stderr=subprocess.DEVNULL)
    return nb
