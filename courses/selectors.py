"""Reads of the course side, always scoped to the acting user.

Who sees what:
- published courses and their runs: every signed-in user (the catalogue); drafts: operators
  and the staff of one of the course's runs;
- a run's content: its staff, operators, and people with an active or completed enrolment;
- enrolments: your own; all of a run you teach; your institutions' people's if you are an
  institution admin; everything if you are an operator.

Institution admins' rights over a person come only from the person's memberships, which exist
only once the person accepted an invitation (``academy.models.Membership``): never from a
cohort or enrolment row an admin could stamp.

Roles on a run, one name per meaning, used by every app (labs and sessions import them):
- ``can_teach_run`` / ``staff_run_ids``: instructors and teaching assistants (and operators):
  roster, requests, grading, every submission and session, exports;
- ``can_author_run`` / ``authored_run_ids``: instructors, and teaching assistants an instructor
  granted editing (``CourseStaff.can_edit``), and operators: seats, invite codes, the grading
  policy, content and labs;
- ``can_grant_run``: instructors and operators: grant a teaching assistant editing;
- ``can_manage_enrolment`` / ``can_decide_enrolment``: run staff and the person's (accepted)
  institutions' admins; nobody decides their own request.
Each is computed from one cached read of the user's staff rows (``academy.access.memo``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cached_property
from graphlib import CycleError, TopologicalSorter
from typing import Any, cast

from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    Model,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    prefetch_related_objects,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from academy.access import memo
from academy.models import Institution, Membership, User
from academy.selectors import admin_institution_ids, is_operator, member_institution_ids

from .models import (
    OPEN_STATES,
    SEAT_STATES,
    Course,
    CourseRun,
    CourseStaff,
    Enrolment,
    EnrolmentPolicy,
    EnrolmentState,
    Lesson,
    LessonCompletion,
    Level,
    Module,
    Sector,
    StaffRole,
)
from .signals import passed_courses

# --------------------------------------------------------------------------- roles on a run


def _staff_rows(user: User) -> dict[int, tuple[str, bool]]:
    """run id -> (role, may author) for the runs the user teaches; one query per request."""
    if not user.is_authenticated:
        return {}
    return memo(
        user,
        "course_staff_rows",
        lambda: {
            run_id: (role, role == StaffRole.INSTRUCTOR or can_edit)
            for run_id, role, can_edit in CourseStaff.objects.filter(user=user).values_list(
                "run_id", "role", "can_edit"
            )
        },
    )


def _run_id(run: CourseRun | int) -> int:
    return run if isinstance(run, int) else run.pk


def staff_run_ids(user: User) -> set[int]:
    """Runs the user teaches (instructor or teaching assistant); operators are not listed."""
    return set(_staff_rows(user))


def authored_run_ids(user: User) -> set[int]:
    """Runs whose content, labs and settings the user may change: those they are an instructor
    of, or a teaching assistant granted editing (``CourseStaff.can_edit``)."""
    return {run_id for run_id, (_role, may) in _staff_rows(user).items() if may}


def can_teach_run(user: User, run: CourseRun | int) -> bool:
    """Staff of the run (instructors and teaching assistants) and operators: see the roster,
    every submission and session, decide requests, grade by hand, export, read the content."""
    return is_operator(user) or _run_id(run) in _staff_rows(user)


def can_author_run(user: User, run: CourseRun | int) -> bool:
    """Change seats, invite codes, the grading policy, content and labs (create, upload,
    release, regrade, extensions, feedback release): operators, the run's instructors, and
    teaching assistants an instructor granted it."""
    return is_operator(user) or _run_id(run) in authored_run_ids(user)


def can_grant_run(user: User, run: CourseRun | int) -> bool:
    """Grant or withdraw a teaching assistant's editing: operators and the run's instructors."""
    row = _staff_rows(user).get(_run_id(run))
    return is_operator(user) or (row is not None and row[0] == StaffRole.INSTRUCTOR)


def can_manage_enrolment(user: User, enrolment: Enrolment) -> bool:
    """Run staff and operators; institution admins for their own (accepted) members.  The
    enrolment's cohort grants nothing: only the person's membership does."""
    if can_teach_run(user, enrolment.run_id):
        return True
    admin_of = admin_institution_ids(user)
    if not admin_of:
        return False
    return Membership.objects.filter(
        user_id=enrolment.user_id, institution_id__in=admin_of
    ).exists()


def can_decide_enrolment(user: User, enrolment: Enrolment) -> bool:
    """Approve, waitlist or reject a request: whoever manages it, except the person who asked
    (nobody decides their own enrolment, operators included)."""
    return enrolment.user_id != user.pk and can_manage_enrolment(user, enrolment)


def active_enrolment(user: User, run: CourseRun | int) -> Enrolment | None:
    """The user's enrolment in the run if it is active (holding a seat, not yet completed)."""
    if not user.is_authenticated:
        return None
    run_id = run if isinstance(run, int) else run.pk
    return Enrolment.objects.filter(run_id=run_id, user=user, state=EnrolmentState.ACTIVE).first()


