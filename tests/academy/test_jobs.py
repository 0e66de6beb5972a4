"""academy.jobs.enqueue against a real broker outage (a closed port, connection refused)."""

from __future__ import annotations

import logging

import pytest
from django.core import mail
from django.db import transaction

from academy import jobs
from academy import services as academy_services
from academy.models import Invitation
from courses import services as course_services
from courses.models import EnrolmentState
from tests.factories import CourseRunFactory, UserFactory
from tests.worker import broker_unreachable

pytestmark = pytest.mark.django_db(transaction=True)


def test_nothing_is_sent_before_commit_and_an_outage_is_logged_and_reported(caplog):
    failed: list[str] = []
    with broker_unreachable(), caplog.at_level(logging.ERROR, logger="academy.jobs"):
        with transaction.atomic():
            jobs.enqueue("academy.tasks.heartbeat", on_failure=lambda: failed.append("called"))
            assert failed == []  # still inside the transaction: nothing was sent
        assert failed == ["called"]
    assert "could not enqueue academy.tasks.heartbeat" in caplog.text
    assert "the broker may be down" in caplog.text


def test_an_unknown_task_name_is_a_bug_not_an_outage():
    with pytest.raises(KeyError):
        jobs.send("notebooks.tasks.no_such_task")


def test_an_enrolment_commits_when_the_broker_is_down(caplog):
    """Courses sent its e-mail with .delay inside on_commit: a broker outage raised after the
    commit, and the student got an error for an enrolment that had happened."""
    run = CourseRunFactory(capacity=5)
    student = UserFactory()
    with broker_unreachable(), caplog.at_level(logging.ERROR, logger="academy.jobs"):
        enrolment = course_services.enrolment_request(run=run, user=student)
    enrolment.refresh_from_db()
    assert enrolment.state == EnrolmentState.ACTIVE
    assert mail.outbox == []
    assert "could not enqueue courses.tasks.send_enrolment_email" in caplog.text


def test_an_invitation_is_kept_when_the_broker_is_down(people, caplog):
    with broker_unreachable(), caplog.at_level(logging.ERROR, logger="academy.jobs"):
        invitation = academy_services.invitation_create(
            actor=people.admin_a, institution=people.inst_a, email="new@example.org"
        )
    assert Invitation.objects.filter(pk=invitation.pk, accepted_at=None).exists()
    assert "could not enqueue academy.tasks.send_invitation_email" in caplog.text
