"""/healthz against the real database, broker and a real worker."""

from __future__ import annotations

import pytest
from django.utils import timezone

from academy.celery import app
from academy.models import WorkerHeartbeat
from academy.tasks import heartbeat
from tests.worker import Worker, wait_for


@pytest.mark.django_db
def test_healthz_is_degraded_without_a_worker(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["worker"] == {"ok": False, "error": "no heartbeat yet"}


@pytest.mark.django_db
def test_healthz_reports_a_stale_heartbeat(client, settings):
    WorkerHeartbeat.objects.create(
        worker="w1", seen_at=timezone.now() - timezone.timedelta(minutes=10)
    )
    body = client.get("/healthz").json()
    assert body["checks"]["worker"]["ok"] is False
    assert body["checks"]["worker"]["last_seen_seconds"] >= 600


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_answers_healthz(client):
    with Worker() as worker:
        app.conf.task_default_queue = worker.queue
        try:
            heartbeat.delay()
            wait_for(WorkerHeartbeat.objects.exists, timeout=90, what="a heartbeat from the worker")
        finally:
            app.conf.task_default_queue = "academy"
    response = client.get("/healthz")
    body = response.json()
    assert body["checks"]["broker"]["ok"] is True, body
    assert body["checks"]["worker"]["ok"] is True, body
    assert response.status_code == 200
