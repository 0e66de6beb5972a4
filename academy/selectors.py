"""The access layer: every read of people data goes through here, scoped to the acting user.

Rules: operators (staff) see everything; an institution admin sees their institutions' people,
cohorts, memberships and audit events; an instructor sees their institutions and cohorts;
a student sees their own institutions, cohorts and membership.  Anonymous users see nothing.

An admin's rights over a person all derive from ``Membership`` rows, and a row exists only once
the person accepted the institution's invitation (or an operator created it): pending
invitations grant nothing.  So every selector here and in the other apps that scopes by
``memberships__institution`` is scoped to people who consented.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .access import memo
from .models import AuditEvent, Cohort, Institution, Invitation, Membership, Role, User


def is_operator(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def admin_institution_ids(user: User) -> set[int]:
    if not user.is_authenticated:
        return set()
    return memo(
        user,
        "admin_institution_ids",
        lambda: set(
            Membership.objects.filter(user=user, role=Role.ADMIN).values_list(
                "institution_id", flat=True
            )
        ),
    )


def member_institution_ids(user: User) -> set[int]:
    if not user.is_authenticated:
        return set()
    return memo(
        user,
        "member_institution_ids",
        lambda: set(Membership.objects.filter(user=user).values_list("institution_id", flat=True)),
    )


def is_institution_admin(user: User, institution_id: int | None = None) -> bool:
    ids = admin_institution_ids(user)
    return bool(ids) if institution_id is None else institution_id in ids


def can_manage_institution(user: User, institution: Institution) -> bool:
    return is_operator(user) or institution.pk in admin_institution_ids(user)


def institutions_for(user: User) -> QuerySet[Institution]:
    if is_operator(user):
        return Institution.objects.all()
    return Institution.objects.filter(pk__in=member_institution_ids(user))


def cohorts_for(user: User) -> QuerySet[Cohort]:
    qs = Cohort.objects.select_related("institution")
    if is_operator(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    staff_of = set(
        Membership.objects.filter(user=user, role__in=[Role.ADMIN, Role.INSTRUCTOR]).values_list(
            "institution_id", flat=True
        )
    )
    # A subquery, not a join on the members table: the join would repeat each cohort once per
    # member when OR-ed with the institution's cohorts.
    own = Q(pk__in=Cohort.members.through.objects.filter(user=user).values("cohort_id"))
    if staff_of:
        return qs.filter(Q(institution_id__in=staff_of) | own)
    return qs.filter(own)


def people_for(user: User) -> QuerySet[User]:
    if is_operator(user):
        return User.objects.all()
    if not user.is_authenticated:
        return User.objects.none()
    admin_of = admin_institution_ids(user)
    if admin_of:
        return User.objects.filter(memberships__institution_id__in=admin_of).distinct()
    return User.objects.filter(pk=user.pk)


def memberships_for(user: User) -> QuerySet[Membership]:
    qs = Membership.objects.select_related("user", "institution")
    if is_operator(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    admin_of = admin_institution_ids(user)
    if admin_of:
        return qs.filter(institution_id__in=admin_of) | qs.filter(user=user)
    return qs.filter(user=user)


def invitations_for(user: User) -> QuerySet[Invitation]:
    qs = Invitation.objects.select_related("institution", "cohort", "invited_by")
    if is_operator(user):
        return qs
    return qs.filter(institution_id__in=admin_institution_ids(user))


def audit_events_for(user: User) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.select_related("institution")
    if is_operator(user):
        return qs
    return qs.filter(institution_id__in=admin_institution_ids(user))
