"""Reads of learning outcomes and mastery, scoped to the acting user.

Who sees what:
- outcome trees: a programme's to whoever sees the programme (``programmes_for``); a
  course's to whoever sees the course (``courses_for``);
- editing: a programme's outcomes its managers (``can_manage_programme``); a course's the
  operators and the authors of one of its runs (``can_author_run``);
- a person's mastery: the person (following the programme, or holding a seat in a run of the
  course), and whoever may see them there (the programme's managers and institution admins of
  their members through ``allocations_for``; run staff and admins through ``enrolments_for``).
Anything else is not found (the model's ``DoesNotExist``).

Evidence (``evidence``) comes from each person's latest submission of an aligned lab (the
cell's score, a manual grade first, counted once the submission is graded and its feedback is
out to the student) and from aligned grading categories (the category's score under the run's
policy, ``courses.grading``, as the gradebook computes it).  A constant number of queries
whatever the number of outcomes and people.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Case, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.utils import timezone

from academy.models import User
from academy.selectors import admin_institution_ids, is_operator
from courses.grading import Item, course_grade
from courses.models import Course, CourseRun, Enrolment, GradingCategory
from courses.selectors import authored_run_ids, can_teach_run, courses_for, enrolments_for
from notebooks.models import (
    FeedbackRelease,
    Lab,
    LabVersion,
    ManualGrade,
    Submission,
    SubmissionStatus,
)
from notebooks.selectors import (
    LEARNING_STATES,
    extended_due_dates,
    lab_cell,
    labs_by_run,
    latest_submissions,
)

from .. import selectors as programme_selectors
from ..models import (
    Allocation,
    AllocationState,
    EscoSkill,
    LearningOutcome,
    OutcomeAlignment,
    Programme,
)
from . import mastery

ESCO_LIMIT = 20
FOLLOWING = (AllocationState.ACTIVE, AllocationState.COMPLETED)

# ------------------------------------------------------------------------------- rights


def can_manage_course_outcomes(user: User, course: Course) -> bool:
    if not user.is_authenticated:
        return False
    if is_operator(user):
        return True
    authored = authored_run_ids(user)
    return bool(authored) and course.runs.filter(pk__in=authored).exists()


def can_edit_outcome(user: User, outcome: LearningOutcome) -> bool:
    if outcome.programme is not None:
        return programme_selectors.can_manage_programme(user, outcome.programme)
    return outcome.course is not None and can_manage_course_outcomes(user, outcome.course)


def editable_programmes(user: User) -> QuerySet[Programme]:
    """The programmes whose outcomes ``user`` may edit (as ``can_manage_programme``)."""
    if is_operator(user):
        return Programme.objects.order_by("code")
    if not user.is_authenticated:
        return Programme.objects.none()
    return (
        Programme.objects.filter(Q(managers=user) | Q(owner_id__in=admin_institution_ids(user)))
        .distinct()
        .order_by("code")
    )


def editable_courses(user: User) -> QuerySet[Course]:
    if is_operator(user):
        return Course.objects.order_by("code")
    if not user.is_authenticated:
        return Course.objects.none()
    return Course.objects.filter(runs__in=authored_run_ids(user)).distinct().order_by("code")


# ------------------------------------------------------------------------------ outcomes


def programme_course_ids(programme: Programme) -> set[int]:
    """The courses any version of the programme's requirement tree names."""
    return set(
        Course.objects.filter(requirements__version__programme=programme).values_list(
            "pk", flat=True
        )
    )


def outcome_course_ids(outcome: LearningOutcome) -> set[int]:
    if outcome.course_id is not None:
        return {outcome.course_id}
    assert outcome.programme is not None
    return programme_course_ids(outcome.programme)


def graded_cell_ids(lab: Lab) -> list[str]:
    """The grade ids of the cells that the lab's latest uploaded version scores, in order."""
    version = LabVersion.objects.filter(lab=lab).order_by("-number").only("cells").first()
    if version is None:
        return []
    return [c["grade_id"] for c in version.cells if float(c.get("points") or 0) > 0]


