"""Per-worker-process set-up of a Celery worker: the grader's kernel pool.

In Celery's prefork model each child process gets its own pool, created after the fork
(``worker_process_init``) so no kernel, thread or ZeroMQ socket crosses a fork, and closed
when the child exits.  Kernels are started ahead of need and never reused: each grading takes
a fresh one.  Imported by ``notebooks.tasks`` so the handlers are connected in every worker.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown

from . import services

log = logging.getLogger(__name__)


@worker_process_init.connect
def start_kernel_pool(**_: Any) -> None:
    pool = services.grading_pool_start()
    if pool is not None:
        log.info("kernel pool of %d started in this worker process", pool.size)


@worker_process_shutdown.connect
def close_kernel_pool(**_: Any) -> None:
    services.grading_pool_close()
