"""Attacks on Academy's OAuth2 provider (issue 9, item 6).

The hub logs people in through Academy. An ordinary signed-in user must not be able to register an
OAuth application, pick the hub's ``client_id`` before the operator does, and have
``ensure_hub_client`` adopt it (keeping the attacker as owner, skipping consent) so that the
attacker adds a redirect of their own and receives codes for other users. ``/oauth/userinfo``
releases e-mail and institutions only to tokens granted those scopes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

SECRET = "s" * 8 + secrets.token_urlsafe(32)
REDIRECT = "http://127.0.0.1:8000/hub/oauth_callback"
EVIL = "http://127.0.0.1:9999/steal"

pytestmark = pytest.mark.django_db


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


@pytest.mark.parametrize(
    "path",
    [
        "/o/applications/",
        "/o/applications/register/",
        "/o/register/",
        "/o/device-authorization/",
    ],
)
def test_an_ordinary_user_cannot_reach_the_application_pages(client, people, path):
    client.force_login(people.student)
    response = client.get(path)
    assert response.status_code in (403, 404), (path, response.status_code)


def test_an_ordinary_user_cannot_register_an_application_with_the_hubs_client_id(client, people):
    client.force_login(people.instructor)
    client.post(
        "/o/applications/register/",
        {
            "name": "totally the hub",
            "client_id": "jupyterhub",
            "client_secret": "x" * 40,
            "client_type": "confidential",
            "authorization_grant_type": "authorization-code",
            "redirect_uris": EVIL,
            "post_logout_redirect_uris": "",
            "algorithm": "",
        },
    )
    assert not get_application_model().objects.filter(client_id="jupyterhub").exists()


def test_an_operator_still_manages_applications(client, people):
    client.force_login(people.operator)
    assert client.get("/o/applications/").status_code == 200
    assert client.get("/o/applications/register/").status_code == 200


def test_ensure_hub_client_refuses_a_client_id_owned_by_someone(people):
    Application = get_application_model()
    Application.objects.create(
        name="planted",
        user=people.instructor,
        client_id="jupyterhub",
        client_secret="x" * 40,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=f"{EVIL} {REDIRECT}",
    )
    with pytest.raises(CommandError, match="instructor"):
        call_command(
            "ensure_hub_client",
            client_id="jupyterhub",
            client_secret=SECRET,
            redirect_uri=REDIRECT,
        )
    app = Application.objects.get(client_id="jupyterhub")
    assert not app.skip_authorization, "a refused take-over must not switch consent off"


def test_ensure_hub_client_repairs_a_planted_client_when_told(people):
    Application = get_application_model()
    AccessToken = get_access_token_model()
    app = Application.objects.create(
        name="planted",
        user=people.instructor,
        client_id="jupyterhub",
        client_secret="x" * 40,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=f"{EVIL} {REDIRECT}",
    )
    stolen = AccessToken.objects.create(
        user=people.student,
        application=app,
        token="stolen-" + secrets.token_hex(8),
        expires=timezone.now() + timedelta(hours=1),
        scope="profile email",
    )
    call_command(
        "ensure_hub_client",
        client_id="jupyterhub",
        client_secret=SECRET,
        redirect_uri=REDIRECT,
        repair=True,
    )
    app.refresh_from_db()
    assert app.user is None
    assert app.redirect_uris == REDIRECT
    assert app.skip_authorization
    assert not AccessToken.objects.filter(pk=stolen.pk).exists(), "tokens it issued are revoked"


def test_a_planted_redirect_receives_no_code(client, people):
    """End to end: the attacker registers the hub's client id before the operator, the operator
    runs ensure_hub_client, the attacker then adds a redirect of their own to the application and
    asks for a student's code. No code reaches the attacker's redirect."""
    Application = get_application_model()
    client.force_login(people.instructor)
    client.post(
        "/o/applications/register/",
        {
            "name": "hub",
            "client_id": "jupyterhub",
            "client_secret": "x" * 40,
            "client_type": "confidential",
            "authorization_grant_type": "authorization-code",
            "redirect_uris": REDIRECT,
            "post_logout_redirect_uris": "",
            "algorithm": "",
        },
    )
    client.logout()
    # Refused or not (the operator is told), the attack must fail below.
    with contextlib.suppress(CommandError):
        call_command(
            "ensure_hub_client",
            client_id="jupyterhub",
            client_secret=SECRET,
            redirect_uri=REDIRECT,
        )
    app = Application.objects.filter(client_id="jupyterhub").first()
    if app is not None:
        client.force_login(people.instructor)
        client.post(
            f"/o/applications/{app.pk}/update/",
            {
                "name": "hub",
                "client_id": "jupyterhub",
                "client_secret": "x" * 40,
                "client_type": "confidential",
                "authorization_grant_type": "authorization-code",
                "redirect_uris": f"{REDIRECT} {EVIL}",
                "post_logout_redirect_uris": "",
                "algorithm": "",
            },
        )
        client.logout()
    _, challenge = _pkce()
    client.force_login(people.student)
    response = client.get(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": "jupyterhub",
            "redirect_uri": EVIL,
            "scope": "profile",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert not response.get("Location", "").startswith(EVIL), response.get("Location")


def _token_for(client, user, scope: str) -> str:
    call_command(
        "ensure_hub_client", client_id="jupyterhub", client_secret=SECRET, redirect_uri=REDIRECT
    )
    verifier, challenge = _pkce()
    client.force_login(user)
    response = client.get(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": "jupyterhub",
            "redirect_uri": REDIRECT,
            "scope": scope,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 302, response.content
    code = parse_qs(urlparse(response["Location"]).query)["code"][0]
    client.logout()
    token = client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "jupyterhub",
            "client_secret": SECRET,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.content
    return token.json()["access_token"]


def test_userinfo_releases_only_what_the_token_was_granted(client, people):
    access = _token_for(client, people.student, "profile")
    info = client.get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").json()
    assert info["preferred_username"] == "student"
    assert "email" not in info
    assert "groups" not in info


def test_userinfo_releases_email_and_groups_when_granted(client, people):
    access = _token_for(client, people.student, "profile email groups")
    info = client.get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").json()
    assert info["email"] == people.student.email
    assert info["groups"] == ["uni-a"]
