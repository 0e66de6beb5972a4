"""Production profile and security headers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "PATH": os.environ.get("PATH", ""),
    "DEBUG": "0",
    "SECRET_KEY": "k3v9-Qz!p2Lw8#rT5yN0uB7eX4cH6jM1aS3dF8gK0lP2oI5uY7tR9eW1qZ4xC6vB",
    "ALLOWED_HOSTS": "academy.example.org",
    "DATABASE_URL": "sqlite:////tmp/academy-check.sqlite3",
    # A throwaway Ed25519 key made for this test by `manage.py credential_key`.
    "ACADEMY_CREDENTIAL_KEY": "key-test:z3u2djtW47KFeAWwMrmzKbhjWPhjeAX8MZNkHhyZxSkEX2qe",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_profile_passes_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret():
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_a_short_secret():
    result = manage("check", env={**PROD_ENV, "SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "at least 50 characters" in result.stderr


def test_production_refuses_to_start_without_a_signing_key():
    env = {k: v for k, v in PROD_ENV.items() if k != "ACADEMY_CREDENTIAL_KEY"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "ACADEMY_CREDENTIAL_KEY is not set" in result.stderr
    assert "manage.py credential_key" in result.stderr


def test_a_signing_key_that_cannot_sign_is_a_clear_error():
    result = manage("check", env={**PROD_ENV, "ACADEMY_CREDENTIAL_KEY": "key-1:z6MkNotASecret"})
    assert result.returncode != 0
    assert "credentials.E001" in result.stderr + result.stdout
    assert "not an Ed25519 secret multikey" in result.stderr + result.stdout


def test_a_bad_boolean_is_a_clear_error():
    result = manage("check", env={**PROD_ENV, "DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


@pytest.mark.django_db
def test_pages_carry_a_csp_with_the_nonce_used_in_the_html(client):
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'nonce="{nonce}"'.encode() in response.content
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_forms_need_a_csrf_token(people):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(people.admin_a)
    response = client.post("/institutions/uni-a/cohorts/new/", {"name": "X", "intake_year": 2027})
    assert response.status_code == 403
