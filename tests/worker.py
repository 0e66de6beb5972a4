"""Start a real Celery worker process against the test database, for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from academy.celery import app

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    if connection.vendor == "postgresql":
        user = s.get("USER") or "postgres"
        password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
        host, port = s.get("HOST") or "127.0.0.1", s.get("PORT") or 5432
        return f"postgresql://{user}{password}@{host}:{port}/{s['NAME']}"
    raise RuntimeError(f"no worker support for {connection.vendor}")


class Worker:
    """A `celery worker` subprocess in its own process group, on a queue of its own."""

    def __init__(
        self,
        queue: str | None = None,
        concurrency: int = 1,
        extra_env: dict[str, str] | None = None,
    ):
        self.queue = queue or f"test-{uuid.uuid4().hex[:8]}"
        self.concurrency = concurrency
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = ROOT / "var" / f"worker-{self.queue}.log"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": test_database_url(),
            "CONN_MAX_AGE": "0",
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            **self.extra_env,
        }
        env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        return env

    def start(self) -> Worker:
        require_broker()
        self.log.parent.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "academy",
                "worker",
                "-l",
                "info",
                "-Q",
                self.queue,
                "-c",
                str(self.concurrency),
                "-n",
                f"{self.queue}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crashed host would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def require_broker() -> None:
    """A real worker needs the real broker, which the suite's services provide: without it the
    test fails and says so (it never skips)."""
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.fail(
            "a real Celery worker needs CELERY_BROKER_URL=redis://...: run the suite with "
            "make test, or source var/test-services.env (written by ops/test-services.sh)"
        )


@contextmanager
def routed_worker(
    extra_env: dict[str, str] | None = None, *, started: bool = True
) -> Iterator[Worker]:
    """A real worker whose queue this process sends to (academy.jobs.enqueue uses the default
    queue) while the block runs.  ``started=False``: the worker is started by the block, so
    messages sent before then wait in the broker."""
    worker = Worker(extra_env=extra_env)
    require_broker()
    app.conf.task_default_queue = worker.queue
    try:
        if started:
            worker.start()
        yield worker
    finally:
        worker.stop()
        app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE


@contextmanager
def broker_unreachable() -> Iterator[None]:
    """A real broker outage for this process: the app sends to a port nothing listens on
    (connection refused), as when Redis is down.  Tasks are sent for real, not run inline."""
    saved = (
        app.conf.broker_url,
        app.conf.broker_write_url,
        app.conf.task_always_eager,
        app._pool,
        app.amqp._producer_pool,
    )
    app.conf.broker_url = app.conf.broker_write_url = "redis://127.0.0.1:1/0"
    app.conf.task_always_eager = False
    app._pool = app.amqp._producer_pool = None  # the pools keep the connection they were made with
    try:
        yield
    finally:
        if app._pool is not None:
            app._pool.force_close_all()
        app.conf.broker_url, app.conf.broker_write_url, app.conf.task_always_eager = saved[:3]
        app._pool, app.amqp._producer_pool = saved[3:]


def wait_for(predicate, timeout: float = 60, interval: float = 0.3, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
