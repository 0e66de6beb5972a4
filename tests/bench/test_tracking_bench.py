"""Tracking benchmark, on PostgreSQL.  Prints figures; never fails on time.

An institution of 5,000 people in 20 cohorts (one of them 500 people), 50 course runs, four
enrolments each (20,000 enrolments, a snapshot for every one), 200,000 learning events rolled
up into daily activity by ``tracking.services.roll_up``, GPU jobs and budgets, programme
allocations.  The dashboard (all, and narrowed to a cohort) and, when the cohort page exists,
the cohort page of the 500 people, behind gunicorn (2 workers) at 4 clients.  Target: p95 under
300 ms; the dashboard's number of queries is the same as in the small test.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/academy DEBUG=1 \\
      .venv/bin/python -m pytest tests/bench/test_tracking_bench.py -m bench -s
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from academy.models import Cohort, Institution, Membership, Role, User
from courses.models import Course, CourseRun, Enrolment
from credentials import signing
from notebooks.sessions.models import CohortGpuBudget, GpuUsage
from programmes.models import (
    Allocation,
    AllocationSource,
    AllocationState,
    Programme,
    ProgrammeCohort,
    ProgrammeVersion,
)
from tests.bench.test_courses_bench import ROOT, _free_port, _load
from tests.bench.test_programmes_bench import _page_queries, _profile
from tracking import services
from tracking.models import EnrolmentSnapshot, EventKind, LearningEvent

PEOPLE = 5000
COHORTS = 20
BIG_COHORT = 500  # cohort 0
RUNS = 50
PER_PERSON = 4  # enrolments
EVENTS = 200_000
KINDS = [k.value for k in EventKind]


def _cohort_of(i: int) -> int:
    return 0 if i < BIG_COHORT else 1 + (i - BIG_COHORT) % (COHORTS - 1)


def _build() -> tuple[Institution, User, list[Cohort]]:
    now = timezone.now()
    admin = User.objects.create_user("benchadmin", "admin@bench.example", "x")
    inst = Institution.objects.create(name="Bench University", slug="bench-u", kind="university")
    Membership.objects.create(user=admin, institution=inst, role=Role.ADMIN)
    cohorts = Cohort.objects.bulk_create(
        [Cohort(institution=inst, name=f"Intake {c:02d}", intake_year=2026) for c in range(COHORTS)]
    )
    courses = Course.objects.bulk_create(
        [Course(code=f"C{k:02d}", title=f"Course {k}", is_published=True) for k in range(10)]
    )
    runs = CourseRun.objects.bulk_create(
        [
            CourseRun(
                course=courses[r % 10],
                title=f"Run {r}",
                starts_at=now - timedelta(days=120 - r),
                ends_at=now + timedelta(days=r - 20),
                enrolment_opens_at=now - timedelta(days=150),
                enrolment_closes_at=now - timedelta(days=100),
                pass_mark=Decimal(50 + (r % 3) * 5),
            )
            for r in range(RUNS)
        ]
    )
    password = make_password(None)
    users = User.objects.bulk_create(
        [
            User(
                username=f"t{i}",
                email=f"t{i}@bench.example",
                first_name="T",
                last_name=f"Person {i:05d}",
                password=password,
            )
            for i in range(PEOPLE)
        ],
        batch_size=5000,
    )
    Membership.objects.bulk_create(
        [Membership(user=u, institution=inst, role=Role.STUDENT) for u in users], batch_size=5000
    )
    through = Cohort.members.through
    through.objects.bulk_create(
        [through(cohort=cohorts[_cohort_of(i)], user=u) for i, u in enumerate(users)],
        batch_size=5000,
    )
    programme = Programme.objects.create(code="bench-prog", title="Bench programme")
    version = ProgrammeVersion.objects.create(programme=programme, number=1)
    ProgrammeCohort.objects.bulk_create(
        [ProgrammeCohort(programme=programme, cohort=c) for c in cohorts]
    )
    Allocation.objects.bulk_create(
        [
            Allocation(
                user=u,
                programme=programme,
                version=version,
                state=AllocationState.ACTIVE,
                source=AllocationSource.COHORT,
                cohort=cohorts[_cohort_of(i)],
                items_done=i % 7,
                items_total=6,
            )
            for i, u in enumerate(users)
        ],
        batch_size=5000,
    )
    enrolments = []
    for i, u in enumerate(users):
        for k in range(PER_PERSON):
            state = "active" if k < 3 else "completed"
            if i % 97 == 0 and k == 0:
                state = "waitlisted"
            enrolments.append(
                Enrolment(
                    run=runs[(i + 13 * k) % RUNS],
                    user=u,
                    state=state,
                    cohort=cohorts[_cohort_of(i)],
                )
            )
    Enrolment.objects.bulk_create(enrolments, batch_size=5000)
    snaps = []
    for n, e in enumerate(enrolments):
        i = n // PER_PERSON
        done = e.state == "completed"
        snaps.append(
            EnrolmentSnapshot(
                enrolment=e,
                user_id=e.user_id,
                run_id=e.run_id,
                cohort_id=e.cohort_id,
                institution=inst,
                state=e.state,
                lessons_done=n % 12,
                lessons_total=12,
                labs_total=4,
                labs_submitted=n % 5,
                labs_graded=n % 4,
                missed_deadlines=(n * 7) % 4,
                grade=Decimal(25 + (n * 37) % 75),
                grade_trend=Decimal(-((n * 11) % 30)),
                passed=(n % 5 != 0) if done else None,
                gpu_hours=Decimal(n % 9),
                last_activity_at=now - timedelta(days=(i * 3 + n) % 40),
                waitlisted_since=now - timedelta(days=i % 30) if e.state == "waitlisted" else None,
            )
        )
    EnrolmentSnapshot.objects.bulk_create(snaps, batch_size=5000)
    services.rebuild_summaries()  # what the snapshot engine keeps beside its snapshots
    events = []
    for n in range(EVENTS):
        e = enrolments[(n * 7919) % len(enrolments)]
        events.append(
            LearningEvent(
                occurred_at=now - timedelta(minutes=(n * 53) % (84 * 24 * 60)),
                kind=KINDS[n % len(KINDS)],
                user_id=e.user_id,
                run_id=e.run_id,
                institution=inst,
                object_id=n % 100,
            )
        )
    LearningEvent.objects.bulk_create(events, batch_size=10000)
    GpuUsage.objects.bulk_create(
        [
            GpuUsage(
                job_id=f"b{n}",
                user_id=enrolments[n * 2].user_id,
                run_id=enrolments[n * 2].run_id,
                cohort_id=enrolments[n * 2].cohort_id,
                gpus=1,
                elapsed_seconds=1800 + n % 3600,
                gpu_seconds=1800 + n % 3600,
                started_at=now - timedelta(hours=n % (84 * 24)),
                finished=True,
            )
            for n in range(10_000)
        ],
        batch_size=5000,
    )
    CohortGpuBudget.objects.bulk_create(
        [
            CohortGpuBudget(run=runs[r], cohort=c, gpu_hours=Decimal(100))
            for c in cohorts
            for r in range(0, RUNS, 5)
        ]
    )
    return inst, admin, cohorts


@pytest.mark.bench
@pytest.mark.django_db(transaction=True)
def test_tracking_benchmark(request):  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.fail("The benchmark runs on PostgreSQL: set DATABASE_URL=postgresql://...")

    t0 = time.perf_counter()
    inst, admin, cohorts = _build()
    built = time.perf_counter()
    rows = services.roll_up()
    rolled = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"\n[bench] {PEOPLE} people, {COHORTS} cohorts, {RUNS} runs, "
        f"{EnrolmentSnapshot.objects.count()} snapshots, {LearningEvent.objects.count()} events "
        f"built in {built - t0:.1f}s; roll_up into {rows} daily rows: {rolled - built:.1f}s"
    )

    # The server below runs the production profile with its own secret: the session it reads
    # must be signed with the same one.
    secret_key = secrets.token_urlsafe(50)
    request.getfixturevalue("settings").SECRET_KEY = secret_key
    client = Client()
    client.force_login(admin)
    dashboard = reverse("tracking-dashboard", args=[inst.slug])
    pages = [dashboard, f"{dashboard}?cohort={cohorts[3].pk}"]
    try:
        pages.append(reverse("tracking-cohort", args=[inst.slug, cohorts[0].pk]))
    except NoReverseMatch:
        print("[bench] no cohort page (tracking-cohort) yet: not measured")
    queries = [_page_queries(client, path, show=True) for path in pages]
    if os.environ.get("BENCH_PROFILE"):
        _profile(lambda: client.get(dashboard))
        with CaptureQueriesContext(connection) as captured:
            client.get(dashboard)
        for q in sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:10]:
            print(f"[bench]   {float(q['time']) * 1000:6.0f} ms  {q['sql'][:150]}")
    cookie = client.cookies["sessionid"].value

    port = _free_port()
    db = settings.DATABASES["default"]
    # The production profile (DEBUG=0: cached templates, manifest static files), plain HTTP on
    # loopback: what the target is about.
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secret_key,
        "ACADEMY_CREDENTIAL_KEY": f"bench:{signing.generate_key()[0]}",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": tempfile.mkdtemp(prefix="bench-static-"),
        "CONN_MAX_AGE": "60",
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
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
        for path in pages:  # the pages themselves, not a redirect to the login page
            check = requests.get(
                base + path, cookies={"sessionid": cookie}, allow_redirects=False, timeout=30
            )
            assert check.status_code == 200, (path, check.status_code)
        results = [_load(base, path, cookie, 4) for path in pages]
    finally:
        server.terminate()
        server.wait(10)

    print(f"[bench] {PEOPLE} people; gunicorn 2 sync workers, DEBUG=0; target p95 < 300 ms")
    print(
        f"[bench] {'page':<56} {'clients':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
        "errors queries"
    )
    for r, q in zip(results, queries, strict=True):
        print(
            f"[bench] {r['path']:<56} {r['threads']:7d} {r['rps']:7.1f} {r['p50']:7.1f} "
            f"{r['p95']:7.1f} {r['errors']:6d} {q}"
        )
    assert all(r["errors"] == 0 for r in results)
