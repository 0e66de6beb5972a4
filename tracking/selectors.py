"""Reads of the tracking side, each scoped to one institution: the dashboard's figures, the
at-risk list and the weekly trends (and, below, the cohort, person and API reads).

Privacy: every figure reads only rows whose stored ``institution`` is the institution asked
about (snapshots, daily activity), or, for data outside the tracking tables, only what belongs to
the institution's own cohorts (GPU usage and budgets, programme allocations).  All aggregates are
computed in SQL with a constant number of queries, whatever the number of cohorts or people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Avg,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Max,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import Cast, Coalesce, NullIf, TruncWeek
from django.utils import timezone

from academy import selectors as academy_selectors
from academy.models import Cohort, Institution, Membership, User
from courses.models import Course, CourseRun, EnrolmentState
from credentials.models import Credential, CredentialKind
from notebooks.sessions.models import CohortGpuBudget, GpuUsage
from programmes.models import Allocation, Programme, ProgrammeCohort

from . import rules
from .models import (
    CohortSummary,
    DailyActivity,
    EnrolmentSnapshot,
    InstitutionPolicy,
    RollupCursor,
)

DEFAULT_WEEKS = 12
AT_RISK_LIMIT = 50

# --------------------------------------------------------------------------- access


def can_track(user: User, institution: Institution) -> bool:
    """Operators, and the institution's own admins (not its instructors or students)."""
    return academy_selectors.is_operator(user) or academy_selectors.is_institution_admin(
        user, institution.pk
    )


def tracked_institution(user: User, slug: str) -> Institution:
    """The institution named in a URL, if ``user`` may follow its people; 404 otherwise (an
    admin of another institution learns nothing, not even that it exists): the model's
    DoesNotExist, which pages and the API answer with 404."""
    institution = Institution.objects.filter(slug=slug).first()
    if institution is None or not can_track(user, institution):
        raise Institution.DoesNotExist
    return institution


# --------------------------------------------------------------------------- filters


@dataclass
class Filters:
    """What the dashboard is narrowed to (all optional) and the period of its trends."""

    start: date
    end: date
    cohort: Cohort | None = None
    programme: Programme | None = None
    course: Course | None = None
    run: CourseRun | None = None

    @classmethod
    def default(cls, today: date | None = None) -> Filters:
        today = today or timezone.localdate()
        return cls(start=today - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1), end=today)


def _programme_cohorts(programme: Programme) -> QuerySet[ProgrammeCohort]:
    return ProgrammeCohort.objects.filter(programme=programme)


def snapshots(institution: Institution, filters: Filters) -> QuerySet[EnrolmentSnapshot]:
    """The institution's enrolment snapshots, narrowed by the filters (not by the period: a
    snapshot is where an enrolment stands now)."""
    return _by_cohort_and_run(EnrolmentSnapshot.objects.filter(institution=institution), filters)


def summaries(institution: Institution, filters: Filters) -> QuerySet[CohortSummary]:
    """The institution's per (cohort, run) sums of its snapshots, narrowed like ``snapshots``
    (a row exists exactly where snapshots do)."""
    return _by_cohort_and_run(CohortSummary.objects.filter(institution=institution), filters)


def cohorts(institution: Institution, filters: Filters) -> QuerySet[Cohort]:
    qs = Cohort.objects.filter(institution=institution)
    if filters.cohort is not None:
        qs = qs.filter(pk=filters.cohort.pk)
    if filters.programme is not None:
        qs = qs.filter(pk__in=_programme_cohorts(filters.programme).values("cohort"))
    return qs


def _by_cohort_and_run[M: Model](qs: QuerySet[M], filters: Filters) -> QuerySet[M]:
    """Rows with a ``cohort`` and a ``run`` narrowed by the filters (snapshots, summaries, GPU
    jobs and budgets)."""
    if filters.cohort is not None:
        qs = qs.filter(cohort=filters.cohort)
    if filters.programme is not None:
        qs = qs.filter(cohort__in=_programme_cohorts(filters.programme).values("cohort"))
    if filters.course is not None:
        qs = qs.filter(run__course=filters.course)
    if filters.run is not None:
        qs = qs.filter(run=filters.run)
    return qs


