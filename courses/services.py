"""Writes of the course side.  Each service checks the actor's right, changes state in one
transaction, writes an audit row and enqueues e-mail only after commit.

Capacity: every change to who holds a seat locks the run row first (``select_for_update``)
and keeps ``CourseRun.active_count`` (active + completed enrolments) in step under that lock.
So two requests for the last seat are serialised: one gets it, the other is waitlisted with
the next ``waitlist_seq`` number (first come, first served), and a freed seat promotes the
first waitlisted person exactly once.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime
from decimal import Decimal
from typing import TypedDict

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from academy.audit import audit
from academy.files import checked_upload_type
from academy.jobs import enqueue
from academy.models import Cohort, Membership, User
from academy.selectors import is_operator

from . import selectors
from .models import (
    OPEN_STATES,
    Attachment,
    Course,
    CourseRun,
    CourseStaff,
    Enrolment,
    EnrolmentPolicy,
    EnrolmentState,
    GradingCategory,
    InviteCode,
    Lesson,
    LessonCompletion,
    ReservedEnrolment,
)
from .signals import learning_event


def _require(condition: bool) -> None:
    if not condition:
        raise PermissionDenied


def _notify(enrolment: Enrolment, event: str) -> None:
    enqueue("courses.tasks.send_enrolment_email", enrolment.pk, event)


def lock_run(run: CourseRun | int) -> CourseRun:
    run_id = run if isinstance(run, int) else run.pk
    return CourseRun.objects.select_for_update().select_related("course").get(pk=run_id)


def _take_seat_or_waitlist(run: CourseRun, enrolment: Enrolment) -> None:
    """Under the run lock: give ``enrolment`` a seat if one is free, else the next waitlist
    position.  Saves the run's counters; the caller saves the enrolment."""
    if run.capacity is None or run.active_count < run.capacity:
        enrolment.state = EnrolmentState.ACTIVE
        enrolment.waitlist_position = None
        run.active_count += 1
    else:
        run.waitlist_seq += 1
        enrolment.state = EnrolmentState.WAITLISTED
        enrolment.waitlist_position = run.waitlist_seq
    run.save(update_fields=["active_count", "waitlist_seq"])


def _promote_waitlisted(run: CourseRun, actor: User | None) -> list[Enrolment]:
    """Under the run lock: fill free seats from the head of the waitlist."""
    promoted = []
    while run.capacity is None or run.active_count < run.capacity:
        head = (
            Enrolment.objects.select_for_update()
            .filter(run=run, state=EnrolmentState.WAITLISTED)
            .order_by("waitlist_position", "id")
            .first()
        )
        if head is None:
            break
        head.state = EnrolmentState.ACTIVE
        head.save(update_fields=["state", "state_changed_at"])
        run.active_count += 1
        run.save(update_fields=["active_count"])
        audit(
            actor,
            "enrolment.promote",
            head,
            run=run.pk,
            user=head.user_id,
            position=head.waitlist_position,
        )
        _notify(head, "promoted")
        promoted.append(head)
    return promoted


def _release_seat(run: CourseRun, actor: User | None) -> list[Enrolment]:
    run.active_count = max(run.active_count - 1, 0)
    run.save(update_fields=["active_count"])
    return _promote_waitlisted(run, actor)


def _pick_cohort(run: CourseRun, user: User) -> Cohort | None:
    cohorts = list(user.cohorts.order_by("id"))
    if not run.is_public:
        allowed = {c.pk for c in run.allowed_cohorts.all()}
        allowed_inst = {i.pk for i in run.allowed_institutions.all()}
        for c in cohorts:
            if c.pk in allowed or c.institution_id in allowed_inst:
                return c
    return cohorts[0] if cohorts else None


def _check_invite_code(run: CourseRun, raw: str) -> InviteCode:
    code = (
        InviteCode.objects.select_for_update()
        .filter(run=run, code__iexact=(raw or "").strip(), is_active=True)
        .first()
    )
    if code is None:
        raise ValidationError({"invite_code": _("This invite code is not valid for this run.")})
    if code.is_expired():
        raise ValidationError({"invite_code": _("This invite code has expired.")})
    if code.is_used_up:
        raise ValidationError({"invite_code": _("This invite code has been used up.")})
    return code


