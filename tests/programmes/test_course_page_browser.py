"""The course page in Debian's chromium, on the demo data: what to pass first with the person's
state, what is recommended, and the programmes the course counts towards."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from academy.demo import DEMO_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_demo_student_reads_the_capstone_page(
    live_server, page: Page, artifacts, settings, tmp_path
):  # type: ignore[no-untyped-def]
    settings.NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo", stdout=StringIO())
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "student")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator(".whoami")).to_be_visible()

    page.goto(f"{live_server.url}/courses/CAP300/")
    before = page.locator("#before")
    expect(before.locator(".prerequisites")).to_contain_text("GPU101")
    expect(before.locator(".prerequisites")).to_contain_text("passed")
    expect(before.locator(".recommended")).to_contain_text("LLM201")
    expect(before.locator(".recommended")).to_contain_text("not passed yet")
    expect(page.locator("#counts-towards")).to_contain_text("AI engineer, foundation")
    page.screenshot(path=str(artifacts / "course-page-capstone.png"), full_page=True)
    page.click("#counts-towards a")
    expect(page).to_have_url(f"{live_server.url}/programmes/ai-engineer-foundation/")

    page.goto(f"{live_server.url}/courses/LLM201/")
    expect(page.locator("#before .prerequisites")).to_contain_text("passed")
    page.screenshot(path=str(artifacts / "course-page-llm.png"), full_page=True)

    # The demo student's map shows real states, computed from the demo's graded runs.
    response = page.goto(f"{live_server.url}/programmes/ai-engineer-foundation/map/")
    assert response is not None and response.status == 200
    page.screenshot(path=str(artifacts / "demo-map-student.png"), full_page=True)
