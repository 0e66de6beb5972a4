"""Courses benchmark: 500 courses and a run of 5,000 enrolments on PostgreSQL behind gunicorn;
the roster CSV export of 50,000 enrolments.  Prints figures; never fails on time.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/academy DEBUG=1 \\
      .venv/bin/python -m pytest tests/bench/test_courses_bench.py -m bench -s
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test import Client
from django.utils import timezone

from academy.models import Cohort, Institution, Membership, Role, User
from courses.models import Course, CourseRun, CourseStaff, Enrolment

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 320  # per page and load level, split across the client threads


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(course: Course, title: str, capacity: int | None) -> CourseRun:
    now = timezone.now()
    return CourseRun.objects.create(
        course=course,
        title=title,
        capacity=capacity,
        starts_at=now,
        ends_at=now + timezone.timedelta(days=60),
        enrolment_opens_at=now - timezone.timedelta(days=1),
        enrolment_closes_at=now + timezone.timedelta(days=30),
    )


def _people(prefix: str, n: int, run: CourseRun, cohorts: list[Cohort]) -> None:
    password = make_password(None)
    users = User.objects.bulk_create(
        [
            User(
                username=f"{prefix}{i}",
                email=f"{prefix}{i}@bench.example",
                first_name="B",
                last_name=f"Person {i}",
                password=password,
            )
            for i in range(n)
        ],
        batch_size=5000,
    )
    Enrolment.objects.bulk_create(
        [
            Enrolment(
                run=run,
                user=u,
                state="active" if i % 10 else "waitlisted",
                waitlist_position=None if i % 10 else i,
                cohort=cohorts[i % len(cohorts)],
            )
            for i, u in enumerate(users)
        ],
        batch_size=5000,
    )


def _load(base: str, path: str, cookie: str, threads: int) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal errors
        session = requests.Session()
        session.cookies.set("sessionid", cookie)
        for _ in range(REQUESTS // threads):
            t0 = time.perf_counter()
            r = session.get(base + path, timeout=30)
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                errors += r.status_code != 200

    session = requests.Session()
    session.cookies.set("sessionid", cookie)
    for _ in range(5):  # warm up both workers
        session.get(base + path, timeout=30)
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    return {
        "path": path,
        "threads": threads,
        "n": len(latencies),
        "errors": errors,
        "rps": len(latencies) / wall,
        "p50": q[49] * 1000,
        "p95": q[94] * 1000,
    }


def _export(base: str, path: str, cookie: str, pids: list[int]) -> dict:
    procs = [psutil.Process(p) for p in pids]
    baseline = {p.pid: p.memory_info().rss for p in procs}
    peak = dict(baseline)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for p in procs:
                peak[p.pid] = max(peak[p.pid], p.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    size = rows = 0
    with requests.get(base + path, cookies={"sessionid": cookie}, stream=True, timeout=120) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(65536):
            size += len(chunk)
            rows += chunk.count(b"\n")
    elapsed = time.perf_counter() - t0
    done.set()
    sampler.join()
    growth = max(peak[pid] - baseline[pid] for pid in baseline)
    return {
        "rows": rows - 1,
        "seconds": elapsed,
        "mb": size / 1e6,
        "worker_rss_mb": max(peak.values()) / 1e6,
        "worker_growth_mb": growth / 1e6,
    }


@pytest.mark.bench
@pytest.mark.django_db(transaction=True)
def test_courses_benchmark(request):  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.fail("The benchmark runs on PostgreSQL: set DATABASE_URL=postgresql://...")

    t0 = time.perf_counter()
    inst = Institution.objects.create(name="Bench University", slug="bench-u", kind="university")
    cohorts = [
        Cohort.objects.create(institution=inst, name=f"Bench {i}", intake_year=2027)
        for i in range(4)
    ]
    sectors = ["health", "energy", "public_administration", "transport", "research", "general"]
    courses = Course.objects.bulk_create(
        [
            Course(
                code=f"B{i:04d}",
                title=f"Benchmark course {i}",
                summary="GPU training " * 5,
                sectors=[sectors[i % 6], sectors[(i + 1) % 6]],
                is_published=True,
                level=["introductory", "intermediate", "advanced"][i % 3],
            )
            for i in range(500)
        ]
    )
    now = timezone.now()
    CourseRun.objects.bulk_create(
        [
            CourseRun(
                course=c,
                title="Spring",
                starts_at=now,
                ends_at=now + timezone.timedelta(days=60),
                enrolment_opens_at=now - timezone.timedelta(days=1),
                enrolment_closes_at=now + timezone.timedelta(days=30),
            )
            for c in courses
        ]
    )
    roster_run = _run(courses[0], "Roster 5k", 6000)
    export_run = _run(courses[1], "Export 50k", None)
    _people("r", 5000, roster_run, cohorts)
    _people("x", 50000, export_run, cohorts)
    instructor = User.objects.create_user("benchteacher", "teacher@bench.example", "x")
    Membership.objects.create(user=instructor, institution=inst, role=Role.INSTRUCTOR)
    for run in (roster_run, export_run):
        CourseStaff.objects.create(run=run, user=instructor)
    client = Client()
    client.force_login(instructor)
    cookie = client.cookies["sessionid"].value
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"\n[bench] data built in {time.perf_counter() - t0:.1f}s")

    port = _free_port()
    static_root = tempfile.mkdtemp(prefix="bench-static-")
    db = settings.DATABASES["default"]
    # DEBUG=1: with DEBUG=0, collectstatic fails today (vendor/chart.umd.min.js names a source
    # map that is not shipped), so the manifest storage cannot be built.
    env = {
        **os.environ,
        "DEBUG": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": static_root,
        "CONN_MAX_AGE": "60",
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "LOG_LEVEL": "WARNING",
    }
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(
        [
            str(bin_dir / "gunicorn"),
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
            except requests.ConnectionError:
                time.sleep(0.1)
        workers = [c.pid for c in psutil.Process(server.pid).children()]
        pages = [
            "/courses/",
            "/courses/?q=course+4&sector=health&open=1&page=2",
            f"/runs/{roster_run.pk}/roster/",
            f"/runs/{roster_run.pk}/roster/?state=active&cohort={cohorts[1].pk}&page=5",
        ]
        # 4 client threads keep both workers busy (2 in flight each); 8 overload them, and
        # latency then measures queueing.
        results = [_load(base, path, cookie, threads) for threads in (4, 8) for path in pages]
        small = _export(base, f"/runs/{roster_run.pk}/roster.csv", cookie, workers)
        big = _export(base, f"/runs/{export_run.pk}/roster.csv", cookie, workers)
    finally:
        server.terminate()
        server.wait(10)

    print(f"[bench] gunicorn 2 sync workers, DEBUG=1, {REQUESTS} requests per line")
    print(f"[bench] {'page':<62} {'clients':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} errors")
    for r in results:
        print(
            f"[bench] {r['path']:<62} {r['threads']:7d} {r['rps']:7.1f} {r['p50']:7.1f} "
            f"{r['p95']:7.1f} {r['errors']}"
        )
    for label, e in (("5,000", small), ("50,000", big)):
        print(
            f"[bench] roster.csv {label:>6} rows: {e['rows']} rows, {e['mb']:.1f} MB "
            f"in {e['seconds']:.2f}s; "
            f"worker peak RSS {e['worker_rss_mb']:.0f} MB (growth {e['worker_growth_mb']:.1f} MB)"
        )