# --------------------------------------------------------------------------- enrolment


def enrolment_request(*, run: CourseRun, user: User, invite_code: str = "") -> Enrolment:
    """A person asks to enrol: active if a seat is free, waitlisted if full, pending under the
    approval policy.  ValidationError (with the reasons) when they may not."""
    _require(user.is_authenticated and user.is_active)
    with transaction.atomic():
        run = lock_run(run)
        prefetch_related_objects(
            [run], "allowed_institutions", "allowed_cohorts", "course__prerequisites"
        )
        enrolment = Enrolment.objects.filter(run=run, user=user).first()
        if enrolment is not None and enrolment.state in OPEN_STATES:
            raise ValidationError(
                _("You are already enrolled in this run (%(state)s).")
                % {"state": enrolment.get_state_display()}
            )
        person = selectors.PersonContext.load(user)
        eligibility = selectors.enrolment_eligibility(run, person, enrolment)
        if not eligibility.can_enrol:
            raise ValidationError(eligibility.blockers)
        code = None
        if run.policy == EnrolmentPolicy.INVITE:
            code = _check_invite_code(run, invite_code)
            code.uses += 1
            code.save(update_fields=["uses"])
        if enrolment is None:
            enrolment = Enrolment(run=run, user=user)
        enrolment.cohort = _pick_cohort(run, user)
        enrolment.invite_code = code
        enrolment.reason = ""
        if run.policy == EnrolmentPolicy.APPROVAL:
            enrolment.state = EnrolmentState.PENDING
            enrolment.waitlist_position = None
        else:
            _take_seat_or_waitlist(run, enrolment)
        enrolment.save()
        audit(
            user,
            "enrolment.request",
            enrolment,
            institution=_institution_of(enrolment),
            run=run.pk,
            state=enrolment.state,
            code=code.code if code else None,
        )
        _notify(enrolment, enrolment.state)
    return enrolment


def _institution_of(enrolment: Enrolment):  # type: ignore[no-untyped-def]
    return enrolment.cohort.institution if enrolment.cohort is not None else None


def enrolment_withdraw(*, enrolment: Enrolment, actor: User) -> Enrolment:
    """The student leaves the run (or gives up a request); a freed seat promotes the first
    waitlisted person."""
    _require(enrolment.user_id == actor.pk)
    with transaction.atomic():
        run = lock_run(enrolment.run_id)
        enrolment = Enrolment.objects.select_for_update().get(pk=enrolment.pk)
        _leave_run(
            run,
            enrolment,
            actor,
            action="withdraw",
            refused=_("This enrolment cannot be withdrawn."),
        )
    return enrolment


# States a person can leave a run from: a request, a waitlist place or a seat.
_LEAVABLE = (EnrolmentState.PENDING, EnrolmentState.WAITLISTED, EnrolmentState.ACTIVE)


def _leave_run(
    run: CourseRun,
    enrolment: Enrolment,
    actor: User,
    *,
    action: str,
    refused: str,
    reason: str = "",
) -> None:
    """End a locked enrolment as withdrawn (by the person, or removed by staff with a reason):
    audited, the person told, and a freed seat offered to the waitlist."""
    if enrolment.state not in _LEAVABLE:
        raise ValidationError(refused)
    held_seat = enrolment.state == EnrolmentState.ACTIVE
    previous = enrolment.state
    enrolment.state = EnrolmentState.WITHDRAWN
    enrolment.waitlist_position = None
    fields = ["state", "waitlist_position", "state_changed_at"]
    details: dict[str, str] = {"previous": previous}
    if reason:
        enrolment.reason = reason
        fields.append("reason")
        details["reason"] = reason
    enrolment.save(update_fields=fields)
    audit(
        actor,
        f"enrolment.{action}",
        enrolment,
        institution=_institution_of(enrolment),
        run=run.pk,
        **details,
    )
    _notify(enrolment, "withdrawn" if action == "withdraw" else "removed")
    if held_seat:
        _release_seat(run, actor)


