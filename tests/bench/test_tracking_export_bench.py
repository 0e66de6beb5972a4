"""Tracking export benchmark: the cohort table of 50,000 people (one enrolment snapshot each)
as XLSX, and the at-risk list of 50,000 enrolments; time and peak memory (tracemalloc: Python
allocations while the download is produced and read) against 5,000 rows, to show that memory
stays flat.  Prints figures; never fails on time.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/academy DEBUG=1 \\
      .venv/bin/python -m pytest tests/bench/test_tracking_export_bench.py -m bench -s
"""

from __future__ import annotations

import io
import resource
import time
import tracemalloc
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from academy.models import Cohort, Institution, Membership, Role, User
from courses.models import Course, CourseRun, Enrolment
from tracking.models import EnrolmentSnapshot

BATCH = 5000


def _cohort(inst: Institution, name: str, n: int, run: CourseRun) -> Cohort:
    cohort = Cohort.objects.create(institution=inst, name=name, intake_year=2027)
    now = timezone.now()
    for start in range(0, n, BATCH):
        users = User.objects.bulk_create(
            [
                User(
                    username=f"{name}-{i}",
                    email=f"{name}-{i}@bench.example",
                    first_name="Bench",
                    last_name=f"Person {i:06d}",
                    password="!",
                )
                for i in range(start, min(n, start + BATCH))
            ]
        )
        Membership.objects.bulk_create(
            [Membership(user=u, institution=inst, role=Role.STUDENT) for u in users]
        )
        Cohort.members.through.objects.bulk_create(
            [Cohort.members.through(cohort=cohort, user=u) for u in users]
        )
        enrolments = Enrolment.objects.bulk_create(
            [Enrolment(run=run, user=u, state="active", cohort=cohort) for u in users]
        )
        EnrolmentSnapshot.objects.bulk_create(
            [
                EnrolmentSnapshot(
                    enrolment=e,
                    user_id=e.user_id,
                    run=run,
                    cohort=cohort,
                    institution=inst,
                    state="active",
                    lessons_done=e.pk % 10,
                    lessons_total=10,
                    labs_total=5,
                    labs_submitted=e.pk % 5,
                    labs_graded=e.pk % 4,
                    missed_deadlines=e.pk % 3,
                    grade=Decimal(e.pk % 100),
                    gpu_hours=Decimal("1.25"),
                    last_activity_at=now - timedelta(days=e.pk % 30),
                )
                for e in enrolments
            ]
        )
    return cohort


def _download(client: Client, url: str, traced: bool) -> dict:
    if traced:
        tracemalloc.start()
    t0 = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200
    size = 0
    body = io.BytesIO()  # kept only when not tracing: the download's own memory is measured
    for chunk in response.streaming_content:
        size += len(chunk)
        if not traced:
            body.write(chunk)
    elapsed = time.perf_counter() - t0
    peak = 0
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"seconds": elapsed, "mb": size / 1e6, "peak_mb": peak / 1e6, "body": body}


@pytest.mark.bench
@pytest.mark.django_db(transaction=True)
def test_tracking_export_benchmark(request):  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.fail("The benchmark runs on PostgreSQL: set DATABASE_URL=postgresql://...")
    t0 = time.perf_counter()
    inst = Institution.objects.create(name="Bench University", slug="bench-u", kind="university")
    now = timezone.now()
    run = CourseRun.objects.create(
        course=Course.objects.create(code="BENCH1", title="Bench"),
        title="Bench run",
        starts_at=now - timedelta(days=30),
        ends_at=now + timedelta(days=30),
        enrolment_opens_at=now - timedelta(days=40),
        enrolment_closes_at=now + timedelta(days=10),
    )
    small = _cohort(inst, "small", 5_000, run)
    large = _cohort(inst, "large", 50_000, run)
    admin = User.objects.create(username="bench-admin", email="a@bench.example")
    Membership.objects.create(user=admin, institution=inst, role=Role.ADMIN)
    print(f"\nbuilt 55,000 people and snapshots in {time.perf_counter() - t0:.1f} s")
    client = Client()
    client.force_login(admin)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = {}
    for label, cohort in (("5,000", small), ("50,000", large)):
        url = reverse("tracking-cohort-export", args=["bench-u", cohort.pk])
        for fmt in ("csv", "xlsx"):
            timed = _download(client, f"{url}?format={fmt}&sort=-grade", traced=False)
            traced = _download(client, f"{url}?format={fmt}&sort=-grade", traced=True)
            results[(label, fmt)] = (timed, traced)
            print(
                f"cohort table, {label:>6} rows, {fmt:4}: {timed['seconds']:6.2f} s, "
                f"{timed['mb']:6.1f} MB, peak Python memory {traced['peak_mb']:6.1f} MB"
            )
    risk = reverse("tracking-dashboard-export", args=["bench-u"])
    timed = _download(client, f"{risk}?table=risk&format=xlsx", traced=False)
    traced = _download(client, f"{risk}?table=risk&format=xlsx", traced=True)
    print(
        f"at-risk list (all cohorts), xlsx: {timed['seconds']:6.2f} s, {timed['mb']:6.1f} MB, "
        f"peak Python memory {traced['peak_mb']:6.1f} MB"
    )
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"process max RSS grew by {(rss1 - rss0) / 1024:.1f} MB over all downloads")
    sheet = load_workbook(results[("50,000", "xlsx")][0]["body"], read_only=True).active
    assert sum(1 for _ in sheet.iter_rows(values_only=True)) == 50_001
