"""The whole lab-session path on the real stack: JupyterHub with batchspawner's SlurmSpawner, a
single-node Slurm with slurmdbd, a real Celery worker on the real broker, PostgreSQL.

Needs `ops/cluster/up.sh` (make test runs it) and ACADEMY_HUB_URL / ACADEMY_HUB_API_TOKEN in the
environment (var/test-services.env).  Fails, never skips, when the stack is missing."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from django.conf import settings

from academy.celery import app
from notebooks.models import Submission
from notebooks.sessions import clients, services
from notebooks.sessions.models import GpuUsage, SessionState
from tests.factories import UserFactory
from tests.worker import Worker, wait_for


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout


@pytest.fixture
def real_stack():  # type: ignore[no-untyped-def]
    if not settings.HUB_API_TOKEN:
        pytest.fail(
            "ACADEMY_HUB_API_TOKEN is not set: bring the stack up with ops/cluster/up.sh "
            "and source var/test-services.env (make test does both)"
        )
    clients.hub().info()  # raises HubUnavailable, failing the test, when the hub is down


@pytest.fixture
def worker():  # type: ignore[no-untyped-def]
    with Worker(concurrency=1) as w:
        app.conf.task_default_queue = w.queue
        yield w
        app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_open_work_submit_stop_and_account(real_stack, lab_setup, worker, stop_sessions_after):
    from courses.models import Enrolment, EnrolmentState

    student = UserFactory(username=f"it{uuid.uuid4().hex[:8]}")
    Enrolment.objects.create(
        run=lab_setup.run,
        user=student,
        state=EnrolmentState.ACTIVE,
        cohort=lab_setup.people.cohort_a,
    )
    lab_setup.people.cohort_a.members.add(student)

    # Open: the web side records it, the worker asks the hub, Slurm runs the job.
    session = services.session_open(actor=student, lab=lab_setup.lab)

    def running():  # type: ignore[no-untyped-def]
        s = services.session_refresh(type(session).objects.get(pk=session.pk))
        assert s.state != SessionState.FAILED, s.failure_reason
        return s if s.state == SessionState.RUNNING and s.files_placed_at else None

    session = wait_for(running, timeout=180, interval=1, what="the session to run")
    job = sh("scontrol", "show", "job", session.slurm_job_id)
    assert "Partition=gpu" in job and "gres/gpu=1" in job, job

    # JupyterLab answers through the proxy, with the lab notebook in it.
    hub = clients.hub()
    path = services.notebook_path_for(lab_setup.lab)
    notebook = hub.get_file(student.username, session.server_name, path)
    assert "BEGIN SOLUTION" not in json.dumps(notebook)

    # The student edits in JupyterLab (here: through the same contents API) and submits from
    # Academy.
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "set_a":
            cell["source"] = "a = 1"
    hub.add_file(student.username, session.server_name, path, notebook)
    submission = services.session_submit(actor=student, session=session)
    submission = wait_for(
        lambda: (s := Submission.objects.get(pk=submission.pk)).is_final and s,
        timeout=180,
        what="grading by the worker",
    )
    assert submission.source == "session"
    assert submission.auto_score == 2, (submission.status, submission.reason)

    # Stop: the job is gone.
    job_id = session.slurm_job_id
    session = services.session_stop(actor=student, session=session)
    assert session.state == SessionState.ENDED
    wait_for(
        lambda: sh("squeue", "-h", "-j", job_id).strip() == "",
        timeout=30,
        what="the job to leave the queue",
    )

    # GPU-seconds from slurmdbd, joined to the student, run and cohort.
    def recorded():  # type: ignore[no-untyped-def]
        services.sync_usage()
        usage = GpuUsage.objects.filter(job_id=job_id, finished=True).first()
        return usage if usage and usage.gpu_seconds > 0 else None

    usage = wait_for(recorded, timeout=60, interval=2, what="sacct to record the job")
    assert (usage.user, usage.run, usage.cohort) == (
        student,
        lab_setup.run,
        lab_setup.people.cohort_a,
    )
    assert usage.gpus == 1 and usage.partition == "gpu"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_over_budget_is_refused_before_any_job(real_stack, lab_setup):
    lab_setup.run.gpu_hours_per_student = 0
    lab_setup.run.save()
    before = sh("squeue", "-h", "-o", "%i")
    with pytest.raises(services.SessionRefused):
        services.session_open(actor=lab_setup.student, lab=lab_setup.lab)
    assert sh("squeue", "-h", "-o", "%i") == before


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_job_killed_mid_session_shows_failed_within_seconds(
    real_stack, lab_setup, worker, stop_sessions_after
):
    from courses.models import Enrolment, EnrolmentState

    student = UserFactory(username=f"it{uuid.uuid4().hex[:8]}")
    Enrolment.objects.create(run=lab_setup.run, user=student, state=EnrolmentState.ACTIVE)
    session = services.session_open(actor=student, lab=lab_setup.lab)
    session = wait_for(
        lambda: (
            (s := services.session_refresh(type(session).objects.get(pk=session.pk))).state
            == SessionState.RUNNING
            and s
        ),
        timeout=180,
        interval=1,
        what="the session to run",
    )
    sh("scancel", session.slurm_job_id)
    session = wait_for(
        lambda: (
            (s := services.session_refresh(type(session).objects.get(pk=session.pk))).state
            == SessionState.FAILED
            and s
        ),
        timeout=30,
        interval=1,
        what="the card to show failed",
    )
    assert session.failure_reason


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_hub_being_down_gives_the_clear_message(lab_setup, settings, client):
    settings.HUB_URL = "http://127.0.0.1:9"  # nothing listens there
    session = services.session_open(actor=lab_setup.student, lab=lab_setup.lab)
    session = services.session_start(session_id=session.pk)
    assert session.state == SessionState.FAILED
    client.force_login(lab_setup.student)
    response = client.get(f"/labs/{lab_setup.lab.pk}/session/")
    assert response.status_code == 200
    assert b"The lab service is unavailable" in response.content
