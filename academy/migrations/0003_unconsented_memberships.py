"""Memberships an institution admin created by naming an existing account (before consent was
required) become pending invitations: the person accepts or declines them when signed in (the
Institutions page lists them).  Rows created by acceptance, by operators or as demo data stay."""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    AuditEvent = apps.get_model("academy", "AuditEvent")
    Cohort = apps.get_model("academy", "Cohort")
    Invitation = apps.get_model("academy", "Invitation")
    Membership = apps.get_model("academy", "Membership")
    events = AuditEvent.objects.filter(
        action="membership.set", target_type="academy.membership"
    ).select_related("actor")
    for event in events.iterator():
        if (event.data or {}).get("previous") is not None:
            continue  # a role change of an existing member, not an addition
        if event.actor is None or event.actor.is_staff or not event.target_id.isdigit():
            continue  # operators are trusted with people
        membership = (
            Membership.objects.filter(pk=int(event.target_id)).select_related("user").first()
        )
        if membership is None or membership.user_id == event.actor_id:
            continue
        email = membership.user.email.lower()
        consented = Invitation.objects.filter(
            institution_id=membership.institution_id,
            email__iexact=email,
            accepted_at__isnull=False,
        ).exists()
        if consented:
            continue
        Invitation.objects.create(
            email=email,
            institution_id=membership.institution_id,
            role=membership.role,
            invited_by_id=event.actor_id,
        )
        for cohort in Cohort.objects.filter(
            institution_id=membership.institution_id, members=membership.user
        ):
            cohort.members.remove(membership.user)
        AuditEvent.objects.create(
            created_at=timezone.now(),
            actor_repr="system",
            action="membership.unconsented",
            target_type="academy.membership",
            target_id=str(membership.pk),
            target_repr=f"{membership.user.username} @ {membership.institution_id}",
            institution_id=membership.institution_id,
            data={"user": membership.user.username, "role": membership.role},
        )
        membership.delete()


class Migration(migrations.Migration):
    dependencies = [("academy", "0002_invitation_consent")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
