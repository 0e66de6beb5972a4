"""Benchmark (prints, never fails on time): Academy's own overhead on "Open lab" beyond the hub's
spawn, and 20 concurrent starts on the one-node cluster.  Real stack; run with `make bench`."""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter

import pytest
from django.conf import settings
from django.test import Client

from academy.celery import app
from courses.models import Enrolment, EnrolmentState
from notebooks.sessions import clients, services
from notebooks.sessions.models import LabSession, SessionState
from tests.factories import UserFactory
from tests.worker import Worker


class TimedHub:
    """Wraps the real HubClient and adds up the time spent waiting for the hub."""

    def __init__(self, hub):  # type: ignore[no-untyped-def]
        self.hub, self.seconds = hub, 0.0

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        method = getattr(self.hub, name)

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        return timed


def students(run, n):  # type: ignore[no-untyped-def]
    people = []
    for _ in range(n):
        user = UserFactory(username=f"bn{uuid.uuid4().hex[:8]}")
        Enrolment.objects.create(run=run, user=user, state=EnrolmentState.ACTIVE)
        people.append(user)
    return people


@pytest.mark.bench
@pytest.mark.django_db(transaction=True)
def test_open_lab_overhead(lab_setup):
    lab_setup.run.gpu_hours_per_student = None
    lab_setup.run.gpu_budget_hours = None
    lab_setup.run.save()
    request_ms, task_overhead_ms, hub_ms = [], [], []
    for user in students(lab_setup.run, 5):
        client = Client()
        client.force_login(user)
        t0 = time.perf_counter()
        response = client.post(f"/labs/{lab_setup.lab.pk}/session/open/")
        request_ms.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
        session = LabSession.objects.get(user=user)
        timed = TimedHub(clients.hub())
        clients.override("hub", timed)
        try:
            t0 = time.perf_counter()
            services.session_start(session_id=session.pk)
            total = time.perf_counter() - t0
        finally:
            clients.override("hub", None)
        task_overhead_ms.append((total - timed.seconds) * 1000)
        hub_ms.append(timed.seconds * 1000)
        services.session_stop(actor=user, session=LabSession.objects.get(pk=session.pk))
    overhead = [r + t for r, t in zip(request_ms, task_overhead_ms, strict=True)]
    print(
        f"\nOpen lab, 5 students, real hub + SlurmSpawner:"
        f"\n  web request (record + budget check) median {statistics.median(request_ms):.1f} ms"
        f"\n  start task outside the hub calls median {statistics.median(task_overhead_ms):.1f} ms"
        f"\n  hub calls (ensure user + spawn POST) median {statistics.median(hub_ms):.0f} ms"
        f"\n  Academy overhead beyond the hub: median {statistics.median(overhead):.1f} ms, "
        f"max {max(overhead):.1f} ms (target < 500 ms)"
    )


@pytest.mark.bench
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_starts(lab_setup):
    lab_setup.run.gpu_hours_per_student = None
    lab_setup.run.gpu_budget_hours = 15  # 20 one-GPU-hour sessions: the last five are refused
    lab_setup.run.save()
    people = students(lab_setup.run, 20)
    refused = 0
    opened = []
    for user in people:
        try:
            opened.append(services.session_open(actor=user, lab=lab_setup.lab))
        except services.SessionRefused:
            refused += 1
    t0 = time.monotonic()
    seen_running: set[int] = set()
    max_queued = 0
    with Worker(concurrency=2) as worker:
        app.conf.task_default_queue = worker.queue
        try:
            from notebooks.sessions.tasks import start_session

            for s in opened:
                start_session.delay(s.pk)
            deadline = time.monotonic() + 600
            while len(seen_running) < len(opened) and time.monotonic() < deadline:
                states = Counter()
                for s in LabSession.objects.filter(pk__in=[o.pk for o in opened]).select_related(
                    "user", "lab"
                ):
                    s = services.session_refresh(s)
                    states[s.state] += 1
                    if s.state == SessionState.RUNNING and s.pk not in seen_running:
                        seen_running.add(s.pk)
                        services.session_stop(actor=s.user, session=s)  # the student finishes
                    if s.state == SessionState.FAILED:
                        seen_running.add(s.pk)
                max_queued = max(max_queued, states[SessionState.QUEUED])
                time.sleep(1)
        finally:
            app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    final = Counter(
        LabSession.objects.filter(pk__in=[o.pk for o in opened]).values_list("state", flat=True)
    )
    failed = final.get(SessionState.FAILED, 0)
    print(
        f"\n20 concurrent starts on one node (2 CPUs, 4 GPUs), budget for 15:"
        f"\n  refused before any job: {refused}; started: {len(opened)}"
        f"\n  ran (then stopped): {len(seen_running) - failed}; failed: {failed}; "
        f"lost: {len(opened) - len(seen_running)}"
        f"\n  most shown as queued at once: {max_queued}"
        f"\n  all done in {time.monotonic() - t0:.0f} s; final states {dict(final)}"
    )
