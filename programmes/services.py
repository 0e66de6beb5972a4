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
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.utils.translation import gettext as _

from academy.audit import audit
from academy.jobs import enqueue, send
from academy.models import AuditEvent, Cohort, Membership, User
from academy.selectors import can_manage_institution
from courses.models import SEAT_STATES, Course, CourseRun, Enrolment
from notebooks.selectors import finished_results

from . import rules, selectors, signals
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


def _audit_version(actor: User, action: str, version: ProgrammeVersion, **data: Any) -> None:
    """An audit row for a change to one version's tree (programme, owner and version named)."""
    audit(
        actor,
        action,
        version.programme,
        institution=version.programme.owner,
        version=version.number,
        **data,
    )


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
        _audit_version(
            actor,
            "programme.requirement_add",
            version,
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
        _audit_version(
            actor,
            "programme.requirement_change",
            version,
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
        _audit_version(
            actor,
            "programme.requirement_remove",
            version,
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
    recompute_after_commit([user.pk])  # a cohort of 2,000: one task after the commit
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


def _evidence(
    root: rules.SetNode, evaluation: rules.Evaluation, run_titles: dict[int, str]
) -> list[dict[str, Any]]:
    """What a completion freezes, per course item that is done (in the tree's order): the
    course, the run that did it, its grade and whether it was passed, when it ended, and the
    item's points.  Plain JSON (strings, not Decimals or datetimes), so the stored record reads
    back exactly as written."""
    out: list[dict[str, Any]] = []
    for node in rules.walk(root):
        if not isinstance(node, rules.CourseNode):
            continue
        found = evaluation.of(node).evidence
        if found is None:
            continue
        out.append(
            {
                "item": str(node.id),
                "course": str(found.course_id),
                "course_code": node.label,
                "run": str(found.run_id),
                "run_title": run_titles.get(found.run_id, ""),
                "grade": None if found.grade is None else str(found.grade),
                "passed": found.passed,
                "finished_at": found.finished_at.isoformat(),
                "points": str(node.points),
            }
        )
    return out


def _grade_text(grade: Decimal | str | None) -> str:
    return "—" if grade is None else f"{Decimal(grade):.2f}"


def _review_reason(
    evidence: list[dict[str, Any]], now_by_run: dict[int, rules.Result], satisfied: bool
) -> str:
    """What changed since the completion froze ``evidence``, in words (empty: nothing did).
    Each frozen run is compared with its result today, by value (grades as numbers); a better
    run taken afterwards changes nothing, a lower grade or a lost result does."""
    changes = []
    for entry in evidence:
        label = entry.get("course_code") or entry["course"]
        current = now_by_run.get(int(entry["run"]))
        if current is None:
            changes.append(_("%(course)s: the result of the run is gone") % {"course": label})
            continue
        before = None if entry["grade"] is None else Decimal(entry["grade"])
        if before != current.grade:
            changes.append(
                _("%(course)s: grade %(before)s → %(after)s")
                % {
                    "course": label,
                    "before": _grade_text(before),
                    "after": _grade_text(current.grade),
                }
            )
        elif current.passed != entry.get("passed", True):
            changes.append(_("%(course)s: no longer passed") % {"course": label})
    if not satisfied:
        changes.append(_("the programme's requirements are no longer met"))
    return "; ".join(changes)[:500]


def _system_audit(action: str, rows: list[tuple[Allocation, dict[str, Any]]]) -> None:
    """Audit rows of the recompute task (no acting person), in one insert per batch: what
    ``academy.audit.audit`` writes, row by row."""
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor=None,
                actor_repr="system",
                action=action,
                target_type=allocation._meta.label_lower,
                target_id=str(allocation.pk),
                target_repr=str(allocation)[:300],
                institution_id=allocation.programme.owner_id,
                data=data,
            )
            for allocation, data in rows
        ]
    )


