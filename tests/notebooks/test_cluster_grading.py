"""Grading on the cluster with a fake Slurm (the state machine of notebooks.cluster_grading):
submission, idempotent resubmission, pending reasons in plain words, retries, time limits,
stale runs.  The real single-node Slurm is in tests/cluster/test_grading_cluster.py."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from notebooks import cluster_grading, services
from notebooks.clients.slurm import JobRecord, QueueInfo, SlurmError, explain_reason
from notebooks.grader.job import gpu_devices, gpu_env, run_job
from notebooks.models import (
    GradingJob,
    GradingJobState,
    GradingRun,
    GradingRunStatus,
    GradingTicket,
    ResourceProfile,
    Submission,
    SubmissionStatus,
    TicketState,
    VersionCheck,
    VersionCheckStatus,
)
from notebooks.sessions import clients
from notebooks.sessions.selectors import gpu_burn_down
from notebooks.tasks import MAX_RETRIES, check_version, grade_submission

from .factories import fixture

pytestmark = pytest.mark.django_db

ACTIVE = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")


class FakeSlurm:
    """sbatch/squeue/sacct/scancel of one cluster, in memory."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict] = {}
        self.sbatch_calls = 0
        self.cancelled: list[str] = []
        self.fail_sbatch = False

    def set(self, job_id: str, state: str, reason: str = "None", **kw) -> None:  # type: ignore[no-untyped-def]
        self.jobs[job_id].update(state=state, reason=reason, **kw)

    def _run(self, *args: str) -> str:
        if args[0] == "sbatch":
            if self.fail_sbatch:
                raise SlurmError("sbatch: error: Slurm controller not responding")
            self.sbatch_calls += 1
            script = Path(args[-1]).read_text()
            name = re.search(r"--job-name=(\S+)", script).group(1)  # type: ignore[union-attr]
            job_id = str(100 + len(self.jobs))
            self.jobs[job_id] = {
                "name": name,
                "state": "PENDING",
                "reason": "Priority",
                "node": "",
                "exit": "0:0",
                "elapsed": 0,
                "gpus": int((re.search(r"--gres=gpu:(\d+)", script) or [0, 0])[1]),
                "script": script,
            }
            return f"{job_id}\n"
        if args[0] in ("squeue", "sacct") and "--name" in args:
            name = args[args.index("--name") + 1]
            return "".join(
                f"{i}\n"
                for i, j in self.jobs.items()
                if j["name"] == name and (args[0] == "sacct" or j["state"] in ACTIVE)
            )
        if args[0] == "scancel":
            self.cancelled.append(args[1])
            self.set(args[1], "CANCELLED")
            return ""
        raise AssertionError(f"unexpected command {args}")

    def queue_info(self, job_id: str) -> QueueInfo:
        j = self.jobs.get(str(job_id))
        if j is None or j["state"] not in ACTIVE:
            return QueueInfo(str(job_id), "GONE", "", "", None, "")
        text = explain_reason(j["reason"]) if j["state"] == "PENDING" else ""
        return QueueInfo(str(job_id), j["state"], j["reason"], text, None, j["node"])

    def job(self, job_id: str) -> JobRecord | None:
        j = self.jobs.get(str(job_id))
        if j is None:
            return None
        now = datetime.now()
        return JobRecord(
            job_id=str(job_id),
            user="root",
            account="grading",
            partition="gpu",
            state=j["state"],
            state_raw=j["state"],
            start=now - timedelta(seconds=j["elapsed"]),
            end=None if j["state"] in ACTIVE else now,
            elapsed_seconds=j["elapsed"],
            gpus=j["gpus"],
            nodes=j["node"],
            exit_code=j["exit"],
        )


@pytest.fixture
def slurm():  # type: ignore[no-untyped-def]
    fake = FakeSlurm()
    clients.override("slurm", fake)
    yield fake
    clients.override("slurm", None)


