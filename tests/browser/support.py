"""What the browser tests share: signing in through the login form, the cluster's commands and
the hub's OAuth client."""

from __future__ import annotations

import os
import subprocess

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD


def login(page: Page, base: str, username: str) -> None:
    """Sign in as ``username`` through the login form (any earlier session is dropped first)."""
    page.context.clear_cookies()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator(".whoami")).to_be_visible(timeout=30_000)


def sh(*cmd: str) -> str:
    """A cluster command's output (squeue, sbatch, scancel...), stripped; a failing command
    gives what it printed (often nothing), a hanging one raises after 30 s."""
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()


def hub_oauth_client() -> None:
    """Register the test hub as an OAuth client of this test database, from the settings
    `ops/test-services.sh` wrote; fail (never skip) when the hub stack is not up."""
    for var in (
        "ACADEMY_HUB_OAUTH_CLIENT_ID",
        "ACADEMY_HUB_OAUTH_CLIENT_SECRET",
        "ACADEMY_HUB_OAUTH_CALLBACK_URL",
    ):
        if not os.environ.get(var):
            pytest.fail(
                f"{var} is not set: run the suite through `make test` (ops/test-services.sh)"
            )
    if not settings.HUB_API_TOKEN:
        pytest.fail("ACADEMY_HUB_API_TOKEN is not set: the hub stack is not up")
    call_command(
        "ensure_hub_client",
        client_id=os.environ["ACADEMY_HUB_OAUTH_CLIENT_ID"],
        client_secret=os.environ["ACADEMY_HUB_OAUTH_CLIENT_SECRET"],
        redirect_uri=os.environ["ACADEMY_HUB_OAUTH_CALLBACK_URL"],
    )
