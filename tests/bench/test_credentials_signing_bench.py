"""Credentials benchmark, on PostgreSQL.  Prints figures; never fails on time.

5,000 people passed one run; an operator issues their certificates in one bulk job through the
real path (``services.start_job``, then ``services.run_job`` as the worker runs it): each is an
Open Badges 3.0 credential canonicalised with RDFC-1.0, signed with Ed25519 and saved with its
audit event.  Target: under 2 minutes.  The pure signing cost (``signing.sign`` × 5,000, no
database) is printed apart, and the job is profiled so the figures say where the time goes.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/academy DEBUG=1 \\
      .venv/bin/python -m pytest tests/bench/test_credentials_signing_bench.py -m bench -s
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import timezone

from academy.models import User
from courses.models import Course, CourseRun, Enrolment, EnrolmentState
from credentials import keys, services, signing, verification
from credentials.models import Credential, JobStatus
from notebooks.models import Lab, Submission

PEOPLE = 5000
PROFILED = 500  # a second, smaller job runs under cProfile (which slows Python down ~2x)
TARGET_SECONDS = 120


def _run_with_passes(n: int, code: str) -> CourseRun:
    now = timezone.now()
    course = Course.objects.create(
        code=code, title=f"{code} programming", is_published=True, ects=Decimal("2.5")
    )
    run = CourseRun.objects.create(
        course=course,
        title="Spring 2026",
        starts_at=now - timedelta(days=90),
        ends_at=now - timedelta(days=1),
        enrolment_opens_at=now - timedelta(days=120),
        enrolment_closes_at=now - timedelta(days=80),
    )
    lab = Lab.objects.create(run=run, title=f"{code} lab", due_at=now - timedelta(days=3))
    password = make_password(None)
    users = User.objects.bulk_create(
        [
            User(
                username=f"{code}-{i}",
                email=f"{code}-{i}@bench.example",
                first_name="C",
                last_name=f"Person {i:05d}",
                password=password,
            )
            for i in range(n)
        ],
        batch_size=5000,
    )
    Enrolment.objects.bulk_create(
        [Enrolment(run=run, user=u, state=EnrolmentState.ACTIVE) for u in users], batch_size=5000
    )
    Submission.objects.bulk_create(
        [
            Submission(
                lab=lab,
                student=u,
                attempt=1,
                file="bench.ipynb",
                sha256="0" * 64,
                status="graded",
                score=Decimal(60 + i % 40),
                max_score=Decimal(100),
            )
            for i, u in enumerate(users)
        ],
        batch_size=5000,
    )
    return run


def _pure_signing(n: int) -> float:
    issuer = keys.issuer()
    created = datetime(2026, 12, 7, tzinfo=UTC)
    unsigned = [
        signing.build_credential(
            credential_id=f"https://academy.example/credentials/{i:08d}",
            issuer_id=issuer.did,
            issuer_name=issuer.name,
            issuer_url=issuer.url,
            achievement_id="https://academy.example/courses/GPU101",
            name="GPU programming",
            description="CUDA kernels, memory hierarchy, profiling.",
            criteria="Passed the run with 60% or more.",
            recipient_email=f"c{i}@bench.example",
            salt=f"{i:032x}",
            valid_from=created,
            credits=2.5,
            eqf_level=6,
            evidence="Final score 80.00%.",
        )
        for i in range(n)
    ]
    t0 = time.perf_counter()
    for credential in unsigned:
        signing.sign(
            credential,
            private_key_multibase=issuer.secret,
            verification_method=issuer.key_id,
            created=created,
        )
    return time.perf_counter() - t0


@pytest.mark.bench
@pytest.mark.django_db(transaction=True)
def test_credentials_signing_benchmark(request, settings, monkeypatch):  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.fail("The benchmark runs on PostgreSQL: set DATABASE_URL=postgresql://...")
    settings.CREDENTIAL_KEY = f"bench-1:{signing.generate_key()[0]}"
    settings.CREDENTIAL_RETIRED_KEYS = []

    t0 = time.perf_counter()
    run = _run_with_passes(PEOPLE, "GPU101")
    operator = User.objects.create_user("benchoperator", "op@bench.example", "x", is_staff=True)
    print(f"\n[bench] {PEOPLE} people who passed, built in {time.perf_counter() - t0:.1f}s")

    # The worker's task is run here, in this process, so it can be timed and profiled.
    queued: list[tuple] = []
    monkeypatch.setattr(services, "enqueue", lambda *args, **kwargs: queued.append(args))
    job = services.start_job(actor=operator, run=run)
    assert queued == [("credentials.tasks.run_job", job.pk)]

    t0 = time.perf_counter()
    job = services.run_job(job.pk)
    seconds = time.perf_counter() - t0

    assert job.status == JobStatus.DONE
    assert (job.total, job.issued, job.ineligible) == (PEOPLE, PEOPLE, 0)
    assert Credential.objects.filter(run=run).count() == PEOPLE
    assert len(set(Credential.objects.values_list("status_list", "status_index"))) == PEOPLE
    sample = Credential.objects.filter(run=run).order_by("?").first()
    assert sample is not None and verification.verify(sample.document).verified
    print(
        f"[bench] bulk job, {PEOPLE} credentials: {seconds:.1f} s, "
        f"{PEOPLE / seconds:.0f} credentials/s (target < {TARGET_SECONDS} s: "
        f"{'met' if seconds < TARGET_SECONDS else 'MISSED'})"
    )

    pure = _pure_signing(PEOPLE)
    print(
        f"[bench] signing.sign x {PEOPLE} without the database: {pure:.1f} s, "
        f"{PEOPLE / pure:.0f}/s, {pure / PEOPLE * 1000:.1f} ms each "
        f"({pure / seconds:.0%} of the job)"
    )

    small = services.start_job(actor=operator, run=_run_with_passes(PROFILED, "PAR150"))
    profile = cProfile.Profile()
    profile.enable()
    services.run_job(small.pk)
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(30)
    print(f"[bench] where the time goes: a job of {PROFILED} under cProfile")
    print(out.getvalue())