def _gpu_usage(institution: Institution, filters: Filters) -> QuerySet[GpuUsage]:
    """GPU jobs charged to the institution's cohorts (jobs without a cohort are nobody's)."""
    return _by_cohort_and_run(GpuUsage.objects.filter(cohort__institution=institution), filters)


def _gpu_budgets(institution: Institution, filters: Filters) -> QuerySet[CohortGpuBudget]:
    return _by_cohort_and_run(
        CohortGpuBudget.objects.filter(cohort__institution=institution), filters
    )


def _allocations(institution: Institution, filters: Filters) -> QuerySet[Allocation]:
    """Programme allocations made through the institution's cohorts."""
    qs = Allocation.objects.filter(cohort__institution=institution, items_total__gt=0)
    if filters.cohort is not None:
        qs = qs.filter(cohort=filters.cohort)
    if filters.programme is not None:
        qs = qs.filter(programme=filters.programme)
    return qs


def _activity(institution: Institution, filters: Filters) -> QuerySet[DailyActivity]:
    """The institution's daily activity rows in the period; a cohort or programme filter keeps
    the (person, run) pairs enrolled through those cohorts."""
    qs = DailyActivity.objects.filter(
        institution=institution, day__gte=filters.start, day__lte=filters.end
    )
    if filters.course is not None:
        qs = qs.filter(run__course=filters.course)
    if filters.run is not None:
        qs = qs.filter(run=filters.run)
    if filters.cohort is not None or filters.programme is not None:
        qs = qs.filter(
            Exists(
                snapshots(institution, filters).filter(user=OuterRef("user"), run=OuterRef("run"))
            )
        )
    return qs


# --------------------------------------------------------------------------- dashboard


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _hours(seconds: int | None) -> Decimal:
    return (Decimal(seconds or 0) / 3600).quantize(Decimal("0.01"))


@dataclass
class CohortFigures:
    cohort: Cohort
    people: int = 0
    enrolments: int = 0
    active: int = 0
    completion_rate: float | None = None
    pass_rate: float | None = None
    average_grade: Decimal | None = None
    programme_progress: float | None = None
    gpu_used: Decimal = Decimal(0)
    gpu_budget: Decimal | None = None
    last_activity: datetime | None = None

    @property
    def gpu_percent(self) -> float | None:
        if not self.gpu_budget:
            return None
        return round(float(100 * self.gpu_used / self.gpu_budget), 1)


@dataclass
class Dashboard:
    people: int
    enrolments: int
    active: int
    completion_rate: float | None
    pass_rate: float | None
    average_grade: Decimal | None
    programme_progress: float | None
    gpu_used: Decimal
    gpu_budget: Decimal | None
    last_activity: datetime | None
    cohorts: list[CohortFigures] = field(default_factory=list)

    @property
    def gpu_percent(self) -> float | None:
        if not self.gpu_budget:
            return None
        return round(float(100 * self.gpu_used / self.gpu_budget), 1)


# Completion rate: completed among enrolments that took a seat (active, completed, withdrawn).
# Pass rate: passed among finished enrolments (those with a final result).  Both, and the
# average grade, are read from the summaries (``CohortSummary``: sums kept by the snapshot
# engine), so that no request aggregates every snapshot.
_SUMMED = ("enrolments", "active", "started", "completed", "finished", "passed", "graded")


def _summed() -> dict[str, Any]:
    return {
        **{name: Sum(name) for name in _SUMMED},
        "grade_sum": Sum("grade_sum"),
        "last": Max("last_activity_at"),
    }


def _average(grade_sum: Decimal | None, graded: int) -> Decimal | None:
    return _round(grade_sum / graded) if graded and grade_sum is not None else None


_PROGRESS = ExpressionWrapper(
    Cast("items_done", FloatField()) * 100.0 / Cast("items_total", FloatField()),
    output_field=FloatField(),
)


