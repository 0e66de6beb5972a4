"""Attack tests for issue 9, item 2: nobody decides their own enrolment.

On an approval-only run the decision belongs to the run's staff, and to institution admins for
their own members; never to the person who asked.  Bulk enrolment respects the run's dates and
policy, or its preview says which rule it overrides and why."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from courses import bulk, services
from courses.models import CourseRun, Enrolment
from tests.factories import CourseRunFactory, CourseStaffFactory

pytestmark = pytest.mark.django_db


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_staff_cannot_approve_their_own_request_through_the_api(people):
    run = CourseRunFactory(policy="approval")
    CourseStaffFactory(run=run, user=people.instructor, role="ta")
    mine = services.enrolment_request(run=run, user=people.instructor)
    response = _client(people.instructor).post(f"/api/v1/enrolments/{mine.pk}/approve/")
    assert response.status_code in (400, 403), response.content
    mine.refresh_from_db()
    assert mine.state == "pending"


def test_an_institution_admin_cannot_approve_their_own_request_on_the_page(people):
    run = CourseRunFactory(policy="approval")
    mine = services.enrolment_request(run=run, user=people.admin_a)
    for action in ("approve", "waitlist"):
        _client(people.admin_a).post(f"/enrolments/{mine.pk}/{action}/", {"next": "/"})
        mine.refresh_from_db()
        assert mine.state == "pending"


def test_another_runs_staff_cannot_decide(people):
    run = CourseRunFactory(policy="approval")
    other = CourseRunFactory(policy="approval")
    CourseStaffFactory(run=other, user=people.instructor)
    request = services.enrolment_request(run=run, user=people.student_b)
    response = _client(people.instructor).post(f"/api/v1/enrolments/{request.pk}/approve/")
    assert response.status_code == 404
    request.refresh_from_db()
    assert request.state == "pending"


def _bulk(people, run, rows: str):  # type: ignore[no-untyped-def]
    data = ("email,first_name,last_name,cohort\n" + rows).encode()
    return bulk.bulk_upload_store(
        actor=people.admin_a, institution=people.inst_a, run=run, file=io.BytesIO(data)
    )


def test_an_admin_cannot_bulk_enrol_themselves_into_an_approval_only_run(people):
    run = CourseRunFactory(policy="approval")
    upload = _bulk(people, run, f"{people.admin_a.email},Ad,Min,\n{people.student.email},S,T,\n")
    own, student = bulk.bulk_preview(upload=upload, actor=people.admin_a)
    assert own.is_error and not student.is_error
    bulk.bulk_apply(upload=upload, actor=people.admin_a)
    assert not Enrolment.objects.filter(run=run, user=people.admin_a).exists()
    assert Enrolment.objects.get(run=run, user=people.student).state == "active"


def test_bulk_enrolment_into_a_finished_run_is_refused(people):
    now = timezone.now()
    finished = {
        "enrolment_opens_at": now - timedelta(days=60),
        "enrolment_closes_at": now - timedelta(days=40),
        "starts_at": now - timedelta(days=30),
        "ends_at": now - timedelta(days=1),
    }
    # A finished run takes no new upload at all ...
    with pytest.raises(ValidationError):
        _bulk(people, CourseRunFactory(**finished), f"{people.student.email},S,T,\n")
    # ... and an upload kept while the run was open changes nothing once it has finished.
    run = CourseRunFactory()
    upload = _bulk(people, run, f"{people.student.email},S,T,\n")
    CourseRun.objects.filter(pk=run.pk).update(**finished)
    upload.run.refresh_from_db()
    (line,) = bulk.bulk_preview(upload=upload, actor=people.admin_a)
    assert line.is_error
    bulk.bulk_apply(upload=upload, actor=people.admin_a)
    assert not Enrolment.objects.filter(run=run).exists()


def test_the_preview_says_which_rule_it_overrides_and_why(people):
    now = timezone.now()
    run = CourseRunFactory(
        policy="approval",
        enrolment_opens_at=now - timedelta(days=20),
        enrolment_closes_at=now - timedelta(days=2),
    )
    upload = _bulk(people, run, f"{people.student.email},S,T,\n")
    client = _client(people.admin_a)
    body = client.get(f"/institutions/uni-a/bulk-enrol/{upload.pk}/").content.decode()
    assert 'id="overrides"' in body
    assert "Enrolment closed on" in body
    assert "approval" in body
