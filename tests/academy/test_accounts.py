"""Login, lockout, password reset and invitations, through real requests."""

from __future__ import annotations

import re

import pytest
from django.core import mail, signing

from academy import services
from academy.models import AuditEvent, Invitation, Membership, Role, User
from tests.factories import PASSWORD, UserFactory


@pytest.fixture(autouse=True)
def _eager_tasks(settings):  # type: ignore[no-untyped-def]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from academy.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.mark.django_db
def test_login_with_the_right_password_reaches_the_dashboard(client):
    UserFactory(username="ana")
    response = client.post("/accounts/login/", {"username": "ana", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_five_failures_lock_the_account_even_for_the_right_password(client):
    UserFactory(username="ana")
    for _ in range(4):
        response = client.post("/accounts/login/", {"username": "ana", "password": "wrong"})
        assert response.status_code == 200
    response = client.post("/accounts/login/", {"username": "ana", "password": "wrong"})
    assert response.status_code == 429
    response = client.post("/accounts/login/", {"username": "ana", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content


@pytest.mark.django_db
def test_a_lockout_of_one_user_does_not_lock_another(client):
    UserFactory(username="ana")
    UserFactory(username="bob")
    for _ in range(5):
        client.post("/accounts/login/", {"username": "ana", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_password_reset_sends_a_link_that_sets_a_new_password(client):
    user = UserFactory(username="ana", email="ana@example.org")
    response = client.post("/accounts/password_reset/", {"email": "ana@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    assert response.status_code == 200
    response = client.post(
        response.redirect_chain[-1][0],
        {"new_password1": "a-much-better-passphrase", "new_password2": "a-much-better-passphrase"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-much-better-passphrase")


@pytest.mark.django_db
def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client):
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.org"})
    assert response.status_code == 302
    assert mail.outbox == []


@pytest.mark.django_db
def test_password_change_needs_the_old_password(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": "wrong",
            "new_password1": "x-new-passphrase-1",
            "new_password2": "x-new-passphrase-1",
        },
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.django_db
def test_an_admin_invites_and_the_invitee_sets_a_password(
    client, people, django_capture_on_commit_callbacks
):
    client.force_login(people.admin_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/institutions/uni-a/invite/",
            {
                "email": "New.Person@Example.org",
                "role": Role.STUDENT,
                "cohort": people.cohort_a.pk,
                "first_name": "New",
                "last_name": "Person",
            },
        )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/invitations/\S+/)", mail.outbox[0].body).group(1)
    client.logout()
    response = client.post(
        link,
        {
            "username": "newperson",
            "password1": "Fresh-passphrase-9",
            "password2": "Fresh-passphrase-9",
        },
    )
    assert response.status_code == 302, response.content
    user = User.objects.get(username="newperson")
    assert user.email == "new.person@example.org"
    assert Membership.objects.get(user=user).institution == people.inst_a
    assert people.cohort_a.members.filter(pk=user.pk).exists()
    # The link works once.
    assert client.get(link).status_code == 400
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert "invitation.create" in actions and "invitation.accept" in actions


@pytest.mark.django_db
def test_an_expired_invitation_is_refused(client, people, settings):
    invitation = services.invitation_create(
        actor=people.admin_a, institution=people.inst_a, email="x@example.org"
    )
    token = services.invitation_token(invitation)
    settings.INVITATION_MAX_AGE = -1
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 400
    assert b"expired" in response.content


@pytest.mark.django_db
def test_a_forged_invitation_is_refused(client, people):
    token = signing.dumps({"i": 1, "e": "x@example.org"}, salt="wrong-salt")
    assert client.get(f"/invitations/{token}/").status_code == 400


@pytest.mark.django_db
def test_admin_of_another_institution_cannot_invite_there(client, people):
    client.force_login(people.admin_b)
    response = client.post(
        "/institutions/uni-a/invite/", {"email": "x@example.org", "role": "student"}
    )
    assert response.status_code == 404
    assert not Invitation.objects.filter(email="x@example.org").exists()