def _managed(enrolment: Enrolment, actor: User, *, decide: bool = False) -> Enrolment:
    """The enrolment, locked, if ``actor`` may act on it.  ``decide``: approving, waitlisting
    or rejecting a request, which nobody may do for their own."""
    _require(selectors.can_manage_enrolment(actor, enrolment))
    if decide and enrolment.user_id == actor.pk:
        raise ValidationError(
            _(
                "Nobody decides their own enrolment: the run's staff or your institution's "
                "admin will."
            )
        )
    return Enrolment.objects.select_for_update().get(pk=enrolment.pk)


def enrolment_approve(*, enrolment: Enrolment, actor: User) -> Enrolment:
    """Staff or an institution admin approves a pending request: a seat, or the waitlist."""
    with transaction.atomic():
        run = lock_run(enrolment.run_id)
        enrolment = _managed(enrolment, actor, decide=True)
        if enrolment.state != EnrolmentState.PENDING:
            raise ValidationError(_("Only pending requests can be approved."))
        _take_seat_or_waitlist(run, enrolment)
        enrolment.save()
        audit(
            actor,
            "enrolment.approve",
            enrolment,
            institution=_institution_of(enrolment),
            run=run.pk,
            state=enrolment.state,
        )
        _notify(enrolment, enrolment.state)
    return enrolment


def enrolment_waitlist(*, enrolment: Enrolment, actor: User) -> Enrolment:
    """Staff accept a pending request onto the waitlist (at its end): promoted when a seat
    frees, like everyone waitlisted."""
    with transaction.atomic():
        run = lock_run(enrolment.run_id)
        enrolment = _managed(enrolment, actor, decide=True)
        if enrolment.state != EnrolmentState.PENDING:
            raise ValidationError(_("Only pending requests can be waitlisted."))
        run.waitlist_seq += 1
        run.save(update_fields=["waitlist_seq"])
        enrolment.state = EnrolmentState.WAITLISTED
        enrolment.waitlist_position = run.waitlist_seq
        enrolment.save()
        audit(
            actor,
            "enrolment.waitlist",
            enrolment,
            institution=_institution_of(enrolment),
            run=run.pk,
            position=enrolment.waitlist_position,
        )
        _notify(enrolment, "waitlisted")
    return enrolment


def enrolment_reject(*, enrolment: Enrolment, actor: User, reason: str = "") -> Enrolment:
    with transaction.atomic():
        lock_run(enrolment.run_id)
        enrolment = _managed(enrolment, actor, decide=True)
        if enrolment.state not in (EnrolmentState.PENDING, EnrolmentState.WAITLISTED):
            raise ValidationError(_("Only pending or waitlisted requests can be rejected."))
        enrolment.state = EnrolmentState.REJECTED
        enrolment.waitlist_position = None
        enrolment.reason = reason[:500]
        enrolment.save()
        audit(
            actor,
            "enrolment.reject",
            enrolment,
            institution=_institution_of(enrolment),
            run=enrolment.run_id,
            reason=reason,
        )
        _notify(enrolment, "rejected")
    return enrolment


def enrolment_remove(*, enrolment: Enrolment, actor: User, reason: str) -> Enrolment:
    """Staff remove someone from the run, with a reason (audited); frees their seat."""
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason for the removal.")})
    with transaction.atomic():
        run = lock_run(enrolment.run_id)
        enrolment = _managed(enrolment, actor)
        _leave_run(
            run,
            enrolment,
            actor,
            action="remove",
            refused=_("This enrolment cannot be removed."),
            reason=reason.strip()[:500],
        )
    return enrolment


def enrolment_complete(*, enrolment: Enrolment, actor: User) -> Enrolment:
    """Staff (or the gradebook, as a staff actor) mark an active enrolment completed; it keeps
    its seat and satisfies prerequisites."""
    with transaction.atomic():
        lock_run(enrolment.run_id)
        _require(selectors.can_teach_run(actor, enrolment.run_id))
        enrolment = Enrolment.objects.select_for_update().get(pk=enrolment.pk)
        if enrolment.state != EnrolmentState.ACTIVE:
            raise ValidationError(_("Only active enrolments can be completed."))
        enrolment.state = EnrolmentState.COMPLETED
        enrolment.save(update_fields=["state", "state_changed_at"])
        audit(
            actor,
            "enrolment.complete",
            enrolment,
            institution=_institution_of(enrolment),
            run=enrolment.run_id,
        )
    return enrolment


