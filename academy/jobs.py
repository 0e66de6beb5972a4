"""The one way a service starts background work: ``enqueue("app.tasks.name", *ids)``.

The task goes to the broker only after the transaction commits (a worker must find the rows the
request wrote), and it is named, not imported: services never import a tasks module, so the tasks
modules (which import the services) sit above them and no import has to hide inside a function.

The state change has already committed when the task is sent, so a broker outage must not turn
the request into an error: it is logged for the operators, ``on_failure`` lets the caller record
it (a lab session that cannot start says so), and the periodic sweeps pick the work up again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from django.db import transaction

from .celery import app

logger = logging.getLogger(__name__)

# Kombu's own retries while the broker reconnects; short, as a request may be waiting on them.
RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2}


def task_named(name: str) -> Task:
    """The registered task of that name.  The worker imports every app's tasks module at start;
    a web process does so here, at its first enqueue (Celery's autodiscovery of INSTALLED_APPS).
    An unknown name raises KeyError: a typo is a bug, not a broker outage."""
    if name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[name]


def send(name: str, *args: Any, **kwargs: Any) -> bool:
    """Send the task now (for callers outside a transaction, such as a worker signal).  False,
    and logged, when the broker cannot be reached."""
    task = task_named(name)
    if app.conf.task_always_eager:
        # No broker to lose: the task runs here, and an error is the task's own (propagated when
        # task_eager_propagates says so), never to be logged as an outage.
        task.apply_async(args=args, kwargs=kwargs)
        return True
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=True, retry_policy=RETRY_POLICY)
    except Exception:
        logger.exception("could not enqueue %s%r; the broker may be down", name, args)
        return False
    return True


def enqueue(
    name: str, *args: Any, on_failure: Callable[[], object] | None = None, **kwargs: Any
) -> None:
    """Send the task once the current transaction commits (at once outside one); when the broker
    cannot be reached, call ``on_failure`` (after the commit, outside the transaction)."""

    def after_commit() -> None:
        if not send(name, *args, **kwargs) and on_failure is not None:
            on_failure()

    transaction.on_commit(after_commit)
