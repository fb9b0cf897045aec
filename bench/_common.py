"""Helpers shared by the benchmark scripts: timing and running R in the same command."""

from __future__ import annotations

import shutil
import subprocess
import time

import numpy as np


def median_time(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def r_number(script: str, timeout: float = 900) -> float | None:
    """The last number ``Rscript -e script`` prints, or None without R or on failure."""
    out = run_r(script, timeout)
    try:
        return float(out[-1]) if out else None
    except ValueError:
        return None


def run_r(script: str, timeout: float = 900) -> list[str] | None:
    """Whitespace-split stdout of ``Rscript -e script``, or None without R or on failure."""
    if not shutil.which("Rscript"):
        return None
    try:
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                             timeout=timeout, check=True).stdout.split()
        return out or None
    except subprocess.SubprocessError:
        return None
