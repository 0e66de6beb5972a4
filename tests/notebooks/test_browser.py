"""The whole lab journey in Chromium: the instructor uploads an invalid notebook (per-cell
errors), a valid one, releases it; the student downloads, submits and watches queued -> graded
without reloading; the instructor grades the manual cell from the keyboard; the student sees
feedback without hidden tests; the gradebook shows the total after the late penalty.

Grading takes the real path: the submission is enqueued after commit to the Redis broker, and a
real Celery worker (tests/worker.py) started once the page shows "queued" grades it; the page must
pick the change up by polling.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from notebooks.models import LabVersion
from tests.browser.support import login
from tests.worker import routed_worker

from .factories import LabFactory, small_lab, with_answer


@pytest.fixture
def worker(tmp_path):  # type: ignore[no-untyped-def]
    """A real worker on this test's queue, not started yet; its private file root is this
    test's (tests/notebooks/conftest.py)."""
    with routed_worker({"ACADEMY_VAR_DIR": str(tmp_path)}, started=False) as worker:
        yield worker


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_lab_journey(page: Page, live_server, course, artifacts, tmp_path, worker):  # type: ignore[no-untyped-def]
    base = live_server.url
    people = course.people
    lab = LabFactory(
        run=course.run,
        title="Doubling",
        due_at=timezone.now() - timedelta(minutes=30),
        late_policy="per_hour",
        late_penalty_percent=10,
    )
    source = small_lab(manual=True)
    bad = tmp_path / "bad.ipynb"
    bad.write_bytes(source.replace(b'"grade_id": "explain"', b'"grade_id": "test_double"'))
    good = tmp_path / "doubling.ipynb"
    good.write_bytes(source)

    # The instructor: invalid upload -> per-cell errors; valid upload; release.
    login(page, base, people.instructor.username)
    page.goto(f"{base}/labs/{lab.pk}/")
    page.set_input_files("#upload-source input[type=file]", str(bad))
    page.click("#upload-source button[type=submit]")
    expect(page.locator(".cell-errors")).to_contain_text("duplicate grade_id")
    expect(page.locator(".cell-error")).to_have_count(1)
    page.screenshot(path=str(artifacts / "labs-1-invalid-upload.png"), full_page=True)
    page.set_input_files("#upload-source input[type=file]", str(good))
    page.click("#upload-source button[type=submit]")
    expect(page.locator("tr.version")).to_have_count(1)
    # Release goes through the version's page (changes, test, release); untested, it says so.
    page.click("tr.version a:has-text('v1')")
    expect(page.locator("#release-card")).to_contain_text("not been tested")
    page.click("#release-version")
    expect(page.locator("#released")).to_contain_text("v1")
    page.screenshot(path=str(artifacts / "labs-2-released.png"), full_page=True)

    # The student: download, fill in, submit, watch the status change without reloading.
    login(page, base, people.student.username)
    page.goto(f"{base}/labs/{lab.pk}/")
    with page.expect_download() as info:
        page.click("#download")
    released = Path(info.value.path()).read_bytes()
    assert b"HIDDEN" not in released and b"return 2 * x" not in released
    answer = with_answer(released, "answer", "def double(x):\n    return x + x")
    answer = with_answer(answer, "explain", "It adds the number to itself.")
    mine = tmp_path / "mine.ipynb"
    mine.write_bytes(answer)
    page.set_input_files("#submit-form input[type=file]", str(mine))
    page.click("#submit-form button[type=submit]")
    status = page.locator("tr.submission .submission-status [data-status]")
    expect(status).to_have_attribute("data-status", "queued")
    page.screenshot(path=str(artifacts / "labs-3-queued.png"), full_page=True)
    page.evaluate("window.__same_page = true")
    worker.start()  # the task has waited in the broker; the worker takes it now
    expect(status).to_have_attribute("data-status", "needs_manual", timeout=60_000)
    assert page.evaluate("window.__same_page") is True  # no reload happened
    page.screenshot(path=str(artifacts / "labs-4-needs-manual.png"), full_page=True)

    # The instructor grades the manual cell with the keyboard (type the score, Enter).
    login(page, base, people.instructor.username)
    page.goto(f"{base}/labs/{lab.pk}/grading/")
    expect(page.locator(".nb-current")).to_contain_text("adds the number to itself")
    page.screenshot(path=str(artifacts / "labs-5-manual-grading.png"), full_page=True)
    page.fill("#id_score", "2")
    page.fill("#id_comment", "Clear explanation.")
    page.focus("#id_score")
    page.keyboard.press("Enter")
    expect(page.locator("#queue-empty")).to_be_visible()

    # The student sees the feedback, without the hidden test.
    login(page, base, people.student.username)
    page.goto(f"{base}/labs/{lab.pk}/")
    expect(page.locator(".score")).to_contain_text("3 / 3")
    page.click("text=Details and feedback")
    feedback = page.locator("#feedback")
    expect(feedback).to_contain_text("Clear explanation.")
    expect(feedback.locator(".feedback-cell")).to_have_count(2)
    html = page.content()
    assert "double(21)" not in html and "HIDDEN" not in html
    page.screenshot(path=str(artifacts / "labs-6-feedback.png"), full_page=True)

    # The gradebook: 100 % before, 90 % after one started hour late at 10 % per hour.
    login(page, base, people.instructor.username)
    page.goto(f"{base}/runs/{course.run.pk}/gradebook/")
    row = page.locator(f'#gradebook tr[data-student="{people.student.username}"]')
    expect(row.locator(".late-penalty")).to_contain_text("10")
    expect(row.locator(".course-grade")).to_contain_text("90 %")
    page.wait_for_timeout(500)  # the chart draws after DOMContentLoaded
    page.screenshot(path=str(artifacts / "labs-7-gradebook.png"), full_page=True)
    assert LabVersion.objects.filter(lab=lab).count() == 1