def dashboard(institution: Institution, filters: Filters) -> Dashboard:
    """The key numbers, overall and per cohort (6 queries, whatever the size): the totals are
    the per-cohort sums added up (with the enrolments without a cohort), except the people,
    counted once each over the snapshots."""
    by_cohort: dict[int | None, dict[str, Any]] = {
        row["cohort"]: dict(row)
        for row in summaries(institution, filters).values("cohort").annotate(**_summed())
    }
    people = snapshots(institution, filters).values("user").distinct().count()
    usage = _gpu_usage(institution, filters)
    gpu_by_cohort = {
        row["cohort"]: row["s"] for row in usage.values("cohort").annotate(s=Sum("gpu_seconds"))
    }
    budget_by_cohort = {
        row["cohort"]: row["s"]
        for row in _gpu_budgets(institution, filters).values("cohort").annotate(s=Sum("gpu_hours"))
    }
    progress_by_cohort = {
        row["cohort"]: (row["avg"], row["n"])
        for row in _allocations(institution, filters)
        .values("cohort")
        .annotate(avg=Avg(_PROGRESS), n=Count("pk"))
    }
    rows = []
    for cohort in (
        cohorts(institution, filters)
        .annotate(n_people=Count("members"))
        .order_by("-intake_year", "name")
    ):
        s = by_cohort.get(cohort.pk, {})
        progress = progress_by_cohort.get(cohort.pk)
        budget = budget_by_cohort.get(cohort.pk)
        rows.append(
            CohortFigures(
                cohort=cohort,
                people=cohort.n_people,  # type: ignore[attr-defined]
                enrolments=s.get("enrolments", 0),
                active=s.get("active", 0),
                completion_rate=_rate(s.get("completed", 0), s.get("started", 0)),
                pass_rate=_rate(s.get("passed", 0), s.get("finished", 0)),
                average_grade=_average(s.get("grade_sum"), s.get("graded", 0)),
                programme_progress=round(progress[0], 1) if progress else None,
                gpu_used=_hours(gpu_by_cohort.get(cohort.pk)),
                gpu_budget=budget,
                last_activity=s.get("last"),
            )
        )
    total = {name: sum(row[name] for row in by_cohort.values()) for name in _SUMMED}
    grade_sum = sum((row["grade_sum"] for row in by_cohort.values()), Decimal(0))
    last = max((row["last"] for row in by_cohort.values() if row["last"]), default=None)
    weights = [p for p in progress_by_cohort.values() if p[0] is not None]
    n_alloc = sum(n for _, n in weights)
    budgets = [b for b in budget_by_cohort.values() if b is not None]
    return Dashboard(
        people=people,
        enrolments=total["enrolments"],
        active=total["active"],
        completion_rate=_rate(total["completed"], total["started"]),
        pass_rate=_rate(total["passed"], total["finished"]),
        average_grade=_average(grade_sum, total["graded"]),
        programme_progress=round(sum(a * n for a, n in weights) / n_alloc, 1) if n_alloc else None,
        gpu_used=_hours(sum(s or 0 for s in gpu_by_cohort.values())),
        gpu_budget=sum(budgets, Decimal(0)) if budgets else None,
        last_activity=last,
        cohorts=rows,
    )


