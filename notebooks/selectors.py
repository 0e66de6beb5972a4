"""Reads of the labs side, scoped to the acting user.

Who sees what:
- operators: everything;
- course staff (instructors and TAs of a run, ``courses.selectors.can_teach_run``): the run's
  labs, versions and every submission, and grading; changing labs is ``can_author_run``'s
  (instructors, and TAs an instructor granted editing);
- students: released labs of runs they are (or were) actively enrolled in, and only their own
  submissions;
- institution admins: read-only over their institution's students' submissions; "their
  students" are people with a membership there, which exists only once the person accepted.
Anything else is not found (the model's ``DoesNotExist``, never an HTTP error): a 404 on pages
and in the API alike, so an outsider learns nothing, not even that a lab exists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from academy.models import Membership, Role, User
from academy.selectors import admin_institution_ids, is_operator
from courses.grading import GradeResult, Item, course_grade
from courses.models import (
    SEAT_STATES,
    CourseRun,
    CourseStaff,
    Enrolment,
    EnrolmentState,
    StaffRole,
)
from courses.selectors import (
    about_people_visible_to,
    authored_run_ids,
    can_author_run,
    can_teach_run,
    staff_run_ids,
)

from . import gradebook as gb
from . import grading, queue
from .models import (
    Extension,
    FeedbackRelease,
    GradingTicket,
    Lab,
    LabRegrade,
    LabRegradeState,
    LabVersion,
    ManualGrade,
    Submission,
    SubmissionStatus,
    TicketState,
)

# A learner works in a run while they hold a seat there: the courses app decides which states.
LEARNING_STATES = SEAT_STATES


def runs_for_staff(user: User) -> QuerySet[CourseRun]:
    qs = CourseRun.objects.select_related("course")
    if is_operator(user):
        return qs
    return qs.filter(pk__in=staff_run_ids(user))


def labs_for(user: User) -> QuerySet[Lab]:
    qs = Lab.objects.select_related("run__course", "released_version", "category")
    if is_operator(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    enrolled = Enrolment.objects.filter(user=user, state__in=LEARNING_STATES).values("run_id")
    condition = Q(run_id__in=staff_run_ids(user)) | Q(
        run_id__in=Subquery(enrolled), released_version__isnull=False
    )
    return qs.filter(condition)


def lab_for(user: User, pk: int) -> Lab:
    lab = labs_for(user).filter(pk=pk).first()
    if lab is None:
        raise Lab.DoesNotExist
    return lab


def lab_for_author(user: User, pk: int) -> Lab:
    """A lab the user may change (``can_author_run``); ``Lab.DoesNotExist`` otherwise."""
    lab = lab_for(user, pk)
    if not can_author_run(user, lab.run_id):
        raise Lab.DoesNotExist
    return lab


def lab_for_teacher(user: User, pk: int) -> Lab:
    """A lab the user may grade and see every submission of (``can_teach_run``)."""
    lab = lab_for(user, pk)
    if not can_teach_run(user, lab.run_id):
        raise Lab.DoesNotExist
    return lab


def library_labs(user: User) -> QuerySet[Lab]:
    """The lab library: labs with at least one version that the user may copy into a run they
    author.  Those of runs they author themselves, and those of every run an instructor of
    their institution teaches, for instructors (an instructor membership) of that institution:
    labs are shared between an institution's instructors, never with other institutions,
    students or institution admins.  Operators see every lab."""
    qs = Lab.objects.select_related("run__course", "category").filter(
        Exists(LabVersion.objects.filter(lab=OuterRef("pk")))
    )
    if is_operator(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    institutions = Membership.objects.filter(user=user, role=Role.INSTRUCTOR).values(
        "institution_id"
    )
    shared_runs = CourseStaff.objects.filter(
        role=StaffRole.INSTRUCTOR,
        user__memberships__institution_id__in=Subquery(institutions),
        user__memberships__role=Role.INSTRUCTOR,
    ).values("run_id")
    return qs.filter(Q(run_id__in=authored_run_ids(user)) | Q(run_id__in=Subquery(shared_runs)))


def library_lab(user: User, pk: int) -> Lab:
    lab = library_labs(user).filter(pk=pk).first()
    if lab is None:
        raise Lab.DoesNotExist
    return lab


def submissions_for(user: User) -> QuerySet[Submission]:
    qs = Submission.objects.select_related("lab__run__course", "student", "latest_run")
    return about_people_visible_to(user, qs, person="student", run="lab__run_id")


def submission_for(user: User, pk: int) -> Submission:
    sub = submissions_for(user).filter(pk=pk).first()
    if sub is None:
        raise Submission.DoesNotExist
    return sub


def own_submissions(user: User, lab: Lab) -> QuerySet[Submission]:
    return Submission.objects.filter(lab=lab, student=user).order_by("-attempt")


def feedback_visible(submission: Submission, viewer: User) -> bool:
    """Staff always see it; the student once it is released (or at once, by lab setting)."""
    if viewer.pk != submission.student_id:
        return True
    if submission.status not in (SubmissionStatus.GRADED, SubmissionStatus.FAILED):
        return False
    lab = submission.lab
    return (
        submission.feedback_released
        or lab.feedback_released_at is not None
        or lab.feedback_release == FeedbackRelease.IMMEDIATE
    )


@dataclass
class FeedbackCell:
    grade_id: str
    kind: str
    score: Decimal | float | None
    max_score: float
    output: str
    comment: str = ""
    manual: bool = False
    hidden: bool = False  # holds hidden tests
    withheld: bool = False  # its output is never shown to the student
    note: str = ""  # what the student is told instead of the output


def feedback(submission: Submission, viewer: User | None = None) -> list[FeedbackCell]:
    """Per-cell scores, comments and test output of the latest grading run.  The run's staff
    (and operators) see every output; anyone else, the student included (and ``viewer=None``),
    gets ``grading.student_view_of_result``: no output of hidden-test cells or of any cell
    after the first one, whatever the student's code printed there."""
    run = submission.latest_run
    if run is None:
        return []
    staff = viewer is not None and can_teach_run(viewer, submission.lab.run_id)
    student_view = grading.student_view_of_result(run.cells)
    manual = {m.grade_id: m for m in submission.manual_grades.all()}
    cells = []
    # Notebook order (runs stored before cells kept their position come in stored order).
    ordered = sorted(run.cells.items(), key=lambda item: item[1].get("order", len(run.cells)))
    for gid, cell in ordered:
        m = manual.get(gid)
        seen = student_view[gid]
        cells.append(
            FeedbackCell(
                grade_id=gid,
                kind=cell.get("kind", ""),
                score=m.score if m else cell.get("score"),
                max_score=cell.get("max_score", 0),
                output=cell.get("output", "") if staff else seen["output"],
                comment=m.comment if m else "",
                manual=m is not None,
                hidden=seen["hidden"],
                withheld=seen["withheld"],
                # staff see the output itself, marked as not shown to the student
                note=seen["note"] if seen["hidden"] or not staff else "",
            )
        )
    return cells