def same_tree(outcome: LearningOutcome) -> Q:
    """The outcomes of the same programme or course as ``outcome``."""
    return Q(programme_id=outcome.programme_id, course_id=outcome.course_id)


def graded_cells_by_lab(labs: list[Lab]) -> dict[int, list[str]]:
    """``graded_cell_ids`` of many labs in one query."""
    out: dict[int, list[str]] = {}
    for version in (
        LabVersion.objects.filter(lab__in=labs)
        .order_by("lab_id", "-number")
        .only("lab_id", "cells")
    ):
        if version.lab_id not in out:  # the latest version of each lab comes first
            out[version.lab_id] = [
                c["grade_id"] for c in version.cells if float(c.get("points") or 0) > 0
            ]
    return out


def descendant_count(outcome: LearningOutcome) -> int:
    rows = LearningOutcome.objects.filter(same_tree(outcome)).values_list("pk", "parent_id")
    children: dict[int | None, list[int]] = defaultdict(list)
    for pk, parent in rows:
        children[parent].append(pk)
    count, pending = 0, list(children[outcome.pk])
    while pending:
        count += 1
        pending.extend(children[pending.pop()])
    return count


def _outcomes(condition: Q) -> list[LearningOutcome]:
    """Three queries: the outcomes, their ESCO skills, their alignments (labs, categories)."""
    return list(
        LearningOutcome.objects.filter(condition)
        .select_related("course", "programme")
        .prefetch_related(
            "esco_skills",
            Prefetch(
                "alignments",
                queryset=OutcomeAlignment.objects.select_related(
                    "lab__run", "category__run"
                ).order_by("id"),
            ),
        )
        .order_by("position", "id")
    )


def outcome_rows(
    *, programme: Programme | None = None, course: Course | None = None
) -> list[LearningOutcome]:
    if programme is not None:
        return _outcomes(Q(programme=programme))
    return _outcomes(Q(course=course))


@dataclass
class Row:
    outcome: LearningOutcome
    depth: int


def flatten(outcomes: list[LearningOutcome]) -> list[Row]:
    """The tree in reading order (each outcome before its own), with depths."""
    children: dict[int | None, list[LearningOutcome]] = defaultdict(list)
    known = {o.pk for o in outcomes}
    for o in outcomes:
        children[o.parent_id if o.parent_id in known else None].append(o)
    out: list[Row] = []

    def walk(parent: int | None, depth: int) -> None:
        for o in children[parent]:
            out.append(Row(o, depth))
            walk(o.pk, depth + 1)

    walk(None, 0)
    return out


def programme_for_outcomes(user: User, pk: int) -> Programme:
    programme = programme_selectors.programmes_for(user).filter(pk=pk).first()
    if programme is None:
        raise Programme.DoesNotExist
    return programme


def course_for_outcomes(user: User, pk: int) -> Course:
    course = courses_for(user).filter(pk=pk).first()
    if course is None:
        raise Course.DoesNotExist
    return course


def outcome_for_editor(user: User, pk: int) -> LearningOutcome:
    outcome = (
        LearningOutcome.objects.select_related("programme", "course", "parent")
        .filter(pk=pk)
        .first()
    )
    if outcome is None or not can_edit_outcome(user, outcome):
        raise LearningOutcome.DoesNotExist
    return outcome


def alignable_labs(outcome: LearningOutcome) -> list[Lab]:
    return list(
        Lab.objects.filter(run__course_id__in=outcome_course_ids(outcome))
        .select_related("run__course")
        .order_by("run__course__code", "-run__starts_at", "due_at", "id")
    )


def alignable_categories(outcome: LearningOutcome) -> list[GradingCategory]:
    return list(
        GradingCategory.objects.filter(run__course_id__in=outcome_course_ids(outcome))
        .select_related("run__course")
        .order_by("run__course__code", "-run__starts_at", "name")
    )


