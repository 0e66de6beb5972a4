"""The grading queue in Chromium (issue 15): a student's card shows their place in the queue
and an estimate, and follows it without reloading; an instructor regrades a lab, watches the
progress bar move and cancels the regrade, every submission keeping a score.

Messages go to a worker queue of this test that no worker consumes: the gradings are recorded
by hand (as in test_grading_queue), so the page's polling is what is tested."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import Page, expect

from notebooks.models import GradingTicket, Submission
from tests.browser.support import login
from tests.worker import routed_worker

from .factories import small_lab
from .test_grading_queue import claim, grade_by_hand, released_lab, students, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def idle_queue(tmp_path):  # type: ignore[no-untyped-def]
    cache.clear()
    with routed_worker({"ACADEMY_VAR_DIR": str(tmp_path)}, started=False) as worker:
        yield worker


def test_the_card_shows_the_place_in_the_queue(
    page: Page, live_server, course, artifacts, tmp_path
):  # type: ignore[no-untyped-def]
    base = live_server.url
    lab = released_lab(course.run, course.people.instructor, title="Deadline rush")
    for person in students(course.run, 5, "early"):
        submit(lab, person)
    # a recent grading, 40 s long: the estimate's basis
    done = claim()
    GradingTicket.objects.filter(pk=done.pk).update(
        claimed_at=timezone.now() - timedelta(seconds=40)
    )
    grade_by_hand(done, 1)

    login(page, base, course.people.student.username)
    page.goto(f"{base}/labs/{lab.pk}/")
    notebook = tmp_path / "mine.ipynb"
    notebook.write_bytes(small_lab())
    page.set_input_files("#submit-form input[type=file]", str(notebook))
    page.click("#submit-form button[type=submit]")
    place = page.locator("tr.submission .queue-place")
    expect(place).to_contain_text("place in the queue: 5")
    expect(place).to_contain_text("score in about 4 minutes")
    page.screenshot(path=str(artifacts / "queue-1-place.png"), full_page=True)

    # Two gradings ahead of it finish: the card follows without a reload.
    for _ in range(2):
        grade_by_hand(claim(), 1)
    expect(place).to_contain_text("place in the queue: 3", timeout=15_000)
    page.screenshot(path=str(artifacts / "queue-2-moved.png"), full_page=True)

    # Its turn: graded, the place gives way to the score.
    while (ticket := claim()) is not None:
        grade_by_hand(ticket, 1)
    expect(page.locator("tr.submission .score")).to_contain_text("1 / 1", timeout=15_000)
    expect(place).to_have_count(0)


def test_a_regrade_shows_progress_and_can_be_cancelled(page: Page, live_server, course, artifacts):  # type: ignore[no-untyped-def]
    base = live_server.url
    lab = released_lab(course.run, course.people.instructor, title="Regraded lab")
    for person in students(course.run, 5, "reg"):
        submit(lab, person)
    while (ticket := claim()) is not None:
        grade_by_hand(ticket, 0.5)

    login(page, base, course.people.instructor.username)
    page.goto(f"{base}/labs/{lab.pk}/")
    page.click("#regrade-all")
    counts = page.locator("#regrade-counts")
    expect(counts).to_contain_text("0 of 5 regraded")
    expect(counts).to_contain_text("5 waiting")
    expect(page.locator("#regrade-bar")).to_have_attribute("value", "0")

    grade_by_hand(claim(), 1)
    grade_by_hand(claim(), 1)
    under_way = claim()  # a worker is on it when the cancel comes
    expect(counts).to_contain_text("2 of 5 regraded", timeout=15_000)
    expect(counts).to_contain_text("1 grading")
    expect(page.locator("#regrade-bar")).to_have_attribute("value", "40")
    page.screenshot(path=str(artifacts / "regrade-1-progress.png"), full_page=True)

    page.click("#regrade-cancel")
    expect(page.locator("#regrade-state")).to_have_text("Cancelled")
    expect(counts).to_contain_text("2 cancelled (earlier score kept)")
    expect(page.locator("#regrade-cancel")).to_have_count(0)
    grade_by_hand(under_way, 0.75)
    page.reload()
    expect(counts).to_contain_text("3 of 5 regraded")
    scores = page.locator(".submission-status .score")
    expect(scores).to_have_count(5)  # every submission shows a score, old or new
    page.screenshot(path=str(artifacts / "regrade-2-cancelled.png"), full_page=True)
    assert sorted(str(s) for s in Submission.objects.values_list("score", flat=True)) == [
        "0.50",
        "0.50",
        "0.75",
        "1.00",
        "1.00",
    ]
