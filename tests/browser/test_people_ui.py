"""Every role signs in through the real login form, switches to Serbian Cyrillic and sees the
navigation translated."""

from __future__ import annotations

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect

from tests.browser.support import login


def cyrillic(text: str) -> str:
    with translation.override("sr"):
        return translation.gettext(text)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["student", "instructor", "admin_a", "operator"])
def test_each_role_sees_translated_navigation(page: Page, live_server, people, artifacts, role):
    base = live_server.url
    login(page, base, getattr(people, role).username)
    nav = page.locator("nav.mainnav")
    expect(nav).to_contain_text("Dashboard")
    page.screenshot(path=str(artifacts / f"people-{role}-en.png"), full_page=True)

    page.select_option("#lang-select", "sr")
    page.click(".langswitch button")
    dashboard = cyrillic("Dashboard")
    assert dashboard != "Dashboard", "no Serbian Cyrillic catalogue"
    expect(nav).to_contain_text(dashboard)
    assert "Dashboard" not in nav.inner_text()
    if role in ("admin_a", "operator"):
        expect(nav).to_contain_text(cyrillic("Institutions"))
    else:
        assert cyrillic("Institutions") not in nav.inner_text()
    if role == "operator":
        expect(nav).to_contain_text(cyrillic("Administration"))
    expect(page.locator("html")).to_have_attribute("lang", "sr")
    page.screenshot(path=str(artifacts / f"people-{role}-sr.png"), full_page=True)

    page.select_option("#lang-select", "sr-latn")
    page.click(".langswitch button")
    with translation.override("sr-latn"):
        expect(nav).to_contain_text(translation.gettext("Dashboard"))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_institution_admin_creates_a_cohort_and_invites(page: Page, live_server, people, artifacts):
    base = live_server.url
    login(page, base, people.admin_a.username)
    page.goto(f"{base}/institutions/uni-a/")
    page.click("text=New cohort")
    page.fill("#id_name", "Evening 2027")
    page.fill("#id_intake_year", "2027")
    page.fill("#id_starts_on", "2027-03-01")
    page.fill("#id_ends_on", "2027-01-01")
    page.click("main button[type=submit]")
    assert "/cohorts/new/" in page.url  # refused: the end is before the start
    page.fill("#id_ends_on", "2027-12-01")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Evening 2027")
    page.goto(f"{base}/institutions/uni-a/")
    page.fill("#id_email", "newcomer@example.org")
    page.click("text=Send invitation")
    expect(page.locator(".messages")).to_contain_text("newcomer@example.org")
    page.screenshot(path=str(artifacts / "people-admin-institution.png"), full_page=True)