def has_active_enrolment(user: User, run: CourseRun | int) -> bool:
    return active_enrolment(user, run) is not None


def _seats(user: User) -> QuerySet[Enrolment]:
    return Enrolment.objects.filter(user=user, state__in=SEAT_STATES)


def content_runs(user: User) -> QuerySet[CourseRun]:
    """The runs whose modules and lessons the user may read: the run's staff and operators
    (``can_teach_run``) and people holding a seat.  The API's lists filter by it; a single run is
    asked with :func:`can_view_content`, the same rule."""
    if is_operator(user):
        return CourseRun.objects.all()
    if not user.is_authenticated:
        return CourseRun.objects.none()
    return CourseRun.objects.filter(
        Q(pk__in=staff_run_ids(user)) | Q(pk__in=_seats(user).values("run_id"))
    )


def can_view_content(user: User, run: CourseRun | int) -> bool:
    # The staff half is answered from the per-user cache, without a query.
    if can_teach_run(user, run):
        return True
    return user.is_authenticated and _seats(user).filter(run=_run_id(run)).exists()


# --------------------------------------------------------------------------- catalogue


def courses_for(user: User) -> QuerySet[Course]:
    if is_operator(user):
        return Course.objects.all()
    if not user.is_authenticated:
        return Course.objects.none()
    return Course.objects.filter(
        Q(is_published=True) | Q(runs__id__in=staff_run_ids(user))
    ).distinct()


def runs_for(user: User) -> QuerySet[CourseRun]:
    qs = CourseRun.objects.select_related("course")
    if is_operator(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    return qs.filter(Q(course__is_published=True) | Q(id__in=staff_run_ids(user)))


def bulk_fill_runs(institution: Institution, now: datetime | None = None) -> QuerySet[CourseRun]:
    """The runs an institution's admin may fill by bulk enrolment, on the page, in the API and in
    ``bulk.bulk_upload_store``: published, not finished, and open to that institution (public,
    or restricted to it or to one of its cohorts)."""
    now = now or timezone.now()
    return (
        CourseRun.objects.filter(course__is_published=True, ends_at__gte=now)
        .filter(
            Q(is_public=True)
            | Q(pk__in=CourseRun.objects.filter(allowed_institutions=institution).values("pk"))
            | Q(
                pk__in=CourseRun.objects.filter(allowed_cohorts__institution=institution).values(
                    "pk"
                )
            )
        )
        .select_related("course")
        .order_by("course__code", "starts_at")
    )


def _open_now_q(now: datetime, prefix: str = "") -> Q:
    return Q(**{f"{prefix}enrolment_opens_at__lte": now, f"{prefix}enrolment_closes_at__gte": now})


# The query-string filters of the catalogue and the roster, parsed once for the page, the CSV
# export and the API: unknown choices and malformed numbers are ignored, text is trimmed.


@dataclass(frozen=True)
class CatalogueFilters:
    q: str = ""
    sector: str = ""
    language: str = ""
    level: str = ""
    open_now: bool = False

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> CatalogueFilters:
        sector, level = params.get("sector", ""), params.get("level", "")
        return cls(
            q=params.get("q", "").strip()[:100],
            sector=sector if sector in Sector.values else "",
            language=params.get("language", "").strip()[:10],
            level=level if level in Level.values else "",
            open_now=params.get("open", "") in ("1", "true"),
        )

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RosterFilters:
    cohort: int | None = None
    institution: int | None = None
    state: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> RosterFilters:
        def as_int(name: str) -> int | None:
            value = params.get(name, "")
            return int(value) if value.isdigit() else None

        state = params.get("state", "")
        return cls(
            cohort=as_int("cohort"),
            institution=as_int("institution"),
            state=state if state in EnrolmentState.values else "",
            q=params.get("q", "").strip()[:100],
        )

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


def catalogue(
    user: User,
    *,
    q: str = "",
    sector: str = "",
    language: str = "",
    level: str = "",
    open_now: bool = False,
) -> QuerySet[Course]:
    now = timezone.now()
    qs = courses_for(user).annotate(
        is_open=Exists(CourseRun.objects.filter(_open_now_q(now), course=OuterRef("pk")))
    )
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(code__icontains=q) | Q(summary__icontains=q))
    if sector:
        if connection.features.supports_json_field_contains:
            qs = qs.filter(sectors__contains=[sector])
        else:  # SQLite: match the quoted name in the JSON text
            qs = qs.filter(sectors__icontains=f'"{sector}"')
    if language:
        qs = qs.filter(language=language)
    if level:
        qs = qs.filter(level=level)
    if open_now:
        qs = qs.filter(is_open=True)
    return qs.order_by("code")


