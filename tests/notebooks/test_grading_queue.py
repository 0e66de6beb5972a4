"""The grading queue (issue 15): supersession, fair lanes, places in the queue, redelivery and
leases, the sweep, and a whole lab's regrade with cancel.  Gradings are recorded by hand here
(the grader itself is covered elsewhere): what is tested is who is graded, in what order."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courses.models import Enrolment, EnrolmentState
from notebooks import queue, selectors, services
from notebooks.grading import GradeResult
from notebooks.models import (
    GradingRun,
    GradingTicket,
    LabRegradeState,
    Submission,
    SubmissionStatus,
    TicketKind,
    TicketState,
)
from notebooks.tasks import grade_submission
from tests.factories import UserFactory

from .factories import LabFactory, small_lab

pytestmark = pytest.mark.django_db


def released_lab(run, instructor, **fields):  # type: ignore[no-untyped-def]
    lab = LabFactory(run=run, **fields)
    services.lab_version_upload(actor=instructor, lab=lab, content=small_lab())
    services.lab_release(actor=instructor, lab=lab)
    lab.refresh_from_db()
    return lab


def students(run, n, prefix="s"):  # type: ignore[no-untyped-def]
    people = [UserFactory(username=f"{prefix}{i}-{uuid.uuid4().hex[:6]}") for i in range(n)]
    Enrolment.objects.bulk_create(
        Enrolment(run=run, user=p, state=EnrolmentState.ACTIVE) for p in people
    )
    return people


def submit(lab, student):  # type: ignore[no-untyped-def]
    """A submission queued, its message not sent (no worker here)."""
    return services.submission_create(actor=student, lab=lab, content=small_lab())


def grade_by_hand(ticket, score):  # type: ignore[no-untyped-def]
    """What a worker does with a claimed ticket, with a result given instead of graded."""
    sub = Submission.objects.select_related("lab__released_version").get(pk=ticket.submission_id)
    GradingRun.objects.get_or_create(
        submission=sub, number=ticket.number, lab_version=sub.lab.released_version
    )
    services.grading_run_record(
        submission_id=sub.pk,
        number=ticket.number,
        result=GradeResult(score=score, max_score=1, needs_manual=False),
    )
    queue.finish(ticket_id=ticket.pk, state=TicketState.DONE)


def claim():  # type: ignore[no-untyped-def]
    return queue.claim(token=uuid.uuid4().hex, worker="test")


@pytest.fixture(autouse=True)
def _fresh_snapshot():  # type: ignore[no-untyped-def]
    cache.clear()  # the queue snapshot a page reads is cached for a few seconds


@pytest.fixture
def rush(course):  # type: ignore[no-untyped-def]
    return released_lab(course.run, course.people.instructor, title="Rush lab")


# ------------------------------------------------------------------------- supersession


def test_a_newer_submission_supersedes_the_queued_one_and_only_the_latest_is_graded(
    rush, course, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    student = course.people.student
    first = submit(rush, student)
    second = submit(rush, student)
    first.refresh_from_db()
    assert first.status == SubmissionStatus.SUPERSEDED and first.is_final
    assert "attempt 2" in first.reason
    assert GradingTicket.objects.get(submission=first).state == TicketState.SUPERSEDED
    # Two messages were sent (one per submission): the first grades the latest, the second
    # finds nothing left to do.
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [grade_submission.apply(args=(s.pk, 1)).get() for s in (first, second)]
    assert statuses == [SubmissionStatus.GRADED, "idle"]
    second.refresh_from_db()
    assert second.status == SubmissionStatus.GRADED and second.score == Decimal(1)
    assert not GradingRun.objects.filter(submission=first).exists()


def test_a_submission_already_being_graded_is_not_superseded(rush, course):  # type: ignore[no-untyped-def]
    student = course.people.student
    first = submit(rush, student)
    assert claim().submission_id == first.pk  # a worker took it
    submit(rush, student)
    first.refresh_from_db()
    assert first.status == SubmissionStatus.QUEUED
    assert GradingTicket.objects.get(submission=first).state == TicketState.RUNNING


def test_supersession_is_a_lab_setting(course):  # type: ignore[no-untyped-def]
    lab = released_lab(course.run, course.people.instructor, skip_superseded=False)
    first = submit(lab, course.people.student)
    submit(lab, course.people.student)
    first.refresh_from_db()
    assert first.status == SubmissionStatus.QUEUED
    assert GradingTicket.objects.filter(lab=lab, state=TicketState.QUEUED).count() == 2


# ------------------------------------------------------------------------------ fairness


def test_one_labs_rush_does_not_starve_another_lab(course):  # type: ignore[no-untyped-def]
    instructor = course.people.instructor
    big = released_lab(course.run, instructor, title="Big")
    small = released_lab(course.run, instructor, title="Small")
    for student in students(course.run, 8, "big"):
        submit(big, student)
    for student in students(course.run, 3, "small"):
        submit(small, student)  # all after the big lab's rush
    order = []
    while (ticket := claim()) is not None:
        order.append("B" if ticket.lab_id == big.pk else "s")
        grade_by_hand(ticket, 1)
    # Served in turn, not first come first served (which would be 8 B then 3 s).
    assert "".join(order) == "BsBsBsBBBBB"


def test_runs_take_turns_before_labs_within_a_run(course):  # type: ignore[no-untyped-def]
    instructor = course.people.instructor
    a1 = released_lab(course.run, instructor, title="A1")
    a2 = released_lab(course.run, instructor, title="A2")
    b = released_lab(course.other_run, course.other_instructor, title="B")
    names = {a1.pk: "1", a2.pk: "2", b.pk: "b"}
    for lab, n in ((a1, 3), (a2, 3), (b, 3)):
        for student in students(lab.run, n, f"l{lab.pk}-"):
            submit(lab, student)
    order = []
    while (ticket := claim()) is not None:
        order.append(names[ticket.lab_id])
        grade_by_hand(ticket, 1)
    # Run A and run B alternate; within run A its two labs alternate.
    assert "".join(order) == "1b2b1b212"


def test_places_in_the_queue_are_the_order_claims_take(course):  # type: ignore[no-untyped-def]
    instructor = course.people.instructor
    big = released_lab(course.run, instructor, title="Big")
    small = released_lab(course.run, instructor, title="Small")
    subs = [submit(big, s) for s in students(course.run, 6, "big")]
    subs += [submit(small, s) for s in students(course.run, 2, "small")]
    grade_by_hand(claim(), 1)  # the big lab was served last: the small one goes next
    waiting = [s for s in subs if Submission.objects.get(pk=s.pk).status == SubmissionStatus.QUEUED]
    places = queue.places([s.pk for s in waiting])
    assert sorted(p.position for p in places.values()) == list(range(1, 8))
    taken = []
    while (ticket := claim()) is not None:
        taken.append(ticket.submission_id)
        grade_by_hand(ticket, 1)
    assert [taken.index(pk) + 1 for pk in places] == [p.position for p in places.values()]


def test_the_estimate_comes_from_recent_grading_durations(rush, course):  # type: ignore[no-untyped-def]
    subs = [submit(rush, s) for s in students(course.run, 4)]
    ticket = claim()
    GradingTicket.objects.filter(pk=ticket.pk).update(
        claimed_at=timezone.now() - timedelta(seconds=30)
    )
    grade_by_hand(ticket, 1)
    place = queue.places([subs[3].pk])[subs[3].pk]
    assert place.position == 3 and place.ahead == 2
    # 30 s per grading, nothing running now (parallelism 1): three gradings, about 90 s.
    assert 80 <= place.estimate_seconds <= 100 and place.estimate_minutes == 2


def test_the_cards_show_places_with_a_constant_number_of_queries(
    rush, course, django_assert_max_num_queries
):  # type: ignore[no-untyped-def]
    for s in students(course.run, 20):
        submit(rush, s)
    subs = list(Submission.objects.filter(lab=rush))
    # the waiting tickets, their lanes' order (many: one read), the snapshot's lanes (2),
    # running count, recent durations
    with django_assert_max_num_queries(6):
        placed = selectors.with_queue_places(subs)
    assert sorted(s.place.position for s in placed) == list(range(1, 21))


# ------------------------------------------------------------- redelivery, lease, sweep


def test_a_redelivered_message_continues_its_own_ticket(rush, course):  # type: ignore[no-untyped-def]
    submit(rush, course.people.student)
    submit(rush, course.people.student_b)
    first = queue.claim(token="message-1")
    again = queue.claim(token="message-1")  # the worker died; the broker delivers it again
    assert again.pk == first.pk and again.claims == 2
    grade_by_hand(again, 1)
    assert queue.claim(token="message-1") is None  # its work is done: nothing more


def test_a_ticket_whose_lease_ran_out_is_taken_over(rush, course):  # type: ignore[no-untyped-def]
    submit(rush, course.people.student)
    first = claim()
    assert claim() is None
    GradingTicket.objects.filter(pk=first.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    taken = claim()
    assert taken.pk == first.pk and taken.claims == 2


def test_the_sweep_sends_messages_only_when_the_queue_stood_still(
    rush, course, settings, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    settings.GRADING_QUEUE_STALL_SECONDS = 60
    for s in students(course.run, 3):
        submit(rush, s)
    assert queue.sweep(waiting_messages=0) == 0  # just queued: their messages are on the way
    long_ago = timezone.now() - timedelta(minutes=5)
    GradingTicket.objects.update(queued_at=long_ago, token_sent_at=long_ago)
    assert queue.sweep(waiting_messages=3) == 0  # the broker holds a message for each
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert queue.sweep(waiting_messages=1) == 2
    assert len(sent) == 2


# ----------------------------------------------------------------------------- regrades


def graded_lab(course, n=3):  # type: ignore[no-untyped-def]
    lab = released_lab(course.run, course.people.instructor)
    subs = [submit(lab, s) for s in students(course.run, n)]
    while (ticket := claim()) is not None:
        grade_by_hand(ticket, 0.5)
    return lab, subs


def test_a_regrade_leaves_submissions_untouched_until_a_worker_takes_them(course):  # type: ignore[no-untyped-def]
    lab, subs = graded_lab(course)
    regrade = services.lab_regrade(actor=course.people.instructor, lab=lab)
    assert regrade.total == 3 and regrade.state == LabRegradeState.RUNNING
    for sub in Submission.objects.filter(pk__in=[s.pk for s in subs]):
        assert (sub.status, sub.score, sub.grading_number) == ("graded", Decimal("0.50"), 1)
    with pytest.raises(services.RegradeUnderWay):
        services.lab_regrade(actor=course.people.instructor, lab=lab)


def test_new_submissions_go_before_a_regrade_of_their_lab(course):  # type: ignore[no-untyped-def]
    lab, _subs = graded_lab(course)
    services.lab_regrade(actor=course.people.instructor, lab=lab)
    late = submit(lab, course.people.student)
    assert claim().submission_id == late.pk


def test_a_cancelled_regrade_leaves_every_score_old_or_new_never_none(course):  # type: ignore[no-untyped-def]
    lab, subs = graded_lab(course, n=4)
    regrade = services.lab_regrade(actor=course.people.instructor, lab=lab)
    grade_by_hand(claim(), 1)  # regraded
    under_way = claim()  # a worker is grading this one when the cancel comes
    assert under_way.kind == TicketKind.REGRADE and under_way.number == 2
    progress = selectors.regrade_progress(regrade)
    assert (progress.regraded, progress.grading, progress.waiting) == (1, 1, 2)
    assert services.lab_regrade_cancel(actor=course.people.instructor, regrade=regrade) == 2
    assert claim() is None  # nothing of the regrade is taken any more
    grade_by_hand(under_way, 0.75)  # the one under way finishes, with its new score
    scores = sorted(
        Submission.objects.filter(pk__in=[s.pk for s in subs]).values_list("score", flat=True)
    )
    assert scores == [Decimal("0.50"), Decimal("0.50"), Decimal("0.75"), Decimal(1)]
    assert set(Submission.objects.filter(lab=lab).values_list("status", flat=True)) == {"graded"}
    regrade.refresh_from_db()
    assert regrade.state == LabRegradeState.CANCELLED
    progress = selectors.regrade_progress(regrade)
    assert (progress.regraded, progress.cancelled, progress.percent) == (2, 2, 100)


def test_a_regrade_that_fails_keeps_the_earlier_result(course):  # type: ignore[no-untyped-def]
    lab, subs = graded_lab(course, n=1)
    regrade = services.lab_regrade(actor=course.people.instructor, lab=lab)
    ticket = claim()
    GradingRun.objects.create(
        submission_id=ticket.submission_id, number=ticket.number, lab_version=lab.released_version
    )
    # as grading_run_execute leaves it while the sandbox runs
    Submission.objects.filter(pk=ticket.submission_id).update(status=SubmissionStatus.RUNNING)
    services.grading_run_fail(
        submission_id=ticket.submission_id, number=ticket.number, reason="kernel did not start"
    )
    queue.finish(ticket_id=ticket.pk, state=TicketState.FAILED)
    sub = Submission.objects.get(pk=subs[0].pk)
    assert (sub.status, sub.score) == (SubmissionStatus.GRADED, Decimal("0.50"))
    assert "kernel did not start" in sub.reason
    regrade.refresh_from_db()
    assert regrade.state == LabRegradeState.DONE


def test_only_the_lab_author_cancels_a_regrade(course):  # type: ignore[no-untyped-def]
    lab, _subs = graded_lab(course)
    regrade = services.lab_regrade(actor=course.people.instructor, lab=lab)
    with pytest.raises(PermissionDenied):
        services.lab_regrade_cancel(actor=course.other_instructor, regrade=regrade)


# ---------------------------------------------------------------------------------- API


def test_the_api_starts_follows_and_cancels_a_regrade(client, course):  # type: ignore[no-untyped-def]
    lab, _subs = graded_lab(course)
    client.force_login(course.people.instructor)
    started = client.post(f"/api/v1/labs/{lab.pk}/regrade/")
    assert started.status_code == 202
    body = started.json()
    assert (body["total"], body["waiting"], body["state"]) == (3, 3, "running")
    again = client.post(f"/api/v1/labs/{lab.pk}/regrade/")
    assert again.status_code == 400  # one at a time
    grade_by_hand(claim(), 1)
    url = f"/api/v1/labs/{lab.pk}/regrades/{body['id']}/"
    assert client.get(url).json()["regraded"] == 1
    client.force_login(course.other_instructor)
    assert client.post(f"{url}cancel/").status_code == 404
    client.force_login(course.people.instructor)
    cancelled = client.post(f"{url}cancel/").json()
    assert (cancelled["state"], cancelled["cancelled"], cancelled["percent"]) == (
        "cancelled",
        2,
        100,
    )


def test_the_api_gives_a_waiting_submission_its_place(client, rush, course):  # type: ignore[no-untyped-def]
    submit(rush, course.people.student_b)
    mine = submit(rush, course.people.student)
    client.force_login(course.people.student)
    body = client.get(f"/api/v1/submissions/{mine.pk}/").json()
    assert body["queue"] == {"position": 2, "estimate_seconds": None}
    listed = client.get("/api/v1/submissions/").json()["results"]
    assert [s["queue"]["position"] for s in listed] == [2]


def test_the_lab_pages_do_not_grow_in_queries_with_the_queue(client, rush, course):  # type: ignore[no-untyped-def]
    def queries(url, user):  # type: ignore[no-untyped-def]
        client.force_login(user)
        cache.clear()
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx)

    url = f"/labs/{rush.pk}/"
    services.lab_regrade(actor=course.people.instructor, lab=rush)
    for person in students(course.run, 3, "first"):
        submit(rush, person)
    submit(rush, course.people.student)
    few = (queries(url, course.people.instructor), queries(url, course.people.student))
    for person in students(course.run, 9, "more"):
        submit(rush, person)
    submit(rush, course.people.student)  # a second attempt, the first one superseded
    assert (queries(url, course.people.instructor), queries(url, course.people.student)) == few
