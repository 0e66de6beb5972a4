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
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from academy.models import Cohort, User
from academy.selectors import admin_institution_ids, is_operator
from courses.models import Course, CourseRun, Enrolment, EnrolmentState
from notebooks.selectors import finished_results

from . import rules
from .models import (
    Allocation,
    AllocationState,
    Completion,
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


# --- staff pages (h2) ---


def managed_programmes(user: User) -> QuerySet[Programme]:
    """The programmes ``user`` may build and manage, with how many people follow each."""
    qs = Programme.objects.select_related("owner").annotate(
        followers=Count("allocations", distinct=True)
    )
    if not is_operator(user):
        if not user.is_authenticated:
            return qs.none()
        qs = qs.filter(Q(managers=user) | Q(owner_id__in=admin_institution_ids(user))).distinct()
    return qs.order_by("code")


def versions(programme: Programme) -> QuerySet[ProgrammeVersion]:
    """A programme's versions, newest first, with how many people follow each."""
    return programme.versions.annotate(followers=Count("allocations")).order_by("-number")


def allocatable_cohorts(user: User) -> QuerySet[Cohort]:
    """The cohorts ``user`` may put on a programme: those of institutions they administer."""
    qs = Cohort.objects.select_related("institution").order_by("institution__name", "name")
    if is_operator(user):
        return qs
    return qs.filter(institution_id__in=admin_institution_ids(user))


def summary_of(allocations: QuerySet[Allocation]) -> list[CohortSummary]:
    """``cohort_summary`` computed in the database (one query whatever the number of people):
    per cohort, how many follow, completed, and the mean credits."""
    groups: dict[str, list[tuple[str, int, Decimal]]] = defaultdict(list)
    # The scoped queryset may join rows twice (``distinct``): sum over the ids it selects.
    rows = (
        Allocation.objects.filter(pk__in=allocations.values("pk"))
        .values("cohort__name", "state")
        .annotate(n=Count("id", distinct=True), credits=Sum("credits_earned"))
    )
    for row in rows:
        groups[row["cohort__name"] or "—"].append(
            (row["state"], row["n"], row["credits"] or Decimal(0))
        )
    out = []
    for name, counts in sorted(groups.items()):
        total = sum(n for _state, n, _credits in counts)
        credits = sum((c for _state, _n, c in counts), Decimal(0))
        out.append(
            CohortSummary(
                name=name,
                people=total,
                completed=sum(n for s, n, _c in counts if s == AllocationState.COMPLETED),
                credits_mean=(credits / total).quantize(Decimal("0.1")),
                states=Counter({s: n for s, n, _c in counts}),
            )
        )
    return out


# --- student pages (h1): the catalogue's "My programmes", the programme outline, the map ---


def own_allocations(user: User) -> list[Allocation]:
    """The programmes ``user`` follows or asked to follow ("My programmes"): one query."""
    if not user.is_authenticated:
        return []
    return list(
        Allocation.objects.filter(user=user)
        .select_related("programme__owner", "version", "completion")
        .order_by("programme__code")
    )


NOT_COMPUTED = "not_computed"  # no progress yet: a request waiting for approval, a fresh join

STATE_LABELS = {
    rules.DONE: _("Done"),
    rules.IN_PROGRESS: _("In progress"),
    rules.AVAILABLE: _("Available"),
    rules.LOCKED: _("Locked"),
    NOT_COMPUTED: _("Not computed yet"),
}


def plain_number(value: Decimal) -> str:
    """Points and counts without trailing zeros: 2.0 → "2", 7.5 → "7.5"."""
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class MapCourse:
    pk: int
    code: str
    title: str


@dataclass(frozen=True)
class MapEvidence:
    """The run that did a course item: frozen in the completion record, or else the person's
    best run that counts (as ``rules`` chooses it)."""

    run_id: int
    run_title: str
    grade: Decimal | None
    finished_at: datetime
    course: MapCourse | None = None


@dataclass
class MapNode:
    """A node of the map: a set (``rule`` over ``children``) or a course item."""

    id: int
    label: str
    is_set: bool
    rule: str = ""
    state: str = NOT_COMPUTED
    points: Decimal = Decimal(0)  # what the node is worth to a "minimum points" parent
    required: Decimal = Decimal(0)  # a set's N, or its minimum points
    done_children: int = 0
    points_done: Decimal = Decimal(0)
    not_needed: bool = False  # its set is done without it (an elective left over)
    course: MapCourse | None = None
    min_grade: Decimal | None = None
    evidence: MapEvidence | None = None
    children: list[MapNode] = field(default_factory=list)

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])

    @property
    def in_order(self) -> bool:
        return self.rule == rules.ALL_IN_ORDER

    @property
    def points_text(self) -> str:
        return ngettext("%(n)s point", "%(n)s points", int(self.points)) % {
            "n": plain_number(self.points)
        }

    @property
    def rule_text(self) -> str:
        """The set's rule in words: "All, in order", "At least 2 of 3", "Minimum 10 points"."""
        n = int(self.required)
        if self.rule == rules.ALL_IN_ORDER:
            return gettext("All, in order")
        if self.rule == rules.ALL:
            return gettext("All, in any order")
        if self.rule == rules.AT_LEAST:
            return ngettext("At least %(n)s of %(total)s", "At least %(n)s of %(total)s", n) % {
                "n": n,
                "total": len(self.children),
            }
        if self.rule == rules.MIN_POINTS:
            return ngettext("Minimum %(n)s point", "Minimum %(n)s points", n) % {
                "n": plain_number(self.required)
            }
        return ""

    @property
    def progress_text(self) -> str:
        """How far the set is: "1 of 2 done", "6 / 10 points"."""
        if not self.is_set:
            return ""
        if self.rule == rules.MIN_POINTS:
            return gettext("%(done)s / %(required)s points") % {
                "done": plain_number(self.points_done),
                "required": plain_number(self.required),
            }
        needed = int(self.required) if self.rule == rules.AT_LEAST else len(self.children)
        return gettext("%(done)s of %(needed)s done") % {
            "done": min(self.done_children, needed),
            "needed": needed,
        }


