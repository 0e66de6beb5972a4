"""In Debian's chromium: an instructor grants a teaching assistant editing on the run's Settings
page; an existing account answers an institution's invitation only when signed in."""

import pytest
from playwright.sync_api import Page, expect

from academy import services as people_services
from academy.models import Membership, Role
from courses.models import CourseStaff
from tests.browser.support import login
from tests.factories import (
    CourseFactory,
    CourseRunFactory,
    CourseStaffFactory,
    InstitutionFactory,
    member,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_instructor_grants_a_ta_editing(live_server, page: Page, artifacts):
    institution = InstitutionFactory()
    instructor = member(institution, Role.INSTRUCTOR, username="lead")
    ta = member(institution, Role.INSTRUCTOR, username="helper", first_name="Tea", last_name="Ay")
    run = CourseRunFactory(course=CourseFactory(code="RL500", title="Reinforcement"), capacity=3)
    CourseStaffFactory(run=run, user=instructor)
    row = CourseStaffFactory(run=run, user=ta, role="ta")

    login(page, live_server.url, "helper")
    page.goto(f"{live_server.url}/teaching/")
    expect(page.locator("main")).to_contain_text("RL500")
    expect(page.locator("main a:has-text('Settings')")).to_have_count(0)
    assert page.goto(f"{live_server.url}/runs/{run.pk}/settings/").status == 404

    page.context.clear_cookies()
    login(page, live_server.url, "lead")
    page.goto(f"{live_server.url}/runs/{run.pk}/settings/")
    staff_row = page.locator(f"#staff-{row.pk}")
    expect(staff_row).to_contain_text("Teaching assistant")
    staff_row.locator("input[name=can_edit]").check()
    staff_row.locator("button:has-text('Save')").click()
    expect(page.locator(".messages")).to_contain_text("may now edit this run")
    page.screenshot(path=str(artifacts / "courses-run-staff-rights.png"), full_page=True)
    assert CourseStaff.objects.get(pk=row.pk).can_edit

    page.context.clear_cookies()
    login(page, live_server.url, "helper")
    page.goto(f"{live_server.url}/teaching/")
    page.click("main a:has-text('Settings')")
    page.fill("#id_seats-capacity", "5")
    page.click("button:has-text('Save seats')")
    expect(page.locator(".messages")).to_contain_text("Seats saved.")
    # The TA may edit, but not grant: no control on their own row.
    expect(page.locator(f"#staff-{row.pk} input[name=can_edit]")).to_have_count(0)
    run.refresh_from_db()
    assert run.capacity == 5


def test_an_existing_account_answers_an_invitation_signed_in(live_server, page: Page, artifacts):
    home = InstitutionFactory(name="Home University")
    other = InstitutionFactory(name="Other Institute", slug="other")
    admin = member(other, Role.ADMIN, username="otheradmin")
    person = member(home, Role.STUDENT, username="ana")
    invitation = people_services.invitation_create(
        actor=admin, institution=other, email=person.email
    )
    link = f"{live_server.url}/invitations/{people_services.invitation_token(invitation)}/"

    page.goto(link)  # not signed in: no form to act for the account, only a way to sign in
    expect(page.locator("#invitation")).to_contain_text("Sign in to it")
    expect(page.locator("#accept")).to_have_count(0)

    login(page, live_server.url, "ana")
    page.goto(f"{live_server.url}/institutions/")
    expect(page.locator("#invitations-waiting")).to_contain_text("Other Institute")
    page.click("#invitations-waiting a:has-text('Answer')")
    expect(page.locator("#invitation")).to_contain_text("Other Institute invites")
    page.screenshot(path=str(artifacts / "people-invitation-answer.png"), full_page=True)
    page.click("#accept")
    expect(page.locator(".messages")).to_contain_text("You are now a member of Other Institute")
    assert Membership.objects.filter(user=person, institution=other).exists()