def course_languages() -> list[str]:
    return list(
        Course.objects.filter(is_published=True)
        .order_by("language")
        .values_list("language", flat=True)
        .distinct()
    )


# --------------------------------------------------------------------------- eligibility


@dataclass
class Eligibility:
    can_enrol: bool
    blockers: list[str] = field(default_factory=list)  # why not
    notes: list[str] = field(default_factory=list)  # what will happen (approval, waitlist)
    enrolment: Enrolment | None = None
    seats_left: int | None = None
    needs_code: bool = False
    will_waitlist: bool = False


def passed_course_ids(user: User) -> set[int]:
    """The courses ``user`` passed: the evidence a prerequisite asks for.  The labs side, which
    computes grades, answers through ``signals.passed_courses`` (a run passed under the run's own
    grading policy); without a receiver (the course side alone) a run that staff marked
    completed is the evidence."""
    if not user.is_authenticated:
        return set()
    answers = [cast(set[int], ids) for _r, ids in passed_courses.send(sender=Course, user=user)]
    if answers:
        return set[int]().union(*answers)
    return set(
        Enrolment.objects.filter(user=user, state=EnrolmentState.COMPLETED).values_list(
            "run__course_id", flat=True
        )
    )


@dataclass
class PersonContext:
    """What the eligibility rules need to know about a person: loaded once per page."""

    institution_ids: set[int]
    cohort_ids: set[int]
    user: User | None = None

    @classmethod
    def load(cls, user: User) -> PersonContext:
        if not user.is_authenticated:
            return cls(set(), set())
        return cls(
            institution_ids=member_institution_ids(user),
            cohort_ids=set(user.cohorts.values_list("id", flat=True)),
            user=user,
        )

    @cached_property
    def passed_course_ids(self) -> set[int]:
        # Asked only when a rule needs it (a course with prerequisites): grading a person's
        # finished runs costs the labs side a few queries.
        return passed_course_ids(self.user) if self.user is not None else set()


def seats_left(run: CourseRun) -> int | None:
    return None if run.capacity is None else max(run.capacity - run.active_count, 0)