@pytest.fixture
def gpu_lab(lab, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.GRADING_SPOOL = tmp_path / "spool"
    settings.GRADING_ACCOUNT = "grading"
    settings.GRADING_QOS = "grading-qos"
    settings.GRADING_MAX_ATTEMPTS = 2
    profile = ResourceProfile.objects.create(
        name="grade-gpu", partition="gpu", gpus=1, cpus=1, memory_gb=2, max_walltime_minutes=10
    )
    lab.grading_profile = profile
    lab.save(update_fields=["grading_profile"])
    return lab


def _submit(lab, student, django_capture_on_commit_callbacks) -> Submission:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.submission_create(
            actor=student, lab=lab, content=fixture("submitted-changed.ipynb")
        )
    sub.refresh_from_db()
    return sub


def _write_result(job: GradingJob, score: float = 2.0) -> None:
    result = {
        "score": score,
        "max_score": 7.0,
        "needs_manual_grade": True,
        "status": "ok",
        "cells": {
            "foo": {"score": 1.0, "max_score": 1.0, "kind": "test", "output": ""},
            "bar": {"score": score - 1, "max_score": 1.0, "kind": "test", "output": ""},
            "baz": {"score": None, "max_score": 2.0, "kind": "manual"},
            "quux": {"score": None, "max_score": 3.0, "kind": "manual"},
        },
    }
    folder = cluster_grading.spool_folder(job.name)
    (folder / "result.json").write_text(json.dumps({"result": result, "node": "gpu-node-1"}))


def test_a_cluster_lab_submission_is_one_batch_job_named_after_its_run(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sub = _submit(gpu_lab, course.people.student, django_capture_on_commit_callbacks)
    job = GradingJob.objects.get(submission=sub)
    assert re.fullmatch(rf"academy-grade-{sub.pk}-1-1-[0-9a-f]{{6}}", job.name)
    assert (job.attempt, job.state) == (1, GradingJobState.PENDING)
    assert slurm.sbatch_calls == 1 and slurm.jobs[job.job_id]["name"] == job.name
    script = slurm.jobs[job.job_id]["script"]
    for line in (
        "--partition=gpu",
        "--gres=gpu:1",
        "--time=10",
        "--mem=2G",
        "--account=grading",
        "--qos=grading-qos",
        "--no-requeue",
        "--export=NONE",
    ):
        assert f"#SBATCH {line}" in script
    assert "-m notebooks.grader job" in script
    folder = cluster_grading.spool_folder(job.name)
    assert sorted(p.name for p in folder.iterdir()) == [
        "data",
        "job.json",
        "job.sh",
        "released.ipynb",
        "source.ipynb",
        "submission.ipynb",
    ]
    assert (folder / "submission.ipynb").read_bytes() == fixture("submitted-changed.ipynb")
    limits = json.loads((folder / "job.json").read_text())["limits"]
    assert limits["notebook_timeout"] == 10 * 60 - 20  # the profile's wall time minus margin
    # the worker was not kept waiting: nothing graded yet, the run is open
    assert sub.status == SubmissionStatus.QUEUED
    assert GradingRun.objects.get(submission=sub).status == GradingRunStatus.RUNNING


def test_a_redelivery_finds_the_job_instead_of_submitting_again(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sub = _submit(gpu_lab, course.people.student, django_capture_on_commit_callbacks)
    job = GradingJob.objects.get(submission=sub)
    ticket = GradingTicket.objects.get(submission=sub)
    # the same message again (its id claimed the ticket, handed to the cluster): nothing new
    assert grade_submission.apply(args=(sub.pk, 1), task_id=ticket.claim_token).get() == "idle"
    assert slurm.sbatch_calls == 1
    # a worker that died after sbatch answered but before it saved the job id (so before it
    # finished the ticket): the redelivery continues its ticket, asks Slurm for the job's name
    # and adopts it
    GradingJob.objects.filter(pk=job.pk).update(job_id="", state=GradingJobState.SUBMITTING)
    GradingTicket.objects.filter(pk=ticket.pk).update(state=TicketState.RUNNING)
    grade_submission.apply(args=(sub.pk, 1), task_id=ticket.claim_token)
    job.refresh_from_db()
    assert slurm.sbatch_calls == 1 and job.state == GradingJobState.PENDING
    assert job.job_id == next(iter(slurm.jobs))
    run = GradingRun.objects.get(submission=sub)
    assert run.deliveries == 2


def test_slurm_down_at_submission_is_retried_then_failed_visibly(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    slurm.fail_sbatch = True
    with pytest.raises(Exception, match="Slurm controller not responding"):
        _submit(gpu_lab, course.people.student, django_capture_on_commit_callbacks)
    sub = Submission.objects.get(lab=gpu_lab)
    job = GradingJob.objects.get(submission=sub)
    assert job.state == GradingJobState.SUBMITTING and not job.job_id
    # the poll submits a stalled job once Slurm answers again
    slurm.fail_sbatch = False
    GradingJob.objects.filter(pk=job.pk).update(submitted_at=job.submitted_at - timedelta(60))
    cluster_grading.poll()
    job.refresh_from_db()
    assert job.state == GradingJobState.PENDING and slurm.sbatch_calls == 1


def test_queued_with_the_reason_in_plain_words_then_running_then_graded(
    gpu_lab, course, slurm, eager, client, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sub = _submit(gpu_lab, course.people.student, django_capture_on_commit_callbacks)
    job = GradingJob.objects.get(submission=sub)
    slurm.set(job.job_id, "PENDING", "Resources")
    cluster_grading.poll()
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.QUEUED
    assert sub.reason == (
        "Queued on the cluster: Waiting for free GPUs/CPUs: all matching resources are in use."
    )
    client.force_login(course.people.student)
    card = client.get(f"/submissions/{sub.pk}/status/").content.decode()
    assert "Waiting for free GPUs/CPUs" in card and 'data-status="queued"' in card

    slurm.set(job.job_id, "RUNNING", node="gpu-node-1", elapsed=30)
    cluster_grading.poll()
    sub.refresh_from_db()
    job.refresh_from_db()
    assert (sub.status, job.state, job.node) == (
        SubmissionStatus.RUNNING,
        GradingJobState.RUNNING,
        "gpu-node-1",
    )

    _write_result(job)
    slurm.set(job.job_id, "COMPLETED", elapsed=42)
    cluster_grading.poll()
    sub.refresh_from_db()
    job.refresh_from_db()
    assert (sub.status, sub.auto_score) == (SubmissionStatus.NEEDS_MANUAL, Decimal(2))
    assert (job.state, job.slurm_state, job.exit_code) == (
        GradingJobState.COLLECTED,
        "COMPLETED",
        "0:0",
    )
    assert (job.gpus, job.gpu_seconds) == (1, 42)
    # charged to the run's grading, shown to its staff; never the student's own GPU time
    burn = gpu_burn_down(course.people.instructor, course.run.pk)
    assert burn is not None and (burn.grading_jobs, burn.grading_hours) == (1, 42 / 3600)
    assert burn.total == 0
    # the staff's page lists the job
    client.force_login(course.people.instructor)
    page = client.get(f"/submissions/{sub.pk}/").content.decode()
    assert f"<code>{job.job_id}</code>" in page and "gpu-node-1" in page
    client.force_login(course.people.student)
    assert job.job_id not in client.get(f"/submissions/{sub.pk}/").content.decode()
    # a late poll changes nothing
    cluster_grading.poll()
    assert GradingRun.objects.filter(submission=sub).count() == 1


def test_a_cancelled_job_is_retried_and_then_fails_visibly(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sub = _submit(gpu_lab, course.people.student, django_capture_on_commit_callbacks)
    first = GradingJob.objects.get(submission=sub)
    slurm.set(first.job_id, "CANCELLED", exit="0:15")
    cluster_grading.poll()
    first.refresh_from_db()
    second = GradingJob.objects.get(submission=sub, attempt=2)
    assert first.state == GradingJobState.RETRIED and "cancelled" in first.reason
    assert second.state == GradingJobState.PENDING and f"-{sub.pk}-1-2-" in second.name
    assert slurm.sbatch_calls == 2
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.QUEUED and "Retrying" in sub.reason

    slurm.set(second.job_id, "NODE_FAIL", exit="0:0")
    cluster_grading.poll()
    sub.refresh_from_db()
    second.refresh_from_db()
    assert second.state == GradingJobState.FAILED
    assert sub.status == SubmissionStatus.FAILED
    assert "after 2 attempts: the node failed" in sub.reason
    run = GradingRun.objects.get(submission=sub)
    assert run.status == GradingRunStatus.FAILED and "node failed" in run.reason
    assert slurm.sbatch_calls == 2  # the policy's maximum


def test_a_result_written_before_the_job_was_cancelled_counts_once(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sub = _submit(gpu_lab, course.people.student, django_capture_on_commit_callbacks)
    job = GradingJob.objects.get(submission=sub)
    _write_result(job, score=1.0)
    slurm.set(job.job_id, "CANCELLED")
    cluster_grading.poll()
    cluster_grading.finish(job)  # a second, racing finisher
    sub.refresh_from_db()
    assert sub.auto_score == Decimal(1) and slurm.sbatch_calls == 1
    assert GradingJob.objects.get(pk=job.pk).state == GradingJobState.COLLECTED


def test_a_slurm_time_limit_is_a_result_and_never_retried(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sub = _submit(gpu_lab, course.people.student, django_capture_on_commit_callbacks)
    job = GradingJob.objects.get(submission=sub)
    slurm.set(job.job_id, "TIMEOUT", exit="0:0", elapsed=600)
    cluster_grading.poll()
    sub.refresh_from_db()
    run = GradingRun.objects.get(submission=sub)
    assert (run.status, run.outcome) == (GradingRunStatus.DONE, "timeout")
    assert sub.status == SubmissionStatus.GRADED and sub.score == 0
    assert sub.reason == "the grading job reached its time limit (10 min)"
    assert slurm.sbatch_calls == 1


def test_a_job_of_a_superseded_run_is_cancelled(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sub = _submit(gpu_lab, course.people.student, django_capture_on_commit_callbacks)
    old = GradingJob.objects.get(submission=sub)
    with django_capture_on_commit_callbacks(execute=True):
        services.submission_regrade(actor=course.people.instructor, submission=sub)
    cluster_grading.poll()
    old.refresh_from_db()
    assert old.state == GradingJobState.ABANDONED and slurm.cancelled == [old.job_id]
    new = GradingJob.objects.get(submission=sub, number=2)
    assert new.name.startswith(f"academy-grade-{sub.pk}-2-1-")
    assert new.state == GradingJobState.PENDING


def test_the_cpu_path_is_unchanged_for_labs_without_a_grading_profile(
    lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sub = _submit(lab, course.people.student, django_capture_on_commit_callbacks)
    assert sub.is_final and not GradingJob.objects.exists() and slurm.sbatch_calls == 0


def test_the_node_passes_only_the_gpus_slurm_gave_the_job(tmp_path):  # type: ignore[no-untyped-def]
    for name in ("nvidia0", "nvidia1", "nvidia2", "nvidiactl"):
        (tmp_path / name).touch()
    env = {"SLURM_JOB_GPUS": "2", "CUDA_VISIBLE_DEVICES": "0", "SECRET": "x"}
    assert gpu_devices(env, str(tmp_path)) == (
        str(tmp_path / "nvidia2"),
        str(tmp_path / "nvidiactl"),
    )
    assert gpu_env(env) == (("CUDA_VISIBLE_DEVICES", "0"),)
    assert gpu_devices({"CUDA_VISIBLE_DEVICES": "0"}, str(tmp_path)) == ()


def test_operators_find_the_grading_jobs_in_admin(
    gpu_lab, course, slurm, eager, client, admin_user, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sub = _submit(gpu_lab, course.people.student, django_capture_on_commit_callbacks)
    job = GradingJob.objects.get(submission=sub)
    client.force_login(admin_user)
    page = client.get("/admin/notebooks/gradingjob/").content.decode()
    assert job.name in page and job.job_id in page
    assert client.get(f"/admin/notebooks/gradingjob/{job.pk}/change/").status_code == 200


# ------------------------------------------------------------ "Test this version" on the cluster


def _check(lab, instructor, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        check = services.version_check_request(actor=instructor, version=lab.released_version)
    check.refresh_from_db()
    return check


def test_a_cluster_labs_version_test_is_one_slurm_job_on_its_grading_profile(
    gpu_lab, course, slurm, eager, client, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    check = _check(gpu_lab, course.people.instructor, django_capture_on_commit_callbacks)
    assert check.status == VersionCheckStatus.RUNNING  # the worker did not wait for the job
    assert re.fullmatch(rf"academy-check-{check.pk}-[0-9a-f]{{6}}", check.job_name)
    assert slurm.sbatch_calls == 1 and slurm.jobs[check.job_id]["name"] == check.job_name
    script = slurm.jobs[check.job_id]["script"]
    # two gradings one after the other, each with a submission's time: twice the wall time
    for line in ("--partition=gpu", "--gres=gpu:1", "--time=20", "--no-requeue", "--export=NONE"):
        assert f"#SBATCH {line}" in script
    folder = cluster_grading.spool_folder(check.job_name)
    # the source and the student version, no submission
    assert sorted(p.name for p in folder.iterdir()) == [
        "data",
        "job.json",
        "job.sh",
        "released.ipynb",
        "source.ipynb",
    ]
    spec = json.loads((folder / "job.json").read_text())
    assert spec["check"] == check.pk and spec["limits"]["notebook_timeout"] == 10 * 60 - 20
    # a redelivery of the task submits nothing more
    assert check_version.apply(args=(check.pk,)).get() == "submitted"
    assert slurm.sbatch_calls == 1
    # nor grades it in the CPU sandbox, called directly
    assert services.version_check_execute(check_id=check.pk).status == "running"
    # nor does one after a worker died between sbatch and its commit: the name was kept with
    # the check, Slurm is asked for it, and the job is adopted
    job_id = check.job_id
    VersionCheck.objects.filter(pk=check.pk).update(job_id="")
    check_version.apply(args=(check.pk,))
    check.refresh_from_db()
    assert (slurm.sbatch_calls, check.job_id) == (1, job_id)
    # a second request while the test runs is the same test, not a second GPU job
    again = services.version_check_request(
        actor=course.people.instructor, version=gpu_lab.released_version
    )
    assert again.pk == check.pk and slurm.sbatch_calls == 1

    slurm.set(check.job_id, "PENDING", "Resources")
    cluster_grading.poll()
    client.force_login(course.people.instructor)
    url = f"/labs/{gpu_lab.pk}/versions/{gpu_lab.released_version.number}/"
    page = client.get(url).content.decode()
    assert 'id="check-on-cluster"' in page and "grade-gpu" in page
    assert f"Slurm job {check.job_id}, queued: Waiting for free GPUs/CPUs" in page
    slurm.set(check.job_id, "RUNNING", node="gpu-node-1")
    cluster_grading.poll()
    check.refresh_from_db()
    assert (check.status, check.node, check.pending_reason) == ("running", "gpu-node-1", "")


def test_the_jobs_verdict_is_the_cpu_sandboxs_for_the_same_version(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    """The job's grader (run here on the folder, as the node would) gives the same two gradings
    and verdict as the CPU sandbox's check of the same version."""
    instructor = course.people.instructor
    check = _check(gpu_lab, instructor, django_capture_on_commit_callbacks)
    folder = cluster_grading.spool_folder(check.job_name)
    assert run_job(str(folder), env={}) == 0
    slurm.set(check.job_id, "COMPLETED", node="gpu-node-1", elapsed=4)
    cluster_grading.poll()
    check.refresh_from_db()
    assert check.status == VersionCheckStatus.DONE, check.reason

    profile = gpu_lab.grading_profile
    type(gpu_lab).objects.filter(pk=gpu_lab.pk).update(grading_profile=None)
    on_cpu = _check(gpu_lab, instructor, django_capture_on_commit_callbacks)
    type(gpu_lab).objects.filter(pk=gpu_lab.pk).update(grading_profile=profile)
    assert on_cpu.status == VersionCheckStatus.DONE and not on_cpu.job_name
    assert (check.passed, check.problems) == (on_cpu.passed, on_cpu.problems)

    def scores(result):  # type: ignore[no-untyped-def]
        return (
            result["score"],
            result["outcome"],
            {gid: c["score"] for gid, c in result["cells"].items()},
        )

    assert scores(check.solution) == scores(on_cpu.solution)
    assert scores(check.student) == scores(on_cpu.student)
    assert check.node == "gpu-node-1"


def test_a_test_job_that_ends_without_a_result_fails_the_test_and_blocks_the_release(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    check = _check(gpu_lab, course.people.instructor, django_capture_on_commit_callbacks)
    slurm.set(check.job_id, "CANCELLED", exit="0:15")
    cluster_grading.poll()
    check.refresh_from_db()
    assert check.status == VersionCheckStatus.FAILED and check.passed is False
    assert check.reason == "the test job on the cluster: the job was cancelled (exit 0:15)"
    assert services.release_block_reason(gpu_lab.released_version)
    assert slurm.sbatch_calls == 1  # never retried by itself: "Test again" is one click


def test_a_test_job_past_its_time_limit_says_so(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    check = _check(gpu_lab, course.people.instructor, django_capture_on_commit_callbacks)
    slurm.set(check.job_id, "TIMEOUT")
    cluster_grading.poll()
    check.refresh_from_db()
    assert check.status == VersionCheckStatus.FAILED
    assert check.reason == "the test job on the cluster: the grading job reached its time limit"


def test_slurm_down_at_a_version_test_fails_it_visibly_after_the_retries(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    slurm.fail_sbatch = True
    with pytest.raises(Exception, match="Slurm controller not responding"):
        _check(gpu_lab, course.people.instructor, django_capture_on_commit_callbacks)
    check = VersionCheck.objects.get(version=gpu_lab.released_version)
    assert check.status == VersionCheckStatus.QUEUED and not check.job_id  # the task retries
    # the last retry gives up: the check says why, and the release is blocked
    assert check_version.apply(args=(check.pk,), retries=MAX_RETRIES).get() == "failed"
    check.refresh_from_db()
    assert check.status == VersionCheckStatus.FAILED and slurm.sbatch_calls == 0
    assert check.reason.startswith("grading infrastructure failed: submitting the test job failed")
    assert services.release_block_reason(gpu_lab.released_version)


def test_the_poll_submits_a_test_whose_task_never_ran(
    gpu_lab, course, slurm, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False):  # the message is lost
        check = services.version_check_request(
            actor=course.people.instructor, version=gpu_lab.released_version
        )
    assert check.status == VersionCheckStatus.QUEUED and check.job_name
    cluster_grading.poll()
    assert slurm.sbatch_calls == 0  # the task may still come: give it time
    VersionCheck.objects.filter(pk=check.pk).update(
        requested_at=check.requested_at - timedelta(minutes=1)
    )
    cluster_grading.poll()
    check.refresh_from_db()
    assert slurm.sbatch_calls == 1 and check.status == VersionCheckStatus.RUNNING
    assert slurm.jobs[check.job_id]["name"] == check.job_name


def test_a_malformed_result_fails_its_test_and_the_poll_goes_on_to_the_next(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks, monkeypatch
):  # type: ignore[no-untyped-def]
    instructor = course.people.instructor
    first = _check(gpu_lab, instructor, django_capture_on_commit_callbacks)
    second_version = services.lab_version_upload(
        actor=instructor, lab=gpu_lab, content=fixture("submitted-changed.ipynb")
    )
    with django_capture_on_commit_callbacks(execute=True):
        second = services.version_check_request(actor=instructor, version=second_version)
    second.refresh_from_db()
    # the first job wrote half a result; the second one's row breaks the poll once
    folder = cluster_grading.spool_folder(first.job_name)
    (folder / "result.json").write_text(json.dumps({"check": {"solution": {"result": {}}}}))
    slurm.set(first.job_id, "COMPLETED", node="gpu-node-1")
    slurm.set(second.job_id, "RUNNING", node="gpu-node-2")
    real = cluster_grading.check_refresh
    calls = []

    def flaky(check):  # type: ignore[no-untyped-def]
        calls.append(check.pk)
        if check.pk == first.pk and len(calls) == 1:
            raise RuntimeError("a bug in one row")
        return real(check)

    monkeypatch.setattr(cluster_grading, "check_refresh", flaky)
    cluster_grading.poll()
    second.refresh_from_db()
    assert second.node == "gpu-node-2"  # followed despite the first row's failure
    cluster_grading.poll()
    first.refresh_from_db()
    assert first.status == VersionCheckStatus.FAILED
    assert first.reason == "the test job on the cluster: the job ended without a result (exit 0:0)"


def test_a_test_jobs_gpu_time_counts_as_the_runs_grading(
    gpu_lab, course, slurm, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    check = _check(gpu_lab, course.people.instructor, django_capture_on_commit_callbacks)
    folder = cluster_grading.spool_folder(check.job_name)
    parts = {"solution": {"invalid": "x"}, "student": {"invalid": "y"}}
    (folder / "result.json").write_text(json.dumps({"check": parts}))
    slurm.set(check.job_id, "COMPLETED", node="gpu-node-1", elapsed=90)
    cluster_grading.poll()
    check.refresh_from_db()
    assert check.status == VersionCheckStatus.DONE and check.gpu_seconds == 90
    assert check.solution["outcome"] == "invalid" and check.passed is False
    burn = gpu_burn_down(course.people.instructor, course.run.pk)
    assert burn is not None
    assert (burn.grading_jobs, round(burn.grading_hours * 3600)) == (1, 90)


def test_the_spool_sweep_removes_only_folders_of_jobs_that_ended_long_ago(
    gpu_lab, course, slurm, eager, settings, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    settings.GRADING_SPOOL_KEEP_HOURS = 24
    old_sub = _submit(gpu_lab, course.people.student, django_capture_on_commit_callbacks)
    old = GradingJob.objects.get(submission=old_sub)
    check = _check(gpu_lab, course.people.instructor, django_capture_on_commit_callbacks)
    spool = Path(settings.GRADING_SPOOL)
    stranger = spool / "academy-grade-1-1-1-abcdef"  # another Academy's, on a shared spool
    stranger.mkdir()
    assert {p.name for p in spool.iterdir()} == {old.name, check.job_name, stranger.name}
    assert cluster_grading.spool_sweep() == 0  # all still running
    long_ago = timezone.now() - timedelta(hours=25)
    GradingJob.objects.filter(pk=old.pk).update(state=GradingJobState.COLLECTED, ended_at=long_ago)
    VersionCheck.objects.filter(pk=check.pk).update(
        status=VersionCheckStatus.DONE, finished_at=timezone.now() - timedelta(hours=2)
    )
    assert cluster_grading.spool_sweep() == 1
    assert {p.name for p in spool.iterdir()} == {check.job_name, stranger.name}
    VersionCheck.objects.filter(pk=check.pk).update(finished_at=long_ago)
    assert cluster_grading.spool_sweep() == 1
    assert {p.name for p in spool.iterdir()} == {stranger.name}
