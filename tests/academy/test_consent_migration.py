"""The data migration that undoes memberships an admin created without the person's consent
(before invitations were required): they become pending invitations; others stay."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from academy.audit import audit
from academy.models import AuditEvent, Invitation, Membership, Role
from tests.factories import UserFactory

migration = importlib.import_module("academy.migrations.0003_unconsented_memberships")
pytestmark = pytest.mark.django_db


def _added(actor, user, institution, role=Role.STUDENT):  # type: ignore[no-untyped-def]
    """What the old ``membership_set`` did: a row and a ``membership.set`` audit event."""
    membership = Membership.objects.create(user=user, institution=institution, role=role)
    audit(
        actor,
        "membership.set",
        membership,
        institution=institution,
        user=user.username,
        role=role,
        previous=None,
    )
    return membership


def test_unconsented_memberships_become_pending_invitations(people):
    pulled = _added(people.admin_b, people.student, people.inst_b)  # A's student, pulled into B
    people.cohort_b.members.add(people.student)
    by_operator = _added(people.operator, UserFactory(username="placed"), people.inst_b)
    invited = UserFactory(username="invited")
    Invitation.objects.create(
        email=invited.email, institution=people.inst_b, accepted_at="2026-01-01T00:00Z"
    )
    consented = _added(people.admin_b, invited, people.inst_b)
    role_change = Membership.objects.get(user=people.student_b)
    audit(
        people.admin_b, "membership.set", role_change, institution=people.inst_b, previous="admin"
    )

    migration.forwards(apps, None)

    assert not Membership.objects.filter(pk=pulled.pk).exists()
    assert not people.cohort_b.members.filter(pk=people.student.pk).exists()
    pending = Invitation.objects.get(email=people.student.email, institution=people.inst_b)
    assert pending.accepted_at is None and pending.invited_by == people.admin_b
    assert Membership.objects.filter(user=people.student, institution=people.inst_a).exists()
    for kept in (by_operator, consented, role_change):
        assert Membership.objects.filter(pk=kept.pk).exists()
    assert AuditEvent.objects.filter(action="membership.unconsented").count() == 1