def _map_tree(
    rows: list[Requirement],
    states: dict[str, str],
    evidence: dict[int, MapEvidence],
) -> MapNode:
    """The tree of ``rows`` as map nodes, with each node's state from ``states`` (node id →
    state, as ``Allocation.progress`` stores it) and ``evidence`` per course id."""
    children_of: dict[int | None, list[Requirement]] = defaultdict(list)
    for row in rows:
        children_of[row.parent_id].append(row)

    def build(row: Requirement) -> MapNode:
        state = states.get(str(row.pk), NOT_COMPUTED)
        if row.course is not None:
            return MapNode(
                id=row.pk,
                label=row.course.code,
                is_set=False,
                state=state,
                points=row.points,
                course=MapCourse(row.course.pk, row.course.code, row.course.title),
                min_grade=row.min_grade,
                evidence=evidence.get(row.course.pk) if state == rules.DONE else None,
            )
        kids = [build(child) for child in children_of[row.pk]]
        done = [kid for kid in kids if kid.state == rules.DONE]
        if state == rules.DONE:
            for kid in kids:
                kid.not_needed = kid.state != rules.DONE
        return MapNode(
            id=row.pk,
            label=row.label,
            is_set=True,
            rule=row.rule,
            state=state,
            points=row.points,
            required=row.count,
            done_children=len(done),
            points_done=sum((kid.points for kid in done), Decimal(0)),
            children=kids,
        )

    roots = children_of[None]
    if not roots:
        return MapNode(id=0, label="", is_set=True, rule=rules.ALL)
    return build(roots[0])


def programme_outline(version: ProgrammeVersion) -> MapNode:
    """A version's tree without anyone's progress, for the programme page: two queries."""
    return _map_tree(requirement_rows(version), {}, {})