def manual_queue(lab: Lab) -> list[tuple[Submission, str]]:
    """(submission, grade_id) pairs still waiting for a human, oldest submission first; only
    the latest attempt of each student counts."""
    latest = Submission.objects.filter(lab=lab, student=OuterRef("student")).order_by("-attempt")
    subs = (
        Submission.objects.filter(lab=lab, status=SubmissionStatus.NEEDS_MANUAL)
        .filter(attempt=Subquery(latest.values("attempt")[:1]))
        .select_related("latest_run", "student")
        .prefetch_related("manual_grades")
        .order_by("submitted_at", "id")
    )
    queue = []
    for sub in subs:
        done = {m.grade_id for m in sub.manual_grades.all()}
        for gid, cell in (sub.latest_run.cells if sub.latest_run else {}).items():
            if cell.get("score") is None and gid not in done:
                queue.append((sub, gid))
    return queue


# ---------------------------------------------------------------------------- gradebook


@dataclass
class GradebookCell:
    submission_id: int | None = None
    status: str = ""
    raw_percent: Decimal | None = None
    penalty: Decimal = Decimal(0)
    percent: Decimal | None = None
    late_seconds: int = 0

    @property
    def status_label(self) -> str:
        return str(SubmissionStatus(self.status).label) if self.status else ""


