"""Lab sessions against fakes of the hub and Slurm (the real stack: tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from academy.models import AuditEvent
from notebooks.clients.slurm import JobRecord, QueueInfo
from notebooks.models import Submission, SubmissionSource
from notebooks.sessions import services
from notebooks.sessions.models import (
    CohortGpuBudget,
    GpuUsage,
    LabSession,
    SessionState,
    StrayServer,
)

pytestmark = pytest.mark.django_db


def opened(setup, hub):  # type: ignore[no-untyped-def]
    session = services.session_open(actor=setup.student, lab=setup.lab)
    return services.session_start(session_id=session.pk)


def test_opening_records_the_request_and_the_task_starts_a_gpu_server(
    lab_setup, fake_hub, fake_slurm
):
    session = services.session_open(actor=lab_setup.student, lab=lab_setup.lab)
    assert session.state == SessionState.REQUESTED
    assert fake_hub.starts == []  # the web request does not talk to the hub
    fake_slurm.queue["101"] = QueueInfo(
        "101", "PENDING", "Resources", "All GPUs are busy.", None, ""
    )
    session = services.session_start(session_id=session.pk)
    user, server, options = fake_hub.starts[0]
    assert (user, server) == ("student", f"lab-{lab_setup.lab.pk}")
    assert options == {
        "partition": "gpu",
        "gpus": 1,
        "cpus": 1,
        "memory": "2G",
        "runtime": "01:00:00",
    }
    assert session.state == SessionState.QUEUED
    assert session.pending_reason == "All GPUs are busy."
    assert session.slurm_job_id == "101"
    # Starting twice (a redelivered task) does nothing more.
    services.session_start(session_id=session.pk)
    assert len(fake_hub.starts) == 1


def test_a_ready_server_runs_and_gets_the_student_version(lab_setup, fake_hub, fake_slurm):
    fake_hub.start_as = "ready"
    session = opened(lab_setup, fake_hub)
    assert session.state == SessionState.RUNNING
    assert session.node == "gpu-node-1"
    assert session.ends_at - session.started_at == timedelta(minutes=60)
    ((key, notebook),) = fake_hub.files.items()
    assert key[2] == services.notebook_path_for(lab_setup.lab)
    text = str(notebook)
    assert "BEGIN SOLUTION" not in text and "YOUR CODE HERE" in text
    assert services.connect_url(session).endswith(f"/lab/tree/{key[2]}")


def test_the_students_own_work_is_not_overwritten(lab_setup, fake_hub, fake_slurm):
    fake_hub.start_as = "ready"
    path = services.notebook_path_for(lab_setup.lab)
    fake_hub.files[("student", f"lab-{lab_setup.lab.pk}", path)] = {"mine": True}
    opened(lab_setup, fake_hub)
    assert fake_hub.files[("student", f"lab-{lab_setup.lab.pk}", path)] == {"mine": True}


def test_a_second_click_returns_the_live_session(lab_setup, fake_hub, fake_slurm):
    first = services.session_open(actor=lab_setup.student, lab=lab_setup.lab)
    second = services.session_open(actor=lab_setup.student, lab=lab_setup.lab)
    assert first.pk == second.pk
    assert LabSession.objects.count() == 1


def test_over_the_student_cap_is_refused_before_any_job(lab_setup, fake_hub, fake_slurm):
    lab_setup.run.gpu_hours_per_student = Decimal("0.5")  # the lab needs 1 GPU x 1 h
    lab_setup.run.save()
    with pytest.raises(services.SessionRefused, match="Not enough GPU time"):
        services.session_open(actor=lab_setup.student, lab=lab_setup.lab)
    assert LabSession.objects.count() == 0
    assert fake_hub.starts == []


def test_used_gpu_time_and_a_cohort_budget_count(lab_setup, fake_hub, fake_slurm):
    CohortGpuBudget.objects.create(
        run=lab_setup.run, cohort=lab_setup.people.cohort_a, gpu_hours=Decimal("1.5")
    )
    GpuUsage.objects.create(
        job_id="1",
        user=lab_setup.people.instructor,
        run=lab_setup.run,
        cohort=lab_setup.people.cohort_a,
        gpus=1,
        elapsed_seconds=3600,
        gpu_seconds=3600,
        finished=True,
    )
    with pytest.raises(services.SessionRefused, match="cohort"):
        services.session_open(actor=lab_setup.student, lab=lab_setup.lab)


def test_the_hub_being_down_fails_the_session_with_a_clear_message(
    client, lab_setup, fake_hub, fake_slurm
):
    fake_hub.down = True
    session = opened(lab_setup, fake_hub)
    assert session.state == SessionState.FAILED
    assert "unavailable" in session.failure_reason
    client.force_login(lab_setup.student)
    response = client.get(f"/labs/{lab_setup.lab.pk}/session/")
    assert response.status_code == 200
    assert b"unavailable" in response.content


def test_a_killed_job_shows_failed_with_slurms_word(lab_setup, fake_hub, fake_slurm):
    fake_hub.start_as = "ready"
    session = opened(lab_setup, fake_hub)
    fake_hub.servers.clear()  # the job died; the hub noticed
    fake_slurm.records.append(
        JobRecord(
            session.slurm_job_id,
            "student",
            "training",
            "gpu",
            "CANCELLED",
            "CANCELLED by 0",
            None,
            None,
            12,
            1,
        )
    )
    session = services.session_refresh(session)
    assert session.state == SessionState.FAILED
    assert "CANCELLED by 0" in session.failure_reason


def test_stop_ends_the_session(lab_setup, fake_hub, fake_slurm):
    fake_hub.start_as = "ready"
    session = opened(lab_setup, fake_hub)
    session = services.session_stop(actor=lab_setup.student, session=session)
    assert session.state == SessionState.ENDED
    assert ("student", session.server_name) not in fake_hub.servers
    assert AuditEvent.objects.filter(action="session.stop").exists()


def test_another_student_cannot_stop_it(client, lab_setup, fake_hub, fake_slurm):
    fake_hub.start_as = "ready"
    session = opened(lab_setup, fake_hub)
    client.force_login(lab_setup.people.student_b)
    assert client.post(f"/sessions/{session.pk}/stop/").status_code == 404
    session.refresh_from_db()
    assert session.state == SessionState.RUNNING


def test_extend_checks_the_budget_and_asks_slurm(lab_setup, fake_hub, fake_slurm):
    fake_hub.start_as = "ready"
    session = opened(lab_setup, fake_hub)
    ends = session.ends_at
    session = services.session_extend(actor=lab_setup.student, session=session, minutes=30)
    assert fake_slurm.extended == [(session.slurm_job_id, 30)]
    assert session.ends_at - ends == timedelta(minutes=30)
    lab_setup.run.gpu_hours_per_student = Decimal("1.6")
    lab_setup.run.save()
    with pytest.raises(services.SessionRefused):
        services.session_extend(actor=lab_setup.student, session=session, minutes=30)


def test_submit_pulls_the_notebook_from_the_session(lab_setup, fake_hub, fake_slurm):
    fake_hub.start_as = "ready"
    session = opened(lab_setup, fake_hub)
    submission = services.session_submit(actor=lab_setup.student, session=session)
    assert submission.source == SubmissionSource.SESSION
    assert Submission.objects.filter(student=lab_setup.student).count() == 1


def test_usage_is_synced_from_accounting_and_joined_to_the_student(lab_setup, fake_hub, fake_slurm):
    fake_hub.start_as = "ready"
    session = opened(lab_setup, fake_hub)
    services.session_stop(actor=lab_setup.student, session=session)
    fake_slurm.records.append(
        JobRecord(
            session.slurm_job_id,
            "student",
            "training",
            "gpu",
            "CANCELLED",
            "CANCELLED by 0",
            datetime.now(UTC),
            datetime.now(UTC),
            600,
            1,
        )
    )
    assert services.sync_usage() == 1
    usage = GpuUsage.objects.get()
    assert (usage.user, usage.run, usage.cohort) == (
        lab_setup.student,
        lab_setup.run,
        lab_setup.people.cohort_a,
    )
    assert usage.gpu_seconds == 600
    budget = services.budgets_for(
        user=lab_setup.student, run=lab_setup.run, cohort=lab_setup.people.cohort_a
    )[0]
    assert budget.used_seconds == 600


def test_idle_sessions_are_culled_and_the_saving_recorded(
    lab_setup, fake_hub, fake_slurm, settings
):
    settings.SESSION_IDLE_MINUTES = 10
    fake_hub.start_as = "ready"
    session = opened(lab_setup, fake_hub)
    LabSession.objects.filter(pk=session.pk).update(
        last_activity_at=timezone.now() - timedelta(minutes=20)
    )
    assert services.cull_idle_sessions() == 1
    session.refresh_from_db()
    assert session.state == SessionState.ENDED and session.ended_reason == "idle"
    assert 50 * 60 <= session.gpu_seconds_saved <= 60 * 60


def test_the_card_shows_running_with_connect(client, lab_setup, fake_hub, fake_slurm):
    fake_hub.start_as = "ready"
    opened(lab_setup, fake_hub)
    client.force_login(lab_setup.student)
    body = client.get(f"/labs/{lab_setup.lab.pk}/session/").content.decode()
    assert 'data-state="running"' in body and "session-connect" in body


def test_the_burn_down_page_is_for_staff_and_admins(client, lab_setup, fake_hub, fake_slurm):
    GpuUsage.objects.create(
        job_id="9",
        user=lab_setup.student,
        run=lab_setup.run,
        cohort=lab_setup.people.cohort_a,
        gpus=1,
        elapsed_seconds=7200,
        gpu_seconds=7200,
        started_at=timezone.now(),
        finished=True,
    )
    for who, status in [("instructor", 200), ("admin_a", 200), ("student", 404), ("admin_b", 404)]:
        client.force_login(getattr(lab_setup.people, who))
        response = client.get(f"/runs/{lab_setup.run.pk}/gpu/")
        assert response.status_code == status, who
        if status == 200:
            assert b"2.00" in response.content


def test_the_sweep_stops_servers_that_are_not_live_sessions_and_keeps_the_rest(
    lab_setup, fake_hub, fake_slurm
):
    fake_hub.start_as = "ready"
    session = opened(lab_setup, fake_hub)
    assert session.state == SessionState.RUNNING
    # An admin's server for the same student, and one of a session Academy already ended.
    fake_hub.servers[("student", "lab-999")] = {"status": "ready", "job_id": "7", "url": "/x/"}
    fake_hub.servers[("other", "lab-5")] = {"status": "pending", "job_id": "8", "url": "/y/"}
    assert services.sweep_stray_servers(only_users={"student"}) == 1
    assert ("student", session.server_name) in fake_hub.servers
    assert ("student", "lab-999") not in fake_hub.servers
    assert ("other", "lab-5") in fake_hub.servers  # outside only_users
    stray = StrayServer.objects.get()
    assert (stray.hub_user, stray.job_id, stray.user) == ("student", "7", lab_setup.student)
    assert stray.stopped_at is not None

    fake_slurm.records = [
        JobRecord(
            job_id="7",
            user="student",
            account="training",
            partition="gpu",
            state="CANCELLED",
            state_raw="CANCELLED by 0",
            start=datetime(2026, 1, 1, 10, 0, tzinfo=UTC),
            end=datetime(2026, 1, 1, 10, 10, tzinfo=UTC),
            elapsed_seconds=600,
            gpus=2,
        )
    ]
    services.sync_usage()
    stray.refresh_from_db()
    assert (stray.gpu_seconds, stray.finished) == (1200, True)

    fake_hub.down = True
    assert services.sweep_stray_servers() == 0


def test_reconcile_ends_sessions_the_hub_no_longer_runs(lab_setup, fake_hub, fake_slurm):
    fake_hub.start_as = "ready"
    session = opened(lab_setup, fake_hub)
    fake_hub.servers.clear()  # the platform stopped, and its local hub with it
    assert services.reconcile_sessions() == 1
    session.refresh_from_db()
    assert session.state == SessionState.ENDED
    assert AuditEvent.objects.filter(action="session.reconcile").exists()


def test_a_refresh_while_the_worker_still_asks_the_hub_does_not_fail_the_session(
    lab_setup, fake_hub, fake_slurm
):
    """The session card (and any poller) refreshes a starting session while the worker's start
    request is still on its way to the hub, which does not know the server yet.  That is not a
    server that ended: the session stays starting and runs once the hub has it (one CI run failed
    on this race as 'The session ended unexpectedly.')."""
    session = services.session_open(actor=lab_setup.student, lab=lab_setup.lab)
    seen: list[str] = []
    real_start = fake_hub.start_server

    def start_with_a_poll_in_between(user, server, options):  # type: ignore[no-untyped-def]
        polled = services.session_refresh(LabSession.objects.get(pk=session.pk))
        seen.append(polled.state)
        return real_start(user, server, options)

    fake_hub.start_server = start_with_a_poll_in_between
    fake_hub.start_as = "ready"
    session = services.session_start(session_id=session.pk)
    assert seen == [SessionState.STARTING]
    assert session.state == SessionState.RUNNING, session.failure_reason


def test_a_start_the_hub_never_answered_fails_after_the_bound(lab_setup, fake_hub, fake_slurm):
    """A worker that died while asking the hub leaves a claimed start with no answer: past the
    bound it is a failed start, said in words, not a session stuck 'starting'."""
    session = services.session_open(actor=lab_setup.student, lab=lab_setup.lab)
    claimed = timezone.now() - timedelta(seconds=services.START_ANSWER_BOUND - 30)
    LabSession.objects.filter(pk=session.pk).update(
        state=SessionState.STARTING, refreshed_at=claimed
    )
    session = services.session_refresh(LabSession.objects.get(pk=session.pk))
    assert session.state == SessionState.STARTING
    LabSession.objects.filter(pk=session.pk).update(refreshed_at=claimed - timedelta(seconds=60))
    session = services.session_refresh(LabSession.objects.get(pk=session.pk))
    assert session.state == SessionState.FAILED
    assert "did not answer in time" in session.failure_reason
