"""Demo data of this app; called by `manage.py seed_demo` with the demo users, after the course
and lab demos.  Idempotent: what exists is left as it is.

Two programmes of the AI factory, built through the services as staff build them:
- "AI engineer, foundation": GPU101, then two of {MED210, EN220, LLM201}, then the CAP300
  capstone; the University of Belgrade's admin allocated the "AI Engineering 2026" cohort;
- "Teaching with GPUs", for faculty: TCH310 and TCH320, and at least 4 points of hands-on GPU
  courses; the demo instructor and a member of the faculty cohort joined it themselves.
The demo people are part-way through: finished runs with graded lab submissions (some passed),
seats in runs under way; their progress is computed from those results, as always.  Learning
outcomes of the foundation (and one of GPU101), aligned to graded cells of those labs, show
the demo student some outcomes mastered and some not yet."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from academy.models import Cohort, User
from courses import services as course_services
from courses.models import (
    Course,
    CourseRun,
    CourseStaff,
    Enrolment,
    EnrolmentState,
    GradingCategory,
    StaffRole,
)
from notebooks import services as lab_services
from notebooks.demo import SOURCE
from notebooks.models import (
    GradingOutcome,
    GradingRun,
    GradingRunStatus,
    Lab,
    ManualGrade,
    Submission,
    SubmissionStatus,
)

from . import services
from .models import (
    Allocation,
    EscoSkill,
    LearningOutcome,
    MasteryMethod,
    OutcomeAlignment,
    Programme,
    ProgrammeCohort,
    Requirement,
    Rule,
)
from .outcomes import services as outcome_services

NEW_COURSES = [
    # code, title, sectors, level, summary
    (
        "CAP300",
        "AI engineering capstone project",
        ["health", "energy", "research"],
        "advanced",
        "A team project on a real dataset of a partner institution, from proposal to a model "
        "running on the AI factory.",
    ),
    (
        "TCH310",
        "Teaching with notebooks on the AI factory",
        ["research", "general"],
        "intermediate",
        "Run a course on JupyterHub: lab sessions on the cluster, GPU budgets, the gradebook.",
    ),
    (
        "TCH320",
        "Designing auto-graded GPU labs",
        ["research", "general"],
        "advanced",
        "Write nbgrader labs with hidden tests, late policies and fair GPU time limits.",
    ),
]

FOUNDATION = {
    "code": "ai-engineer-foundation",
    "title": "AI engineer, foundation",
    "title_sr": "Инжењер вештачке интелигенције, основни ниво",
    "description": (
        "From your first CUDA kernel to a model in production: GPU computing fundamentals, "
        "two applied domains of your choice, and a capstone project on the AI factory."
    ),
    "description_sr": (
        "Од првог CUDA језгра до модела у продукцији: основе рачунарства на графичким "
        "процесорима, две примењене области по вашем избору и завршни пројекат на фабрици "
        "вештачке интелигенције."
    ),
    "eqf_level": 6,
    "ects": Decimal(25),
    "sectors": ["health", "energy", "research"],
}
TEACHING = {
    "code": "teaching-with-gpus",
    "title": "Teaching with GPUs",
    "title_sr": "Настава уз графичке процесоре",
    "description": (
        "For faculty: run your course on the AI factory, design auto-graded GPU labs, and "
        "practise on at least one hands-on GPU course yourself."
    ),
    "description_sr": (
        "За наставнике: изведите свој курс на фабрици вештачке интелигенције, осмислите "
        "аутоматски оцењиване вежбе на графичким процесорима и сами прођите бар један "
        "практичан курс."
    ),
    "eqf_level": 7,
    "ects": Decimal(10),
    "sectors": ["research", "general"],
}

# Each demo person's lab percents in the finished runs (one per lab: two labs, then the exam);
# the run's own policy grades them (Labs 70 % dropping the lowest, Exam 30 %, pass mark 50).
FINISHED = [
    # username, course, percents
    ("student", "GPU101", (78, 91, 72)),
    ("student", "EN220", (84, 66, 80)),
    ("marko", "GPU101", (62, 70, 58)),
    ("jelena", "TCH310", (88, 95, 90)),
    ("instructor", "GPU101", (95, 90, 86)),
    ("instructor", "TCH310", (74, 81, 69)),
    ("milica", "GPU101", (35, 40, 30)),  # failed: a failed run counts for nothing
]
# Runs under way now: who holds a seat, and the percent of the first (already graded) lab.
UNDER_WAY = [
    ("student", "LLM201", 88),
    ("instructor", "TCH320", 76),
]

CENTS = Decimal("0.01")

# Learning outcomes, each shown by graded cells of the demo labs (the nbgrader notebook every
# demo lab uses: tests "foo" and "bar", written answers "baz" (a text) and "quux" (code)), as
# (course, lab number in due order, grade id), the labs of the runs above.  The demo student
# masters some (a high score, a good first LLM201 lab) and not yet others (one good kernel
# where two are needed, a weaker last EN220 answer).  ESCO skills (real URIs of the ESCO
# list) are tied when `load_esco_skills` has loaded them; a later seed ties them then.
FOUNDATION_OUTCOMES: list[dict[str, Any]] = [
    {
        "code": "AIE-1",
        "title": "Explain the GPU memory hierarchy",
        "title_sr": "Објашњава хијерархију меморије графичког процесора",
        "method": MasteryMethod.HIGHEST,
        "mastery_percent": Decimal(80),
        "cells": [("GPU101", 0, "baz"), ("GPU101", 1, "baz"), ("GPU101", 2, "baz")],
    },
    {
        "code": "AIE-2",
        "title": "Write and profile a CUDA kernel",
        "title_sr": "Пише и профилише CUDA језгро",
        "method": MasteryMethod.N_MASTERY,
        "mastery_percent": Decimal(80),
        "n_times": 2,
        "cells": [("GPU101", 0, "quux"), ("GPU101", 1, "quux"), ("GPU101", 2, "quux")],
        # "use concurrent programming" (parallel computing)
        "esco": "http://data.europa.eu/esco/skill/25b291b5-8245-4d9d-b391-86a8a31d7109",
    },
    {
        "code": "AIE-3",
        "title": "Fine-tune a language model on a GPU partition",
        "title_sr": "Фино подешава језички модел на GPU партицији",
        "method": MasteryMethod.DECAYING_AVERAGE,
        "mastery_percent": Decimal(75),
        "decay_percent": 65,
        "cells": [("LLM201", 0, "quux"), ("LLM201", 1, "quux"), ("LLM201", 2, "quux")],
        # "utilise machine learning"
        "esco": "http://data.europa.eu/esco/skill/8369c2d6-c100-4cf6-bd83-9668d8678433",
    },
    {
        "code": "AIE-4",
        "title": "Forecast energy demand with a model trained on the GPU cluster",
        "title_sr": "Прогнозира потрошњу енергије моделом обученим на GPU кластеру",
        "method": MasteryMethod.LATEST,
        "mastery_percent": Decimal(80),
        "cells": [("EN220", 0, "quux"), ("EN220", 1, "quux"), ("EN220", 2, "quux")],
    },
]
GPU101_OUTCOMES: list[dict[str, Any]] = [
    {
        "code": "GPU-1",
        "title": "Check a GPU program's results with unit tests",
        "title_sr": "Проверава резултате програма на графичком процесору јединичним тестовима",
        "method": MasteryMethod.HIGHEST,
        "mastery_percent": Decimal(80),
        "cells": [("GPU101", 0, "foo"), ("GPU101", 0, "bar"), ("GPU101", 1, "foo")],
    },
]


def seed(users: dict[str, User]) -> None:
    operator, uniadmin = users.get("operator"), users.get("uniadmin")
    if operator is None or uniadmin is None:
        return
    now = timezone.now()
    with transaction.atomic():
        courses = _courses(operator)
        finished = {
            code: _run(courses[code], "Summer 2026", operator, now, ended=True)
            for code in sorted({code for _user, code, _percents in FINISHED})
        }
        under_way = {
            code: _run(courses[code], "Winter 2026/27", operator, now, ended=False)
            for code in sorted({code for _user, code, _percent in UNDER_WAY})
        }
        _run(courses["CAP300"], "Spring 2027", operator, now, ended=False, starts_in=60)
        for username, code, percents in FINISHED:
            if username in users:
                _took(users[username], finished[code], percents)
        for username, code, percent in UNDER_WAY:
            if username in users:
                _enrol_now(users[username], under_way[code], percent)
        foundation = _foundation(operator, courses)
        teaching = _teaching(operator, courses)
        labs = {
            code: list(run.labs.order_by("due_at", "id"))
            for code, run in {**finished, **under_way}.items()
        }
        _outcomes(operator, FOUNDATION_OUTCOMES, labs, programme=foundation)
        _outcomes(operator, GPU101_OUTCOMES, labs, course=courses["GPU101"])
    # Allocations after the courses' commit, as people join: each service commits on its own.
    cohort = Cohort.objects.filter(institution__slug="ubg", name="AI Engineering 2026").first()
    if (
        cohort is not None
        and not ProgrammeCohort.objects.filter(programme=foundation, cohort=cohort).exists()
    ):
        services.cohort_allocate(actor=uniadmin, programme=foundation, cohort=cohort)
    for username, programme in (
        ("nikola", foundation),
        ("milica", foundation),
        ("jelena", teaching),
        ("instructor", teaching),
    ):
        user = users.get(username)
        if (
            user is not None
            and not Allocation.objects.filter(user=user, programme=programme).exists()
        ):
            services.allocation_join(actor=user, programme=programme)
    services.recompute_progress([u.pk for u in users.values()])


def _courses(operator: User) -> dict[str, Course]:
    courses = {
        c.code: c for c in Course.objects.filter(code__in=["GPU101", "LLM201", "MED210", "EN220"])
    }
    for code, title, sectors, level, summary in NEW_COURSES:
        course = Course.objects.filter(code=code).first() or course_services.course_create(
            actor=operator,
            code=code,
            title=title,
            sectors=sectors,
            level=level,
            summary=summary,
            description=f"# {title}\n\n{summary}",
            effort_hours=40 if code == "CAP300" else 16,
            is_published=True,
        )
        courses[code] = course
    if not courses["CAP300"].prerequisites.exists():
        course_services.course_prerequisites_set(
            actor=operator,
            course=courses["CAP300"],
            prerequisites=[courses["GPU101"]],
            recommended=[courses["LLM201"]],
        )
    if not courses["TCH320"].recommended.exists():
        course_services.course_prerequisites_set(
            actor=operator,
            course=courses["TCH320"],
            prerequisites=[],
            recommended=[courses["TCH310"]],
        )
    return courses


def _run(
    course: Course,
    title: str,
    teacher: User,
    now: datetime,
    *,
    ended: bool,
    starts_in: int = -20,
) -> CourseRun:
    """A run of ``course`` that ended a month ago (``ended``) or that started ``-starts_in``
    days ago (or starts in ``starts_in`` days), with the demo grading policy and three labs:
    two labs and an exam.  An existing run of that title is left as it is."""
    starts = now - timedelta(days=150) if ended else now + timedelta(days=starts_in)
    length = 120 if ended else 70
    run, created = CourseRun.objects.get_or_create(
        course=course,
        title=title,
        defaults={
            "starts_at": starts,
            "ends_at": starts + timedelta(days=length),
            "enrolment_opens_at": starts - timedelta(days=30),
            "enrolment_closes_at": starts + timedelta(days=(10 if ended else 30)),
            "capacity": 30,
        },
    )
    if not created:
        return run
    CourseStaff.objects.get_or_create(
        run=run, user=teacher, defaults={"role": StaffRole.INSTRUCTOR}
    )
    labs_category = GradingCategory.objects.create(
        run=run, name="Labs", weight=Decimal(70), drop_lowest=1
    )
    exam = GradingCategory.objects.create(run=run, name="Exam", weight=Decimal(30))
    for lab_title, category, due in [
        ("Lab 1: first steps", labs_category, 10),
        ("Lab 2: going further", labs_category, 40),
        ("Final exam notebook", exam, length - 5),
    ]:
        lab = lab_services.lab_create(
            actor=teacher,
            run=run,
            title=f"{course.code} · {lab_title}",
            instructions="Complete the notebook and submit it before the due date.",
            due_at=starts + timedelta(days=due),
            category=category,
        )
        if SOURCE.exists():
            version = lab_services.lab_version_upload(
                actor=teacher, lab=lab, content=SOURCE.read_bytes()
            )
            lab_services.lab_release(actor=teacher, lab=lab, version=version)
    return run


def _seat(user: User, run: CourseRun) -> Enrolment:
    """A seat in ``run``, kept in the run's seat count."""
    enrolment, created = Enrolment.objects.get_or_create(
        run=run, user=user, defaults={"state": EnrolmentState.ACTIVE}
    )
    if created:
        CourseRun.objects.filter(pk=run.pk).update(
            active_count=Enrolment.objects.filter(
                run=run, state__in=[EnrolmentState.ACTIVE, EnrolmentState.COMPLETED]
            ).count()
        )
    return enrolment


