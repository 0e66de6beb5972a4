"""Benchmark (prints, never fails on time): grading at equal parallelism.

100 submissions of a small lab graded by a real Celery worker (prefork, PostgreSQL, Redis broker)
with N worker processes, N = the machine's cores, with the kernel pool on (the default) and off;
and in the same run `nbgrader autograde` with the same N processes: the same 100 submissions
split into N course directories, one `nbgrader autograde` per directory, all at once. Prints,
among others, the two lines of issue 15:

    grading ratio at equal parallelism: X.XXx      (nbgrader's wall / Academy's, pool on)
    grading overhead per submission: NNN ms        (worker time per submission - own execution)

Lab: the nbgrader conformance notebook (source = submitted-unchanged.ipynb, every submission =
submitted-changed.ipynb: 2 of 7 points, needs manual grading).  nbgrader 0.9.6 is installed in
its own venv, var/bench-nbgrader (created once, then reused).

Run: make bench PYTEST_ARGS="-k grading"   (method and figures: docs/benchmarks.md, "Grading")
"""

from __future__ import annotations

import json
import os
import resource
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
# Worker processes for Academy and nbgrader processes alike: the machine's cores.
PROCESSES = int(os.environ.get("BENCH_GRADING_PROCESSES") or os.cpu_count() or 1)
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
    time.sleep(3)  # let each child start its fork server and pooled kernel, as in steady state


def _tree_cpu_seconds(root: int) -> float:
    """CPU time of a process and all its descendants, including those already reaped (the
    kernel collects a child's times into its reaper's when it is waited for)."""
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            stats[int(entry)] = text[text.rindex(")") + 2 :].split()
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += sum(int(f) for f in stats[pid][11:15])  # utime stime cutime cstime
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


def _grade_all(lab, pairs, extra_env):  # type: ignore[no-untyped-def]
    """Start a worker, enqueue every (submission, number) at once, wait for all results.
    Returns (wall seconds first enqueue -> last result, per-run in-task seconds, runs, CPU
    seconds of the worker's processes and kernels meanwhile)."""
    with Worker(concurrency=PROCESSES, extra_env=extra_env) as worker:
        app.conf.task_default_queue = worker.queue
        try:
            _wait_ready(worker)
            assert worker.proc is not None
            cpu0 = _tree_cpu_seconds(worker.proc.pid)
            t0 = timezone.now()
            for pk, number in pairs:
                grade_submission.delay(pk, number)
            wanted = {(pk, number) for pk, number in pairs}

            def done():  # type: ignore[no-untyped-def]
                return GradingRun.objects.filter(
                    submission__lab=lab, status=GradingRunStatus.DONE, number=pairs[0][1]
                ).count() >= len(wanted)

            wait_for(done, timeout=60 + 10 * len(pairs), interval=0.1, what="all gradings")
            cpu = _tree_cpu_seconds(worker.proc.pid) - cpu0
        finally:
            app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    runs = list(GradingRun.objects.filter(submission__lab=lab, number=pairs[0][1]))
    wall = (max(r.finished_at for r in runs) - t0).total_seconds()
    in_task = [(r.finished_at - r.started_at).total_seconds() for r in runs]
    return wall, in_task, runs, cpu


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


