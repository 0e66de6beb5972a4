"""Writes of programmes: each in one transaction with an audit row.

Building: ``programme_create`` (version 1 with an empty root set), ``requirement_add`` and
``requirement_remove`` on a version nobody follows yet, ``version_publish`` (refused with the
reason when the tree can never be completed or makes a prerequisite cycle), ``version_new``
(a copy of the newest version, to change a frozen one).  People: ``allocation_join`` under the
programme's policy, ``allocation_decide``, ``cohort_allocate`` (later members follow through
``receivers``), ``allocation_move`` between versions.  Progress: ``recompute_progress``, run by
the idempotent task after grade or enrolment changes; a satisfied tree leaves a ``Completion``
whose evidence never changes afterwards (a later change flags it for review).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from academy.audit import audit
from academy.jobs import enqueue
from academy.models import Cohort, Membership, User
from academy.selectors import can_manage_institution
from courses.models import Course
from notebooks.selectors import finished_results

from . import rules, selectors
from .models import (
    Allocation,
    AllocationSource,
    AllocationState,
    Completion,
    JoinPolicy,
    Programme,
    ProgrammeCohort,
    ProgrammeStatus,
    ProgrammeVersion,
    Requirement,
    Rule,
)

RECOMPUTE_TASK = "programmes.tasks.recompute_progress"
RECOMPUTE_BATCH = 500  # people per query batch when recomputing


def _require(condition: bool) -> None:
    if not condition:
        raise PermissionDenied


def _problem_text(code: str) -> str:
    kind, _sep, label = code.partition(":")
    texts = {
        "twice": _("The course %(label)s appears twice in the tree."),
        "empty": _("The set “%(label)s” has nothing in it."),
        "count": _("The set “%(label)s” asks for more items than it holds."),
        "points": _("The set “%(label)s” asks for more points than its items give."),
    }
    return texts[kind] % {"label": label}


def programme_create(*, actor: User, code: str, title: str, **fields: Any) -> Programme:
    """A draft programme with version 1 holding an empty root set ("all, in any order")."""
    owner = fields.get("owner")
    _require(
        actor.is_staff if owner is None else can_manage_institution(actor, owner)  # type: ignore[arg-type]
    )
    programme = Programme(code=code, title=title, **fields)
    programme.full_clean()
    with transaction.atomic():
        programme.save()
        programme.managers.add(actor)
        version = ProgrammeVersion.objects.create(programme=programme, number=1)
        Requirement.objects.create(version=version, rule=Rule.ALL, title=title)
        audit(actor, "programme.create", programme, institution=owner, code=code)
    return programme


def _editable(actor: User, version: ProgrammeVersion) -> None:
    _require(selectors.can_manage_programme(actor, version.programme))
    followers = version.allocations.count()
    if followers:
        raise ValidationError(
            _(
                "Version %(number)s is frozen: %(n)s people follow it. Make a new version to "
                "change the programme."
            )
            % {"number": version.number, "n": followers}
        )


def _check_order(version: ProgrammeVersion) -> None:
    """Refuse a tree whose "all in order" sets, with the courses' own prerequisites, require a
    course before itself; the message names the cycle."""
    root = selectors.tree(version)
    course_ids = {n.course_id for n in rules.walk(root) if isinstance(n, rules.CourseNode)}
    prerequisites: dict[int, set[int]] = defaultdict(set)
    labels: dict[int, str] = {}
    for course in Course.objects.prefetch_related("prerequisites"):
        labels[course.pk] = course.code
        prerequisites[course.pk] = {p.pk for p in course.prerequisites.all()}
    if not course_ids:
        return
    cycle = rules.order_cycle(root, prerequisites, labels)
    if cycle is not None:
        raise ValidationError(
            _("A prerequisite cycle: %(path)s. No one could ever finish it.")
            % {"path": " → ".join(cycle)}
        )


def requirement_add(
    *,
    actor: User,
    parent: Requirement,
    course: Course | None = None,
    rule: str = "",
    count: Decimal | int = 0,
    title: str = "",
    points: Decimal | int = 0,
    min_grade: Decimal | None = None,
) -> Requirement:
    """Add a course item or a sub-set under the set ``parent``, last."""
    if not parent.is_set:
        raise ValidationError(_("Items go into sets, not into courses."))
    if (course is None) == (not rule):
        raise ValidationError(_("Give either a course or a rule for a set."))
    with transaction.atomic():
        version = ProgrammeVersion.objects.select_for_update().get(pk=parent.version_id)
        _editable(actor, version)
        last = parent.children.order_by("-position").values_list("position", flat=True).first()
        requirement = Requirement(
            version=version,
            parent=parent,
            position=(last or 0) + 1,
            course=course,
            rule=rule,
            count=Decimal(count),
            title=title,
            points=Decimal(points),
            min_grade=min_grade,
        )
        requirement.full_clean()
        requirement.save()
        _check_order(version)
        audit(
            actor,
            "programme.requirement_add",
            version.programme,
            institution=version.programme.owner,
            version=version.number,
            label=requirement.label,
        )
    return requirement


CHANGEABLE = ("title", "rule", "count", "points", "min_grade")


def requirement_change(*, actor: User, requirement: Requirement, **fields: Any) -> Requirement:
    """Change a node's title, rule, N or points, or minimum grade, on a version nobody
    follows yet."""
    unknown = set(fields) - set(CHANGEABLE)
    if unknown:
        raise ValidationError(
            _("These cannot be changed: %(names)s.") % {"names": ", ".join(unknown)}
        )
    if "rule" in fields and not requirement.is_set:
        raise ValidationError(_("A course item has no rule."))
    with transaction.atomic():
        version = ProgrammeVersion.objects.select_for_update().get(pk=requirement.version_id)
        _editable(actor, version)
        for name, value in fields.items():
            setattr(requirement, name, value)
        requirement.full_clean()
        requirement.save(update_fields=list(fields))
        _check_order(version)
        audit(
            actor,
            "programme.requirement_change",
            version.programme,
            institution=version.programme.owner,
            version=version.number,
            label=requirement.label,
            **{k: str(v) for k, v in fields.items()},
        )
    return requirement


def requirement_remove(*, actor: User, requirement: Requirement) -> None:
    if requirement.parent_id is None:
        raise ValidationError(_("The root set cannot be removed."))
    with transaction.atomic():
        version = ProgrammeVersion.objects.select_for_update().get(pk=requirement.version_id)
        _editable(actor, version)
        audit(
            actor,
            "programme.requirement_remove",
            version.programme,
            institution=version.programme.owner,
            version=version.number,
            label=requirement.label,
        )
        requirement.delete()


def version_publish(*, actor: User, version: ProgrammeVersion) -> ProgrammeVersion:
    """Make ``version`` the one new people get.  Refused, naming why, when its tree can never
    be completed."""
    _require(selectors.can_manage_programme(actor, version.programme))
    if version.published_at is not None:
        raise ValidationError(_("This version is already published."))
    found = rules.problems(selectors.tree(version))
    if found:
        raise ValidationError([_problem_text(code) for code in found])
    with transaction.atomic():
        _check_order(version)
        version.published_at = timezone.now()
        version.save(update_fields=["published_at"])
        programme = version.programme
        programme.status = ProgrammeStatus.PUBLISHED
        programme.save(update_fields=["status"])
        audit(
            actor,
            "programme.publish",
            programme,
            institution=programme.owner,
            version=version.number,
        )
    return version


def version_new(*, actor: User, programme: Programme) -> ProgrammeVersion:
    """A new, unpublished version: a copy of the newest one's tree, to be changed."""
    _require(selectors.can_manage_programme(actor, programme))
    with transaction.atomic():
        Programme.objects.select_for_update().get(pk=programme.pk)
        source = selectors.latest_version(programme)
        version = ProgrammeVersion.objects.create(programme=programme, number=source.number + 1)
        rows = selectors.requirement_rows(source)
        children: dict[int | None, list[Requirement]] = defaultdict(list)
        for row in rows:
            children[row.parent_id].append(row)
        pending: list[tuple[Requirement, Requirement | None]] = [
            (root, None) for root in children[None]
        ]
        while pending:  # parents are saved before their children
            row, new_parent = pending.pop()
            excluded = list(row.excluded_runs.all())
            below = children[row.pk]
            row.pk = None
            row.version = version
            row.parent = new_parent
            row.save()
            row.excluded_runs.set(excluded)
            pending.extend((child, row) for child in below)
        audit(
            actor,
            "programme.version_new",
            programme,
            institution=programme.owner,
            version=version.number,
        )
    return version


