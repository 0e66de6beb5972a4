"""Programmes benchmark, on PostgreSQL.  Prints figures; never fails on time.

(a) 2,000 people follow "AI engineer, foundation" (six course items, one finished run each
with three graded labs); a lab is regraded for all of them in one transaction, and their
progress is recomputed through the real path (receivers → one task after the commit →
``services.recompute_progress``).  Target: under 60 s on the 2-core machine.
(b) 5,000 people follow it; the staff people page, a cohort's progress and one person's map
behind gunicorn (2 workers) at 4 clients.  Target: p95 under 300 ms, the same number of
queries at 2,000 and 5,000 people.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/academy DEBUG=1 \\
      .venv/bin/python -m pytest tests/bench/test_programmes_bench.py -m bench -s
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from academy.celery import app
from academy.jobs import task_named
from academy.models import Cohort, Institution, User
from courses.models import Course, CourseRun, Enrolment, EnrolmentState
from notebooks.models import Lab, Submission
from programmes import services
from programmes.models import (
    Allocation,
    AllocationSource,
    AllocationState,
    Completion,
    Programme,
    ProgrammeCohort,
    Requirement,
    Rule,
)
from tests.bench.test_courses_bench import ROOT, _free_port, _load

FIRST = 2000  # people of the recompute benchmark
TOTAL = 5000  # people of the page benchmark
LABS = 3  # per run
CODES = ("GPU101", "PAR150", "MED210", "ENE220", "LLM230", "CAP300")


def _programme(operator: User) -> tuple[Programme, dict[str, CourseRun]]:
    """The programme (built through the services, as staff build it) and one finished run
    per course, each with its labs."""
    courses = {
        code: Course.objects.create(code=code, title=f"Course {code}", is_published=True)
        for code in CODES
    }
    programme = services.programme_create(
        actor=operator, code="ai-foundation", title="AI engineer, foundation", ects=Decimal(30)
    )
    root = Requirement.objects.get(version__programme=programme, parent=None)
    services.requirement_change(actor=operator, requirement=root, rule=Rule.ALL_IN_ORDER)
    for code in ("GPU101", "PAR150"):
        services.requirement_add(actor=operator, parent=root, course=courses[code], points=5)
    electives = services.requirement_add(
        actor=operator, parent=root, rule=Rule.AT_LEAST, count=2, title="Two electives"
    )
    for code in ("MED210", "ENE220", "LLM230"):
        services.requirement_add(
            actor=operator,
            parent=electives,
            course=courses[code],
            points=5,
            min_grade=Decimal(60),
        )
    services.requirement_add(actor=operator, parent=root, course=courses["CAP300"], points=10)
    services.version_publish(actor=operator, version=programme.versions.get())
    now = timezone.now()
    runs = {}
    for code, course in courses.items():
        run = CourseRun.objects.create(
            course=course,
            title="Spring 2026",
            starts_at=now - timedelta(days=90),
            ends_at=now - timedelta(days=1),
            enrolment_opens_at=now - timedelta(days=120),
            enrolment_closes_at=now - timedelta(days=80),
        )
        for n in range(LABS):
            Lab.objects.create(run=run, title=f"{code} lab {n + 1}", due_at=now - timedelta(days=3))
        runs[code] = run
    return programme, runs


def _courses_of(i: int) -> dict[str, int]:
    """Person ``i``'s courses and their base score: everyone took GPU101, most PAR150, two or
    three electives, many the capstone; some fail, some are under an elective's minimum."""
    taken = {"GPU101": 45 + (i * 7) % 50, "PAR150": 50 + (i * 11) % 45}
    for k, code in enumerate(("MED210", "ENE220", "LLM230")):
        if (i + k) % 4:
            taken[code] = 55 + (i * (k + 3)) % 40
    if i % 10 < 6:
        taken["CAP300"] = 60 + (i * 13) % 35
    if i % 10 == 9:
        del taken["PAR150"]
    return taken


