"""Demo data of this app; called by `manage.py seed_demo` with the demo users. Idempotent."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from academy.models import User

from . import services
from .models import Course, CourseRun, CourseStaff, Enrolment, GradingCategory, Lesson, Module

COURSES = [
    # code, title, sectors, level, language, summary
    (
        "GPU101",
        "GPU computing fundamentals",
        ["general", "research"],
        "introductory",
        "en",
        "CUDA concepts, the cluster, Slurm and your first accelerated notebook.",
    ),
    (
        "LLM201",
        "Fine-tuning language models",
        ["research", "public_administration"],
        "intermediate",
        "en",
        "Adapt open models to Serbian text with LoRA on the AI factory.",
    ),
    (
        "MED210",
        "Medical imaging with deep learning",
        ["health"],
        "intermediate",
        "en",
        "Segmentation and classification of CT and MRI scans, with privacy in mind.",
    ),
    (
        "EN220",
        "Forecasting for energy grids",
        ["energy", "transport"],
        "advanced",
        "sr",
        "Time-series models for load and renewable production forecasting.",
    ),
]
LESSON_BODY = """Welcome to **{title}**.

Check that you have a GPU:

```python
import torch
print(torch.cuda.get_device_name(0))
```

| Resource | Limit |
|---|---|
| GPUs per job | 1 |
| Wall time | 2 h |
"""


@transaction.atomic
def seed(users: dict[str, User]) -> None:
    now = timezone.now()
    operator, instructor = users["operator"], users["instructor"]
    courses = {}
    for code, title, sectors, level, language, summary in COURSES:
        courses[code], _ = Course.objects.get_or_create(
            code=code,
            defaults={
                "title": title,
                "sectors": sectors,
                "level": level,
                "language": language,
                "summary": summary,
                "is_published": True,
                "effort_hours": 12,
                "description": f"# {title}\n\n{summary}\n\nYou will need a cluster account.",
            },
        )
    courses["LLM201"].prerequisites.add(courses["GPU101"])

    def run(code: str, title: str, **fields: object) -> tuple[CourseRun, bool]:
        defaults = {
            "starts_at": now + timedelta(days=14),
            "ends_at": now + timedelta(days=70),
            "enrolment_opens_at": now - timedelta(days=7),
            "enrolment_closes_at": now + timedelta(days=10),
            **fields,
        }
        r, created = CourseRun.objects.get_or_create(
            course=courses[code], title=title, defaults=defaults
        )
        if created:
            CourseStaff.objects.get_or_create(run=r, user=instructor)
            GradingCategory.objects.create(run=r, name="Labs", weight=Decimal(70), drop_lowest=1)
            GradingCategory.objects.create(run=r, name="Exam", weight=Decimal(30))
            for m in range(2):
                module = Module.objects.create(run=r, title=f"Week {m + 1}", position=m)
                for i in range(3):
                    Lesson.objects.create(
                        module=module,
                        position=i,
                        title=f"Lesson {m + 1}.{i + 1}",
                        body=LESSON_BODY.format(title=courses[code].title),
                    )
        return r, created

    open_run, created = run("GPU101", "Spring 2027", capacity=40)
    if created:
        for name in ("student", "marko", "jelena"):
            if name in users:
                services.enrolment_request(run=open_run, user=users[name])
    done_run, created = run(
        "GPU101",
        "Autumn 2026",
        capacity=30,
        starts_at=now - timedelta(days=120),
        ends_at=now - timedelta(days=30),
        enrolment_opens_at=now - timedelta(days=150),
        enrolment_closes_at=now - timedelta(days=121),
    )
    if created and "nikola" in users:
        Enrolment.objects.create(run=done_run, user=users["nikola"], state="completed")
        CourseRun.objects.filter(pk=done_run.pk).update(active_count=1)
    full_run, created = run("MED210", "Spring 2027", capacity=2)
    if created:
        for name in ("marko", "nikola", "student", "milica"):
            if name in users:  # two seats, then a waitlist
                services.enrolment_request(run=full_run, user=users[name])
    approval_run, created = run("LLM201", "Spring 2027", capacity=25, policy="approval")
    if created and "nikola" in users:
        services.enrolment_request(run=approval_run, user=users["nikola"])  # completed GPU101
    invite_run, created = run("EN220", "Spring 2027", capacity=20, policy="invite")
    if created:
        services.invite_code_create(run=invite_run, actor=operator, code="GRID-2027", max_uses=50)