def _graded(user: User, lab: Lab, percent: int) -> None:
    """A submission as the grader leaves it: stored, graded (a grading run with per-cell
    scores, the written answers marked by the teacher), feedback released.  A submission of an
    earlier seed without its grading run gets one, so learning outcomes find their evidence."""
    submission = Submission.objects.filter(lab=lab, student=user).order_by("-attempt").first()
    if submission is None:
        content = SOURCE.read_bytes() if SOURCE.exists() else b"{}"
        submission = Submission(
            lab=lab,
            student=user,
            attempt=1,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            submitted_at=lab.due_at - timedelta(days=1),
            status=SubmissionStatus.GRADED,
            auto_score=Decimal(percent),
            score=Decimal(percent),
            max_score=Decimal(100),
            feedback_released=True,
        )
        submission.file.save("submission.ipynb", ContentFile(content), save=False)
        submission.save()
    if submission.latest_run_id is None and submission.status == SubmissionStatus.GRADED:
        _grading_run(submission, Decimal(percent))


def _grading_run(submission: Submission, percent: Decimal) -> None:
    """The grading run and manual grades that give ``percent`` over the released version's
    graded cells: the tests pass while the points allow, the written answers (manual cells)
    share the rest in proportion to their points."""
    lab = submission.lab
    version = lab.released_version
    if version is None:
        return
    graded = [c for c in version.cells if float(c.get("points") or 0) > 0]
    if not graded:
        return
    total = sum(Decimal(str(c["points"])) for c in graded)
    target = (total * percent / 100).quantize(CENTS)
    left = target
    cells: dict[str, dict[str, Any]] = {}
    manual = [c for c in graded if c.get("kind") != "test"]
    for order, cell in enumerate(graded):
        points = Decimal(str(cell["points"]))
        score: Decimal | None = None
        if cell.get("kind") == "test":
            score = points if left >= points else Decimal(0)
            left -= score
        cells[cell["grade_id"]] = {
            "score": None if score is None else float(score),
            "max_score": float(points),
            "kind": cell.get("kind", ""),
            "output": "",
            "error": "",
            "hidden": False,
            "withheld": False,
            "order": order,
        }
    auto = target - left  # what the tests earned
    manual_points = sum((Decimal(str(c["points"])) for c in manual), Decimal(0))
    marks: dict[str, Decimal] = {}
    for i, cell in enumerate(manual):
        points = Decimal(str(cell["points"]))
        if i == len(manual) - 1:  # the last takes what rounding left
            marks[cell["grade_id"]] = min(points, left - sum(marks.values(), Decimal(0)))
        else:
            marks[cell["grade_id"]] = (left * points / manual_points).quantize(CENTS)
    finished = submission.submitted_at + timedelta(minutes=3)
    run = GradingRun.objects.create(
        submission=submission,
        number=1,
        lab_version=version,
        status=GradingRunStatus.DONE,
        outcome=GradingOutcome.OK,
        score=auto,
        max_score=total,
        needs_manual=bool(manual),
        cells=cells,
        started_at=submission.submitted_at + timedelta(minutes=1),
        finished_at=finished,
    )
    for grade_id, score in marks.items():
        ManualGrade.objects.create(
            submission=submission,
            grade_id=grade_id,
            score=score,
            grader=lab.created_by,
            graded_at=finished + timedelta(days=2),
        )
    Submission.objects.filter(pk=submission.pk).update(
        latest_run=run,
        auto_score=auto,
        score=auto + sum(marks.values(), Decimal(0)),
        max_score=total,
    )


