"""Learning events are recorded where people learn, with one insert each: a lesson viewed or
completed, a lab opened or submitted, a lab session started.  Staff previews are not
learning and record nothing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from courses.models import Enrolment, Module
from courses.signals import learning_event
from notebooks.sessions import services as session_services
from tests.factories import LessonFactory, member
from tracking import receivers
from tracking.models import EventKind, LearningEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_root(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"


@pytest.fixture
def world(lab_setup):  # type: ignore[no-untyped-def]
    """lab_setup's run (people.student in cohort A, people.instructor teaching) with a lesson."""
    module = Module.objects.create(run=lab_setup.run, title="Week 1")
    lab_setup.lesson = LessonFactory(module=module)
    return lab_setup


def events() -> list[tuple[str, int, int | None, int | None]]:
    return list(
        LearningEvent.objects.order_by("id").values_list(
            "kind", "user_id", "institution_id", "object_id"
        )
    )


def test_a_student_viewing_a_lesson_is_one_event_of_their_cohort_institution(client, world):
    client.force_login(world.student)
    assert client.get(reverse("lesson-detail", args=[world.lesson.pk])).status_code == 200
    assert events() == [
        (EventKind.LESSON_VIEWED, world.student.pk, world.people.inst_a.pk, world.lesson.pk)
    ]
    event = LearningEvent.objects.get()
    assert event.run_id == world.run.pk


def test_staff_previews_record_nothing(client, world):
    for person in (world.people.instructor, world.people.operator):
        client.force_login(person)
        assert client.get(reverse("lesson-detail", args=[world.lesson.pk])).status_code == 200
        assert client.get(reverse("lab-detail", args=[world.lab.pk])).status_code == 200
    assert events() == []


def _lesson_view_queries(client, world) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("lesson-detail", args=[world.lesson.pk])).status_code == 200
    return len(captured)


def test_a_lesson_view_adds_the_attribution_and_one_insert(
    client, world, django_assert_num_queries
):
    client.force_login(world.student)
    _lesson_view_queries(client, world)  # warm (session, caches)
    learning_event.disconnect(dispatch_uid="tracking-learning-event")
    try:
        without = _lesson_view_queries(client, world)
    finally:
        learning_event.connect(receivers.record, dispatch_uid="tracking-learning-event")
    # With a cohort: its institution (1 query) and the insert (1).
    with django_assert_num_queries(without + 2):
        client.get(reverse("lesson-detail", args=[world.lesson.pk]))
    # Without a cohort: the memberships too (1 more).
    Enrolment.objects.filter(user=world.student).update(cohort=None)
    with django_assert_num_queries(without + 3):
        client.get(reverse("lesson-detail", args=[world.lesson.pk]))
    assert [kind for kind, *_ in events()] == [EventKind.LESSON_VIEWED] * 3
    assert LearningEvent.objects.order_by("-id").first().institution_id == world.people.inst_a.pk


def test_completing_a_lesson_is_an_event_only_the_first_time(client, world):
    client.force_login(world.student)
    url = reverse("lesson-complete", args=[world.lesson.pk])
    client.post(url, {"done": "1"})
    client.post(url, {"done": "1"})  # already done: nothing new
    client.post(url, {"done": "0"})  # unmarked: not an event
    assert events() == [
        (EventKind.LESSON_COMPLETED, world.student.pk, world.people.inst_a.pk, world.lesson.pk)
    ]


def test_staff_completing_a_lesson_records_nothing(client, world):
    client.force_login(world.people.instructor)
    client.post(reverse("lesson-complete", args=[world.lesson.pk]), {"done": "1"})
    assert events() == []


def test_opening_and_submitting_a_lab(client, world):
    client.force_login(world.student)
    assert client.get(reverse("lab-detail", args=[world.lab.pk])).status_code == 200
    notebook = world.lab.released_version.student.read()
    response = client.post(
        reverse("lab-submit", args=[world.lab.pk]),
        {"file": SimpleUploadedFile("nb.ipynb", notebook, "application/x-ipynb+json")},
    )
    assert response.status_code == 302
    inst = world.people.inst_a.pk
    assert events() == [
        (EventKind.LAB_OPENED, world.student.pk, inst, world.lab.pk),
        (EventKind.LAB_SUBMITTED, world.student.pk, inst, world.lab.pk),
    ]


def test_a_refused_submission_is_not_an_event(client, world):
    client.force_login(world.student)
    response = client.post(
        reverse("lab-submit", args=[world.lab.pk]),
        {"file": SimpleUploadedFile("nb.ipynb", b"not a notebook", "application/x-ipynb+json")},
    )
    assert response.status_code == 400
    assert events() == []


def test_a_student_starting_a_session(world):
    session = session_services.session_open(actor=world.student, lab=world.lab)
    assert events() == [
        (EventKind.SESSION_STARTED, world.student.pk, world.people.inst_a.pk, session.pk)
    ]
    # Opening it again returns the live session: no second start.
    session_services.session_open(actor=world.student, lab=world.lab)
    assert len(events()) == 1


def test_staff_starting_a_session_records_nothing(world):
    session_services.session_open(actor=world.people.instructor, lab=world.lab)
    assert events() == []


def test_a_student_of_no_institution_is_recorded_without_one(client, world):
    stranger = member(world.people.inst_a, username="stranger")
    stranger.memberships.all().delete()
    Enrolment.objects.create(run=world.run, user=stranger, state="active")
    client.force_login(stranger)
    client.get(reverse("lesson-detail", args=[world.lesson.pk]))
    assert events() == [(EventKind.LESSON_VIEWED, stranger.pk, None, world.lesson.pk)]