def esco_search(q: str, limit: int = ESCO_LIMIT) -> list[EscoSkill]:
    """Skills whose label or description holds ``q`` (two letters at least), label matches
    first: one query."""
    q = q.strip()[:100]
    if len(q) < 2:
        return []
    return list(
        EscoSkill.objects.filter(Q(label__icontains=q) | Q(description__icontains=q))
        .annotate(in_label=Case(When(label__icontains=q, then=Value(0)), default=Value(1)))
        .order_by("in_label", "label")[:limit]
    )


# ------------------------------------------------------------------------------ evidence

Key = tuple[int, int]  # (outcome id, user id)


def _percent(
    score: Decimal | float | str | None, out_of: Decimal | float | str | None
) -> Decimal | None:
    if score is None or out_of is None:
        return None
    top = Decimal(str(out_of))
    if top <= 0:
        return None
    value = Decimal(str(score)) * 100 / top
    return min(max(value, Decimal(0)), Decimal(100))


def _cell_evidence(
    alignments: list[tuple[OutcomeAlignment, Lab]], user_ids: list[int]
) -> dict[Key, list[mastery.Evidence]]:
    """Two queries: the latest submissions of the aligned labs with the aligned cells' scores
    (read out of the grading run's JSON in the database, not the whole outputs), and the
    manual grades of those cells."""
    out: dict[Key, list[mastery.Evidence]] = defaultdict(list)
    if not alignments or not user_ids:
        return out
    lab_ids = {lab.pk for _a, lab in alignments}
    grade_ids = sorted({a.grade_id for a, _lab in alignments})
    latest = Submission.objects.filter(lab=OuterRef("lab"), student=OuterRef("student")).order_by(
        "-attempt"
    )
    annotations = {}
    for i, gid in enumerate(grade_ids):
        cell = KeyTransform(gid, "latest_run__cells")
        annotations[f"s{i}"] = KeyTextTransform("score", cell)
        annotations[f"m{i}"] = KeyTextTransform("max_score", cell)
    released = (
        Q(feedback_released=True)
        | Q(lab__feedback_released_at__isnull=False)
        | Q(lab__feedback_release=FeedbackRelease.IMMEDIATE)
    )
    rows = list(
        Submission.objects.filter(lab_id__in=lab_ids, student_id__in=user_ids)
        .filter(attempt=Subquery(latest.values("attempt")[:1]))
        .filter(released, status=SubmissionStatus.GRADED)
        .annotate(**annotations)
        .values("id", "lab_id", "student_id", "submitted_at", *annotations)
    )
    manual = {
        (sub_id, gid): score
        for sub_id, gid, score in ManualGrade.objects.filter(
            submission_id__in=[r["id"] for r in rows], grade_id__in=grade_ids
        ).values_list("submission_id", "grade_id", "score")
    }
    by_lab: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_lab[row["lab_id"]].append(row)
    index = {gid: i for i, gid in enumerate(grade_ids)}
    for a, lab in alignments:
        i = index[a.grade_id]
        for row in by_lab[lab.pk]:
            score = manual.get((row["id"], a.grade_id), row[f"s{i}"])
            percent = _percent(score, row[f"m{i}"])
            if percent is not None:
                out[(a.outcome_id, row["student_id"])].append(
                    mastery.Evidence(percent, row["submitted_at"], f"{lab.title} · {a.grade_id}")
                )
    return out