def _took(user: User, run: CourseRun, percents: tuple[int, ...]) -> None:
    _seat(user, run)
    for lab, percent in zip(run.labs.order_by("due_at", "id"), percents, strict=True):
        _graded(user, lab, percent)


def _enrol_now(user: User, run: CourseRun, first_percent: int) -> None:
    """A seat in a run under way, asked for as a person does (prerequisites checked against
    the graded runs above), with the first lab graded."""
    if not Enrolment.objects.filter(run=run, user=user).exists():
        course_services.enrolment_request(run=run, user=user)
    first = run.labs.order_by("due_at", "id").first()
    if first is not None and first.due_at < timezone.now():
        _graded(user, first, first_percent)


def _foundation(operator: User, courses: dict[str, Course]) -> Programme:
    programme = Programme.objects.filter(code=FOUNDATION["code"]).first()
    if programme is not None:
        return programme
    programme, root = _new(operator, FOUNDATION)
    services.requirement_change(actor=operator, requirement=root, rule=Rule.ALL_IN_ORDER)
    services.requirement_add(actor=operator, parent=root, course=courses["GPU101"], points=5)
    electives = services.requirement_add(
        actor=operator, parent=root, rule=Rule.AT_LEAST, count=2, title="Two applied domains"
    )
    for code in ("MED210", "EN220", "LLM201"):
        services.requirement_add(
            actor=operator,
            parent=electives,
            course=courses[code],
            points=5,
            min_grade=Decimal(60),
        )
    services.requirement_add(actor=operator, parent=root, course=courses["CAP300"], points=10)
    services.version_publish(actor=operator, version=programme.versions.get())
    return programme