def enrolment_admin_add(
    *, run: CourseRun, user: User, actor: User | None, cohort: Cohort | None = None
) -> Enrolment:
    """An institution admin (bulk enrolment) puts one of their members in a run: the admin's
    decision stands for the approval and the invite code, and the enrolment window does not
    apply (the bulk preview says so); the run's audience and its end still do.  Idempotent:
    an open enrolment is returned unchanged."""
    with transaction.atomic():
        run = lock_run(run)
        enrolment = Enrolment.objects.select_for_update().filter(run=run, user=user).first()
        if enrolment is not None and enrolment.state in OPEN_STATES:
            return enrolment
        if run.ends_at < timezone.now():
            raise ValidationError(_("This run has ended."))
        if not run.is_public and not _audience_allows(run, user, cohort):
            raise ValidationError(_("This run is only for listed institutions and cohorts."))
        enrolment = enrolment or Enrolment(run=run, user=user)
        enrolment.cohort = cohort
        enrolment.reason = ""
        _take_seat_or_waitlist(run, enrolment)
        enrolment.save()
        audit(
            actor,
            "enrolment.admin_add",
            enrolment,
            institution=_institution_of(enrolment),
            run=run.pk,
            user=user.username,
            state=enrolment.state,
        )
        _notify(enrolment, enrolment.state)
    return enrolment


def _audience_allows(run: CourseRun, user: User, cohort: Cohort | None) -> bool:
    allowed_cohorts = set(run.allowed_cohorts.values_list("id", flat=True))
    allowed_inst = set(run.allowed_institutions.values_list("id", flat=True))
    if cohort is not None and (
        cohort.pk in allowed_cohorts or cohort.institution_id in allowed_inst
    ):
        return True
    return user.memberships.filter(institution_id__in=allowed_inst).exists() or (
        user.cohorts.filter(id__in=allowed_cohorts).exists()
    )


def enrolment_claim_reserved(*, user: User) -> list[Enrolment]:
    """Turn bulk-enrolment reservations for the user's e-mail into enrolments (call after an
    invitation is accepted; cheap and idempotent, so also safe on every dashboard visit).
    Only reservations of institutions the person has joined: accepting one institution's
    invitation never carries out another's."""
    if not user.is_authenticated or not user.email:
        return []
    reservations = list(
        ReservedEnrolment.objects.filter(
            email__iexact=user.email,
            claimed_at__isnull=True,
            institution_id__in=Membership.objects.filter(user=user).values("institution_id"),
        ).select_related("run", "cohort", "created_by")
    )
    enrolments = []
    for reservation in reservations:
        with transaction.atomic():
            locked = ReservedEnrolment.objects.select_for_update().get(pk=reservation.pk)
            if locked.claimed_at is not None:
                continue
            cohort = reservation.cohort
            if cohort is not None and not user.cohorts.filter(pk=cohort.pk).exists():
                cohort = None
            # A ValidationError means the run's audience changed since: the reservation is
            # used up anyway.
            with contextlib.suppress(ValidationError):
                enrolments.append(
                    enrolment_admin_add(
                        run=reservation.run, user=user, actor=reservation.created_by, cohort=cohort
                    )
                )
            locked.claimed_at = timezone.now()
            locked.save(update_fields=["claimed_at"])
    return enrolments


# --------------------------------------------------------------------------- runs, codes


def run_capacity_set(*, run: CourseRun, actor: User, capacity: int | None) -> CourseRun:
    """Change a run's capacity; more seats promote from the waitlist at once.  Fewer seats
    never remove anyone: the run is simply full until people leave."""
    _require(selectors.can_author_run(actor, run))
    with transaction.atomic():
        run = lock_run(run)
        previous = run.capacity
        run.capacity = capacity
        run.save(update_fields=["capacity"])
        audit(actor, "run.capacity", run, previous=previous, capacity=capacity)
        _promote_waitlisted(run, actor)
    return run