def _category_evidence(
    alignments: list[tuple[OutcomeAlignment, GradingCategory]], user_ids: list[int], now: datetime
) -> dict[Key, list[mastery.Evidence]]:
    """Five queries: the runs with their categories, their labs, the enrolments, the latest
    submissions, the extensions; each person's category score by the run's policy."""
    out: dict[Key, list[mastery.Evidence]] = defaultdict(list)
    if not alignments or not user_ids:
        return out
    run_ids = {category.run_id for _a, category in alignments}
    runs = {
        r.pk: r for r in CourseRun.objects.filter(pk__in=run_ids).prefetch_related("categories")
    }
    labs_of = labs_by_run(run_ids)
    seats = set(
        Enrolment.objects.filter(
            run_id__in=run_ids, user_id__in=user_ids, state__in=LEARNING_STATES
        ).values_list("run_id", "user_id")
    )
    subs = latest_submissions(run_ids, user_ids)
    extended = extended_due_dates(run_ids, user_ids)
    for run_id, user_id in seats:
        run = runs[run_id]
        labs = labs_of[run_id]
        items = []
        for lab in labs:
            cell = lab_cell(lab, subs.get((lab.pk, user_id)))
            due = extended[user_id].get(lab.pk, lab.due_at)
            items.append(
                (
                    lab.category.name if lab.category else None,
                    Item(
                        percent=cell.percent,
                        due_at=due,
                        submitted=cell.submission_id is not None,
                        weight=lab.weight,
                    ),
                )
            )
        grade = course_grade(run, items, now)
        for a, category in alignments:
            if category.run_id != run_id:
                continue
            value = grade.categories.get(category.name)
            if value is None:
                continue
            times = [
                subs[(lab.pk, user_id)].submitted_at
                if (lab.pk, user_id) in subs
                else extended[user_id].get(lab.pk, lab.due_at)
                for lab in labs
                if lab.category_id == category.pk
            ]
            out[(a.outcome_id, user_id)].append(
                mastery.Evidence(value, max(times) if times else run.starts_at, category.name)
            )
    return out


def evidence(
    outcomes: Iterable[LearningOutcome], user_ids: list[int], now: datetime | None = None
) -> dict[Key, list[mastery.Evidence]]:
    """Per (outcome, person), the evidence of the outcomes' alignments (prefetched)."""
    cells: list[tuple[OutcomeAlignment, Lab]] = []
    categories: list[tuple[OutcomeAlignment, GradingCategory]] = []
    for outcome in outcomes:
        for a in outcome.alignments.all():
            if a.lab is not None:
                cells.append((a, a.lab))
            elif a.category is not None:
                categories.append((a, a.category))
    out = _cell_evidence(cells, user_ids)
    for key, items in _category_evidence(categories, user_ids, now or timezone.now()).items():
        out[key].extend(items)
    return out


def rule_of(outcome: LearningOutcome) -> mastery.Rule:
    return mastery.Rule(
        method=outcome.method,
        mastery_percent=outcome.mastery_percent,
        decay_percent=outcome.decay_percent,
        n_times=outcome.n_times,
    )


# ------------------------------------------------------------------------------- mastery


@dataclass
class OutcomeMastery:
    outcome: LearningOutcome
    depth: int
    result: mastery.Mastery
    evidence: list[mastery.Evidence] = field(default_factory=list)

    @property
    def bar(self) -> int:
        """The bar's length in whole percent (0 without evidence)."""
        return int(self.result.score or 0)

    @property
    def threshold(self) -> int:
        return int(self.outcome.mastery_percent)


@dataclass
class Section:
    """One tree of outcomes: the programme's own, or one course's."""

    title: str
    course: Course | None
    rows: list[OutcomeMastery]

    @property
    def mastered(self) -> int:
        return sum(r.result.mastered for r in self.rows)


def _sections(outcomes: list[LearningOutcome]) -> list[tuple[str, Course | None, list[Row]]]:
    own = [o for o in outcomes if o.programme_id is not None]
    by_course: dict[int, list[LearningOutcome]] = defaultdict(list)
    for o in outcomes:
        if o.course_id is not None:
            by_course[o.course_id].append(o)
    out: list[tuple[str, Course | None, list[Row]]] = []
    if own:
        out.append(("", None, flatten(own)))
    for course_outcomes in sorted(by_course.values(), key=lambda os: os[0].course.code):  # type: ignore[union-attr]
        course = course_outcomes[0].course
        out.append((str(course), course, flatten(course_outcomes)))
    return out


def _programme_outcomes(programme: Programme) -> list[LearningOutcome]:
    courses = Course.objects.filter(requirements__version__programme=programme).values("pk")
    return _outcomes(Q(programme=programme) | Q(course__in=courses))


