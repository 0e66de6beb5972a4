"""Staff revocation in Debian's chromium: an instructor opens the run's certificates page,
issues to everyone who passed (the job page follows the progress to done), opens one
credential, is refused a revocation without a reason, revokes with one, and the credential's
public page then says it is revoked."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from academy.celery import app
from academy.models import Role
from courses.models import CourseStaff, StaffRole
from credentials import services, verification
from credentials.models import Credential, IssuanceJob
from tests.browser.support import login
from tests.factories import CourseFactory, InstitutionFactory, member
from tests.programmes.conftest import passed, result

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager_tasks():  # type: ignore[no-untyped-def]
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_instructor_issues_to_everyone_then_revokes_one(
    live_server, page: Page, artifacts, eager_tasks
):
    school = InstitutionFactory(name="University A", slug="uni-a")
    teacher = member(
        school, Role.INSTRUCTOR, username="teacher", first_name="Tea", last_name="Cher"
    )
    course = CourseFactory(code="GPU101", title="GPU computing fundamentals")
    ana = member(school, Role.STUDENT, username="ana", first_name="Ana", last_name="Anić")
    run = passed(ana, course, 91)
    boris = member(school, Role.STUDENT, username="boris", first_name="Boris", last_name="Bor")
    result(boris, run, 75)
    cveta = member(school, Role.STUDENT, username="cveta", first_name="Cveta", last_name="Cvet")
    result(cveta, run, 30)
    CourseStaff.objects.create(run=run, user=teacher, role=StaffRole.INSTRUCTOR)
    base = live_server.url

    login(page, base, "teacher")
    page.goto(f"{base}/runs/{run.pk}/")
    page.click("text=Certificates")
    expect(page.locator("#summary")).to_contain_text("Passed, not issued: 2")
    page.screenshot(path=str(artifacts / "credentials-staff-run.png"), full_page=True)

    page.click("text=Issue certificates to everyone who passed")
    expect(page).to_have_url(re.compile(r"/credentials/jobs/\d+/$"))
    expect(page.locator("#job-done")).to_be_visible()
    expect(page.locator("#job-done")).to_contain_text("Done")
    expect(page.locator("#job-issued")).to_have_text("2")
    expect(page.locator("#job-ineligible")).to_have_text("1")
    assert page.locator("#job-progress").get_attribute("value") == "100"
    page.screenshot(path=str(artifacts / "credentials-staff-job.png"), full_page=True)
    assert Credential.objects.filter(run=run).count() == 2

    page.click("text=← Certificates")
    expect(page.locator("#summary")).to_contain_text("Hold the certificate: 2")
    page.locator(f"#person-{ana.pk} a").click()
    expect(page.locator("h1")).to_contain_text("GPU computing fundamentals")
    expect(page.locator("#audit-trail")).to_contain_text("credential.issue")

    # no reason: refused, nothing revoked
    page.check("#revoke-confirm")
    page.click("#revoke-form button[type=submit]")
    expect(page.locator("#revoke-error")).to_contain_text("Give a reason")
    page.screenshot(path=str(artifacts / "credentials-staff-revoke-refused.png"), full_page=True)
    credential = Credential.objects.get(user=ana, run=run)
    assert credential.revoked_at is None

    page.fill("#revoke-reason", "Plagiarised the final lab")
    page.check("#revoke-confirm")
    page.click("#revoke-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("revoked")
    expect(page.locator("#credential-state")).to_contain_text("Plagiarised the final lab")
    expect(page.locator("#audit-trail")).to_contain_text("credential.revoke")
    page.screenshot(path=str(artifacts / "credentials-staff-revoked.png"), full_page=True)

    credential.refresh_from_db()
    assert verification.verify(credential.document).verdict == verification.REVOKED
    page.goto(f"{base}/credentials/{credential.uuid}/")
    expect(page.locator("main")).to_contain_text("Revoked")
    page.screenshot(path=str(artifacts / "credentials-staff-public.png"), full_page=True)


def test_job_page_follows_the_progress_by_polling(live_server, page: Page, artifacts):
    """The page is opened while the job waits in the queue; the worker then runs it, and the
    page (job.js polling the JSON status) shows the counts and "Done" without a reload."""
    school = InstitutionFactory(name="University A", slug="uni-a")
    teacher = member(school, Role.INSTRUCTOR, username="teacher")
    course = CourseFactory(code="GPU101", title="GPU computing fundamentals")
    ana = member(school, Role.STUDENT, username="ana")
    run = passed(ana, course, 91)
    result(member(school, Role.STUDENT, username="boris"), run, 20)
    CourseStaff.objects.create(run=run, user=teacher, role=StaffRole.INSTRUCTOR)
    job = IssuanceJob.objects.create(kind="course", run=run, created_by=teacher)

    login(page, live_server.url, "teacher")
    page.goto(f"{live_server.url}/credentials/jobs/{job.pk}/")
    expect(page.locator("#job-status")).to_have_text("Queued")
    expect(page.locator("#job-done")).to_be_hidden()
    page.screenshot(path=str(artifacts / "credentials-staff-job-queued.png"), full_page=True)

    services.run_job(job.pk)
    expect(page.locator("#job-done")).to_contain_text("Done", timeout=10_000)
    expect(page.locator("#job-status")).to_have_text("Done")
    expect(page.locator("#job-issued")).to_have_text("1")
    expect(page.locator("#job-ineligible")).to_have_text("1")
    assert page.locator("#job-progress").evaluate("el => el.value") == 100
    page.screenshot(path=str(artifacts / "credentials-staff-job-polled.png"), full_page=True)


def test_admin_sees_their_people_and_the_credential_list(live_server, page: Page, artifacts):
    from credentials import services as credential_services

    school = InstitutionFactory(name="University A", slug="uni-a")
    other = InstitutionFactory(name="University B", slug="uni-b")
    member(school, Role.ADMIN, username="boss")
    course = CourseFactory(code="GPU101", title="GPU computing fundamentals")
    ana = member(school, Role.STUDENT, username="ana", first_name="Ana", last_name="Anić")
    run = passed(ana, course, 91)
    member(school, Role.STUDENT, username="boris", first_name="Boris", last_name="Bor")
    bea = member(other, Role.STUDENT, username="bea", first_name="Bea", last_name="Bee")
    result(bea, run, 95)
    mine, _ = credential_services.issue_for_run(actor=None, user=ana, run=run)
    theirs, _ = credential_services.issue_for_run(actor=None, user=bea, run=run)

    login(page, live_server.url, "boss")
    page.goto(f"{live_server.url}/institutions/uni-a/")
    page.click("a[href='/institutions/uni-a/credentials/']")
    expect(page.locator("#people")).to_contain_text("Ana Anić")
    expect(page.locator("#people")).to_contain_text("Boris Bor")
    expect(page.locator("#people")).not_to_contain_text("Bea")
    page.screenshot(path=str(artifacts / "credentials-staff-institution.png"), full_page=True)

    page.goto(f"{live_server.url}/credentials/manage/")
    expect(page.locator(f"#credential-{mine.uuid}")).to_be_visible()
    expect(page.locator(f"#credential-{theirs.uuid}")).to_have_count(0)
    page.screenshot(path=str(artifacts / "credentials-staff-list.png"), full_page=True)
