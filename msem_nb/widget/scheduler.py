"""Run jobs off the kernel's main thread: debounced, newest wins.

The panel refits the model after every change. A fit takes from a few
milliseconds to seconds, so it runs on a worker thread while the kernel keeps
handling clicks. Three rules keep the display honest:

* **Generations.** Every request gets the next generation number. A job
  publishes its output only through :meth:`Scheduler.publish`, which runs
  the display update only if no newer request has arrived since, and does so
  under the same lock that :meth:`Scheduler.request` takes. So results of an
  older model can never be drawn under newer switches.
* **Debounce.** A request made after a quiet spell (no request for
  `debounce` seconds) starts at once, so a single click costs no waiting; a
  request that follows another within `debounce` seconds waits until
  requests have stopped for `debounce` seconds, so a burst (typing, a script
  switching several paths) costs one fit, not one per change.
* **Supersession.** While a job runs, newer requests queue as one pending
  request (the newest); the running job cannot be interrupted (the
  optimizer has no cancellation point) but learns from ``publish``
  returning False that it is stale and stops early.

Nothing here knows about widgets or fits; :class:`Scheduler` is tested with
plain functions.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Scheduler"]


@dataclass
class _Pending:
    gen: int
    payload: Any
    due: float


class Scheduler:
    """A worker thread that runs the newest requested job.

    Parameters
    ----------
    job : callable
        ``job(payload, publish)``, run on the worker thread. ``publish(fn)``
        calls ``fn()`` under the display lock if the job's request is still
        the newest and returns whether it did; a job should stop when it
        returns False. Exceptions escaping `job` are passed to `on_crash`.
    debounce : float
        Seconds of quiet that make the next request start at once, and the
        wait after a request that came sooner.
    on_request : callable, optional
        ``on_request(gen, payload)``, called under the display lock in the
        requesting thread (e.g. to show "fitting ...").
    on_crash : callable, optional
        ``on_crash(gen, exc)``, called under the lock if the job raised and
        its request is still the newest.
    name : str
        Name of the worker thread.
    lock : threading.RLock, optional
        The display lock; schedulers that update the same display share one.
    clock : callable
        Monotonic clock in seconds (replaceable in tests).
    """

    def __init__(self, job: Callable, debounce: float = 0.15, *,
                 on_request: Callable | None = None, on_crash: Callable | None = None,
                 name: str = "msem-worker", clock: Callable[[], float] = time.monotonic,
                 lock=None):
        self._job = job
        self.debounce = float(debounce)
        self._on_request = on_request
        self._on_crash = on_crash
        self._clock = clock
        self._cond = threading.Condition(lock if lock is not None else threading.RLock())
        self._gen = 0
        self._last_request = -float("inf")
        self._pending: _Pending | None = None
        self._running: int | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- requesting (any thread) -------------------------------------------
    @property
    def generation(self) -> int:
        """Number of the newest request."""
        return self._gen

    def request(self, payload: Any = None, *, immediate: bool | None = None) -> int:
        """Ask for the job to run on `payload`; supersedes older requests.

        Parameters
        ----------
        payload : object
            Handed to the job; take a snapshot, since the job reads it later
            on another thread.
        immediate : bool, optional
            True starts without waiting, False always waits `debounce`
            seconds of quiet; None (default) starts at once after a quiet
            spell and waits otherwise.

        Returns
        -------
        int
            The request's generation.
        """
        with self._cond:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            now = self._clock()
            quiet = now - self._last_request >= self.debounce
            start_now = immediate if immediate is not None else quiet
            self._last_request = now
            self._gen += 1
            self._pending = _Pending(self._gen, payload, now if start_now else now + self.debounce)
            if self._on_request is not None:
                self._on_request(self._gen, payload)
            self._cond.notify_all()
            return self._gen

    def is_current(self, gen: int) -> bool:
        """Whether `gen` is still the newest request."""
        return gen == self._gen

    def publish(self, gen: int, fn: Callable[[], Any]) -> bool:
        """Run ``fn()`` under the display lock if `gen` is still the newest.

        Returns
        -------
        bool
            Whether `fn` ran.
        """
        with self._cond:
            if gen != self._gen or self._closed:
                return False
            fn()
            return True

    @property
    def busy(self) -> bool:
        """A request is waiting or a job is running."""
        with self._cond:
            return self._pending is not None or self._running is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no request is waiting and no job is running.

        Returns
        -------
        bool
            False if `timeout` seconds passed first.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("wait() called from the worker thread would never return")
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._running is not None:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        """Stop the worker (a running job finishes but publishes nothing)."""
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()

    # -- the worker ------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and self._pending is None:
                    self._cond.wait()
                if self._closed:
                    return
                left = self._pending.due - self._clock()
                if left > 0:
                    # a newer request may move the due time: look again after waiting
                    self._cond.wait(left)
                    continue
                task, self._pending = self._pending, None
                self._running = task.gen
            try:
                self._job(task.payload, lambda fn, g=task.gen: self.publish(g, fn))
            except BaseException as exc:  # noqa: BLE001 - the worker must survive any job
                if self._on_crash is not None:
                    self.publish(task.gen, lambda e=exc, g=task.gen: self._on_crash(g, e))
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()