@dataclass
class ProgrammeMap:
    allocation: Allocation
    root: MapNode
    completion: Completion | None
    completion_evidence: list[MapEvidence]

    @property
    def items(self) -> list[MapNode]:
        def courses(node: MapNode) -> list[MapNode]:
            if not node.is_set:
                return [node]
            return [item for child in node.children for item in courses(child)]

        return courses(self.root)

    @property
    def next_items(self) -> list[MapNode]:
        """The courses the person may take now (and still needs)."""
        return [i for i in self.items if i.state == rules.AVAILABLE and not i.not_needed]

    @property
    def percent_done(self) -> int:
        a = self.allocation
        return round(100 * a.items_done / a.items_total) if a.items_total else 0


def programme_map(allocation: Allocation) -> ProgrammeMap:
    """One person's map: the tree of the version they follow with each node's state as the
    progress task last computed it (``Allocation.progress``, never recomputed here), and for
    each item done the run that did it: frozen in the completion record once completed (unless
    flagged for review), else their best run that counts.  Unscoped: callers pass an
    allocation the acting user may see.  At most nine queries whatever the tree's size (two
    for the tree, six for the results when the evidence is looked up, one for run titles)."""
    rows = requirement_rows(allocation.version)
    completion: Completion | None = getattr(allocation, "completion", None)
    progress: dict[str, str] = allocation.progress or {}
    found: dict[int, tuple[int, Decimal | None, datetime]] = {}  # course → run, grade, date
    frozen: list[tuple[int, int, Decimal | None, datetime]] = []
    if completion is not None:
        for e in completion.evidence:
            grade = None if e["grade"] is None else Decimal(e["grade"])
            date = datetime.fromisoformat(e["finished_at"])
            frozen.append((int(e["course"]), int(e["run"]), grade, date))
    if completion is not None and not completion.needs_review:
        found = {course: (run, grade, date) for course, run, grade, date in frozen}
    elif any(r.course is not None and progress.get(str(r.pk)) == rules.DONE for r in rows):
        # The states are the task's; only the evidence is looked up, by the same rules.
        results = [
            rules.Result(r.run_id, r.course_id, r.grade, r.passed, r.finished_at)
            for r in finished_results([allocation.user_id])
        ]
        for state in rules.evaluate(tree(allocation.version, rows), results).states.values():
            if state.evidence is not None:
                r = state.evidence
                found[r.course_id] = (r.run_id, r.grade, r.finished_at)
    run_ids = {run for run, _g, _d in found.values()} | {run for _c, run, _g, _d in frozen}
    titles = dict(CourseRun.objects.filter(pk__in=run_ids).values_list("pk", "title"))
    courses = {
        r.course.pk: MapCourse(r.course.pk, r.course.code, r.course.title)
        for r in rows
        if r.course is not None
    }
    evidence = {
        course: MapEvidence(run, titles.get(run, ""), grade, date, courses.get(course))
        for course, (run, grade, date) in found.items()
    }
    return ProgrammeMap(
        allocation=allocation,
        root=_map_tree(rows, progress, evidence),
        completion=completion,
        completion_evidence=[
            MapEvidence(run, titles.get(run, ""), grade, date, courses.get(course))
            for course, run, grade, date in sorted(frozen, key=lambda e: e[3])
        ],
    )


# --- API (h3) ---


def versions_for(user: User) -> QuerySet[ProgrammeVersion]:
    """Published versions of the programmes ``user`` may see, and every version of the ones
    they manage."""
    seen = programmes_for(user).values("pk")
    managed = managed_programmes(user).values("pk")
    return ProgrammeVersion.objects.filter(
        Q(programme__in=seen, published_at__isnull=False) | Q(programme__in=managed)
    ).select_related("programme")


def requirements_for(user: User) -> QuerySet[Requirement]:
    """The nodes of the versions ``user`` may see."""
    return Requirement.objects.filter(version__in=versions_for(user).values("pk"))