def _round(value: Decimal | float | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.1"))


# --------------------------------------------------------------------------- at risk


@dataclass
class AtRisk:
    snapshot: EnrolmentSnapshot
    reasons: list[rules.Risk]
    url: str | None = None  # the person page, set by the page


def _candidates(
    institution: Institution, filters: Filters, policy: InstitutionPolicy, now: datetime
) -> QuerySet[EnrolmentSnapshot]:
    """Snapshots that meet at least one threshold, selected in SQL with the same conditions
    as ``rules.risks`` (which then words the reasons)."""
    active = Q(state="active", passed__isnull=True) & (
        Q(
            last_activity_at__isnull=True,
            run__starts_at__lte=now - timedelta(days=policy.inactive_days),
        )
        | Q(last_activity_at__lte=now - timedelta(days=policy.inactive_days))
        | Q(
            grade__lt=ExpressionWrapper(
                F("run__pass_mark") - Decimal(policy.failing_margin),
                output_field=DecimalField(max_digits=6, decimal_places=2),
            )
        )
        | Q(grade_trend__lte=-Decimal(policy.trend_drop))
        | Q(missed_deadlines__gte=policy.missed_deadlines)
    )
    waiting = Q(
        state="waitlisted",
        waitlisted_since__lte=now - timedelta(days=policy.waitlist_days),
    )
    return snapshots(institution, filters).filter(active | waiting)


def at_risk(
    institution: Institution,
    filters: Filters,
    limit: int = AT_RISK_LIMIT,
    *,
    policy: InstitutionPolicy | None = None,
    now: datetime | None = None,
) -> tuple[list[AtRisk], int]:
    """The enrolments needing attention (at most ``limit``, longest silent first) with their
    reasons, and how many there are in all."""
    policy = policy or rules.policy_for(institution.pk)
    now = now or timezone.now()
    candidates = _candidates(institution, filters, policy, now)
    # Two queries: the first orders narrow rows (ids and sort keys only; its window counts
    # every candidate before the limit cuts them), the second reads the few rows shown with
    # what they show.  One query ordering whole rows costs three times as much.
    first = list(
        candidates.annotate(total=Window(Count("pk")))
        .order_by(F("last_activity_at").asc(nulls_first=True), "user__last_name", "pk")
        .values_list("pk", "total")[:limit]
    )
    total = first[0][1] if first else 0
    by_pk = (
        {
            snap.pk: snap
            for snap in EnrolmentSnapshot.objects.filter(
                pk__in=[pk for pk, _ in first]
            ).select_related("user", "cohort", "run__course")
        }
        if first
        else {}
    )
    rows = [by_pk[pk] for pk, _ in first if pk in by_pk]
    shown = []
    for snap in rows:
        reasons = rules.risks(snap, policy, snap.run.pass_mark, now)
        if reasons:
            shown.append(AtRisk(snap, reasons))
    return shown, total


# --------------------------------------------------------------------------- trends


def _weeks(start: date, end: date) -> list[date]:
    first = start - timedelta(days=start.weekday())
    return [first + timedelta(weeks=i) for i in range((end - first).days // 7 + 1)]


def _week_key(value: date | datetime | str) -> date:
    """A week's Monday as a date, whatever the database gave: a date or a datetime through the
    ORM, a string through a raw cursor on SQLite (it has no date type: the embedded default)."""
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value.date() if isinstance(value, datetime) else value


@dataclass
class Trends:
    weeks: list[date]
    active_learners: list[int]
    completed: list[int]
    passed: list[int]
    gpu_hours: list[float]

    def rows(self) -> list[tuple[date, int, int, int, float]]:
        return list(
            zip(
                self.weeks,
                self.active_learners,
                self.completed,
                self.passed,
                self.gpu_hours,
                strict=True,
            )
        )

    def chart_data(self) -> dict[str, Any]:
        return {
            "weeks": [w.isoformat() for w in self.weeks],
            "active": self.active_learners,
            "completed": self.completed,
            "passed": self.passed,
            "gpu": self.gpu_hours,
        }


ACTIVE_CACHE_SECONDS = 3600


def _active_learners(institution: Institution, filters: Filters) -> dict[date, int]:
    """Distinct active people per week.  Daily activity changes only when the roll-up folds
    new events in, so the figures are cached under the roll-up cursor's position (one small
    read): a new roll-up means a new key.  Counted as distinct (week, person) pairs, then per
    week: a hash aggregate, faster on PostgreSQL than COUNT(DISTINCT ...) per group."""
    cursor_row = RollupCursor.objects.values_list("last_event_id", "updated_at").first()
    key = "tracking:active:" + ":".join(
        str(part)
        for part in (
            institution.pk,
            cursor_row,
            filters.start,
            filters.end,
            *(getattr(f, "pk", None) for f in (filters.cohort, filters.programme)),
            *(getattr(f, "pk", None) for f in (filters.course, filters.run)),
        )
    ).replace(" ", "_")
    found: dict[date, int] | None = cache.get(key)
    if found is not None:
        return found
    pairs = (
        _activity(institution, filters)
        .annotate(week=TruncWeek("day"))
        .values("week", "user")
        .distinct()
        .order_by()
    )
    sql, params = pairs.query.sql_with_params()
    with connection.cursor() as cursor:
        # The inner SQL is compiled by Django from the ORM query; its values are bound params.
        cursor.execute(f"SELECT week, COUNT(*) FROM ({sql}) AS pairs GROUP BY week", params)  # noqa: S608
        found = {_week_key(week): n for week, n in cursor.fetchall()}
    cache.set(key, found, ACTIVE_CACHE_SECONDS)
    return found


def trends(institution: Institution, filters: Filters) -> Trends:
    """Per week (Monday) of the period: distinct active learners (daily activity), enrolments
    completed and passed (by the date they were completed), GPU-hours used (by job start).
    Three or four queries (the active learners may come from the cache)."""
    weeks = _weeks(filters.start, filters.end)
    active = _active_learners(institution, filters)
    tz = timezone.get_current_timezone()
    start_at = datetime.combine(filters.start, datetime.min.time(), tzinfo=tz)
    end_at = datetime.combine(filters.end + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    completions = {
        _week_key(r["week"]): (r["n"], r["p"])
        for r in snapshots(institution, filters)
        .filter(
            state="completed",
            enrolment__state_changed_at__gte=start_at,
            enrolment__state_changed_at__lt=end_at,
        )
        .annotate(week=TruncWeek("enrolment__state_changed_at"))
        .values("week")
        .annotate(n=Count("pk"), p=Count("pk", filter=Q(passed=True)))
    }
    gpu = {
        _week_key(r["week"]): r["s"]
        for r in _gpu_usage(institution, filters)
        .filter(started_at__gte=start_at, started_at__lt=end_at)
        .annotate(week=TruncWeek("started_at"))
        .values("week")
        .annotate(s=Sum("gpu_seconds"))
    }
    return Trends(
        weeks=weeks,
        active_learners=[active.get(w, 0) for w in weeks],
        completed=[completions.get(w, (0, 0))[0] for w in weeks],
        passed=[completions.get(w, (0, 0))[1] for w in weeks],
        gpu_hours=[float(_hours(gpu.get(w))) for w in weeks],
    )


# --------------------------------------------------------------------------- cohort page

# Sort keys of the cohort table (the URL's ``sort``, ``-`` for descending): every column.
# Nulls (no grade yet, no activity yet) sort last in both directions.
COHORT_SORTS: dict[str, tuple[str, ...]] = {
    "name": ("last_name", "first_name", "username"),
    "login": ("username",),
    "email": ("email",),
    "enrolments": ("n_enrolments",),
    "lessons": ("lessons_done",),
    "labs": ("labs_submitted",),
    "graded": ("labs_graded",),
    "grade": ("grade",),
    "late": ("late",),
    "missed": ("missed",),
    "programme": ("programme_progress",),
    "gpu": ("gpu_hours",),
    "credentials": ("n_credentials",),
    "activity": ("last_activity",),
    "risk": ("at_risk",),
}
DEFAULT_COHORT_SORT = "name"


def cohort_sort_key(sort: str | None) -> str:
    """The sort asked for if it is one of the table's (``-`` allowed), else the default."""
    sort = (sort or "").strip()
    return sort if sort.lstrip("-") in COHORT_SORTS and sort.count("-") <= 1 else "name"


def _search(q: str) -> Q:
    """Every word of ``q`` in the name, the login or the e-mail."""
    cond = Q()
    for word in q.split()[:5]:
        cond &= (
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(username__icontains=word)
            | Q(email__icontains=word)
        )
    return cond


def cohort_members(institution: Institution, cohort: Cohort) -> QuerySet[User]:
    """The cohort's people who are members of its institution (consented)."""
    return User.objects.filter(
        pk__in=Cohort.members.through.objects.filter(cohort=cohort).values("user_id")
    ).filter(pk__in=Membership.objects.filter(institution=institution).values("user_id"))


def cohort_people(institution: Institution, cohort: Cohort, q: str = "") -> QuerySet[User]:
    """The cohort's members matching the search (what the table's pages count)."""
    qs = cohort_members(institution, cohort)
    return qs.filter(_search(q.strip())) if q.strip() else qs


def _attributed_credentials(institution: Institution, cohort: Cohort | None) -> Q:
    """Credentials earned as the institution's member (through ``cohort`` when given): for a
    run whose enrolment is attributed to it, or for a programme followed through its cohort."""
    snaps = EnrolmentSnapshot.objects.filter(
        institution=institution, user=OuterRef("user"), run=OuterRef("run")
    )
    if cohort is not None:
        snaps = snaps.filter(cohort=cohort)
        through = Q(completion__allocation__cohort=cohort)
    else:
        through = Q(completion__allocation__cohort__institution=institution)
    return (
        Q(kind=CredentialKind.COURSE) & Exists(snaps) | Q(kind=CredentialKind.PROGRAMME) & through
    )


def cohort_rows(
    institution: Institution,
    cohort: Cohort,
    *,
    sort: str | None = None,
    q: str = "",
    now: datetime | None = None,
    policy: InstitutionPolicy | None = None,
) -> QuerySet[User]:
    """One row per person of the cohort, with their figures from the snapshots of enrolments
    attributed to this institution and this cohort, aggregated in one SQL query (programme
    progress and credentials as scalar subqueries, so that every column sorts in SQL)."""
    now = now or timezone.now()
    s = "enrolments__snapshot__"
    mine = Q(**{f"{s}institution": institution, f"{s}cohort": cohort})

    def total(name: str) -> Coalesce:
        return Coalesce(Sum(f"{s}{name}", filter=mine), 0)

    policy = policy or rules.policy_for(institution.pk)
    risky = _candidates(institution, Filters.default(now.date()), policy, now).filter(
        cohort=cohort, user=OuterRef("pk")
    )
    progress = (
        Allocation.objects.filter(user=OuterRef("pk"), cohort=cohort)
        .exclude(state="withdrawn")
        .values("user")
        .annotate(
            p=Cast(Sum("items_done"), FloatField())
            * 100.0
            / NullIf(Cast(Sum("items_total"), FloatField()), 0.0)
        )
        .values("p")
    )
    credentials = (
        Credential.objects.valid()
        .filter(user=OuterRef("pk"))
        .filter(_attributed_credentials(institution, cohort))
        .values("user")
        .annotate(n=Count("pk"))
        .values("n")
    )
    states = {
        f"n_{state}": Count(f"{s}id", filter=mine & Q(**{f"{s}state": state}))
        for state in EnrolmentState.values
    }
    qs = cohort_people(institution, cohort, q).annotate(
        n_enrolments=Count(f"{s}id", filter=mine),
        **states,
        lessons_done=total("lessons_done"),
        lessons_total=total("lessons_total"),
        labs_total=total("labs_total"),
        labs_submitted=total("labs_submitted"),
        labs_graded=total("labs_graded"),
        late=total("late_submissions"),
        missed=total("missed_deadlines"),
        grade=Avg(f"{s}grade", filter=mine),
        gpu_hours=Coalesce(Sum(f"{s}gpu_hours", filter=mine), Decimal(0)),
        last_activity=Max(f"{s}last_activity_at", filter=mine),
        programme_progress=Subquery(progress, output_field=FloatField()),
        n_credentials=Coalesce(Subquery(credentials), 0),
        at_risk=Coalesce(Subquery(risky.values("user").annotate(n=Count("pk")).values("n")), 0),
    )
    key = cohort_sort_key(sort)
    desc = key.startswith("-")
    order = [
        F(field).desc(nulls_last=True) if desc else F(field).asc(nulls_last=True)
        for field in COHORT_SORTS[key.lstrip("-")]
    ]
    return qs.only("first_name", "last_name", "username", "email").order_by(*order, "pk")


@dataclass
class ProgrammeShare:
    code: str
    title: str
    items_done: int
    items_total: int
    state: str


# What ``rules.risks`` reads of a snapshot (and the course code the page shows).
_RISK_FIELDS = (
    "user_id",
    "state",
    "passed",
    "last_activity_at",
    "grade",
    "grade_trend",
    "missed_deadlines",
    "waitlisted_since",
    "run__pass_mark",
    "run__starts_at",
    "run__course__code",
)


def cohort_extras(
    institution: Institution,
    cohort: Cohort,
    people: list[Any],
    now: datetime | None = None,
    policy: InstitutionPolicy | None = None,
) -> None:
    """What the page shows beside the aggregates, for the rows of ``cohort_rows`` of one page
    only (at most two queries): ``risks`` (the reasons of ``rules.risks``, with the course, read
    only for the people the rows count at risk) and ``programmes`` (allocations through this
    cohort, read only for the people following one)."""
    now = now or timezone.now()
    risky = [p.pk for p in people if p.at_risk]  # type: ignore[attr-defined]
    following = [p.pk for p in people if p.programme_progress is not None]  # type: ignore[attr-defined]
    risks_by: dict[int, list[tuple[str, rules.Risk]]] = {p.pk: [] for p in people}
    progs_by: dict[int, list[ProgrammeShare]] = {p.pk: [] for p in people}
    if risky:
        policy = policy or rules.policy_for(institution.pk)
        for snap in (
            EnrolmentSnapshot.objects.filter(
                institution=institution, cohort=cohort, user_id__in=risky
            )
            .select_related("run__course")
            .only(*_RISK_FIELDS)
        ):
            for risk in rules.risks(snap, policy, snap.run.pass_mark, now):
                risks_by[snap.user_id].append((snap.run.course.code, risk))
    if following:
        for alloc in (
            Allocation.objects.filter(user_id__in=following, cohort=cohort)
            .exclude(state="withdrawn")
            .select_related("programme")
            .order_by("programme__code")
        ):
            progs_by[alloc.user_id].append(
                ProgrammeShare(
                    alloc.programme.code,
                    alloc.programme.display_title,
                    alloc.items_done,
                    alloc.items_total,
                    alloc.state,
                )
            )
    for person in people:
        person.risks = risks_by[person.pk]  # type: ignore[attr-defined]
        person.programmes = progs_by[person.pk]  # type: ignore[attr-defined]
        person.states = {  # type: ignore[attr-defined]
            state: getattr(person, f"n_{state}") for state in EnrolmentState.values
        }
        person.states_text = " · ".join(  # type: ignore[attr-defined]
            f"{n} {str(label).lower()}"
            for (state, label) in EnrolmentState.choices
            if (n := person.states[state])  # type: ignore[attr-defined]
        )


# --------------------------------------------------------------------------- person page

ACTIVITY_DAYS = 84  # 12 weeks


def tracked_person(institution: Institution, user_id: int) -> User:
    """A member of the institution (``User.DoesNotExist`` for anyone else)."""
    return User.objects.get(
        pk=user_id, pk__in=Membership.objects.filter(institution=institution).values("user_id")
    )


@dataclass
class PersonRun:
    snapshot: EnrolmentSnapshot
    risks: list[rules.Risk]


@dataclass
class PersonView:
    person: User
    runs: list[PersonRun]
    allocations: list[Allocation]
    credentials: list[Credential]
    days: list[date]
    events: list[int]

    def chart_data(self) -> dict[str, Any]:
        return {"days": [d.isoformat() for d in self.days], "events": self.events}

    @property
    def activity_rows(self) -> list[tuple[date, int]]:
        return list(zip(self.days, self.events, strict=True))

    @property
    def total_events(self) -> int:
        return sum(self.events)


def person_runs(institution: Institution, user: User) -> QuerySet[EnrolmentSnapshot]:
    """The person's enrolments attributed to this institution (never another's)."""
    return (
        EnrolmentSnapshot.objects.filter(institution=institution, user=user)
        .select_related("run__course", "cohort")
        .order_by("-run__starts_at", "pk")
    )


def person_view(institution: Institution, user: User, now: datetime | None = None) -> PersonView:
    """The person as the institution sees them: runs attributed to it, programmes followed
    through its cohorts, credentials earned there, daily activity it holds (five queries)."""
    now = now or timezone.now()
    policy = rules.policy_for(institution.pk)
    runs = [
        PersonRun(snap, rules.risks(snap, policy, snap.run.pass_mark, now))
        for snap in person_runs(institution, user)
    ]
    allocations = list(
        Allocation.objects.filter(user=user, cohort__institution=institution)
        .select_related("programme", "cohort")
        .order_by("programme__code")
    )
    credentials = list(
        Credential.objects.filter(user=user)
        .filter(_attributed_credentials(institution, None))
        .order_by("-issued_at", "-id")
    )
    today = timezone.localdate(now)
    first = today - timedelta(days=ACTIVITY_DAYS - 1)
    per_day = {
        row["day"]: row["n"]
        for row in DailyActivity.objects.filter(
            institution=institution, user=user, day__gte=first, day__lte=today
        )
        .values("day")
        .annotate(n=Sum("events"))
    }
    days = [first + timedelta(days=i) for i in range(ACTIVITY_DAYS)]
    return PersonView(
        person=user,
        runs=runs,
        allocations=allocations,
        credentials=credentials,
        days=days,
        events=[per_day.get(d, 0) for d in days],
    )