def _allocate(
    user: User,
    programme: Programme,
    *,
    source: str,
    state: str = AllocationState.ACTIVE,
    cohort: Cohort | None = None,
) -> Allocation:
    version = selectors.current_version(programme)
    if version is None or programme.status != ProgrammeStatus.PUBLISHED:
        raise ValidationError(_("This programme is not open to join."))
    if Allocation.objects.filter(user=user, programme=programme).exists():
        raise ValidationError(_("%(name)s already follows this programme.") % {"name": user})
    allocation = Allocation.objects.create(
        user=user, programme=programme, version=version, source=source, state=state, cohort=cohort
    )
    enqueue(RECOMPUTE_TASK, [user.pk])
    return allocation


def allocation_join(*, actor: User, programme: Programme, code: str = "") -> Allocation:
    """The person joins under the programme's policy: at once when open (or with the right
    invite code), as a request when it needs approval."""
    policy = programme.join_policy
    if policy == JoinPolicy.INVITE and (
        not programme.invite_code or code.strip() != programme.invite_code
    ):
        raise ValidationError(_("This invite code is not valid."))
    state = AllocationState.PENDING if policy == JoinPolicy.APPROVAL else AllocationState.ACTIVE
    source = AllocationSource.INVITE if policy == JoinPolicy.INVITE else AllocationSource.SELF
    with transaction.atomic():
        allocation = _allocate(actor, programme, source=source, state=state)
        audit(actor, "programme.join", allocation, institution=programme.owner, state=state)
    return allocation


