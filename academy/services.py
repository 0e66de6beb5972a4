"""Writes on the people side.  Each service checks the actor's right, changes state in one
transaction, writes an audit row, and enqueues e-mail only after commit."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from .audit import audit
from .jobs import enqueue
from .models import Cohort, Institution, Invitation, Membership, Role, User
from .selectors import can_manage_institution, is_operator
from .signals import invitation_accepted

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


def membership_role_set(*, actor: User, membership: Membership, role: str) -> Membership:
    """Change the role of someone who is already a member (they accepted, or an operator added
    them).  Adding a person is never done here: see ``membership_invite``."""
    _require(can_manage_institution(actor, membership.institution))
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        previous = membership.role
        if previous != role:
            membership.role = role
            membership.save(update_fields=["role"])
        audit(
            actor,
            "membership.set",
            membership,
            institution=membership.institution,
            user=membership.user.username,
            role=role,
            previous=previous,
        )
    return membership


def _pending_invitations() -> QuerySet[Invitation]:
    """Invitations not yet answered whose link has not expired."""
    fresh = timezone.now() - timedelta(seconds=settings.INVITATION_MAX_AGE)
    return Invitation.objects.filter(accepted_at=None, declined_at=None, created_at__gte=fresh)


def membership_invite(
    *,
    actor: User,
    institution: Institution,
    email: str,
    role: str = Role.STUDENT,
    cohort: Cohort | None = None,
    first_name: str = "",
    last_name: str = "",
) -> Invitation:
    """Ask a person to join ``institution``: whether or not an account exists for the address,
    this only creates (or re-uses) a pending invitation; the membership is created when the
    owner of the address accepts.  Callers answer the same whatever happened, so an admin
    cannot learn which addresses have accounts."""
    _require(can_manage_institution(actor, institution))
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    email = User.objects.normalize_email(email).lower()
    pending = (
        _pending_invitations()
        .filter(email=email, institution=institution)
        .order_by("-created_at")
        .first()
    )
    if pending is not None:
        return pending
    return invitation_create(
        actor=actor,
        institution=institution,
        email=email,
        role=role,
        cohort=cohort,
        first_name=first_name,
        last_name=last_name,
    )


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
    if invitation.accepted_at is not None or invitation.declined_at is not None:
        raise ValidationError(_("This invitation has already been used."))
    return invitation


def invitation_account_exists(invitation: Invitation) -> bool:
    """Whether the invited address already has an account (then that account, signed in,
    accepts).  Only ever told to the holder of the invitation link, i.e. the address owner."""
    return User.objects.filter(email__iexact=invitation.email).exists()


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
        enqueue("academy.tasks.send_invitation_email", invitation.pk)
    return invitation


def invitation_link(invitation: Invitation) -> str:
    return settings.SITE_URL + reverse("invitation-accept", args=[invitation_token(invitation)])


def _locked_pending(invitation: Invitation) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("cohort")
        .get(pk=invitation.pk)
    )
    if invitation.accepted_at is not None or invitation.declined_at is not None:
        raise ValidationError(_("This invitation has already been used."))
    return invitation


def _join(invitation: Invitation, user: User) -> None:
    """Under the invitation's lock: the person consented, so the membership begins."""
    Membership.objects.get_or_create(
        user=user, institution=invitation.institution, defaults={"role": invitation.role}
    )
    if invitation.cohort is not None:
        invitation.cohort.members.add(user)
    invitation.user = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["user", "accepted_at"])
    audit(user, "invitation.accept", invitation, institution=invitation.institution)


def invitation_accept(*, token: str, username: str, password: str) -> User:
    """A new person accepts: their account is created with the membership.  An address that
    already has an account is accepted by that account, signed in (``invitation_accept_as``):
    holding the link is not enough to act for an existing account."""
    invitation = invitation_from_token(token)
    with transaction.atomic():
        invitation = _locked_pending(invitation)
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise ValidationError(
                _("An account with this address exists: sign in to it to accept the invitation.")
            )
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
        _join(invitation, user)
    invitation_accepted.send(sender=Invitation, invitation=invitation, user=user)
    return user


def _check_addressee(invitation: Invitation, user: User) -> None:
    if not (user.is_authenticated and user.is_active):
        raise PermissionDenied
    if user.email.lower() != invitation.email.lower():
        raise ValidationError(
            _("This invitation was sent to another address. Sign in as its owner to answer it.")
        )


def invitation_accept_as(*, token: str, user: User) -> Invitation:
    """The signed-in owner of the invited address accepts: now, and only now, they become a
    member (and the institution's admins see their enrolments and work)."""
    invitation = invitation_from_token(token)
    _check_addressee(invitation, user)
    with transaction.atomic():
        invitation = _locked_pending(invitation)
        _join(invitation, user)
    invitation_accepted.send(sender=Invitation, invitation=invitation, user=user)
    return invitation


def invitation_decline(*, token: str, user: User) -> Invitation:
    """The signed-in owner of the invited address says no: nothing is granted, the link stops
    working, and the institution's reservations for them are dropped."""
    invitation = invitation_from_token(token)
    _check_addressee(invitation, user)
    with transaction.atomic():
        invitation = _locked_pending(invitation)
        invitation.declined_at = timezone.now()
        invitation.save(update_fields=["declined_at"])
        audit(user, "invitation.decline", invitation, institution=invitation.institution)
    return invitation


def invitations_waiting_for(user: User) -> list[tuple[Invitation, str]]:
    """Pending invitations to the signed-in person's own address, with their links."""
    if not user.is_authenticated or not user.email:
        return []
    invitations = (
        _pending_invitations().filter(email__iexact=user.email).select_related("institution")
    )
    return [(i, invitation_token(i)) for i in invitations]
