"""A lab server that is not an Academy session (started on the hub by an admin, a leftover from
before the lock-down, a lost session row) is found, stopped, and its GPU time recorded from
Slurm's accounting; Academy's own sessions are left alone.  Real JupyterHub + SlurmSpawner,
Slurm with slurmdbd, PostgreSQL.  Fails, never skips, when the stack is missing."""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid

import pytest
from django.conf import settings
from django.utils import timezone

from academy.models import AuditEvent
from notebooks.sessions import clients, services
from notebooks.sessions.models import LabSession, SessionState, StrayServer
from tests.factories import UserFactory
from tests.worker import wait_for


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_server_started_outside_academy_is_stopped_and_its_gpu_time_recorded(lab_setup):
    if not settings.HUB_API_TOKEN:
        pytest.fail("ACADEMY_HUB_API_TOKEN is not set: the hub stack is not up")
    hub = clients.hub()
    hub.info()
    student = UserFactory(username=f"sw{uuid.uuid4().hex[:8]}")
    name = student.username
    session_server = services.server_name_for(lab_setup.lab)
    gpu = {"partition": "gpu", "gpus": 1, "runtime": "00:10:00"}
    hub.ensure_user(name)
    try:
        # One server through the hub's API directly (no session row): the stray.  One that is
        # an Academy session (the row says so): it must survive the sweep.
        hub.start_server(name, "lab-999999", gpu)
        stray = hub.wait_ready(name, "lab-999999", timeout=120)
        assert stray.ready, stray
        # the session's server may queue behind other jobs on the 2-CPU node: queued is enough
        legit = hub.start_server(name, session_server, gpu)
        assert legit.status in ("pending", "ready"), legit
        now = timezone.now()
        LabSession.objects.create(
            user=student,
            lab=lab_setup.lab,
            run=lab_setup.run,
            server_name=session_server,
            partition="gpu",
            gpus=1,
            walltime_minutes=10,
            state=SessionState.RUNNING,
            slurm_job_id=hub.server_state(name, session_server).job_id or "",
            started_at=now,
        )
        time.sleep(3)  # the stray holds its GPU for a few seconds

        stopped = services.sweep_stray_servers(only_users={name})

        assert stopped == 1
        assert hub.server_state(name, "lab-999999").stopped
        assert hub.server_state(name, session_server).status in ("pending", "ready")
        wait_for(
            lambda: sh("squeue", "-h", "-j", stray.job_id or "0").strip() == "",
            timeout=30,
            what="the stray job to leave the queue",
        )
        row = StrayServer.objects.get(hub_user=name, server_name="lab-999999")
        assert row.job_id == stray.job_id and row.user == student and row.stopped_at is not None
        assert AuditEvent.objects.filter(action="session.stray_stopped").exists()

        # Its GPU time comes from sacct (a few seconds after the job ended).
        def recorded():  # type: ignore[no-untyped-def]
            services.sync_usage()
            row.refresh_from_db()
            return row.finished and row.gpu_seconds > 0

        wait_for(recorded, timeout=60, interval=2, what="the stray's GPU time from sacct")
        assert row.gpus == 1 and row.gpu_seconds == row.elapsed_seconds >= 3, row.__dict__

        # A second sweep finds nothing more; the session is untouched.
        assert services.sweep_stray_servers(only_users={name}) == 0
        assert LabSession.objects.get(user=student).state == SessionState.RUNNING
    finally:
        user = hub.get_user(name) or {}
        for server in user.get("servers") or {}:
            with contextlib.suppress(Exception):
                hub.stop_server(name, server, wait=20)