def recompute_progress(user_ids: list[int]) -> int:
    """Recompute the progress of every allocation of these people from their results.
    Idempotent (a second run writes nothing new); a constant number of queries per batch of
    RECOMPUTE_BATCH people.  Returns how many allocations were recomputed."""
    people = sorted(set(user_ids))
    trees: dict[int, rules.SetNode] = {}  # per version, shared by the batches
    updated = 0
    for start in range(0, len(people), RECOMPUTE_BATCH):
        updated += _recompute_batch(people[start : start + RECOMPUTE_BATCH], trees)
    return updated


_PENDING = "programmes_recompute_pending"  # an attribute of the (per-thread) connection


def _pending(connection: BaseDatabaseWrapper) -> set[int]:
    pending: set[int] | None = getattr(connection, _PENDING, None)
    if pending is None:
        pending = set()
        setattr(connection, _PENDING, pending)
    return pending


def recompute_after_commit(user_ids: Iterable[int]) -> None:
    """Recompute these people's progress once the current transaction commits, together with
    everyone else the transaction touched.  Every call registers a callback (so one that a
    rolled-back savepoint discards leaves the others); the first to run after the commit
    sends the whole set and the rest find it empty.  People marked by a transaction that
    rolled back ride along with the next commit: a needless recompute, which is harmless."""
    connection = transaction.get_connection()
    _pending(connection).update(user_ids)
    transaction.on_commit(lambda: _flush(connection))


def _flush(connection: BaseDatabaseWrapper) -> None:
    pending = _pending(connection)
    if not pending:
        return
    touched = sorted(pending)
    pending.clear()
    following = sorted(
        set(
            Allocation.objects.filter(
                user_id__in=touched,
                state__in=[AllocationState.ACTIVE, AllocationState.COMPLETED],
            ).values_list("user_id", flat=True)
        )
    )
    if following:
        # After the commit, outside any transaction: sent now (a broker outage is logged by
        # ``send``; the person's next change recomputes everything again).
        send(RECOMPUTE_TASK, following)


def recompute_runs_ended(*, hours: int = 2) -> int:
    """Recompute the people following a programme whose run ended in the last ``hours``: a run
    that ends turns its grades into results with no save to trigger anything, so the hourly
    sweep (``programmes.tasks.recompute_runs_ended``) does it; the window overlaps the next
    sweep's, and recomputing someone twice is harmless."""
    now = timezone.now()
    people = (
        Enrolment.objects.filter(
            run__ends_at__range=(now - timedelta(hours=hours), now),
            state__in=SEAT_STATES,
            user__allocations__state__in=[AllocationState.ACTIVE, AllocationState.COMPLETED],
        )
        .values_list("user_id", flat=True)
        .distinct()
    )
    return recompute_progress(list(people))


PROGRESS_FIELDS = ("progress", "items_total", "items_done", "credits_earned", "state")