def _people(
    start: int, n: int, programme: Programme, runs: dict[str, CourseRun], cohorts: list[Cohort]
) -> list[int]:
    password = make_password(None)
    users = User.objects.bulk_create(
        [
            User(
                username=f"p{i}",
                email=f"p{i}@bench.example",
                first_name="P",
                last_name=f"Person {i:05d}",
                password=password,
            )
            for i in range(start, start + n)
        ],
        batch_size=5000,
    )
    version = programme.versions.get()
    Allocation.objects.bulk_create(
        [
            Allocation(
                user=u,
                programme=programme,
                version=version,
                state=AllocationState.ACTIVE,
                source=AllocationSource.COHORT,
                cohort=cohorts[i % len(cohorts)],
            )
            for i, u in enumerate(users, start)
        ],
        batch_size=5000,
    )
    labs = {code: list(run.labs.order_by("pk")) for code, run in runs.items()}
    enrolments, submissions = [], []
    for i, user in enumerate(users, start):
        for code, base in _courses_of(i).items():
            enrolments.append(Enrolment(run=runs[code], user=user, state=EnrolmentState.ACTIVE))
            for k, lab in enumerate(labs[code]):
                submissions.append(
                    Submission(
                        lab=lab,
                        student=user,
                        attempt=1,
                        file="bench.ipynb",
                        sha256="0" * 64,
                        status="graded",
                        score=Decimal(min(100, base + 3 * k)),
                        max_score=Decimal(100),
                    )
                )
    Enrolment.objects.bulk_create(enrolments, batch_size=5000)
    Submission.objects.bulk_create(submissions, batch_size=5000)
    return [u.pk for u in users]


class _Spy:
    """Counts the recompute tasks sent and times the work each one does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[int] = []
        self.seconds: list[float] = []
        real_send, real_recompute = services.send, services.recompute_progress

        def send(name, *args, **kwargs):  # type: ignore[no-untyped-def]
            if name == services.RECOMPUTE_TASK:
                self.sent.append(len(args[0]))
            return real_send(name, *args, **kwargs)

        def recompute(user_ids):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return real_recompute(user_ids)
            finally:
                self.seconds.append(time.perf_counter() - t0)

        monkeypatch.setattr(services, "send", send)
        monkeypatch.setattr(services, "recompute_progress", recompute)


def _through_the_task(user_ids: list[int]) -> tuple[float, int]:
    """Send the task (eager) for these people: seconds and queries."""
    task = task_named(services.RECOMPUTE_TASK)
    with CaptureQueriesContext(connection) as queries:
        t0 = time.perf_counter()
        task.delay(user_ids).get()
        seconds = time.perf_counter() - t0
    return seconds, len(queries)


def _page_queries(client: Client, path: str, show: bool = False) -> int:
    """The page's number of queries (in this process); ``show``: its time and the slowest
    queries, to see where the time goes."""
    with CaptureQueriesContext(connection) as queries:
        t0 = time.perf_counter()
        response = client.get(path)
        ms = (time.perf_counter() - t0) * 1000
    assert response.status_code == 200, (path, response.status_code)
    if show:
        spent = sum(float(q["time"]) for q in queries.captured_queries) * 1000
        print(f"[bench] {path}: {ms:.0f} ms in one request, {spent:.0f} ms of it in SQL")
        slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:2]
        for q in slowest:
            print(f"[bench]   {float(q['time']) * 1000:6.0f} ms  {q['sql'][:160]}")
    return len(queries)


def _profile(work: Callable[[], object]) -> None:
    """BENCH_PROFILE=1: where the time of ``work`` goes (cProfile, by cumulative time)."""
    profile = cProfile.Profile()
    profile.enable()
    work()
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(30)
    print(out.getvalue())


@pytest.fixture
def eager():  # type: ignore[no-untyped-def]
    """Tasks run where they are sent (the task path without a worker), timed here."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.mark.bench
