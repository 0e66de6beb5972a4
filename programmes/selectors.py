"""Reads of programmes, scoped to the acting user.

Who sees what:
- everyone (anonymous visitors too): published programmes and their trees;
- a programme's managers (operators, the people named as its managers, admins of the owning
  institution): drafts, every version, everyone allocated and the cohort summary;
- institution admins: the allocations of their own members (accepted memberships only);
- a person: their own allocation, progress and completion.
Anything else is not found (the model's ``DoesNotExist``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from academy.models import User
from academy.selectors import admin_institution_ids, is_operator
from courses.models import Course, CourseRun, Enrolment, EnrolmentState

from . import rules
from .models import (
    Allocation,
    AllocationState,
    Programme,
    ProgrammeStatus,
    ProgrammeVersion,
    Requirement,
)


def can_manage_programme(user: User, programme: Programme) -> bool:
    if not user.is_authenticated:
        return False
    if is_operator(user) or (
        programme.owner_id is not None and programme.owner_id in admin_institution_ids(user)
    ):
        return True
    return programme.managers.filter(pk=user.pk).exists()


def programmes_for(user: User) -> QuerySet[Programme]:
    qs = Programme.objects.select_related("owner")
    if is_operator(user):
        return qs
    visible = Q(status=ProgrammeStatus.PUBLISHED)
    if user.is_authenticated:
        visible |= Q(managers=user) | Q(owner_id__in=admin_institution_ids(user))
        visible |= Q(allocations__user=user)
        return qs.filter(visible).distinct()
    return qs.filter(visible)


@dataclass(frozen=True)
class CatalogueFilters:
    q: str = ""
    level: int | None = None
    sector: str = ""

    @classmethod
    def from_query(cls, params: dict[str, str]) -> CatalogueFilters:
        level = params.get("level", "")
        return cls(
            q=params.get("q", "").strip()[:100],
            level=int(level) if level.isdigit() and 1 <= int(level) <= 8 else None,
            sector=params.get("sector", "")[:40],
        )


def catalogue(user: User, filters: CatalogueFilters) -> QuerySet[Programme]:
    qs = programmes_for(user).exclude(status=ProgrammeStatus.RETIRED)
    if filters.q:
        qs = qs.filter(
            Q(title__icontains=filters.q)
            | Q(title_sr__icontains=filters.q)
            | Q(code__icontains=filters.q)
            | Q(description__icontains=filters.q)
        )
    if filters.level:
        qs = qs.filter(eqf_level=filters.level)
    if filters.sector:
        qs = qs.filter(sectors__icontains=f'"{filters.sector}"')
    return qs.order_by("code")


def current_version(programme: Programme) -> ProgrammeVersion | None:
    """The version new people are allocated to: the newest published one."""
    return programme.versions.exclude(published_at=None).order_by("-number").first()


def latest_version(programme: Programme) -> ProgrammeVersion:
    return programme.versions.order_by("-number").first()  # type: ignore[return-value]


def is_frozen(version: ProgrammeVersion) -> bool:
    return version.allocations.exists()


def requirement_rows(version: ProgrammeVersion) -> list[Requirement]:
    """The tree's rows with their courses and excluded runs: two queries."""
    return list(
        Requirement.objects.filter(version=version)
        .select_related("course")
        .prefetch_related(Prefetch("excluded_runs", queryset=CourseRun.objects.only("id")))
        .order_by("position", "id")
    )


def tree(version: ProgrammeVersion, rows: list[Requirement] | None = None) -> rules.SetNode:
    """The version's requirement tree as ``rules`` nodes (built from its rows)."""
    rows = requirement_rows(version) if rows is None else rows
    children: dict[int | None, list[Requirement]] = defaultdict(list)
    for row in rows:
        children[row.parent_id].append(row)

    def build(row: Requirement) -> rules.Node:
        if row.course is not None:
            return rules.CourseNode(
                id=row.pk,
                course_id=row.course.pk,
                label=row.course.code,
                points=row.points,
                min_grade=row.min_grade,
                excluded_run_ids=frozenset(r.pk for r in row.excluded_runs.all()),
            )
        return rules.SetNode(
            id=row.pk,
            label=row.label,
            rule=row.rule,
            count=row.count,
            points=row.points,
            children=tuple(build(child) for child in children[row.pk]),
        )

    roots = children[None]
    if not roots:
        return rules.SetNode(id=0, label="", rule=rules.ALL)
    root = build(roots[0])
    assert isinstance(root, rules.SetNode)
    return root


def allocation_of(user: User, programme: Programme) -> Allocation | None:
    if not user.is_authenticated:
        return None
    return (
        Allocation.objects.filter(user=user, programme=programme)
        .select_related("version", "completion")
        .first()
    )


def allocations_for(user: User) -> QuerySet[Allocation]:
    """Allocations ``user`` may see: their own, the programmes they manage, their institutions'
    members."""
    qs = Allocation.objects.select_related("programme", "version", "user", "cohort")
    if is_operator(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    scope = Q(user=user) | Q(programme__managers=user)
    admin_of = admin_institution_ids(user)
    if admin_of:
        scope |= Q(programme__owner_id__in=admin_of)
        scope |= Q(user__memberships__institution_id__in=admin_of)
    return qs.filter(scope).distinct()


def people(user: User, programme: Programme) -> QuerySet[Allocation]:
    """The allocations of one programme ``user`` may see, for the people page: one query."""
    return (
        allocations_for(user)
        .filter(programme=programme)
        .select_related("completion")
        .order_by("user__last_name", "user__first_name", "user__username")
    )


@dataclass
class CohortSummary:
    name: str
    people: int
    completed: int
    credits_mean: Decimal
    states: Counter[str]


def cohort_summary(allocations: list[Allocation]) -> list[CohortSummary]:
    """Per cohort (no cohort: one row "—"), how many follow, completed, and the mean credits."""
    groups: dict[str, list[Allocation]] = defaultdict(list)
    for allocation in allocations:
        groups[allocation.cohort.name if allocation.cohort else "—"].append(allocation)
    out = []
    for name, members in sorted(groups.items()):
        credits = sum((a.credits_earned for a in members), Decimal(0))
        out.append(
            CohortSummary(
                name=name,
                people=len(members),
                completed=sum(a.state == AllocationState.COMPLETED for a in members),
                credits_mean=(credits / len(members)).quantize(Decimal("0.1")),
                states=Counter(a.state for a in members),
            )
        )
    return out


def seated_course_ids(user_ids: list[int], now: datetime | None = None) -> dict[int, set[int]]:
    """Per person, the courses they are taking now: a seat in a run that has not ended (one
    query)."""
    now = now or timezone.now()
    out: dict[int, set[int]] = defaultdict(set)
    for user_id, course_id in Enrolment.objects.filter(
        user_id__in=user_ids, state=EnrolmentState.ACTIVE, run__ends_at__gte=now
    ).values_list("user_id", "run__course_id"):
        out[user_id].add(course_id)
    return out


def programmes_counting(course: Course) -> QuerySet[Programme]:
    """Published programmes whose current tree names ``course``."""
    return (
        Programme.objects.filter(
            status=ProgrammeStatus.PUBLISHED,
            versions__published_at__isnull=False,
            versions__requirements__course=course,
        )
        .distinct()
        .order_by("code")
    )