def invite_code_create(
    *,
    run: CourseRun,
    actor: User,
    code: str = "",
    expires_at: datetime | None = None,
    max_uses: int | None = None,
) -> InviteCode:
    _require(selectors.can_author_run(actor, run))
    # A code born expired is a mistake, whichever interface sent it (page, API, shell).
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("Choose a time in the future.")})
    invite = InviteCode(
        run=run,
        code=code.strip() or secrets.token_urlsafe(8),
        expires_at=expires_at,
        max_uses=max_uses,
        created_by=actor,
    )
    invite.full_clean()
    with transaction.atomic():
        invite.save()
        audit(
            actor,
            "invite_code.create",
            invite,
            run=run.pk,
            max_uses=max_uses,
            expires_at=expires_at.isoformat() if expires_at else None,
        )
    return invite


def invite_code_deactivate(*, invite: InviteCode, actor: User) -> InviteCode:
    """Stop a code from working; enrolments made with it stay."""
    _require(selectors.can_author_run(actor, invite.run_id))
    with transaction.atomic():
        if invite.is_active:
            invite.is_active = False
            invite.save(update_fields=["is_active"])
            audit(actor, "invite_code.deactivate", invite, run=invite.run_id, uses=invite.uses)
    return invite


class CategoryChange(TypedDict):
    id: int | None  # None: a new category
    name: str
    weight: Decimal
    drop_lowest: int
    delete: bool


def grading_policy_set(
    *, run: CourseRun, actor: User, pass_mark: Decimal, categories: list[CategoryChange]
) -> CourseRun:
    """Replace a run's grading policy in one go: pass mark and categories (add, change, delete).
    A category that labs count towards is not deleted (move the labs first): nothing is lost."""
    _require(selectors.can_author_run(actor, run))
    kept = [c for c in categories if not c["delete"]]
    names = [c["name"].strip() for c in kept]
    if len(set(names)) != len(names):
        raise ValidationError(_("Two categories may not share a name."))
    with transaction.atomic():
        run = lock_run(run)
        existing = {c.pk: c for c in GradingCategory.objects.filter(run=run)}
        before = {c.name: [str(c.weight), c.drop_lowest] for c in existing.values()}
        for change in categories:
            if change["id"] is not None and change["id"] not in existing:
                raise ValidationError(_("That category is not part of this run."))
        for change in categories:
            if change["delete"] and change["id"] is not None:
                category = existing.pop(change["id"])
                n_labs = category.labs.count()
                if n_labs:
                    raise ValidationError(
                        _(
                            "“%(name)s” still counts %(n)s lab(s): give them another "
                            "category before deleting it."
                        )
                        % {"name": category.name, "n": n_labs}
                    )
                category.delete()
        # Park the names of changed categories first, so that swapping two names never trips
        # the one-name-per-run constraint half-way.
        for change in kept:
            if change["id"] is not None:
                GradingCategory.objects.filter(pk=change["id"]).update(name=f"~{change['id']}~")
        for change in kept:
            category = (
                existing[change["id"]] if change["id"] is not None else GradingCategory(run=run)
            )
            category.name = change["name"].strip()
            category.weight = change["weight"]
            category.drop_lowest = change["drop_lowest"]
            category.full_clean()
            category.save()
        if not Decimal(0) <= pass_mark <= Decimal(100):
            raise ValidationError({"pass_mark": _("Between 0 and 100.")})
        run.pass_mark = pass_mark
        run.save(update_fields=["pass_mark"])
        after = {
            c.name: [str(c.weight), c.drop_lowest] for c in GradingCategory.objects.filter(run=run)
        }
        audit(
            actor,
            "run.grading_policy",
            run,
            pass_mark=str(pass_mark),
            before=before,
            after=after,
        )
    return run


def course_create(*, actor: User, **fields: object) -> Course:
    """Operators create courses; ``sectors`` is validated against ``Sector``."""
    _require(is_operator(actor))
    prerequisites = list(fields.pop("prerequisites", []))  # type: ignore[call-overload]
    recommended = list(fields.pop("recommended", []))  # type: ignore[call-overload]
    course = Course(**fields)
    course.full_clean()
    with transaction.atomic():
        course.save()
        _set_prerequisites(course, prerequisites, recommended)
        audit(actor, "course.create", course)
    return course