@pytest.mark.django_db(transaction=True)
def test_programmes_benchmark(request, monkeypatch, eager):  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.fail("The benchmark runs on PostgreSQL: set DATABASE_URL=postgresql://...")

    t0 = time.perf_counter()
    operator = User.objects.create_user("benchoperator", "op@bench.example", "x", is_staff=True)
    operator.is_superuser = True
    operator.save(update_fields=["is_superuser"])
    inst = Institution.objects.create(name="Bench University", slug="bench-u", kind="university")
    cohorts = [
        Cohort.objects.create(institution=inst, name=f"Intake {i}", intake_year=2026)
        for i in range(4)
    ]
    programme, runs = _programme(operator)
    for cohort in cohorts:
        ProgrammeCohort.objects.create(programme=programme, cohort=cohort)
    first = _people(0, FIRST, programme, runs, cohorts)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"\n[bench] {FIRST} people, {Submission.objects.count()} submissions built in "
        f"{time.perf_counter() - t0:.1f}s"
    )

    # (a) progress after a bulk regrade, through the task.
    seconds, queries = _through_the_task(first)
    print(f"[bench] first progress of {FIRST} people: {seconds:.1f} s, {queries} queries")
    completed = Completion.objects.count()
    spy = _Spy(monkeypatch)
    lab = runs["GPU101"].labs.order_by("pk").first()
    assert lab is not None
    t0 = time.perf_counter()
    with CaptureQueriesContext(connection) as commit_queries, transaction.atomic():
        for sub in Submission.objects.filter(lab=lab).order_by("pk"):
            sub.score = max(Decimal(0), (sub.score or Decimal(0)) - 12)  # a harsher test
            sub.save(update_fields=["score", "status", "updated_at"])
        saved = time.perf_counter()
        before_commit = len(commit_queries)
    done = time.perf_counter()
    flagged = Completion.objects.filter(needs_review=True).count()
    print(
        f"[bench] regrade of {FIRST} submissions in one transaction: {saved - t0:.1f} s; "
        f"{len(spy.sent)} task(s) sent for {sum(spy.sent)} people"
    )
    print(
        f"[bench] programme progress recomputed for {FIRST} people: {done - saved:.1f} s "
        f"(task {sum(spy.seconds):.1f} s, {len(commit_queries) - before_commit} queries; "
        f"target < 60 s); {completed} completions, {flagged} flagged for review"
    )
    seconds, queries = _through_the_task(first)
    print(f"[bench] the same again (idempotent): {seconds:.1f} s, {queries} queries")
    if os.environ.get("BENCH_PROFILE"):
        _profile(lambda: services.recompute_progress(first))

    # (b) the pages at 5,000 people.
    client = Client()
    client.force_login(operator)
    person = Allocation.objects.get(user_id=first[7])
    pages = [
        f"/manage/programmes/{programme.code}/people/",
        f"/manage/programmes/{programme.code}/people/?page=40",
        f"/manage/programmes/{programme.code}/cohorts/{cohorts[1].pk}/",
        f"/manage/allocations/{person.pk}/",
    ]
    at_first = [_page_queries(client, path) for path in pages]
    rest = _people(FIRST, TOTAL - FIRST, programme, runs, cohorts)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seconds, queries = _through_the_task(rest)
    print(f"[bench] first progress of {len(rest)} more people: {seconds:.1f} s, {queries} queries")
    at_total = [_page_queries(client, path, show=True) for path in pages]
    if os.environ.get("BENCH_PROFILE"):
        _profile(lambda: client.get(pages[1]))
    cookie = client.cookies["sessionid"].value

    port = _free_port()
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DEBUG": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": tempfile.mkdtemp(prefix="bench-static-"),
        "CONN_MAX_AGE": "60",
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "academy.wsgi:application",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "/dev/null",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/healthz", timeout=1)
                break
            except requests.RequestException:  # not listening yet, or still booting
                time.sleep(0.2)
        results = [_load(base, path, cookie, 4) for path in pages]
    finally:
        server.terminate()
        server.wait(10)

    print(f"[bench] {TOTAL} people; gunicorn 2 sync workers, DEBUG=1; target p95 < 300 ms")
    print(
        f"[bench] {'page':<52} {'clients':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"errors queries@{FIRST}/@{TOTAL}"
    )
    for r, q1, q2 in zip(results, at_first, at_total, strict=True):
        print(
            f"[bench] {r['path']:<52} {r['threads']:7d} {r['rps']:7.1f} {r['p50']:7.1f} "
            f"{r['p95']:7.1f} {r['errors']:6d} {q1}/{q2}"
        )