@dataclass
class GradebookRow:
    student: User
    cohort: str
    cells: list[GradebookCell] = field(default_factory=list)
    course_grade: Decimal | None = None
    passed: bool = False


@dataclass
class Gradebook:
    run: CourseRun
    labs: list[Lab]
    rows: list[GradebookRow]

    def distribution(self, bins: int = 10) -> list[int]:
        counts = [0] * bins
        for row in self.rows:
            if row.course_grade is not None:
                counts[min(int(row.course_grade // (100 // bins)), bins - 1)] += 1
        return counts


def run_grade(
    run: CourseRun,
    labs: list[Lab],
    cells: list[GradebookCell],
    due: dict[int, datetime],
    now: datetime,
) -> GradeResult:
    """The run's policy (courses.grading, the one rule) over this student's labs: each lab's
    percent after penalties, whether it was submitted, and its due date for this student."""
    return course_grade(
        run,
        [
            (
                lab.category.name if lab.category else None,
                Item(
                    percent=cell.percent,
                    due_at=due.get(lab.pk, lab.due_at),
                    submitted=cell.submission_id is not None,
                    weight=lab.weight,
                ),
            )
            for lab, cell in zip(labs, cells, strict=True)
        ],
        now,
    )


def gradebook(user: User, run_id: int, *, cohort_id: int | None = None) -> Gradebook:
    """Students × labs of a run with late penalties and the course grade.

    A constant number of queries whatever the number of students and labs: the run, the
    labs, the enrolments (with users and cohorts), the latest submissions, the categories,
    the extensions.
    Staff see every student; an institution admin only their institution's students.
    """
    run = (
        CourseRun.objects.select_related("course")
        .prefetch_related("categories")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        raise CourseRun.DoesNotExist
    admin_of = admin_institution_ids(user)
    if not can_teach_run(user, run_id) and not admin_of:
        raise CourseRun.DoesNotExist
    labs = list(Lab.objects.filter(run=run).select_related("category").order_by("due_at", "id"))
    enrolments = (
        Enrolment.objects.filter(run=run, state__in=LEARNING_STATES)
        .select_related("user", "cohort")
        .order_by("user__last_name", "user__first_name", "user__username")
    )
    if cohort_id:
        enrolments = enrolments.filter(cohort_id=cohort_id)
    if not can_teach_run(user, run_id):
        enrolments = enrolments.filter(user__memberships__institution_id__in=admin_of).distinct()
        if not enrolments.exists():
            raise CourseRun.DoesNotExist
    enrolments_list = list(enrolments)
    people = [e.user_id for e in enrolments_list]
    by_key = latest_submissions([run.pk], people)
    # extensions move a student's due date, and so when a missing lab starts counting 0
    extended = extended_due_dates([run.pk], people)
    now = timezone.now()
    rows = []
    for enrolment in enrolments_list:
        row = GradebookRow(
            student=enrolment.user, cohort=enrolment.cohort.name if enrolment.cohort else ""
        )
        row.cells = [lab_cell(lab, by_key.get((lab.pk, enrolment.user_id))) for lab in labs]
        grade = run_grade(run, labs, row.cells, extended[enrolment.user_id], now)
        row.course_grade, row.passed = grade.percentage, grade.passed
        rows.append(row)
    return Gradebook(run=run, labs=labs, rows=rows)


# --------------------------------------------------------------------------- results, in bulk
# The three reads every grade computed for many people at once needs (the gradebook, finished
# results, outcome mastery, cohort tracking): one query each, whatever the number of people.

LATEST_FIELDS = (
    "id",
    "lab_id",
    "student_id",
    "status",
    "score",
    "max_score",
    "late_seconds",
    "submitted_at",
)


def labs_by_run(run_ids: Iterable[int]) -> dict[int, list[Lab]]:
    """The runs' labs in due order, with their categories."""
    labs_of: dict[int, list[Lab]] = defaultdict(list)
    for lab in (
        Lab.objects.filter(run_id__in=run_ids).select_related("category").order_by("due_at", "id")
    ):
        labs_of[lab.run_id].append(lab)
    return labs_of


def latest_submissions(
    run_ids: Iterable[int], user_ids: Iterable[int]
) -> dict[tuple[int, int], Submission]:
    """Each person's latest attempt at each lab of the runs, by (lab id, person id)."""
    latest = Submission.objects.filter(lab=OuterRef("lab"), student=OuterRef("student")).order_by(
        "-attempt"
    )
    return {
        (s.lab_id, s.student_id): s
        for s in Submission.objects.filter(lab__run_id__in=run_ids, student_id__in=user_ids)
        .filter(attempt=Subquery(latest.values("attempt")[:1]))
        .only(*LATEST_FIELDS)
    }


def extended_due_dates(
    run_ids: Iterable[int], user_ids: Iterable[int]
) -> dict[int, dict[int, datetime]]:
    """Extensions, {person id: {lab id: due date}}: when a missing lab starts counting 0."""
    extended: dict[int, dict[int, datetime]] = defaultdict(dict)
    for lab_id, student_id, due_at in Extension.objects.filter(
        lab__run_id__in=run_ids, student_id__in=user_ids
    ).values_list("lab_id", "student_id", "due_at"):
        extended[student_id][lab_id] = due_at
    return extended


@dataclass(frozen=True)
class RunResult:
    """A person's grade in a run that is over (or that staff marked completed)."""

    user_id: int
    run_id: int
    course_id: int
    grade: Decimal | None
    passed: bool
    finished_at: datetime
    run_title: str = ""  # what a programme's completion record shows of the run


def finished_results(user_ids: list[int], now: datetime | None = None) -> list[RunResult]:
    """The results of these people in every run of theirs that has ended or that staff marked
    completed, each graded by its run's own policy (``courses.grading``, as the gradebook);
    a run with nothing graded counts as passed only when staff marked it completed.
    Unscoped, for the system (programme progress): callers decide who may see them.
    Six queries whatever the number of people: enrolments, runs, categories, labs, the latest
    submissions, extensions."""
    now = now or timezone.now()
    enrolments = list(
        Enrolment.objects.filter(user_id__in=user_ids, state__in=LEARNING_STATES)
        .filter(Q(run__ends_at__lt=now) | Q(state=EnrolmentState.COMPLETED))
        .only("id", "user_id", "run_id", "state", "state_changed_at")
    )
    if not enrolments:
        return []
    run_ids = {e.run_id for e in enrolments}
    runs = {
        r.pk: r for r in CourseRun.objects.filter(pk__in=run_ids).prefetch_related("categories")
    }
    labs_of = labs_by_run(run_ids)
    people = {e.user_id for e in enrolments}
    by_key = latest_submissions(run_ids, people)
    extended = extended_due_dates(run_ids, people)
    out = []
    for enrolment in enrolments:
        run = runs[enrolment.run_id]
        labs = labs_of[run.pk]
        cells = [lab_cell(lab, by_key.get((lab.pk, enrolment.user_id))) for lab in labs]
        grade = run_grade(run, labs, cells, extended[enrolment.user_id], now)
        out.append(
            RunResult(
                user_id=enrolment.user_id,
                run_id=run.pk,
                course_id=run.course_id,
                run_title=run.title,
                grade=grade.percentage,
                passed=enrolment_passed(grade, enrolment),
                finished_at=min(run.ends_at, enrolment.state_changed_at)
                if enrolment.state == EnrolmentState.COMPLETED
                else run.ends_at,
            )
        )
    return out


def enrolment_passed(grade: GradeResult, enrolment: Enrolment) -> bool:
    """A graded run is passed at the run's pass mark.  A run with nothing graded (a course
    without labs, say) proves nothing by having ended: only staff marking the enrolment
    completed says it was passed."""
    if grade.percentage is None:
        return enrolment.state == EnrolmentState.COMPLETED
    return grade.passed


def lab_cell(lab: Lab, sub: Submission | None) -> GradebookCell:
    if sub is None:
        return GradebookCell()
    raw = gb.percent(sub.score, sub.max_score)
    penalty = gb.late_penalty_percent(
        policy=lab.late_policy,
        late_seconds=sub.late_seconds,
        rate_percent=lab.late_penalty_percent,
        cap_percent=lab.late_penalty_cap_percent,
    )
    return GradebookCell(
        submission_id=sub.pk,
        status=sub.status,
        raw_percent=raw,
        penalty=penalty,
        percent=None if raw is None else gb.apply_penalty(raw, penalty),
        late_seconds=sub.late_seconds,
    )


def manual_grades_of(submission: Submission) -> dict[str, ManualGrade]:
    return {m.grade_id: m for m in submission.manual_grades.all()}


def version_context(lab: Lab) -> dict[str, Any]:
    return {"versions": list(lab.versions.select_related("created_by"))}


# ------------------------------------------------------------------- the grading queue


def with_queue_places(subs: Iterable[Submission]) -> list[Submission]:
    """The submissions (already read through a scoped selector), each with ``place``: its
    place in the grading queue and an estimate (``queue.QueuePlace``), or None when it is not
    waiting.  A constant number of queries whatever the number of submissions."""
    subs = list(subs)
    waiting = [s.pk for s in subs if not s.is_final]
    found = queue.places(waiting) if waiting else {}
    for sub in subs:
        sub.place = found.get(sub.pk)  # type: ignore[attr-defined]
    return subs


@dataclass(frozen=True)
class RegradeProgress:
    regrade: LabRegrade
    total: int
    regraded: int  # graded again (or failed, the earlier result kept)
    grading: int
    waiting: int
    cancelled: int

    @property
    def handled(self) -> int:
        return self.regraded + self.cancelled

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.handled / self.total)

    @property
    def running(self) -> bool:
        return self.regrade.state == LabRegradeState.RUNNING


def regrade_progress(regrade: LabRegrade) -> RegradeProgress:
    """Where a lab's regrade stands: one query over its tickets (the caller checked the
    reader may teach the lab's run).  A regrade with nothing left open is settled as done."""
    counts = dict(
        GradingTicket.objects.filter(regrade=regrade)
        .values("state")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("state", "n")
    )
    if regrade.state == LabRegradeState.RUNNING and not (
        counts.get(TicketState.QUEUED) or counts.get(TicketState.RUNNING)
    ):
        queue.regrade_settle(regrade.pk)
        regrade.refresh_from_db()
    return RegradeProgress(
        regrade=regrade,
        total=regrade.total,
        regraded=counts.get(TicketState.DONE, 0) + counts.get(TicketState.FAILED, 0),
        grading=counts.get(TicketState.RUNNING, 0),
        waiting=counts.get(TicketState.QUEUED, 0),
        cancelled=counts.get(TicketState.CANCELLED, 0) + counts.get(TicketState.SUPERSEDED, 0),
    )


def latest_regrade(lab: Lab) -> LabRegrade | None:
    return LabRegrade.objects.filter(lab=lab).order_by("-created_at", "-pk").first()


def regrade_for_author(user: User, lab_id: int, pk: int) -> LabRegrade:
    regrade = LabRegrade.objects.select_related("lab").filter(pk=pk, lab_id=lab_id).first()
    if regrade is None or not can_author_run(user, regrade.lab.run_id):
        raise LabRegrade.DoesNotExist
    return regrade