def allocation_decide(*, actor: User, allocation: Allocation, approve: bool) -> Allocation:
    if allocation.user_id == actor.pk:
        raise ValidationError(_("Nobody decides their own request."))
    _require(selectors.can_manage_programme(actor, allocation.programme))
    with transaction.atomic():
        allocation = Allocation.objects.select_for_update().get(pk=allocation.pk)
        if allocation.state != AllocationState.PENDING:
            raise ValidationError(_("This request has already been decided."))
        if approve:
            allocation.state, allocation.source = AllocationState.ACTIVE, AllocationSource.APPROVAL
        else:
            allocation.state = AllocationState.WITHDRAWN
        allocation.save(update_fields=["state", "source"])
        audit(
            actor,
            "programme.approve" if approve else "programme.reject",
            allocation,
            institution=allocation.programme.owner,
        )
    return allocation


def cohort_allocate(*, actor: User, programme: Programme, cohort: Cohort) -> int:
    """An institution admin puts a cohort on the programme: its members who accepted a
    membership follow it now, and those who join the cohort later follow it too.  People
    already following are left as they are.  Returns how many were allocated."""
    _require(can_manage_institution(actor, cohort.institution))
    with transaction.atomic():
        link, created = ProgrammeCohort.objects.get_or_create(programme=programme, cohort=cohort)
        if not created:
            raise ValidationError(_("This cohort already follows this programme."))
        allocated = allocate_cohort_members(programme, cohort, list(cohort.members.all()))
        audit(
            actor,
            "programme.cohort_allocate",
            programme,
            institution=cohort.institution,
            cohort=cohort.name,
            allocated=allocated,
        )
    return allocated


def allocate_cohort_members(programme: Programme, cohort: Cohort, users: list[User]) -> int:
    """Allocate these cohort members (skipping people already following, and people who have
    no accepted membership of the cohort's institution)."""
    members = set(
        Membership.objects.filter(institution=cohort.institution, user__in=users).values_list(
            "user_id", flat=True
        )
    )
    following = set(
        Allocation.objects.filter(programme=programme, user__in=users).values_list(
            "user_id", flat=True
        )
    )
    allocated = 0
    for user in users:
        if user.pk in members and user.pk not in following:
            _allocate(user, programme, source=AllocationSource.COHORT, cohort=cohort)
            allocated += 1
    return allocated