def _teaching(operator: User, courses: dict[str, Course]) -> Programme:
    programme = Programme.objects.filter(code=TEACHING["code"]).first()
    if programme is not None:
        return programme
    programme, root = _new(operator, TEACHING)
    services.requirement_add(actor=operator, parent=root, course=courses["TCH310"], points=3)
    services.requirement_add(actor=operator, parent=root, course=courses["TCH320"], points=3)
    practice = services.requirement_add(
        actor=operator,
        parent=root,
        rule=Rule.MIN_POINTS,
        count=4,
        title="Hands-on GPU practice",
    )
    for code in ("GPU101", "LLM201", "MED210"):
        services.requirement_add(actor=operator, parent=practice, course=courses[code], points=4)
    services.version_publish(actor=operator, version=programme.versions.get())
    return programme


def _new(operator: User, spec: dict) -> tuple[Programme, Requirement]:
    fields = {k: v for k, v in spec.items() if k not in ("code", "title")}
    programme = services.programme_create(
        actor=operator, code=spec["code"], title=spec["title"], **fields
    )
    return programme, Requirement.objects.get(version__programme=programme, parent=None)


def _outcomes(
    operator: User,
    specs: list[dict[str, Any]],
    labs: dict[str, list[Lab]],
    *,
    programme: Programme | None = None,
    course: Course | None = None,
) -> None:
    """The outcomes of ``specs`` (found again by code) with their alignments and ESCO skills,
    each added where it is missing."""
    mine = LearningOutcome.objects.filter(programme=programme, course=course)
    for spec in specs:
        fields = {k: v for k, v in spec.items() if k not in ("title", "cells", "esco")}
        outcome = mine.filter(code=spec["code"]).first() or outcome_services.outcome_create(
            actor=operator, programme=programme, course=course, title=spec["title"], **fields
        )
        for code, number, grade_id in spec["cells"]:
            run_labs = labs.get(code, [])
            if number >= len(run_labs):
                continue
            lab = run_labs[number]
            if lab.released_version_id is None or (
                OutcomeAlignment.objects.filter(
                    outcome=outcome, lab=lab, grade_id=grade_id
                ).exists()
            ):
                continue
            outcome_services.alignment_add(
                actor=operator, outcome=outcome, lab=lab, grade_id=grade_id
            )
        skill = EscoSkill.objects.filter(uri=spec.get("esco", "")).first()
        if skill is not None and not outcome.esco_skills.filter(pk=skill.pk).exists():
            outcome_services.outcome_update(
                actor=operator, outcome=outcome, esco_skills=[*outcome.esco_skills.all(), skill]
            )
