"""The acceptance stories, in Debian's chromium."""

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from academy.models import Role
from courses import services
from courses.models import Enrolment
from tests.browser.support import login
from tests.factories import (
    TINY_PNG,
    CohortFactory,
    CourseFactory,
    CourseRunFactory,
    CourseStaffFactory,
    InstitutionFactory,
    UserFactory,
    member,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_student_searches_enrols_is_waitlisted_and_promoted(live_server, page: Page, artifacts):
    institution = InstitutionFactory()
    student = member(institution, Role.STUDENT, username="ana")
    occupant = UserFactory()
    CourseRunFactory(course=CourseFactory(code="PY100", title="Python for scientists"))
    full = CourseRunFactory(
        course=CourseFactory(code="LLM300", title="Fine-tuning large language models"),
        capacity=1,
        title="Spring 2027",
    )
    seat = services.enrolment_request(run=full, user=occupant)

    login(page, live_server.url, "ana")
    page.click("text=Catalogue")
    page.fill("input[name=q]", "python")
    page.click("form[role=search] button[type=submit]")
    expect(page.locator("#courses article")).to_have_count(1)
    page.click("text=Python for scientists")
    page.click("#runs button:has-text('Enrol')")
    expect(page.locator(".messages")).to_contain_text("You are enrolled.")

    page.goto(f"{live_server.url}/courses/?q=language+models")
    page.click("text=Fine-tuning large language models")
    expect(page.locator("#runs")).to_contain_text("0 seats left")
    expect(page.locator("#runs")).to_contain_text("you will join the waitlist")
    page.click("#runs button:has-text('Join the waitlist')")
    expect(page.locator(".messages")).to_contain_text("number 1 on the waitlist")
    expect(page.locator(".enrolment-state")).to_have_text("Waitlisted")
    page.screenshot(path=str(artifacts / "courses-waitlisted.png"), full_page=True)

    services.enrolment_withdraw(enrolment=seat, actor=occupant)  # a seat frees

    page.goto(f"{live_server.url}/")
    row = page.locator(f"#my-courses tr[data-run='{full.pk}']")
    expect(row.locator(".enrolment-state")).to_have_text("Active")
    page.screenshot(path=str(artifacts / "courses-promoted-dashboard.png"), full_page=True)
    assert Enrolment.objects.get(run=full, user=student).state == "active"
    assert any("seat is yours" in m.subject and m.to == [student.email] for m in mail.outbox)


def test_institution_admin_uploads_fixes_and_applies(live_server, page: Page, artifacts, tmp_path):
    institution = InstitutionFactory(slug="uni-x", name="University X")
    CohortFactory(institution=institution, name="AI 2027")
    member(institution, Role.ADMIN, username="admin")
    # A member of University X (accepted earlier): enrolled at once; the others are invited.
    member(institution, Role.STUDENT, email="known@example.org")
    run = CourseRunFactory(course=CourseFactory(code="GPU200", title="CUDA basics"), capacity=10)
    bad = tmp_path / "people.csv"
    bad.write_text(
        "email,first_name,last_name,cohort\n"
        "known@example.org,Kim,Known,AI 2027\n"
        "new.person@example.org,Nea,New,AI 2027\n"
        "not-an-email,X,Y,AI 2027\n"
        "other@example.org,O,T,AI 2099\n"
    )
    good = tmp_path / "people-fixed.csv"
    good.write_text(
        "email,first_name,last_name,cohort\n"
        "known@example.org,Kim,Known,AI 2027\n"
        "new.person@example.org,Nea,New,AI 2027\n"
        "fixed@example.org,X,Y,AI 2027\n"
        "other@example.org,O,T,AI 2027\n"
    )

    login(page, live_server.url, "admin")
    page.goto(f"{live_server.url}/institutions/uni-x/")
    page.click("text=Bulk enrolment (CSV)")
    page.select_option("#run", str(run.pk))
    page.set_input_files("#file", str(bad))
    page.click("button:has-text('Preview')")
    lines = page.locator("#lines tbody tr")
    expect(lines).to_have_count(4)
    expect(lines.nth(2)).to_contain_text("Not a valid e-mail address")
    expect(lines.nth(3)).to_contain_text("Unknown cohort")
    expect(page.locator("main")).to_contain_text("2 lines have errors")
    page.screenshot(path=str(artifacts / "courses-bulk-errors.png"), full_page=True)

    page.click("text=Upload another file")
    page.select_option("#run", str(run.pk))
    page.set_input_files("#file", str(good))
    page.click("button:has-text('Preview')")
    expect(page.locator("#lines tr.outcome-error")).to_have_count(0)
    page.click("#apply")
    expect(page.locator(".messages")).to_contain_text("Applied: 4 change(s)")
    expect(page.locator("#nothing-to-do")).to_be_visible()
    assert Enrolment.objects.filter(run=run, state="active").count() == 1
    assert run.reservations.count() == 3


def test_instructor_approves_a_pending_request(live_server, page: Page, artifacts):
    institution = InstitutionFactory()
    instructor = member(institution, Role.INSTRUCTOR, username="teacher")
    student = member(
        institution, Role.STUDENT, username="mila", first_name="Mila", last_name="Pending"
    )
    run = CourseRunFactory(
        course=CourseFactory(code="HPC400", title="MPI at scale"), policy="approval"
    )
    CourseStaffFactory(run=run, user=instructor)
    enrolment = services.enrolment_request(run=run, user=student)

    login(page, live_server.url, "teacher")
    expect(page.locator("#my-runs")).to_contain_text("HPC400")
    page.click("#my-runs >> text=Roster")
    row = page.locator(f"#enrolment-{enrolment.pk}")
    expect(row).to_contain_text("Pending approval")
    row.locator("button:has-text('Approve')").click()
    expect(page.locator(".messages")).to_contain_text("Mila Pending is now Active")
    expect(page.locator(f"#enrolment-{enrolment.pk}")).to_contain_text("Active")
    page.screenshot(path=str(artifacts / "courses-roster-approved.png"), full_page=True)
    enrolment.refresh_from_db()
    assert enrolment.state == "active"


def test_instructor_writes_a_lesson_and_a_student_reads_it(
    live_server, page: Page, artifacts, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    institution = InstitutionFactory()
    instructor = member(institution, Role.INSTRUCTOR, username="author")
    student = member(institution, Role.STUDENT, username="reader")
    run = CourseRunFactory(course=CourseFactory(code="GPU101", title="GPUs from zero"))
    CourseStaffFactory(run=run, user=instructor)
    services.enrolment_request(run=run, user=student)
    image = tmp_path / "speedup.png"
    image.write_bytes(TINY_PNG)

    login(page, live_server.url, "author")
    page.click("#my-runs >> text=Content")
    expect(page.locator("main")).to_contain_text("This run has no content yet")
    page.fill("input[name=module-title]", "Getting started")
    page.click("button:has-text('Add module')")
    expect(page.locator(".messages")).to_contain_text("Module “Getting started” added.")
    page.fill("input[placeholder='New lesson title']", "Your first GPU job")
    page.click("button:has-text('Add lesson')")

    expect(page.locator("h1")).to_contain_text("Edit lesson")
    page.set_input_files("input[type=file]", str(image))
    page.click("button:has-text('Upload')")
    expect(page.locator(".messages")).to_contain_text("File “speedup.png” added.")
    snippet = page.locator("#files code").first.inner_text()
    page.fill(
        "#id_body",
        "## Check the GPU\n\n```python\nimport torch\nprint(torch.cuda.device_count())\n```\n\n"
        + snippet,
    )
    page.click("button:has-text('Preview')")
    expect(page.locator("#lesson-preview h2")).to_have_text("Check the GPU")
    expect(page.locator("#lesson-preview img")).to_be_visible()
    page.screenshot(path=str(artifacts / "courses-lesson-editor.png"), full_page=True)
    page.click("#lesson-form button:has-text('Save')")
    expect(page.locator(".messages")).to_contain_text("Lesson saved.")
    page.click("text=← Content")
    page.screenshot(path=str(artifacts / "courses-content-outline.png"), full_page=True)

    page.context.clear_cookies()
    login(page, live_server.url, "reader")
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    page.click("text=Your first GPU job")
    expect(page.locator(".course-body .codehilite")).to_contain_text("torch.cuda.device_count")
    img = page.locator(".course-body img")
    expect(img).to_be_visible()
    assert img.evaluate("i => i.naturalWidth") == 1  # the file itself was served, not a 403
    expect(page.locator("main")).not_to_contain_text("Edit")


def test_instructor_adds_seats_and_an_invite_code(live_server, page: Page, artifacts):
    institution = InstitutionFactory()
    instructor = member(institution, Role.INSTRUCTOR, username="seats")
    run = CourseRunFactory(
        course=CourseFactory(code="LLM300", title="Fine-tuning LLMs"), capacity=1, policy="invite"
    )
    CourseStaffFactory(run=run, user=instructor)
    services.invite_code_create(run=run, actor=instructor, code="FIRST-WAVE")
    waiting = [UserFactory(first_name="Wait", last_name=str(i)) for i in range(3)]
    for user in waiting:
        services.enrolment_request(run=run, user=user, invite_code="FIRST-WAVE")

    login(page, live_server.url, "seats")
    page.goto(f"{live_server.url}/teaching/")
    page.click("text=Settings")
    expect(page.locator("#seats")).to_contain_text("Waitlisted: 2")
    page.fill("#id_seats-capacity", "2")
    page.click("button:has-text('Save seats')")
    expect(page.locator(".messages")).to_contain_text("1 person(s) promoted from the waitlist.")
    expect(page.locator("#seats")).to_contain_text("Waitlisted: 1")

    page.fill("#id_invite-code", "SECOND-WAVE")
    page.fill("#id_invite-max_uses", "25")
    page.click("button:has-text('Create code')")
    expect(page.locator("#invite-codes")).to_contain_text("SECOND-WAVE")
    page.locator("tr:has-text('FIRST-WAVE') button:has-text('Switch off')").click()
    expect(page.locator("tr:has-text('FIRST-WAVE')")).to_contain_text("Switched off")

    row = page.locator("#categories tbody tr").last
    row.locator("input[name$='-name']").fill("Labs")
    row.locator("input[name$='-weight']").fill("100")
    row.locator("input[name$='-drop_lowest']").fill("1")
    page.fill("#id_policy-pass_mark", "65")
    page.click("button:has-text('Save grading policy')")
    expect(page.locator(".messages")).to_contain_text("Grading policy saved.")
    expect(page.locator("#categories input[value='Labs']")).to_have_count(1)
    page.screenshot(path=str(artifacts / "courses-run-settings.png"), full_page=True)
    run.refresh_from_db()
    assert run.pass_mark == 65
    assert list(run.categories.values_list("name", "drop_lowest")) == [("Labs", 1)]
    assert Enrolment.objects.filter(run=run, state="active").count() == 2