def allocation_move(
    *, actor: User, allocation: Allocation, version: ProgrammeVersion
) -> Allocation:
    """Staff move a person to another published version of the same programme (audited)."""
    _require(selectors.can_manage_programme(actor, allocation.programme))
    if version.programme_id != allocation.programme_id or version.published_at is None:
        raise ValidationError(_("Move people only to a published version of this programme."))
    if allocation.state == AllocationState.COMPLETED:
        raise ValidationError(_("A completed programme keeps the version it was completed in."))
    with transaction.atomic():
        previous = allocation.version.number
        allocation.version = version
        allocation.save(update_fields=["version"])
        audit(
            actor,
            "programme.move",
            allocation,
            institution=allocation.programme.owner,
            previous=previous,
            version=version.number,
        )
        enqueue(RECOMPUTE_TASK, [allocation.user_id])
    return allocation


def _evidence(evaluation: rules.Evaluation) -> list[dict[str, str | None]]:
    return sorted(
        (
            {
                "course": str(r.course_id),
                "run": str(r.run_id),
                "grade": None if r.grade is None else str(r.grade),
                "finished_at": r.finished_at.isoformat(),
            }
            for r in evaluation.evidence
        ),
        key=lambda e: (e["course"], e["run"]),
    )


def recompute_progress(user_ids: list[int]) -> int:
    """Recompute the progress of every allocation of these people from their results.
    Idempotent; a constant number of queries per batch of people.  Returns how many
    allocations were updated."""
    updated = 0
    for start in range(0, len(user_ids), RECOMPUTE_BATCH):
        updated += _recompute_batch(user_ids[start : start + RECOMPUTE_BATCH])
    return updated


def _recompute_batch(user_ids: list[int]) -> int:
    allocations = list(
        Allocation.objects.filter(
            user_id__in=user_ids,
            state__in=[AllocationState.ACTIVE, AllocationState.COMPLETED],
        ).select_related("version", "completion", "programme")
    )
    if not allocations:
        return 0
    results: dict[int, list[rules.Result]] = defaultdict(list)
    for r in finished_results([a.user_id for a in allocations]):
        results[r.user_id].append(
            rules.Result(r.run_id, r.course_id, r.grade, r.passed, r.finished_at)
        )
    seated = selectors.seated_course_ids([a.user_id for a in allocations])
    trees: dict[int, rules.SetNode] = {}
    now = timezone.now()
    completions, reviews = [], []
    for allocation in allocations:
        if allocation.version_id not in trees:
            trees[allocation.version_id] = selectors.tree(allocation.version)
        root = trees[allocation.version_id]
        evaluation = rules.evaluate(root, results[allocation.user_id], seated[allocation.user_id])
        courses = [n for n in rules.walk(root) if isinstance(n, rules.CourseNode)]
        allocation.progress = {str(k): v.state for k, v in evaluation.states.items()}
        allocation.items_total = len(courses)
        allocation.items_done = sum(evaluation.of(n).state == rules.DONE for n in courses)
        allocation.credits_earned = sum(
            (n.points for n in courses if evaluation.of(n).state == rules.DONE), Decimal(0)
        )
        allocation.computed_at = now
        satisfied = evaluation.of(root).state == rules.DONE
        completion = getattr(allocation, "completion", None)
        if completion is not None:
            if not completion.needs_review and completion.evidence != _evidence(evaluation):
                completion.needs_review = True
                completion.review_reason = "results changed after completion"
                reviews.append(completion)
        elif satisfied:
            allocation.state = AllocationState.COMPLETED
            completions.append(
                Completion(
                    allocation=allocation,
                    version=allocation.version,
                    evidence=_evidence(evaluation),
                    credits=allocation.credits_earned,
                )
            )
    with transaction.atomic():
        Allocation.objects.bulk_update(
            allocations,
            ["progress", "items_total", "items_done", "credits_earned", "computed_at", "state"],
            batch_size=500,
        )
        Completion.objects.bulk_create(completions)
        Completion.objects.bulk_update(reviews, ["needs_review", "review_reason"])
        for completion in completions:
            audit(
                None,
                "programme.complete",
                completion.allocation,
                institution=completion.allocation.programme.owner,
                version=completion.version.number,
            )
    return len(allocations)
