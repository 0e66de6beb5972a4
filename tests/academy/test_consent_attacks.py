"""Attack tests for issue 9, item 1: membership needs the person's consent.

An institution admin used to add any existing account by e-mail (API or bulk CSV) and from then
on see that person's enrolments and submissions and decide their requests, whatever institution
they belonged to.  Here admin B tries it on a student of institution A, against PostgreSQL."""

from __future__ import annotations

import io

import pytest
from django.test import Client

from academy import services as people_services
from academy.models import Invitation, Membership
from courses import bulk
from courses import services as course_services
from courses.models import Enrolment
from tests.factories import CourseRunFactory

pytestmark = pytest.mark.django_db


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _post_membership(client: Client, email: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/memberships/",
        {"institution": "uni-b", "email": email, "role": "student"},
        content_type="application/json",
    )


def test_api_cannot_add_another_institutions_person_without_their_consent(people):
    run = CourseRunFactory(policy="approval")
    pending = course_services.enrolment_request(run=run, user=people.student)
    admin_b = _client(people.admin_b)

    response = _post_membership(admin_b, people.student.email)

    assert response.status_code == 202, response.content
    assert not Membership.objects.filter(user=people.student, institution=people.inst_b).exists()
    assert Invitation.objects.filter(
        email=people.student.email, institution=people.inst_b, accepted_at=None
    ).exists()
    # Nothing of the person is visible or decidable to admin B.
    listed = admin_b.get("/api/v1/enrolments/").json()["results"]
    assert pending.pk not in [e["id"] for e in listed]
    assert admin_b.get(f"/api/v1/enrolments/{pending.pk}/").status_code == 404
    assert admin_b.post(f"/api/v1/enrolments/{pending.pk}/approve/").status_code == 404
    members = admin_b.get("/api/v1/memberships/").json()["results"]
    assert people.student.username not in [m["user"]["username"] for m in members]
    pending.refresh_from_db()
    assert pending.state == "pending"


def test_api_answers_the_same_for_known_and_unknown_addresses(people):
    admin_b = _client(people.admin_b)
    known = _post_membership(admin_b, people.student.email)
    unknown = _post_membership(admin_b, "nobody-here@example.org")
    assert known.status_code == unknown.status_code == 202
    known_body = known.content.decode().replace(people.student.email, "ADDRESS")
    unknown_body = unknown.content.decode().replace("nobody-here@example.org", "ADDRESS")
    assert known_body == unknown_body


def test_bulk_csv_cannot_pull_in_another_institutions_person(people):
    run = CourseRunFactory(capacity=10)
    data = (
        "email,first_name,last_name,cohort\n"
        f"{people.student.email},S,A,B 2026\n"
        "nobody-here@example.org,N,H,B 2026\n"
    ).encode()
    upload = bulk.bulk_upload_store(
        actor=people.admin_b, institution=people.inst_b, run=run, file=io.BytesIO(data)
    )
    known, unknown = bulk.bulk_preview(upload=upload, actor=people.admin_b)
    # No enumeration: an existing account reads exactly like an unknown address.
    assert (known.outcome, known.label) == (unknown.outcome, unknown.label)

    bulk.bulk_apply(upload=upload, actor=people.admin_b)

    assert not Membership.objects.filter(user=people.student, institution=people.inst_b).exists()
    assert not people.cohort_b.members.filter(pk=people.student.pk).exists()
    assert not Enrolment.objects.filter(run=run, user=people.student).exists()
    assert Invitation.objects.filter(email=people.student.email, institution=people.inst_b).exists()


def test_an_existing_accounts_invitation_needs_that_account_signed_in(people):
    invitation = people_services.invitation_create(
        actor=people.admin_b, institution=people.inst_b, email=people.student.email
    )
    token = people_services.invitation_token(invitation)
    # Whoever holds the link, without being the account, cannot accept for it.
    anonymous = Client()
    anonymous.post(
        f"/invitations/{token}/",
        {
            "username": "whoever",
            "password1": "x-Very-long-pass-42",
            "password2": "x-Very-long-pass-42",
        },
    )
    _client(people.student_b).post(f"/invitations/{token}/", {"accept": "1"})
    assert not Membership.objects.filter(user=people.student, institution=people.inst_b).exists()

    # The person themselves accepts: now, and only now, admin B's rights begin.
    response = _client(people.student).post(f"/invitations/{token}/", {"accept": "1"})
    assert response.status_code == 302
    assert Membership.objects.filter(user=people.student, institution=people.inst_b).exists()


def test_a_declined_invitation_grants_nothing(people):
    invitation = people_services.invitation_create(
        actor=people.admin_b, institution=people.inst_b, email=people.student.email
    )
    token = people_services.invitation_token(invitation)
    _client(people.student).post(f"/invitations/{token}/", {"decline": "1"})
    assert not Membership.objects.filter(user=people.student, institution=people.inst_b).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None
    response = _client(people.student).post(f"/invitations/{token}/", {"accept": "1"})
    assert response.status_code == 400
    assert not Membership.objects.filter(user=people.student, institution=people.inst_b).exists()


def test_another_institutions_reservation_is_not_claimed_by_accepting_ours(people):
    """Admin B reserves a seat for an address; the person accepts institution A's invitation:
    B's reservation must not enrol them (they never agreed to B)."""
    run_b = CourseRunFactory(capacity=10)
    data = b"email,first_name,last_name,cohort\nfresh@example.org,F,R,\n"
    upload = bulk.bulk_upload_store(
        actor=people.admin_b, institution=people.inst_b, run=run_b, file=io.BytesIO(data)
    )
    bulk.bulk_apply(upload=upload, actor=people.admin_b)
    invitation_a = people_services.invitation_create(
        actor=people.admin_a, institution=people.inst_a, email="fresh@example.org"
    )
    user = people_services.invitation_accept(
        token=people_services.invitation_token(invitation_a),
        username="fresh",
        password="a-Long-enough-pass-42",
    )
    assert not Enrolment.objects.filter(run=run_b, user=user).exists()
    assert not Membership.objects.filter(user=user, institution=people.inst_b).exists()


def test_a_pending_invitee_is_invisible_to_the_inviting_admin(people):
    """``people.invitee`` has an account and admin A's invitation, not yet accepted."""
    run = CourseRunFactory(policy="approval")
    request = course_services.enrolment_request(run=run, user=people.invitee)
    _post_membership(_client(people.admin_b), people.invitee.email)  # B invites too
    for admin in (people.admin_a, people.admin_b):
        client = _client(admin)
        assert client.get("/api/v1/enrolments/").json()["results"] == []
        assert client.post(f"/api/v1/enrolments/{request.pk}/approve/").status_code == 404
        members = client.get("/api/v1/memberships/").json()["results"]
        assert "invitee" not in [m["user"]["username"] for m in members]
    request.refresh_from_db()
    assert request.state == "pending"
