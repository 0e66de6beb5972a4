"""Sandboxed kernels started ahead of need (kernel start-up dominates small gradings).

A kernel is handed out once and destroyed after use: nothing is shared between
submissions. One pool per process: in Celery's prefork model create it in
``worker_process_init`` (not before the fork) and ``close()`` it in ``worker_process_shutdown``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading

from .sandbox import Limits, Sandbox

log = logging.getLogger(__name__)


class KernelPool:
    def __init__(self, size: int = 1, limits: Limits | None = None):
        self.size = max(0, size)
        self.limits = limits or Limits()
        self._ready: queue.Queue[Sandbox] = queue.Queue()
        self._closed = threading.Event()
        self._wanted = threading.Semaphore(self.size)
        self._starting = 0  # kernels being started by the fill thread right now
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._fill, name="kernel-pool", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        while not self._closed.is_set():
            if not self._wanted.acquire(timeout=0.5):
                continue
            if self._closed.is_set():
                break
            with self._lock:
                self._starting += 1
            try:
                sandbox = Sandbox(self.limits).start()
            except Exception:
                log.exception("could not start a pooled kernel")
                self._wanted.release()
                self._closed.wait(5)
                continue
            finally:
                with self._lock:
                    self._starting -= 1
            if self._closed.is_set():
                sandbox.close()
                break
            self._ready.put(sandbox)

    def acquire(self, timeout: float | None = None) -> Sandbox:
        """A fresh, started kernel: from the pool if one is ready, else started now."""
        if timeout is None and self._starting:
            # A kernel is already on its way: waiting for it costs less than starting a second
            # one, which would compete with it for the same cores.
            timeout = self.limits.startup_timeout
        try:
            sandbox = self._ready.get(timeout=timeout) if timeout else self._ready.get_nowait()
        except queue.Empty:
            return Sandbox(self.limits).start()
        self._wanted.release()  # start a replacement in the background
        if sandbox.dead or (sandbox.proc is not None and sandbox.proc.poll() is not None):
            sandbox.close()
            return Sandbox(self.limits).start()
        return sandbox

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=self.limits.startup_timeout + 5)
        while True:
            try:
                sandbox = self._ready.get_nowait()
            except queue.Empty:
                break
            with contextlib.suppress(Exception):
                sandbox.close()

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
