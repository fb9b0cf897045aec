"""A folder of finished chunks, so that an interrupted power study resumes.

Each study gets a subfolder named by a hash of everything that determines
its replications (population and analysis syntax, fit options, designs,
seed, missing shares, the transform's name, the package version); each
finished chunk is one ``.npz`` file named by its design and replication
range, written atomically (to a temporary name, then renamed), so a run
stopped mid-write leaves no half file. Results do not depend on the
chunking, but files are only reused for the same ranges.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from msem_nb.planning.study import ChunkResult
from msem_nb.version import __version__

__all__ = ["ChunkCache", "study_key"]


def study_key(parts: dict) -> str:
    """A short hash of the JSON form of `parts`."""
    text = json.dumps({**parts, "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ChunkCache:
    """Finished chunks of one study under ``folder/key``."""

    def __init__(self, folder: str | os.PathLike, key: str) -> None:
        self.path = Path(folder) / key
        self.path.mkdir(parents=True, exist_ok=True)

    def _file(self, design: int, start: int, stop: int) -> Path:
        return self.path / f"d{design}_r{start}-{stop}.npz"

    def load(self, design: int, start: int, stop: int) -> ChunkResult | None:
        """The cached chunk, or None."""
        f = self._file(design, start, stop)
        if not f.exists():
            return None
        try:
            with np.load(f, allow_pickle=False) as z:
                return ChunkResult(design, start, stop, z["est"], z["se"], z["pvalue"],
                                   z["lower"], z["upper"], z["status"], z["improper"],
                                   tuple(str(e) for e in z["errors"]))
        except (OSError, ValueError, KeyError):
            return None  # a damaged file is run again

    def save(self, res: ChunkResult) -> None:
        """Write `res` (atomically)."""
        f = self._file(res.design, res.start, res.stop)
        tmp = f.with_name(f.name + ".tmp.npz")
        np.savez(tmp, errors=np.array(res.errors, dtype=str), **res.arrays())
        os.replace(tmp, f)