def _recompute_batch(user_ids: list[int], trees: dict[int, rules.SetNode]) -> int:
    with transaction.atomic():
        # The rows are locked in id order: two runs for the same people (a retry, two grading
        # commits close together) take turns and never deadlock, and the second one finds the
        # first one's completion below (its own query, so it sees what the first committed).
        allocations = list(
            Allocation.objects.select_for_update(of=("self",))
            .filter(
                user_id__in=user_ids,
                state__in=[AllocationState.ACTIVE, AllocationState.COMPLETED],
            )
            .select_related("version", "programme", "user")
            .order_by("pk")
        )
        if not allocations:
            return 0
        completed = {
            c.allocation_id: c for c in Completion.objects.filter(allocation__in=allocations)
        }
        people = sorted({a.user_id for a in allocations})
        results: dict[int, list[rules.Result]] = defaultdict(list)
        run_titles: dict[int, str] = {}
        for r in finished_results(people):
            results[r.user_id].append(
                rules.Result(r.run_id, r.course_id, r.grade, r.passed, r.finished_at)
            )
            run_titles[r.run_id] = r.run_title
        seated = selectors.seated_course_ids(people)
        now = timezone.now()
        changed: list[Allocation] = []
        completions: list[Completion] = []
        reviews: list[Completion] = []
        for allocation in allocations:
            if allocation.version_id not in trees:
                trees[allocation.version_id] = selectors.tree(allocation.version)
            root = trees[allocation.version_id]
            mine = results[allocation.user_id]
            evaluation = rules.evaluate(root, mine, seated[allocation.user_id])
            before = [getattr(allocation, f) for f in PROGRESS_FIELDS]
            _apply(allocation, root, evaluation)
            satisfied = evaluation.of(root).state == rules.DONE
            completion = completed.get(allocation.pk)
            if completion is None and satisfied:
                allocation.state = AllocationState.COMPLETED
                completions.append(
                    Completion(
                        allocation=allocation,
                        version=allocation.version,
                        evidence=_evidence(root, evaluation, run_titles),
                        credits=allocation.credits_earned,
                    )
                )
            elif completion is not None and not completion.needs_review:
                completion.allocation = allocation  # loaded already: the audit row names it
                # The evidence stays as it was frozen; a change is flagged once, for people
                # to look at, and a flagged record is left alone by later recomputes.  A flag a
                # reviewer cleared keeps its reason: the same change is not flagged again, a
                # different one is.
                reason = _review_reason(completion.evidence, {r.run_id: r for r in mine}, satisfied)
                if reason and reason != completion.review_reason:
                    completion.needs_review, completion.review_reason = True, reason
                    reviews.append(completion)
            if [getattr(allocation, f) for f in PROGRESS_FIELDS] != before:
                changed.append(allocation)
        Allocation.objects.bulk_update(changed, PROGRESS_FIELDS, batch_size=RECOMPUTE_BATCH)
        Allocation.objects.filter(pk__in=[a.pk for a in allocations]).update(computed_at=now)
        Completion.objects.bulk_create(completions)
        if completions:
            signals.programme_completed.send(Completion, completions=completions)
        Completion.objects.bulk_update(reviews, ["needs_review", "review_reason"])
        _system_audit(
            "programme.complete",
            [(c.allocation, {"version": c.allocation.version.number}) for c in completions],
        )
        _system_audit(
            "programme.review_flag",
            [(c.allocation, {"reason": c.review_reason}) for c in reviews],
        )
    return len(allocations)


def _apply(allocation: Allocation, root: rules.SetNode, evaluation: rules.Evaluation) -> None:
    """Write one evaluation into the allocation's progress fields (not saved)."""
    courses = [n for n in rules.walk(root) if isinstance(n, rules.CourseNode)]
    done = [n for n in courses if evaluation.of(n).state == rules.DONE]
    allocation.progress = {str(k): v.state for k, v in evaluation.states.items()}
    allocation.items_total = len(courses)
    allocation.items_done = len(done)
    allocation.credits_earned = sum((n.points for n in done), Decimal(0))


# --- staff pages (h2): editing a programme, retiring it, adding a person, ordering the tree ---

PROGRAMME_FIELDS = (
    "title",
    "title_sr",
    "description",
    "description_sr",
    "owner",
    "eqf_level",
    "ects",
    "sectors",
    "join_policy",
    "invite_code",
)


def programme_update(*, actor: User, programme: Programme, **fields: Any) -> Programme:
    """Change a programme's description fields (not its code, status or versions).  Moving it
    to another owner needs rights over both."""
    unknown = set(fields) - set(PROGRAMME_FIELDS)
    if unknown:
        raise ValidationError(
            _("These cannot be changed: %(names)s.") % {"names": ", ".join(sorted(unknown))}
        )
    _require(selectors.can_manage_programme(actor, programme))
    if "owner" in fields and fields["owner"] != programme.owner:
        owner = fields["owner"]
        _require(actor.is_staff if owner is None else can_manage_institution(actor, owner))
    changed = {k: v for k, v in fields.items() if getattr(programme, k) != v}
    if not changed:
        return programme
    with transaction.atomic():
        for name, value in changed.items():
            setattr(programme, name, value)
        programme.full_clean()
        programme.save(update_fields=list(changed))
        audit(
            actor,
            "programme.update",
            programme,
            institution=programme.owner,
            changed=sorted(changed),
        )
    return programme


