"""Where the chunks of a power study run: this machine (joblib) or a Dask cluster.

An :class:`Engine` takes the study, the list of chunks ``(design, start,
stop)`` still to run, and a callback, and calls the callback in the calling
thread with each finished :class:`~msem_nb.planning.study.ChunkResult`, in
whatever order they finish. Results do not depend on the engine: every
replication seeds itself (:mod:`msem_nb.planning.study`).

Progress is a tqdm bar (``progress=True``), nothing (False), or calls of a
function ``progress(done, total)`` after each chunk (the panel's Plan
screen); an exception raised by that function stops the run like Ctrl-C.

* :class:`LocalEngine`: ``n_jobs=1`` runs the chunks in this process;
  otherwise joblib's loky process pool (``n_jobs=-1``: every core), with a
  tqdm progress bar.
* :class:`DaskEngine`: the active ``dask.distributed`` Client (a
  ``LocalCluster``, Kubernetes, HPC ...). The study is scattered to the
  workers once; chunks are submitted as tasks and gathered as they finish;
  dask's progress bar in a notebook, tqdm elsewhere. Dask is an optional
  extra (``pip install "msem_nb[distributed]"``) and imported only here,
  inside the functions that need it.

An interrupted run (Ctrl-C, a stopped kernel) cancels what is still queued;
the chunks that finished were already handed to the callback (and cached).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from msem_nb.errors import ModelSpecificationError
from msem_nb.planning.study import ChunkResult, Study, run_chunk

__all__ = ["Engine", "LocalEngine", "DaskEngine", "make_engine", "Chunk"]

Chunk = tuple[int, int, int]
Callback = Callable[[ChunkResult], None]
Progress = bool | Callable[[int, int], object]


class Engine(Protocol):
    """Runs chunks of a study and reports each finished one."""

    workers: int
    name: str

    def run(self, study: Study, chunks: Sequence[Chunk], on_result: Callback,
            progress: Progress) -> None:
        """Run `chunks`, calling `on_result` with each result as it finishes."""
        ...


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _CallbackBar:
    """Progress as calls ``progress(done, total)``; an exception it raises stops the run."""

    def __init__(self, total: int, fn: Callable[[int, int], object]) -> None:
        self.total, self.done, self.fn = total, 0, fn
        fn(0, total)

    def update(self, n: int) -> None:
        self.done += n
        self.fn(self.done, self.total)

    def close(self) -> None:
        pass


def _bar(total: int, progress: Progress, desc: str):
    if callable(progress):
        return _CallbackBar(total, progress)
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="rep", smoothing=0.1)


def _run_one(study: Study, chunk: Chunk) -> ChunkResult:
    return run_chunk(study, *chunk)


class LocalEngine:
    """This machine: in process (``n_jobs=1``) or joblib's loky processes."""

    name = "local"

    def __init__(self, n_jobs: int = 1) -> None:
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 \
                or n_jobs < -1:
            raise ModelSpecificationError(
                f"n_jobs must be a positive number of processes or -1 (every core), "
                f"not {n_jobs!r}")
        if n_jobs == -1:
            from joblib import cpu_count

            n_jobs = cpu_count()
        self.workers = n_jobs

    def run(self, study: Study, chunks: Sequence[Chunk], on_result: Callback,
            progress: Progress) -> None:
        total = sum(c[2] - c[1] for c in chunks)
        bar = _bar(total, progress, "power")
        try:
            if self.workers == 1:
                for c in chunks:
                    res = run_chunk(study, *c)
                    on_result(res)
                    if bar is not None:
                        bar.update(res.stop - res.start)
                return
            from joblib import Parallel, delayed

            pool = Parallel(n_jobs=self.workers, backend="loky",
                            return_as="generator_unordered")
            for res in pool(delayed(_run_one)(study, c) for c in chunks):
                on_result(res)
                if bar is not None:
                    bar.update(res.stop - res.start)
        finally:
            if bar is not None:
                bar.close()


class DaskEngine:
    """The active ``dask.distributed`` Client (or the one given)."""

    name = "dask"

    def __init__(self, client: object = None) -> None:
        try:
            from distributed import get_client
        except ImportError as exc:  # pragma: no cover - the extra is installed in CI
            raise ModelSpecificationError(
                "backend='dask' needs dask.distributed: pip install 'msem_nb[distributed]'") \
                from exc
        if client is None:
            try:
                client = get_client()
            except ValueError as exc:
                raise ModelSpecificationError(
                    "backend='dask' runs on the active dask.distributed Client, and there is "
                    "none; start one first, e.g. `from dask.distributed import Client, "
                    "LocalCluster; client = Client(LocalCluster(n_workers=2))`") from exc
        self.client = client
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))  # type: ignore[attr-defined]

    def run(self, study: Study, chunks: Sequence[Chunk], on_result: Callback,
            progress: Progress) -> None:
        from distributed import as_completed

        client = self.client
        remote = client.scatter(study, broadcast=True)  # type: ignore[attr-defined]
        futures = [client.submit(run_chunk, remote, *c, pure=False)  # type: ignore[attr-defined]
                   for c in chunks]
        notebook = progress is True and _in_notebook()
        bar = None if notebook else _bar(sum(c[2] - c[1] for c in chunks), progress,
                                         "power (dask)")
        if notebook:
            from distributed import progress as dask_progress

            dask_progress(futures, notebook=True)
        try:
            for fut in as_completed(futures):
                res = fut.result()
                on_result(res)
                if bar is not None:
                    bar.update(res.stop - res.start)
        except BaseException:
            client.cancel(futures)  # type: ignore[attr-defined]
            raise
        finally:
            if bar is not None:
                bar.close()


def make_engine(backend: object, n_jobs: int) -> Engine:
    """The engine for ``backend`` (None or "local": joblib; "dask"; or a Client)."""
    if backend is None or backend in ("local", "loky", "joblib"):
        return LocalEngine(n_jobs)
    if backend == "dask":
        return DaskEngine()
    if type(backend).__name__ == "Client":
        return DaskEngine(backend)
    if hasattr(backend, "run") and hasattr(backend, "workers"):
        return backend  # type: ignore[return-value]
    raise ModelSpecificationError(
        f"backend must be None (this machine, n_jobs processes), 'dask' (the active "
        f"dask.distributed Client) or a Client, not {backend!r}")
