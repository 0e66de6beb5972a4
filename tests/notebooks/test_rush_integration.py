"""A deadline rush through a REAL Celery worker on Redis (issue 15): one lab's rush does not make
another lab wait for all of it, a student who submits twice while queued is graded once (the
latest), and nothing is lost.  The worker starts only once everything is queued, so the order
of completion is the queue's alone.

  CELERY_BROKER_URL=redis://127.0.0.1:6379/7 DEBUG=1 .venv/bin/python -m pytest -m integration \
      tests/notebooks/test_rush_integration.py
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from academy.celery import app
from courses.models import Enrolment, EnrolmentState
from notebooks import services
from notebooks.models import (
    TICKET_OPEN,
    GradingRun,
    GradingTicket,
    Submission,
    SubmissionStatus,
    TicketState,
)
from notebooks.tasks import _waiting_messages, sweep_grading_queue
from tests.factories import UserFactory
from tests.worker import routed_worker, wait_for

from .factories import LabFactory, small_lab

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _lab(course, title):  # type: ignore[no-untyped-def]
    lab = LabFactory(run=course.run, title=title)
    services.lab_version_upload(actor=course.people.instructor, lab=lab, content=small_lab())
    services.lab_release(actor=course.people.instructor, lab=lab)
    lab.refresh_from_db()
    return lab


def _students(course, n, prefix):  # type: ignore[no-untyped-def]
    people = [UserFactory(username=f"{prefix}{i}-{uuid.uuid4().hex[:6]}") for i in range(n)]
    for person in people:
        Enrolment.objects.create(run=course.run, user=person, state=EnrolmentState.ACTIVE)
    return people


def test_a_second_lab_is_served_during_the_first_labs_rush(course, tmp_path):  # type: ignore[no-untyped-def]
    rush, other = _lab(course, "Rush"), _lab(course, "Other")
    with routed_worker({"ACADEMY_VAR_DIR": str(tmp_path)}, started=False) as worker:
        rushing = _students(course, 8, "rush")
        for person in rushing:
            services.submission_create(actor=person, lab=rush, content=small_lab())
        # one of them submits again before grading began: only the latest is graded
        again = services.submission_create(actor=rushing[0], lab=rush, content=small_lab())
        for person in _students(course, 3, "other"):
            services.submission_create(actor=person, lab=other, content=small_lab())
        worker.start()

        def all_final():  # type: ignore[no-untyped-def]
            return not (
                Submission.objects.exclude(
                    status__in=[SubmissionStatus.GRADED, SubmissionStatus.SUPERSEDED]
                ).exists()
                or GradingTicket.objects.filter(state__in=TICKET_OPEN).exists()
            )

        wait_for(all_final, timeout=300, interval=0.5, what="every submission graded")
    first = Submission.objects.get(lab=rush, student=rushing[0], attempt=1)
    assert first.status == SubmissionStatus.SUPERSEDED
    assert not GradingRun.objects.filter(submission=first).exists()
    assert Submission.objects.get(pk=again.pk).status == SubmissionStatus.GRADED
    # nothing lost, nothing graded twice: one run per graded submission
    graded = Submission.objects.filter(status=SubmissionStatus.GRADED)
    assert graded.count() == 8 + 3
    assert GradingRun.objects.count() == 11
    assert set(GradingTicket.objects.values_list("state", flat=True)) == {
        TicketState.DONE,
        TicketState.SUPERSEDED,
    }
    order = [
        "R" if lab_id == rush.pk else "o"
        for lab_id in GradingRun.objects.order_by("finished_at").values_list(
            "submission__lab_id", flat=True
        )
    ]
    print("\norder of completion:", "".join(order))
    # In turns (first come, first served would finish "RRRRRRRRooo"): the other lab's three
    # are done while most of the rush still waits.
    assert "".join(order) == "RoRoRoRRRRR"


def test_messages_the_broker_lost_are_sent_again_by_the_sweep(course, tmp_path, settings):  # type: ignore[no-untyped-def]
    """The queue is the database: the broker loses every message (purged, as a Redis restart
    without its append-only file would), the beat sweep counts what the broker still holds and
    sends what is missing, and everything is graded."""
    settings.GRADING_QUEUE_STALL_SECONDS = 1
    lab = _lab(course, "Lost")
    with routed_worker({"ACADEMY_VAR_DIR": str(tmp_path)}, started=False) as worker:
        for person in _students(course, 3, "lost"):
            services.submission_create(actor=person, lab=lab, content=small_lab())
        assert _waiting_messages() >= 3  # grading, and the other tasks a submission sends
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(worker.queue)
        assert _waiting_messages() == 0
        GradingTicket.objects.update(token_sent_at=timezone.now() - timedelta(seconds=5))
        time.sleep(1.1)  # the queue has stood still
        assert sweep_grading_queue() == 3
        assert sweep_grading_queue() == 0  # the broker holds them now
        worker.start()
        wait_for(
            lambda: Submission.objects.filter(lab=lab, status=SubmissionStatus.GRADED).count() == 3,
            timeout=180,
            what="the three graded",
        )
    assert GradingRun.objects.filter(submission__lab=lab).count() == 3