def programme_retire(*, actor: User, programme: Programme) -> Programme:
    """No new people; those following keep following and keep their progress."""
    _require(selectors.can_manage_programme(actor, programme))
    if programme.status == ProgrammeStatus.RETIRED:
        raise ValidationError(_("This programme is already retired."))
    with transaction.atomic():
        programme.status = ProgrammeStatus.RETIRED
        programme.save(update_fields=["status"])
        audit(actor, "programme.retire", programme, institution=programme.owner)
    return programme


def allocation_add(*, actor: User, programme: Programme, user: User) -> Allocation:
    """Staff put one person on the programme (whatever its join policy)."""
    _require(selectors.can_manage_programme(actor, programme))
    with transaction.atomic():
        allocation = _allocate(user, programme, source=AllocationSource.STAFF)
        audit(actor, "programme.allocation_add", allocation, institution=programme.owner)
    return allocation


def requirement_move(*, actor: User, requirement: Requirement, up: bool) -> Requirement:
    """Swap a node with its neighbour among its siblings (refused like any edit when frozen,
    or when the new order makes a prerequisite cycle)."""
    if requirement.parent_id is None:
        raise ValidationError(_("The root set cannot be moved."))
    with transaction.atomic():
        version = ProgrammeVersion.objects.select_for_update().get(pk=requirement.version_id)
        _editable(actor, version)
        siblings = list(Requirement.objects.filter(parent_id=requirement.parent_id))
        index = next(i for i, s in enumerate(siblings) if s.pk == requirement.pk)
        other = index - 1 if up else index + 1
        if not 0 <= other < len(siblings):
            return requirement
        siblings[index], siblings[other] = siblings[other], siblings[index]
        for position, sibling in enumerate(siblings, start=1):
            sibling.position = position
        Requirement.objects.bulk_update(siblings, ["position"])
        _check_order(version)
        _audit_version(
            actor,
            "programme.requirement_move",
            version,
            label=requirement.label,
            up=up,
        )
    requirement.refresh_from_db()
    return requirement


def requirement_exclude_runs(
    *, actor: User, requirement: Requirement, runs: list[CourseRun]
) -> Requirement:
    """Set the runs of an item's course that do not count for it."""
    if requirement.course_id is None:
        raise ValidationError(_("Only course items have runs to exclude."))
    if any(run.course_id != requirement.course_id for run in runs):
        raise ValidationError(_("Only runs of the item's own course can be excluded."))
    with transaction.atomic():
        version = ProgrammeVersion.objects.select_for_update().get(pk=requirement.version_id)
        _editable(actor, version)
        requirement.excluded_runs.set(runs)
        _audit_version(
            actor,
            "programme.requirement_exclude",
            version,
            label=requirement.label,
            runs=sorted(run.pk for run in runs),
        )
    return requirement


def problem_texts(root: rules.SetNode) -> list[str]:
    """Why a tree can never be completed, in words, for the builder to show before publishing."""
    return [_problem_text(code) for code in rules.problems(root)]


# --- admin (h3) ---


def programme_managers_set(*, actor: User, programme: Programme, managers: list[User]) -> None:
    """Name the people who manage the programme besides operators and the owner's admins."""
    _require(selectors.can_manage_programme(actor, programme))
    before = {user.username for user in programme.managers.all()}
    after = {user.username for user in managers}
    if before == after:
        return
    with transaction.atomic():
        programme.managers.set(managers)
        audit(
            actor,
            "programme.managers",
            programme,
            institution=programme.owner,
            added=sorted(after - before),
            removed=sorted(before - after),
        )