def enrolment_eligibility(
    run: CourseRun,
    person: PersonContext,
    enrolment: Enrolment | None,
    *,
    now: datetime | None = None,
) -> Eligibility:
    """Whether a person may ask to enrol in ``run`` and why not.  Needs ``run.course`` with
    ``prerequisites`` and the run's ``allowed_institutions``/``allowed_cohorts`` prefetched
    to stay query-free.  The enrolment service runs the same rules."""
    now = now or timezone.now()
    result = Eligibility(can_enrol=False, enrolment=enrolment, seats_left=seats_left(run))
    if enrolment is not None and enrolment.state in OPEN_STATES:
        return result
    if enrolment is not None and enrolment.state == EnrolmentState.REJECTED:
        result.blockers.append(_("Your request for this run was declined."))
    if now < run.enrolment_opens_at:
        result.blockers.append(
            _("Enrolment opens on %(date)s.")
            % {"date": timezone.localtime(run.enrolment_opens_at).strftime("%Y-%m-%d")}
        )
    elif now > run.enrolment_closes_at:
        result.blockers.append(_("The enrolment window is closed."))
    if not run.is_public:
        allowed_inst = {i.pk for i in run.allowed_institutions.all()}
        allowed_coh = {c.pk for c in run.allowed_cohorts.all()}
        if not (allowed_inst & person.institution_ids or allowed_coh & person.cohort_ids):
            result.blockers.append(_("This run is only for listed institutions and cohorts."))
    # ``passed_course_ids`` is only computed when the course has prerequisites.
    missing = [p for p in run.course.prerequisites.all() if p.pk not in person.passed_course_ids]
    if missing:
        result.blockers.append(
            _("Prerequisite missing: %(courses)s.")
            % {"courses": ", ".join(f"{p.code} {p.title}" for p in missing)}
        )
    result.can_enrol = not result.blockers
    if run.policy == EnrolmentPolicy.INVITE:
        result.needs_code = True
        result.notes.append(_("An invite code is needed."))
    if run.policy == EnrolmentPolicy.APPROVAL:
        result.notes.append(_("The run's staff approve each request."))
    elif result.seats_left == 0:
        result.will_waitlist = True
        result.notes.append(_("The run is full: you will join the waitlist."))
    return result


@dataclass
class CoursePage:
    runs: list[tuple[CourseRun, Eligibility]]
    # The courses to pass first (enforced) and those recommended first (shown only), each with
    # whether the person passed it.
    prerequisites: list[tuple[Course, bool]]
    recommended: list[tuple[Course, bool]]


def course_page(user: User, course: Course) -> CoursePage:
    """The course's runs, each with seats left and the user's eligibility, and the courses to
    take before it.  A fixed number of queries whatever the number of runs."""
    prefetch_related_objects([course], "prerequisites", "recommended")
    runs = list(
        CourseRun.objects.filter(course=course)
        .prefetch_related(
            "allowed_institutions",
            "allowed_cohorts",
            Prefetch("staff", queryset=CourseStaff.objects.select_related("user")),
        )
        .order_by("starts_at")
    )
    for run in runs:
        run.course = course  # the rules read its prerequisites, fetched once above
    person = PersonContext.load(user)
    mine = (
        {e.run_id: e for e in Enrolment.objects.filter(user=user, run__course=course)}
        if (user.is_authenticated)
        else {}
    )
    now = timezone.now()
    return CoursePage(
        runs=[(run, enrolment_eligibility(run, person, mine.get(run.pk), now=now)) for run in runs],
        prerequisites=[(c, c.pk in person.passed_course_ids) for c in course.prerequisites.all()],
        recommended=[(c, c.pk in person.passed_course_ids) for c in course.recommended.all()],
    )


def prerequisite_cycle(course: Course, prerequisites: Iterable[Course]) -> list[str] | None:
    """The cycle ``course`` would be part of (or lead into) if its prerequisites became these:
    course codes, each a prerequisite of the next, back to where it started ("GPU101 → LLM201
    → GPU101"); None when there is none.  Two queries at most."""
    if course.pk is None:  # a new course: nothing can require it yet
        return None
    edges: dict[int, set[int]] = defaultdict(set)
    through = Course.prerequisites.through
    for course_id, prerequisite_id in through.objects.exclude(from_course_id=course.pk).values_list(
        "from_course_id", "to_course_id"
    ):
        edges[course_id].add(prerequisite_id)
    edges[course.pk] = {p.pk for p in prerequisites}
    # Only what the course leads to matters: an old cycle elsewhere blocks no edit here.
    reachable, todo = set(), [course.pk]
    while todo:
        node = todo.pop()
        if node not in reachable:
            reachable.add(node)
            todo.extend(edges[node])
    try:
        TopologicalSorter({node: edges[node] for node in reachable}).prepare()
    except CycleError as exc:
        ids: list[int] = exc.args[1][:-1]
        if course.pk in ids:  # start the path at the course being changed
            start = ids.index(course.pk)
            ids = ids[start:] + ids[:start]
        codes = dict(Course.objects.filter(pk__in=ids).values_list("pk", "code"))
        return [codes[i] for i in [*ids, ids[0]]]
    return None