def _person_report(outcomes: list[LearningOutcome], person: User) -> list[Section]:
    found = evidence(outcomes, [person.pk])
    return [
        Section(
            title,
            course,
            [
                OutcomeMastery(
                    row.outcome,
                    row.depth,
                    mastery.score(rule_of(row.outcome), found.get((row.outcome.pk, person.pk), [])),
                    sorted(found.get((row.outcome.pk, person.pk), []), key=lambda e: e.at),
                )
                for row in rows
            ],
        )
        for title, course, rows in _sections(outcomes)
    ]


def programme_mastery(viewer: User, programme: Programme, person: User) -> list[Section]:
    """``person``'s mastery of the programme's outcomes and of its courses' outcomes.  The
    person must follow the programme; the viewer be them or see their allocation."""
    allowed = programme_selectors.allocations_for(viewer).filter(
        programme=programme, user=person, state__in=FOLLOWING
    )
    if not allowed.exists():
        raise Allocation.DoesNotExist
    return _person_report(_programme_outcomes(programme), person)


def course_mastery(viewer: User, course: Course, person: User) -> list[Section]:
    """``person``'s mastery of the course's outcomes: they hold (or held) a seat in one of its
    runs, and the viewer is them or may see that enrolment."""
    allowed = enrolments_for(viewer).filter(
        run__course=course, user=person, state__in=LEARNING_STATES
    )
    if not allowed.exists():
        raise Enrolment.DoesNotExist
    return _person_report(_outcomes(Q(course=course)), person)


@dataclass
class PersonSummary:
    person: User
    mastered: list[bool]  # per outcome, in the summary's order
    url: str = ""  # the person's mastery page, set by the page

    @property
    def count(self) -> int:
        return sum(self.mastered)


@dataclass
class OutcomeSummary:
    outcome: LearningOutcome
    depth: int
    mastered: int
    with_evidence: int
    people: int

    @property
    def share(self) -> int:
        return round(100 * self.mastered / self.people) if self.people else 0


@dataclass
class Summary:
    outcomes: list[OutcomeSummary]
    people: list[PersonSummary]


def _summary(outcomes: list[LearningOutcome], people: list[User]) -> Summary:
    rows = [row for _t, _c, rows in _sections(outcomes) for row in rows]
    found = evidence(outcomes, [p.pk for p in people])
    results = {
        (row.outcome.pk, p.pk): mastery.score(
            rule_of(row.outcome), found.get((row.outcome.pk, p.pk), [])
        )
        for row in rows
        for p in people
    }
    return Summary(
        outcomes=[
            OutcomeSummary(
                row.outcome,
                row.depth,
                mastered=sum(results[(row.outcome.pk, p.pk)].mastered for p in people),
                with_evidence=sum(results[(row.outcome.pk, p.pk)].has_evidence for p in people),
                people=len(people),
            )
            for row in rows
        ],
        people=[
            PersonSummary(p, [results[(row.outcome.pk, p.pk)].mastered for row in rows])
            for p in people
        ],
    )


def programme_summary(viewer: User, programme: Programme) -> Summary:
    """Per outcome, how many of the programme's people (those the viewer may see) mastered
    it; and per person, which.  Managers see everyone; institution admins their members."""
    allocations = list(programme_selectors.people(viewer, programme).filter(state__in=FOLLOWING))
    if not allocations and not programme_selectors.can_manage_programme(viewer, programme):
        raise Allocation.DoesNotExist
    if not programme_selectors.can_manage_programme(viewer, programme):
        allocations = [a for a in allocations if a.user_id != viewer.pk]
        if not allocations:
            raise Allocation.DoesNotExist
    return _summary(_programme_outcomes(programme), [a.user for a in allocations])


def run_summary(viewer: User, run: CourseRun) -> Summary:
    """The course's outcomes over the run's learners the viewer may see (run staff: all)."""
    enrolments = list(
        enrolments_for(viewer)
        .filter(run=run, state__in=LEARNING_STATES)
        .exclude(user=viewer)
        .order_by("user__last_name", "user__first_name", "user__username")
    )
    if not enrolments and not can_teach_run(viewer, run):
        raise Enrolment.DoesNotExist
    return _summary(_outcomes(Q(course_id=run.course_id)), [e.user for e in enrolments])
