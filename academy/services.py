"""Writes on the people side.  Each service checks the actor's right, changes state in one
transaction, writes an audit row, and enqueues e-mail only after commit."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from .audit import audit
from .models import Cohort, Institution, Invitation, Membership, Role, User
from .selectors import can_manage_institution, is_operator

INVITATION_SALT = "academy.invitation"


def _require(condition: bool) -> None:
    if not condition:
        raise PermissionDenied


def institution_create(*, actor: User, name: str, kind: str, slug: str = "") -> Institution:
    _require(is_operator(actor))
    with transaction.atomic():
        institution = Institution.objects.create(name=name, kind=kind, slug=slug or slugify(name))
        audit(actor, "institution.create", institution, institution=institution)
    return institution


def cohort_create(
    *,
    actor: User,
    institution: Institution,
    name: str,
    intake_year: int,
    programme: str = "",
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> Cohort:
    _require(can_manage_institution(actor, institution))
    cohort = Cohort(
        institution=institution,
        name=name,
        intake_year=intake_year,
        programme=programme,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    cohort.full_clean()
    with transaction.atomic():
        cohort.save()
        audit(actor, "cohort.create", cohort, institution=institution)
    return cohort


def cohort_update(*, actor: User, cohort: Cohort, **fields: object) -> Cohort:
    _require(can_manage_institution(actor, cohort.institution))
    allowed = {"name", "programme", "intake_year", "starts_on", "ends_on"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}")
    changes = {k: str(v) for k, v in fields.items() if getattr(cohort, k) != v}
    for key, value in fields.items():
        setattr(cohort, key, value)
    cohort.full_clean()
    with transaction.atomic():
        cohort.save()
        audit(actor, "cohort.update", cohort, institution=cohort.institution, changes=changes)
    return cohort


def cohort_add_member(*, actor: User, cohort: Cohort, user: User) -> None:
    _require(can_manage_institution(actor, cohort.institution))
    with transaction.atomic():
        if not Membership.objects.filter(user=user, institution=cohort.institution).exists():
            raise ValidationError(_("The person is not a member of this cohort's institution."))
        cohort.members.add(user)
        audit(
            actor, "cohort.add_member", cohort, institution=cohort.institution, user=user.username
        )


def cohort_remove_member(*, actor: User, cohort: Cohort, user: User) -> None:
    _require(can_manage_institution(actor, cohort.institution))
    with transaction.atomic():
        cohort.members.remove(user)
        audit(
            actor,
            "cohort.remove_member",
            cohort,
            institution=cohort.institution,
            user=user.username,
        )


def membership_set(*, actor: User, institution: Institution, user: User, role: str) -> Membership:
    """Give ``user`` the ``role`` at ``institution`` (creating or changing the membership)."""
    _require(can_manage_institution(actor, institution))
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    with transaction.atomic():
        membership, created = Membership.objects.select_for_update().get_or_create(
            user=user, institution=institution, defaults={"role": role}
        )
        previous = None if created else membership.role
        if not created and membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
        audit(
            actor,
            "membership.set",
            membership,
            institution=institution,
            user=user.username,
            role=role,
            previous=previous,
        )
    return membership


def membership_remove(*, actor: User, membership: Membership) -> None:
    _require(can_manage_institution(actor, membership.institution))
    if membership.user_id == actor.pk and not is_operator(actor):
        raise ValidationError(_("You cannot remove your own membership."))
    with transaction.atomic():
        for cohort in Cohort.objects.filter(
            institution=membership.institution, members=membership.user
        ):
            cohort.members.remove(membership.user)
        audit(
            actor,
            "membership.remove",
            membership,
            institution=membership.institution,
            user=membership.user.username,
        )
        membership.delete()


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "e": invitation.email}, salt=INVITATION_SALT)


def invitation_from_token(token: str) -> Invitation:
    """The invitation a link names; ValidationError when forged, expired or used."""
    try:
        payload = signing.loads(token, salt=INVITATION_SALT, max_age=settings.INVITATION_MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationError(_("This invitation has expired. Ask for a new one.")) from None
    except signing.BadSignature:
        raise ValidationError(_("This invitation link is not valid.")) from None
    invitation = (
        Invitation.objects.select_related("institution", "cohort")
        .filter(pk=payload.get("i"), email=payload.get("e"))
        .first()
    )
    if invitation is None:
        raise ValidationError(_("This invitation link is not valid."))
    if invitation.accepted_at is not None:
        raise ValidationError(_("This invitation has already been used."))
    return invitation


def invitation_create(
    *,
    actor: User | None,
    institution: Institution,
    email: str,
    role: str = Role.STUDENT,
    cohort: Cohort | None = None,
    first_name: str = "",
    last_name: str = "",
) -> Invitation:
    """Invite a person by e-mail.  ``actor`` None is the system (bulk enrolment runs as a
    checked admin and passes them)."""
    if actor is not None:
        _require(can_manage_institution(actor, institution))
    if cohort is not None and cohort.institution_id != institution.pk:
        raise ValidationError({"cohort": _("The cohort belongs to another institution.")})
    email = User.objects.normalize_email(email).lower()
    with transaction.atomic():
        invitation = Invitation.objects.create(
            email=email,
            institution=institution,
            role=role,
            cohort=cohort,
            first_name=first_name,
            last_name=last_name,
            invited_by=actor,
        )
        audit(
            actor, "invitation.create", invitation, institution=institution, email=email, role=role
        )
        transaction.on_commit(lambda: _send_invitation(invitation.pk))
    return invitation


def _send_invitation(invitation_id: int) -> None:
    from .tasks import enqueue, send_invitation_email

    enqueue(send_invitation_email, invitation_id)


def invitation_link(invitation: Invitation) -> str:
    return settings.SITE_URL + reverse("invitation-accept", args=[invitation_token(invitation)])


def invitation_accept(*, token: str, username: str, password: str) -> User:
    invitation = invitation_from_token(token)
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.accepted_at is not None:
            raise ValidationError(_("This invitation has already been used."))
        user = User.objects.filter(email__iexact=invitation.email).first()
        if user is None:
            user = User(
                username=username,
                email=invitation.email,
                first_name=invitation.first_name,
                last_name=invitation.last_name,
            )
            user.full_clean(exclude=["password"])
            validate_password(password, user)
            user.set_password(password)
            user.save()
        Membership.objects.get_or_create(
            user=user, institution=invitation.institution, defaults={"role": invitation.role}
        )
        if invitation.cohort is not None:
            invitation.cohort.members.add(user)
        invitation.user = user
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["user", "accepted_at"])
        audit(user, "invitation.accept", invitation, institution=invitation.institution)
    # Seats reserved for this address by a bulk enrolment become enrolments now.
    from courses.services import enrolment_claim_reserved

    enrolment_claim_reserved(user=user)
    return user