# --------------------------------------------------------------------------- content, progress


def run_content(run: CourseRun, *, lessons: QuerySet[Lesson] | None = None) -> list[Module]:
    """The run's modules in order, each with its lessons in order (two queries)."""
    lessons = (lessons if lessons is not None else Lesson.objects.all()).order_by("position", "id")
    return list(
        Module.objects.filter(run=run)
        .prefetch_related(Prefetch("lessons", queryset=lessons))
        .order_by("position", "id")
    )


def run_content_outline(run: CourseRun) -> list[Module]:
    """``run_content`` for the authoring page: each lesson also carries its number of files
    and of students who completed it."""
    return run_content(
        run,
        lessons=Lesson.objects.annotate(
            n_files=Count("attachments", distinct=True),
            n_done=Count("completions", distinct=True),
        ),
    )


def completed_lesson_ids(user: User, run: CourseRun | int) -> set[int]:
    run_id = run if isinstance(run, int) else run.pk
    return set(
        LessonCompletion.objects.filter(user=user, lesson__module__run_id=run_id).values_list(
            "lesson_id", flat=True
        )
    )


def progress_for(user: User, run_ids: list[int]) -> dict[int, tuple[int, int]]:
    """run id -> (lessons completed by the user, lessons in the run): two queries in all."""
    totals = dict(
        Lesson.objects.filter(module__run_id__in=run_ids)
        .values("module__run_id")
        .annotate(n=Count("id"))
        .values_list("module__run_id", "n")
    )
    done = dict(
        LessonCompletion.objects.filter(user=user, lesson__module__run_id__in=run_ids)
        .values("lesson__module__run_id")
        .annotate(n=Count("id"))
        .values_list("lesson__module__run_id", "n")
    )
    return {rid: (done.get(rid, 0), totals.get(rid, 0)) for rid in run_ids}


# --------------------------------------------------------------------------- enrolments


