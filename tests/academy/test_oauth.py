"""Academy as the OAuth2 provider of JupyterHub: authorization code with PKCE, then userinfo."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import call_command

SECRET = "s" * 8 + secrets.token_urlsafe(32)
REDIRECT = "http://127.0.0.1:8000/hub/oauth_callback"


@pytest.fixture
def hub_client(db):  # type: ignore[no-untyped-def]
    call_command(
        "ensure_hub_client", client_id="jupyterhub", client_secret=SECRET, redirect_uri=REDIRECT
    )


@pytest.mark.django_db
def test_the_hub_gets_the_cluster_login_of_the_signed_in_user(client, people, hub_client):
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    client.force_login(people.student)
    response = client.get(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": "jupyterhub",
            "redirect_uri": REDIRECT,
            "scope": "profile email groups",
            "state": "xyz",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 302, response.content
    location = urlparse(response["Location"])
    assert location.path == "/hub/oauth_callback"
    code = parse_qs(location.query)["code"][0]
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
    access = token.json()["access_token"]
    info = client.get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert info.status_code == 200
    assert info.json()["preferred_username"] == "student"
    assert info.json()["groups"] == ["uni-a"]


@pytest.mark.django_db
def test_userinfo_needs_a_token(client):
    assert client.get("/oauth/userinfo").status_code == 403


@pytest.mark.django_db
def test_an_unregistered_redirect_is_refused(client, people, hub_client):
    client.force_login(people.student)
    response = client.get(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": "jupyterhub",
            "redirect_uri": "https://evil.example/cb",
            "scope": "profile",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 400