def check_prerequisites(
    course: Course, prerequisites: list[Course], recommended: list[Course] | None = None
) -> None:
    """Refuse prerequisites that would make a cycle, naming its path: nobody could ever enrol
    in a course that needs itself first.  The service, the admin form and the API check it."""
    if course.pk is not None and any(c.pk == course.pk for c in recommended or []):
        raise ValidationError({"recommended": _("A course cannot be recommended before itself.")})
    cycle = selectors.prerequisite_cycle(course, prerequisites)
    if cycle is not None:
        raise ValidationError(
            {
                "prerequisites": _(
                    "A prerequisite cycle: %(path)s. Nobody could ever enrol in these courses."
                )
                % {"path": " → ".join(cycle)}
            }
        )


def _set_prerequisites(
    course: Course, prerequisites: list[Course], recommended: list[Course]
) -> None:
    check_prerequisites(course, prerequisites, recommended)
    course.prerequisites.set(prerequisites)
    course.recommended.set(recommended)


def course_prerequisites_set(
    *,
    actor: User,
    course: Course,
    prerequisites: list[Course],
    recommended: list[Course] | None = None,
) -> Course:
    """Operators set the courses to pass before ``course`` (enforced at enrolment) and those
    recommended first (only shown).  Refused, changing nothing, when it would make a cycle."""
    _require(is_operator(actor))
    with transaction.atomic():
        # One change of the prerequisite graph at a time: two edits that each look fine could
        # close a cycle together.  Operators change it rarely; locking every course is cheap.
        list(Course.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
        if recommended is None:
            recommended = list(course.recommended.all())
        _set_prerequisites(course, prerequisites, recommended)
        audit(
            actor,
            "course.prerequisites",
            course,
            prerequisites=sorted(c.code for c in prerequisites),
            recommended=sorted(c.code for c in recommended),
        )
    return course


def staff_add(*, actor: User, run: CourseRun, user: User, role: str) -> CourseStaff:
    _require(is_operator(actor))
    with transaction.atomic():
        staff, _created = CourseStaff.objects.update_or_create(
            run=run, user=user, defaults={"role": role}
        )
        audit(actor, "run.staff_add", run, user=user.username, role=role)
    return staff


def staff_permission_set(*, actor: User, staff: CourseStaff, can_edit: bool) -> CourseStaff:
    """An instructor (or an operator) lets a teaching assistant change the run's seats, invite
    codes, grading policy and content, or takes it back.  Nobody grants it to themselves."""
    _require(selectors.can_grant_run(actor, staff.run_id) and staff.user_id != actor.pk)
    with transaction.atomic():
        staff = CourseStaff.objects.select_for_update().select_related("user").get(pk=staff.pk)
        previous = staff.can_edit
        if previous != can_edit:
            staff.can_edit = can_edit
            staff.save(update_fields=["can_edit"])
        audit(
            actor,
            "run.staff_permission",
            staff.run,
            user=staff.user.username,
            can_edit=can_edit,
            previous=previous,
        )
    return staff


# --------------------------------------------------------------------------- content


def lesson_complete(*, lesson: Lesson, user: User, done: bool = True) -> bool:
    """Mark (or unmark) a lesson done for the user; idempotent.  Returns the new state."""
    run = lesson.module.run
    _require(selectors.can_view_content(user, run))
    if done:
        _completion, created = LessonCompletion.objects.get_or_create(lesson=lesson, user=user)
        if created and not selectors.can_teach_run(user, run):
            learning_event.send(
                sender=LessonCompletion,
                user=user,
                kind="lesson_completed",
                run=run,
                object_id=lesson.pk,
            )
    else:
        LessonCompletion.objects.filter(lesson=lesson, user=user).delete()
    return done


def attachment_add(
    *, lesson: Lesson, actor: User, file: UploadedFile, name: str = ""
) -> Attachment:
    """Attach a file to a lesson (type and size limits are the model's validators)."""
    _require(selectors.can_author_run(actor, lesson.module.run_id))
    attachment = Attachment(
        lesson=lesson,
        file=file,
        name=name or file.name or "file",
        size=file.size or 0,
    )
    attachment.full_clean()
    # The type kept comes from the bytes (an image or PDF must be one), never the client's claim.
    attachment.content_type = checked_upload_type(file)
    with transaction.atomic():
        attachment.save()
        audit(actor, "lesson.attachment_add", attachment, lesson=lesson.pk, size=attachment.size)
    return attachment
