"""Demo data of this app; called by `manage.py seed_demo` with the demo users. Idempotent.

A lab on a demo run, its source the nbgrader conformance notebook (tests/grader/fixtures),
released; the demo instructor teaches the run and the demo student is enrolled."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from academy.models import User
from courses.models import Course, CourseRun, CourseStaff, Enrolment, EnrolmentState, StaffRole

from . import services
from .models import Lab, LatePolicy, ResourceProfile

SOURCE = Path(settings.BASE_DIR) / "tests" / "grader" / "fixtures" / "submitted-unchanged.ipynb"


def seed(users: dict[str, User]) -> None:
    instructor, student = users.get("instructor"), users.get("student")
    if instructor is None or not SOURCE.exists():
        return
    now = timezone.now()
    with transaction.atomic():
        small_gpu, _ = ResourceProfile.objects.get_or_create(
            name="Small GPU",
            defaults={
                "partition": "gpu",
                "gpus": 1,
                "cpus": 1,
                "memory_gb": 4,
                "max_walltime_minutes": 60,
            },
        )
        ResourceProfile.objects.get_or_create(
            name="CPU only", defaults={"partition": "cpu", "gpus": 0, "cpus": 2, "memory_gb": 4}
        )
        course, _ = Course.objects.get_or_create(
            code="NB-101",
            defaults={"title": "Notebook labs: a first graded lab", "is_published": True},
        )
        run = course.runs.first() or CourseRun.objects.create(
            course=course, title="Demo run", starts_at=now - timedelta(days=7),
            ends_at=now + timedelta(days=60), enrolment_opens_at=now - timedelta(days=14),
            enrolment_closes_at=now + timedelta(days=30),
        )  # fmt: skip
        if run.gpu_budget_hours is None:
            run.gpu_budget_hours, run.gpu_hours_per_student = 200, 10
            run.save(update_fields=["gpu_budget_hours", "gpu_hours_per_student"])
        CourseStaff.objects.get_or_create(
            run=run, user=instructor, defaults={"role": StaffRole.INSTRUCTOR}
        )
        if student is not None:
            Enrolment.objects.get_or_create(
                run=run, user=student, defaults={"state": EnrolmentState.ACTIVE}
            )
    lab = Lab.objects.filter(run=run, title="Lab 1: variables and tests").first()
    if lab is None:
        lab = services.lab_create(
            actor=instructor, run=run, title="Lab 1: variables and tests",
            instructions="Set a = 1, write the answers, submit before the due date.",
            due_at=now + timedelta(days=14), late_policy=LatePolicy.PER_DAY,
            late_penalty_percent=10, late_penalty_cap_percent=50, resource_profile=small_gpu,
        )  # fmt: skip
    if lab.released_version_id is None:
        version = lab.versions.first() or services.lab_version_upload(
            actor=instructor, lab=lab, content=SOURCE.read_bytes()
        )
        services.lab_release(actor=instructor, lab=lab, version=version)