def _nbgrader_course(bindir: Path, students: list[str]) -> Path:
    """A course directory with ps1 released and every student's submission in place."""
    course = ROOT / "var" / f"bench-nbgrader-course-{uuid.uuid4().hex[:8]}"
    (course / "source" / "ps1").mkdir(parents=True)
    shutil.copy(SOURCE, course / "source" / "ps1" / "problem.ipynb")
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    for name in students:
        (course / "submitted" / name / "ps1").mkdir(parents=True)
        shutil.copy(SUBMISSION, course / "submitted" / name / "ps1" / "problem.ipynb")
    subprocess.run(
        [str(bindir / "nbgrader"), "generate_assignment", "ps1", *_nbgrader_args(course)],
        cwd=course,
        env=_nbgrader_env(bindir),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return course


def _nbgrader_args(course: Path) -> list[str]:
    return [f"--course-dir={course}", f"--db=sqlite:///{course / 'gradebook.db'}", "--force"]


def _nbgrader_env(bindir: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}


READ_GRADEBOOK = """
import json, sys
from nbgrader.api import Gradebook
out = {}
with Gradebook(sys.argv[1]) as gb:
    for s in gb.assignment_submissions('ps1'):
        cells = {g.name: g.auto_score for nb in s.notebooks for g in nb.grades}
        out[s.student_id] = [s.score, s.max_score, s.needs_manual_grade, cells]
print(json.dumps(out))
"""


def _nbgrader(students: list[str], processes: int):  # type: ignore[no-untyped-def]
    """`nbgrader autograde` with ``processes`` processes at once, each over its own course
    directory holding its share of the students; returns (wall seconds from the first start
    to the last exit, CPU seconds of those processes and their kernels, the gradebooks'
    scores by student)."""
    bindir = _nbgrader_bin()
    shares = [students[i::processes] for i in range(processes)]
    courses = [_nbgrader_course(bindir, share) for share in shares if share]
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [str(bindir / "nbgrader"), "autograde", "ps1", "--create", *_nbgrader_args(c)],
                cwd=c,
                env=_nbgrader_env(bindir),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for c in courses
        ]
        errors = [p.communicate(timeout=3600)[1] for p in procs]
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = sum(getattr(after, f) - getattr(before, f) for f in ("ru_utime", "ru_stime"))
        for proc, err in zip(procs, errors, strict=True):
            assert proc.returncode == 0, err[-3000:].decode(errors="replace")
        gradebook: dict[str, list] = {}
        for course in courses:
            got = subprocess.run(
                [
                    str(bindir / "python"),
                    "-c",
                    READ_GRADEBOOK,
                    f"sqlite:///{course / 'gradebook.db'}",
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            gradebook.update(json.loads(got.stdout))
        return wall, cpu, gradebook
    finally:
        for course in courses:
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
        # CONN_MAX_AGE as in production (the test workers default to a connection per task).
        env = {"NOTEBOOK_KERNEL_POOL": pool, "CONN_MAX_AGE": "60"}
        wall, in_task, runs, cpu = _grade_all(lab, pairs, env)
        _check(runs)
        results[label] = (wall, in_task, cpu)
    assert Submission.objects.filter(lab=lab, status=SubmissionStatus.NEEDS_MANUAL).count() == N

    nb_wall, nb_cpu, gradebook = _nbgrader(names, PROCESSES)
    assert len(gradebook) == N
    for name, (score, max_score, needs_manual, cells) in gradebook.items():
        # nbgrader's scores equal ours (and the conformance table's).
        assert (score, max_score, needs_manual) == (2.0, 7.0, True), (name, score, max_score)
        assert cells == EXPECTED_CELLS, cells

    load = os.getloadavg()[0]
    lines = [
        "",
        f"Grading benchmark: {N} submissions of the conformance lab, {os.cpu_count()} CPUs, "
        f"{PROCESSES} worker processes for Academy and {PROCESSES} nbgrader processes "
        f"(load average {load:.1f} at the end)",
        f"  notebook's own execution (bare local kernel, start-up excluded): {bare * 1000:.0f} ms",
    ]
    for label, (wall, in_task, cpu) in results.items():
        per_sub = wall * PROCESSES / N  # worker-seconds spent per submission
        lines.append(
            f"  Academy, {label:8}: {wall:6.1f} s wall  {N / wall * 60:6.1f} submissions/min  "
            f"{per_sub * 1000:5.0f} worker-ms/submission "
            f"(overhead {(per_sub - bare) * 1000:5.0f} ms)  "
            f"CPU {cpu / N * 1000:4.0f} ms/submission  "
            f"in-task median {statistics.median(in_task) * 1000:4.0f} ms"
        )
    nb_per = nb_wall * PROCESSES / N
    lines.append(
        f"  nbgrader autograde x{PROCESSES}   : {nb_wall:6.1f} s wall  "
        f"{N / nb_wall * 60:6.1f} submissions/min  "
        f"{nb_per * 1000:5.0f} worker-ms/submission "
        f"(overhead {(nb_per - bare) * 1000:5.0f} ms)  "
        f"CPU {nb_cpu / N * 1000:4.0f} ms/submission"
    )
    for label, (wall, _, cpu) in results.items():
        lines.append(
            f"  ratio Academy ({label}) / nbgrader: {nb_wall / wall:.2f}x in wall time, "
            f"{nb_cpu / cpu:.2f}x in CPU"
        )
    wall = results["pool on"][0]
    lines += [
        f"grading ratio at equal parallelism: {nb_wall / wall:.2f}x",
        f"grading overhead per submission: {(wall * PROCESSES / N - bare) * 1000:.0f} ms",
    ]
    print("\n".join(lines))
