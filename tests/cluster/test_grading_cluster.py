"""Grading on the cluster against the REAL single-node Slurm of ops/cluster/up.sh (issue 14):
a real Celery worker submits the batch jobs, the jobs run ``python -m notebooks.grader job`` in
the sandbox (as root: the worker runs as root on the test box), and the poll (the beat task's
service, called here in the test's loop) reads the results back from the spool.

Run:  ops/cluster/up.sh && CELERY_BROKER_URL=redis://127.0.0.1:6379/7 DEBUG=1 \
      .venv/bin/pytest -m integration tests/cluster/test_grading_cluster.py -s
They fail (not skip) when Slurm or the broker is missing.  Timings are printed, never asserted.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest

from academy.models import AuditEvent
from courses.models import CourseStaff, Enrolment, EnrolmentState, StaffRole
from notebooks import cluster_grading, grading, services
from notebooks.models import (
    GradingJob,
    GradingJobState,
    GradingRun,
    GradingRunStatus,
    ResourceProfile,
    Submission,
    SubmissionStatus,
    VersionCheck,
    VersionCheckStatus,
)
from tests.factories import CourseRunFactory
from tests.notebooks.factories import LabFactory, fixture, small_lab
from tests.worker import routed_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CONFORMANCE = (
    "submitted-unchanged.ipynb",
    "submitted-changed.ipynb",
    "submitted-cheat-attempt.ipynb",
    "submitted-cheat-attempt-alternative.ipynb",
)


def _cell(source: str, grade_id: str, *, test: bool, points: int = 0):  # type: ignore[no-untyped-def]
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": test,
        "solution": not test,
        "locked": test,
        "grade_id": grade_id,
        "schema_version": 3,
        **({"points": points} if test else {}),
    }
    return cell


def gpu_lab_notebook() -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell(
            "### BEGIN SOLUTION\nimport os\n"
            "visible = os.environ.get('CUDA_VISIBLE_DEVICES')\n"
            "devices = sorted(d for d in os.listdir('/dev') if d[6:].isdigit() and "
            "d.startswith('nvidia'))\n### END SOLUTION",
            "answer",
            test=False,
        ),
        _cell(
            "print('CUDA_VISIBLE_DEVICES', visible, devices)\n"
            "assert visible == '0', visible\nassert len(devices) == 1, devices",
            "test_gpu",
            test=True,
            points=2,
        ),
    ]
    return nbformat.writes(nb).encode()


@pytest.fixture
def env(tmp_path, settings, cluster_env, slurm):  # type: ignore[no-untyped-def]
    state = Path(cluster_env.get("ACADEMY_CLUSTER_STATE", "/var/lib/academy-cluster"))
    devices = cluster_env.get("ACADEMY_GRADING_GPU_DEVICE_DIR") or str(state / "fakegpu")
    settings.NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"
    settings.GRADING_SPOOL = tmp_path / "spool"
    settings.GRADING_GPU_DEVICE_DIR = devices
    settings.GRADING_MAX_ATTEMPTS = 3
    settings.SLURM_COMMAND_PREFIX = cluster_env.get("ACADEMY_SLURM_COMMAND_PREFIX", "")
    return {
        "ACADEMY_VAR_DIR": str(tmp_path),
        "ACADEMY_GRADING_SPOOL": str(tmp_path / "spool"),
        "ACADEMY_GRADING_GPU_DEVICE_DIR": devices,
    }


@pytest.fixture
def course(people):  # type: ignore[no-untyped-def]
    run = CourseRunFactory()
    CourseStaff.objects.create(run=run, user=people.instructor, role=StaffRole.INSTRUCTOR)
    Enrolment.objects.create(
        run=run, user=people.student, state=EnrolmentState.ACTIVE, cohort=people.cohort_a
    )
    return run


def make_lab(run, people, content: bytes, profile: ResourceProfile | None):  # type: ignore[no-untyped-def]
    lab = LabFactory(run=run, grading_profile=profile)
    services.lab_version_upload(actor=people.instructor, lab=lab, content=content)
    services.lab_release(actor=people.instructor, lab=lab)
    lab.refresh_from_db()
    return lab


def profile(name: str, partition: str, gpus: int, minutes: int) -> ResourceProfile:
    return ResourceProfile.objects.create(
        name=name, partition=partition, gpus=gpus, cpus=1, memory_gb=2,
        max_walltime_minutes=minutes,
    )  # fmt: skip


def final(pk: int, *, poll: bool = True):  # type: ignore[no-untyped-def]
    if poll:
        cluster_grading.poll()
    sub = Submission.objects.get(pk=pk)
    return sub if sub.is_final else None


def test_a_gpu_lab_is_graded_as_a_slurm_job_with_slurms_gpu(env, course, people):  # type: ignore[no-untyped-def]
    lab = make_lab(course, people, gpu_lab_notebook(), profile("g1", "gpu", 1, 5))
    with routed_worker(env):
        t0 = time.monotonic()
        sub = services.submission_create(actor=people.student, lab=lab, content=gpu_lab_notebook())
        sub = wait_for(lambda: final(sub.pk), timeout=180, interval=0.5, what="graded")
        print(f"\nGPU lab, submission to score on the cluster: {time.monotonic() - t0:.1f} s")
    run = sub.latest_run
    assert (sub.status, sub.score, sub.max_score) == (
        SubmissionStatus.GRADED,
        Decimal(2),
        Decimal(2),
    ), (sub.reason, run.cells)
    assert "CUDA_VISIBLE_DEVICES 0 ['nvidia" in run.cells["test_gpu"]["output"]
    job = GradingJob.objects.get(submission=sub)
    assert job.job_id and job.node and job.state == GradingJobState.COLLECTED
    assert (job.slurm_state, job.exit_code, job.partition, job.gpus) == (
        "COMPLETED",
        "0:0",
        "gpu",
        1,
    )

    # sacct's final figures (it shows an empty partition for a moment after the end)
    def accounted():  # type: ignore[no-untyped-def]
        cluster_grading.poll()
        found = GradingJob.objects.get(pk=job.pk)
        return found if found.accounted else None

    job = wait_for(accounted, timeout=60, what="accounted")
    assert job.gpu_seconds == job.elapsed_seconds * 1
    scontrol = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", job.job_id, "-o", "JobName,AllocTRES"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert job.name in scontrol and "gres/gpu=1" in scontrol


def test_a_gpu_labs_version_test_runs_as_a_slurm_job_with_the_gpu_and_passes(env, course, people):  # type: ignore[no-untyped-def]
    """ "Test this version" of a lab graded on the cluster runs there, with the grading
    profile's GPU: the solution's GPU test passes (it would fail in the CPU sandbox)."""
    lab = make_lab(course, people, gpu_lab_notebook(), profile("g1-test", "gpu", 1, 5))
    version = lab.released_version
    with routed_worker(env):
        t0 = time.monotonic()
        check = services.version_check_request(actor=people.instructor, version=version)

        def tested():  # type: ignore[no-untyped-def]
            cluster_grading.poll()
            found = VersionCheck.objects.get(pk=check.pk)
            return found if found.is_final else None

        check = wait_for(tested, timeout=180, interval=0.5, what="the version tested")
        print(f"\nGPU lab, version test on the cluster: {time.monotonic() - t0:.1f} s")
    assert check.status == VersionCheckStatus.DONE, check.reason
    assert check.passed, check.problems
    solution, student = check.solution["cells"]["test_gpu"], check.student["cells"]["test_gpu"]
    assert (solution["score"], student["score"]) == (2, 0), (solution, student)
    assert "CUDA_VISIBLE_DEVICES 0 ['nvidia" in solution["output"]
    assert check.job_id and check.node
    assert services.release_block_reason(version) == ""

    def sacct():  # type: ignore[no-untyped-def]
        # sacct shows a placeholder name and no partition for a moment after the end
        line = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-j", check.job_id, "-o", "JobName,Partition,AllocTRES"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return line if check.job_name in line else None

    line = wait_for(sacct, timeout=60, what="the test job in accounting")
    assert "gres/gpu=1" in line and "|gpu|" in line, line


def test_a_job_cancelled_mid_way_is_retried_and_graded_once(env, course, people):  # type: ignore[no-untyped-def]
    content = small_lab(sleep=8)
    lab = make_lab(course, people, content, profile("c1", "cpu", 0, 5))
    with routed_worker(env):
        sub = services.submission_create(actor=people.student, lab=lab, content=content)

        def running():  # type: ignore[no-untyped-def]
            cluster_grading.poll()
            return GradingJob.objects.filter(submission=sub, state=GradingJobState.RUNNING).first()

        first = wait_for(running, timeout=120, interval=0.5, what="job running")
        time.sleep(3)  # the kernel is in the middle of the notebook
        subprocess.run(["scancel", first.job_id], check=True)
        sub = wait_for(lambda: final(sub.pk), timeout=240, interval=0.5, what="graded")
    jobs = list(GradingJob.objects.filter(submission=sub).order_by("attempt"))
    assert [(j.attempt, j.state) for j in jobs] == [
        (1, GradingJobState.RETRIED),
        (2, GradingJobState.COLLECTED),
    ], [(j.job_id, j.slurm_state, j.exit_code, j.reason) for j in jobs]
    assert jobs[0].slurm_state == "CANCELLED" and "cancelled" in jobs[0].reason
    assert jobs[0].job_id != jobs[1].job_id
    runs = list(GradingRun.objects.filter(submission=sub))
    assert len(runs) == 1 and runs[0].status == GradingRunStatus.DONE
    assert (sub.status, sub.score) == (SubmissionStatus.GRADED, Decimal(1))
    graded = AuditEvent.objects.filter(action="submission.graded", target_id=str(sub.pk))
    assert graded.count() == 1


def test_the_profiles_time_limit_ends_a_sleeping_notebook_visibly(env, course, people, settings):  # type: ignore[no-untyped-def]
    settings.GRADING_MARGIN_SECONDS = 30  # the notebook gets 60 - 30 s
    content = small_lab(sleep=600)
    lab = make_lab(course, people, content, profile("t1", "cpu", 0, 1))
    with routed_worker({**env, "ACADEMY_GRADING_MARGIN_SECONDS": "30"}):
        t0 = time.monotonic()
        sub = services.submission_create(actor=people.student, lab=lab, content=content)
        sub = wait_for(lambda: final(sub.pk), timeout=150, interval=1, what="ended")
        took = time.monotonic() - t0
    print(f"\nsleeping notebook on a 1-minute profile ended after {took:.1f} s")
    run = sub.latest_run
    assert run.outcome == "timeout" and sub.score == 0, (run.outcome, sub.reason)
    assert sub.status == SubmissionStatus.GRADED and "time limit" in sub.reason
    assert took < 120
    job = GradingJob.objects.get(submission=sub)
    assert job.state == GradingJobState.COLLECTED


def test_the_conformance_notebooks_score_the_same_on_the_cluster(env, course, people):  # type: ignore[no-untyped-def]
    source = fixture("submitted-unchanged.ipynb")
    cpu_lab = make_lab(course, people, source, None)
    cluster_lab = make_lab(course, people, source, profile("cpu1", "cpu", 0, 5))
    latency: dict[str, list[float]] = {"cpu": [], "cluster": []}
    scores: dict[str, dict[str, dict]] = {"cpu": {}, "cluster": {}, "library": {}}
    with routed_worker(env):
        for name in CONFORMANCE:
            content = fixture(name)
            for path, lab in (("cpu", cpu_lab), ("cluster", cluster_lab)):
                t0 = time.monotonic()
                sub = services.submission_create(actor=people.student, lab=lab, content=content)
                sub = wait_for(
                    lambda sub=sub, path=path: final(sub.pk, poll=path == "cluster"),
                    timeout=180,
                    interval=0.25,
                    what=f"{name} graded on {path}",
                )
                latency[path].append(time.monotonic() - t0)
                scores[path][name] = {
                    gid: (c["score"], c["max_score"]) for gid, c in sub.latest_run.cells.items()
                }
            # and the grader library itself, here
            result = grading.grade(source=source, submission=content)
            scores["library"][name] = {
                gid: (c["score"], c["max_score"]) for gid, c in result.cells.items()
            }
    assert scores["cluster"] == scores["cpu"] == scores["library"]
    assert scores["cluster"]["submitted-changed.ipynb"]["bar"] == (1.0, 1.0)
    for path, values in latency.items():
        print(
            f"\nsubmission to score, {path}: median {statistics.median(values):.2f} s, "
            f"runs {', '.join(f'{v:.2f}' for v in values)}"
        )
    added = statistics.median(latency["cluster"]) - statistics.median(latency["cpu"])
    print(f"added latency of cluster grading (median): {added:.2f} s")