def about_people_visible_to[M: Model](
    user: User, qs: QuerySet[M], *, person: str, run: str
) -> QuerySet[M]:
    """The rows about a person that ``user`` may see: their own, those of the runs they teach,
    and those of the members of the institutions they administer (operators see all, anonymous
    visitors none).  ``person`` names the row's person field, ``run`` its run id path."""
    if is_operator(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    scope = Q(**{person: user}) | Q(**{f"{run}__in": staff_run_ids(user)})
    admin_of = admin_institution_ids(user)
    if admin_of:
        scope |= Q(**{f"{person}__memberships__institution_id__in": admin_of})
        return qs.filter(scope).distinct()
    return qs.filter(scope)


def enrolments_for(user: User) -> QuerySet[Enrolment]:
    qs = Enrolment.objects.select_related("run__course", "user", "cohort__institution")
    return about_people_visible_to(user, qs, person="user", run="run_id")


def roster(
    run: CourseRun,
    *,
    cohort: int | None = None,
    institution: int | None = None,
    state: str = "",
    q: str = "",
) -> QuerySet[Enrolment]:
    """All enrolments of a run (callers check ``can_teach_run`` first), filtered."""
    qs = Enrolment.objects.filter(run=run).select_related("user", "cohort__institution")
    if cohort:
        qs = qs.filter(cohort_id=cohort)
    if institution:
        qs = qs.filter(
            Q(cohort__institution_id=institution) | Q(user__memberships__institution_id=institution)
        ).distinct()
    if state:
        qs = qs.filter(state=state)
    if q:
        qs = qs.filter(
            Q(user__username__icontains=q)
            | Q(user__email__icontains=q)
            | Q(user__last_name__icontains=q)
        )
    return qs.order_by("state", "waitlist_position", "user__last_name", "user__username")


def roster_state_counts(run: CourseRun) -> dict[str, int]:
    return dict(
        Enrolment.objects.filter(run=run)
        .values("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )


def approval_queue(user: User) -> QuerySet[Enrolment]:
    """Pending requests the user may decide: their runs' and their institutions' people's,
    never their own."""
    return enrolments_for(user).filter(state=EnrolmentState.PENDING).exclude(user=user)


# --------------------------------------------------------------------------- dashboards


def student_enrolments(user: User) -> list[Enrolment]:
    return list(
        Enrolment.objects.filter(user=user)
        .exclude(state=EnrolmentState.REJECTED)
        .select_related("run__course")
        .order_by("run__starts_at")
    )


def upcoming_deadlines(user: User, enrolments: list[Enrolment], *, limit: int = 5) -> list[dict]:
    """The next dates that matter in the user's runs: run start, run end."""
    now = timezone.now()
    items: list[dict[str, Any]] = []
    for e in enrolments:
        if e.state not in (
            EnrolmentState.ACTIVE,
            EnrolmentState.WAITLISTED,
            EnrolmentState.PENDING,
        ):
            continue
        for when, label in ((e.run.starts_at, _("starts")), (e.run.ends_at, _("ends"))):
            if when >= now:
                items.append({"when": when, "label": label, "run": e.run})
    return sorted(items, key=lambda i: i["when"])[:limit]


def instructor_runs(user: User) -> QuerySet[CourseRun]:
    runs = (
        CourseRun.objects.filter(id__in=staff_run_ids(user))
        if not is_operator(user)
        else (CourseRun.objects.filter(staff__isnull=False).distinct())
    )
    # ``can_author_run`` for each run (which links are shown), from the cached staff rows.
    authored = authored_run_ids(user)
    can_author: Any = (
        Value(True)
        if is_operator(user)
        else ExpressionWrapper(Q(pk__in=authored), output_field=BooleanField())
        if authored
        else Value(False)
    )
    return (
        runs.select_related("course")
        .annotate(
            can_author=can_author,
            n_pending=Count("enrolments", filter=Q(enrolments__state=EnrolmentState.PENDING)),
            n_waitlisted=Count("enrolments", filter=Q(enrolments__state=EnrolmentState.WAITLISTED)),
        )
        .order_by("-starts_at")
    )


def institution_enrolments_by_cohort(user: User) -> list[dict]:
    """For an institution admin: enrolment counts per cohort, run and state, one query."""
    admin_of = admin_institution_ids(user)
    if not admin_of:
        return []
    # Only people still members of the cohort's institution: a cohort stamp alone grants no view.
    members = Membership.objects.filter(
        user_id=OuterRef("user_id"), institution_id=OuterRef("cohort__institution_id")
    )
    rows = (
        Enrolment.objects.filter(cohort__institution_id__in=admin_of)
        .filter(Exists(members))
        .values(
            "cohort_id",
            "cohort__name",
            "cohort__institution__name",
            "run_id",
            "run__course__code",
            "run__title",
            "state",
        )
        .annotate(n=Count("id"))
        .order_by("cohort__institution__name", "cohort__name", "run__course__code", "run_id")
    )
    grouped: dict[int, dict] = {}
    for r in rows:
        cohort = grouped.setdefault(
            r["cohort_id"],
            {"name": r["cohort__name"], "institution": r["cohort__institution__name"], "runs": {}},
        )
        run = cohort["runs"].setdefault(
            r["run_id"],
            {"label": f"{r['run__course__code']} · {r['run__title']}", "counts": defaultdict(int)},
        )
        run["counts"][r["state"]] += r["n"]
    return [
        {
            **c,
            "runs": [
                {"label": v["label"], "counts": dict(v["counts"])} for v in c["runs"].values()
            ],
        }
        for c in grouped.values()
    ]


def waitlist_rank(enrolment: Enrolment) -> int | None:
    """1 for the head of the waitlist."""
    if enrolment.state != EnrolmentState.WAITLISTED or enrolment.waitlist_position is None:
        return None
    return Enrolment.objects.filter(
        run_id=enrolment.run_id,
        state=EnrolmentState.WAITLISTED,
        waitlist_position__lte=enrolment.waitlist_position,
    ).count()
