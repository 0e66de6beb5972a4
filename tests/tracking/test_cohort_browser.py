"""An institution admin follows a cohort in the browser: the cohort table, sorted by grade,
searched, then one person's page with the activity chart drawn by the vendored Chart.js."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from academy.models import Membership, Role
from tests.browser.support import login
from tests.factories import UserFactory

from .test_cohort_pages import activity, snapshot, world  # noqa: F401 - the fixture


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_sorts_searches_and_opens_a_person(page: Page, live_server, world, artifacts):  # noqa: F811
    p = world.p
    for i, grade in enumerate((72, 35, 88)):
        user = UserFactory(username=f"learner{i}", first_name="Ana", last_name=f"Learner {i}")
        Membership.objects.create(user=user, institution=p.inst_a, role=Role.STUDENT)
        p.cohort_a.members.add(user)
        snapshot(user, world.r1, p.inst_a, p.cohort_a, grade=Decimal(grade), lessons_total=10)
    for day in range(0, 60, 3):
        activity(p.student, world.r1, p.inst_a, day, 1 + day % 7)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    base = live_server.url
    login(page, base, p.admin_a.username)
    page.goto(f"{base}/institutions/uni-a/cohorts/{p.cohort_a.pk}/")
    page.click("text=Progress of its people")
    expect(page.locator("h1")).to_contain_text("A 2026")
    rows = page.locator("#cohort-table tbody tr")
    expect(rows).to_have_count(5)

    page.click("#cohort-table th a[data-sort=grade]")
    expect(page.locator("#cohort-table th[aria-sort=ascending]")).to_contain_text("Grade")
    page.click("#cohort-table th a[data-sort=grade]")  # again: highest first
    expect(page.locator("#cohort-table th[aria-sort=descending]")).to_contain_text("Grade")
    grades = page.locator("#cohort-table tbody td.grade").all_inner_texts()
    assert grades == ["90.0%", "88.0%", "72.0%", "60.0%", "35.0%"]
    page.screenshot(path=str(artifacts / "tracking-cohort-by-grade.png"), full_page=True)

    page.fill("#cohort-q", "learner")
    page.click("form[role=search] button[type=submit]")
    expect(rows).to_have_count(3)
    assert "sort=-grade" in page.url  # the sort stays
    assert page.locator("#cohort-table tbody td.grade").all_inner_texts() == [
        "88.0%",
        "72.0%",
        "35.0%",
    ]
    page.screenshot(path=str(artifacts / "tracking-cohort-search.png"), full_page=True)

    page.fill("#cohort-q", "")
    page.click("form[role=search] button[type=submit]")
    page.click(f"#cohort-table tr[data-user='{p.student.pk}'] th a")
    expect(page.locator("h1")).to_contain_text(p.student.username)
    expect(page.locator("#person-runs tbody tr")).to_have_count(2)
    expect(page.locator("#person-runs")).to_contain_text("missed deadlines")
    expect(page.locator("#activity-chart")).to_have_attribute("data-drawn", "1")
    box = page.locator("#activity-chart").bounding_box()
    assert box and box["height"] > 100 and box["width"] > 300
    page.click("#person-activity summary")
    expect(page.locator("#activity-table tbody tr")).to_have_count(20)
    page.screenshot(path=str(artifacts / "tracking-person.png"), full_page=True)
    assert errors == []  # no CSP refusals, no script errors
