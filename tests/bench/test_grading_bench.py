"""Benchmark (prints, never fails on time): 100 submissions of a small lab graded by a real
Celery worker (prefork, concurrency 2, PostgreSQL, Redis broker), with the kernel pool on and
off, and `nbgrader autograde` on the same 100 submissions in the same run.

Lab: the nbgrader conformance notebook (source = submitted-unchanged.ipynb, every submission =
submitted-changed.ipynb: 2 of 7 points, needs manual grading).  nbgrader 0.9.6 is installed in
its own venv, var/bench-nbgrader (created once, then reused).

Run: make bench PYTEST_ARGS="-k grading"   (method and figures: docs/benchmarks.md, "Grading")
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from academy.celery import app
from courses.models import Enrolment, EnrolmentState
from notebooks import services
from notebooks.grader import format as fmt
from notebooks.grader.grade import assemble
from notebooks.grader.validate import parse
from notebooks.models import GradingRun, GradingRunStatus, Submission, SubmissionStatus
from notebooks.tasks import grade_submission
from tests.factories import UserFactory
from tests.lab_fixtures import CONFORMANCE
from tests.worker import ROOT, Worker, wait_for

N = int(os.environ.get("BENCH_GRADING_N", "100"))
CONCURRENCY = 2
NBGRADER_VENV = ROOT / "var" / "bench-nbgrader"
NBGRADER_VERSION = "0.9.6"  # the version the conformance table was derived with
SOURCE = CONFORMANCE / "submitted-unchanged.ipynb"
SUBMISSION = CONFORMANCE / "submitted-changed.ipynb"
# The conformance table, row "submitted-changed": test cells scored, answers for a human.
EXPECTED_CELLS = {"foo": 1.0, "bar": 1.0, "baz": None, "quux": None}
EXPECTED_SCORE, EXPECTED_MAX = Decimal("2"), Decimal("7")


def _wait_ready(worker: Worker, timeout: float = 60) -> None:
    wait_for(
        lambda: worker.log.exists() and " ready." in worker.log.read_text(errors="replace"),
        timeout=timeout,
        what="the worker to be ready",
    )
    time.sleep(3)  # let each child's pool start its first kernel (~1 s), as in steady state


def _grade_all(lab, pairs, extra_env):  # type: ignore[no-untyped-def]
    """Start a worker, enqueue every (submission, number) at once, wait for all results.
    Returns (wall seconds first enqueue -> last result, per-run in-task seconds)."""
    with Worker(concurrency=CONCURRENCY, extra_env=extra_env) as worker:
        app.conf.task_default_queue = worker.queue
        try:
            _wait_ready(worker)
            t0 = timezone.now()
            for pk, number in pairs:
                grade_submission.delay(pk, number)
            wanted = {(pk, number) for pk, number in pairs}

            def done():  # type: ignore[no-untyped-def]
                return GradingRun.objects.filter(
                    submission__lab=lab, status=GradingRunStatus.DONE, number=pairs[0][1]
                ).count() >= len(wanted)

            wait_for(done, timeout=60 + 10 * len(pairs), interval=0.5, what="all gradings")
        finally:
            app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    runs = list(GradingRun.objects.filter(submission__lab=lab, number=pairs[0][1]))
    wall = (max(r.finished_at for r in runs) - t0).total_seconds()
    in_task = [(r.finished_at - r.started_at).total_seconds() for r in runs]
    return wall, in_task, runs


def _check(runs) -> None:  # type: ignore[no-untyped-def]
    assert len(runs) == N
    for run in runs:
        assert run.outcome == "ok", (run.outcome, run.reason)
        assert run.score == EXPECTED_SCORE and run.max_score == EXPECTED_MAX, run.score
        assert run.needs_manual
        assert {gid: c["score"] for gid, c in run.cells.items()} == EXPECTED_CELLS, run.cells
        assert run.deliveries == 1


def _bare_execution_seconds(repeats: int = 10) -> float:
    """The notebook's own execution: the assembled notebook's code cells run one after the other
    in an already started, unsandboxed local kernel (start-up excluded); median of fresh kernels."""
    from jupyter_client.manager import start_new_kernel

    src, sub = SOURCE.read_bytes(), SUBMISSION.read_bytes()
    codes = [
        fmt.source_text(s.cell)
        for s in assemble(parse(src), parse(sub))
        if s.cell.cell_type == "code" and fmt.source_text(s.cell).strip()
    ]
    times = []
    for _ in range(repeats):
        km, kc = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
        try:
            kc.execute_interactive(
                "1", timeout=30, output_hook=lambda msg: None
            )  # first request warms the channels
            t0 = time.perf_counter()
            for code in codes:
                kc.execute_interactive(code, timeout=30, output_hook=lambda msg: None)
            times.append(time.perf_counter() - t0)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    return statistics.median(times)


def _nbgrader_bin() -> Path:
    if not (NBGRADER_VENV / "bin" / "nbgrader").exists():
        subprocess.run(["python3", "-m", "venv", str(NBGRADER_VENV)], check=True)
        subprocess.run(
            [str(NBGRADER_VENV / "bin" / "pip"), "install", "-q", f"nbgrader=={NBGRADER_VERSION}"],
            check=True,
            timeout=900,
        )
    return NBGRADER_VENV / "bin"


def _nbgrader(students: list[str]):  # type: ignore[no-untyped-def]
    """Lay out a course, release ps1, autograde every student's submission; read the gradebook."""
    bindir = _nbgrader_bin()
    course = ROOT / "var" / f"bench-nbgrader-course-{uuid.uuid4().hex[:8]}"
    (course / "source" / "ps1").mkdir(parents=True)
    shutil.copy(SOURCE, course / "source" / "ps1" / "problem.ipynb")
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    for name in students:
        (course / "submitted" / name / "ps1").mkdir(parents=True)
        shutil.copy(SUBMISSION, course / "submitted" / name / "ps1" / "problem.ipynb")
    db = f"sqlite:///{course / 'gradebook.db'}"
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    common = [f"--course-dir={course}", f"--db={db}", "--force"]
    try:
        subprocess.run(
            [str(bindir / "nbgrader"), "generate_assignment", "ps1", *common],
            cwd=course,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        t0 = time.perf_counter()
        out = subprocess.run(
            [str(bindir / "nbgrader"), "autograde", "ps1", "--create", *common],
            cwd=course,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        wall = time.perf_counter() - t0
        assert out.returncode == 0, out.stderr[-3000:]
        read = (
            "import json, sys\n"
            "from nbgrader.api import Gradebook\n"
            "out = {}\n"
            "with Gradebook(sys.argv[1]) as gb:\n"
            "    for s in gb.assignment_submissions('ps1'):\n"
            "        cells = {g.name: g.auto_score for nb in s.notebooks for g in nb.grades}\n"
            "        out[s.student_id] = [s.score, s.max_score, s.needs_manual_grade, cells]\n"
            "print(json.dumps(out))\n"
        )
        got = subprocess.run(
            [str(bindir / "python"), "-c", read, db],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return wall, json.loads(got.stdout)
    finally:
        shutil.rmtree(course, ignore_errors=True)


@pytest.mark.bench
@pytest.mark.django_db(transaction=True)
def test_grading_throughput_vs_nbgrader(lab_setup, monkeypatch):
    lab = lab_setup.lab
    # Enqueue by hand, all at once, so the clock starts at the first enqueue.
    queued: list[tuple[int, int]] = []
    monkeypatch.setattr(services, "enqueue", lambda _name, pk, number: queued.append((pk, number)))
    content = SUBMISSION.read_bytes()
    names = []
    for _ in range(N):
        user = UserFactory(username=f"bg{uuid.uuid4().hex[:8]}")
        Enrolment.objects.create(run=lab_setup.run, user=user, state=EnrolmentState.ACTIVE)
        services.submission_create(actor=user, lab=lab, content=content)
        names.append(user.username)
    assert len(queued) == N

    bare = _bare_execution_seconds()

    results = {}
    pairs = list(queued)
    for label, pool in (("pool on", "1"), ("pool off", "0")):
        if label == "pool off":
            queued.clear()
            services.lab_regrade(actor=lab_setup.people.instructor, lab=lab)
            pairs = list(queued)
            assert len(pairs) == N
        wall, in_task, runs = _grade_all(lab, pairs, {"NOTEBOOK_KERNEL_POOL": pool})
        _check(runs)
        results[label] = (wall, in_task)
    assert Submission.objects.filter(lab=lab, status=SubmissionStatus.NEEDS_MANUAL).count() == N

    nb_wall, gradebook = _nbgrader(names)
    assert len(gradebook) == N
    for name, (score, max_score, needs_manual, cells) in gradebook.items():
        # nbgrader's scores equal ours (and the conformance table's).
        assert (score, max_score, needs_manual) == (2.0, 7.0, True), (name, score, max_score)
        assert cells == EXPECTED_CELLS, cells

    lines = [
        "",
        f"Grading benchmark: {N} submissions of the conformance lab, {os.cpu_count()} CPUs, "
        f"worker concurrency {CONCURRENCY}",
        f"  notebook's own execution (bare local kernel, start-up excluded): {bare * 1000:.0f} ms",
    ]
    for label, (wall, in_task) in results.items():
        per_sub = wall * CONCURRENCY / N  # worker-seconds spent per submission
        lines.append(
            f"  Academy, {label:8}: {wall:6.1f} s wall  {N / wall * 60:6.1f} submissions/min  "
            f"{per_sub * 1000:5.0f} worker-ms/submission "
            f"(overhead {(per_sub - bare) * 1000:5.0f} ms)  "
            f"in-task median {statistics.median(in_task) * 1000:4.0f} ms"
        )
    nb_per = nb_wall / N  # nbgrader autograde grades one notebook at a time
    lines.append(
        f"  nbgrader autograde      : {nb_wall:6.1f} s wall  "
        f"{N / nb_wall * 60:6.1f} submissions/min  "
        f"{nb_per * 1000:5.0f} ms/submission "
        f"(overhead {(nb_per - bare) * 1000:5.0f} ms)"
    )
    for label, (wall, _) in results.items():
        lines.append(f"  throughput ratio Academy ({label}) / nbgrader: {nb_wall / wall:.2f}x")
    print("\n".join(lines))
