"""Attack tests for issue 9, item 9: roles as people expect them.

A teaching assistant grades and sees their run, but does not change seats, invite codes, the
grading policy or content unless the instructor grants it (``CourseStaff.can_edit``, set on the
run's Settings page or through the API).  The run-wide GPU usage page shows an institution
admin only their own people."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from courses.models import CourseStaff, GradingCategory, InviteCode, Module
from notebooks.sessions.models import GpuUsage, LabSession
from tests.factories import CourseRunFactory, CourseStaffFactory, ModuleFactory
from tests.notebooks.factories import LabFactory

pytestmark = pytest.mark.django_db


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def setup(people):  # type: ignore[no-untyped-def]
    from tests.factories import UserFactory

    run = CourseRunFactory(capacity=5, policy="invite")
    CourseStaffFactory(run=run, user=people.instructor, role="instructor")
    ta = UserFactory(username="ta")
    ta_row = CourseStaffFactory(run=run, user=ta, role="ta")
    return people, run, ta, ta_row


def test_a_ta_changes_no_seats_codes_policy_or_content(setup):
    people, run, ta, _row = setup
    module = ModuleFactory(run=run, title="Intro")
    client = _client(ta)
    client.post(f"/runs/{run.pk}/settings/", {"form": "seats", "seats-capacity": "50"})
    client.post(
        f"/api/v1/runs/{run.pk}/capacity/", {"capacity": 60}, content_type="application/json"
    )
    client.post(f"/runs/{run.pk}/settings/", {"form": "invite", "invite-code": "TA-CODE"})
    client.post(
        f"/api/v1/runs/{run.pk}/invite-codes/", {"code": "TA-API"}, content_type="application/json"
    )
    client.put(
        f"/api/v1/runs/{run.pk}/grading-policy/",
        {"pass_mark": "1", "categories": [{"name": "Mine", "weight": "100", "drop_lowest": 0}]},
        content_type="application/json",
    )
    client.post(f"/modules/{module.pk}/rename/", {"title": "Hacked"})
    client.post(
        "/api/v1/modules/", {"run": run.pk, "title": "Planted"}, content_type="application/json"
    )
    run.refresh_from_db()
    assert run.capacity == 5
    assert run.pass_mark == Decimal("50")
    assert not InviteCode.objects.filter(run=run).exists()
    assert not GradingCategory.objects.filter(run=run).exists()
    assert list(Module.objects.filter(run=run).values_list("title", flat=True)) == ["Intro"]
    # ... but still sees the run: roster and grading stay theirs.
    assert client.get(f"/runs/{run.pk}/roster/").status_code == 200
    assert client.get(f"/runs/{run.pk}/gradebook/").status_code == 200


def test_a_ta_cannot_grant_themselves_editing(setup):
    people, run, ta, row = setup
    client = _client(ta)
    client.post(f"/runs/{run.pk}/settings/", {"form": "staff", "staff": row.pk, "can_edit": "on"})
    client.patch(
        f"/api/v1/runs/{run.pk}/staff/{row.pk}/",
        {"can_edit": True},
        content_type="application/json",
    )
    row.refresh_from_db()
    assert row.can_edit is False


def test_the_instructor_grants_editing_and_the_ta_may_then_change_seats(setup):
    people, run, ta, row = setup
    instructor = _client(people.instructor)
    page = instructor.get(f"/runs/{run.pk}/settings/").content.decode()
    assert f'id="staff-{row.pk}"' in page
    instructor.post(
        f"/runs/{run.pk}/settings/", {"form": "staff", "staff": row.pk, "can_edit": "on"}
    )
    row.refresh_from_db()
    assert row.can_edit is True
    _client(ta).post(f"/runs/{run.pk}/settings/", {"form": "seats", "seats-capacity": "7"})
    run.refresh_from_db()
    assert run.capacity == 7
    # Through the API the instructor takes it back.
    response = instructor.patch(
        f"/api/v1/runs/{run.pk}/staff/{row.pk}/",
        {"can_edit": False},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["can_edit"] is False
    assert CourseStaff.objects.get(pk=row.pk).can_edit is False


def test_the_gpu_usage_page_shows_an_admin_only_their_people(people):
    run = CourseRunFactory()
    lab = LabFactory(run=run)
    common = {"lab": lab, "run": run, "partition": "gpu", "walltime_minutes": 60}
    # A student of A, a student of B, and a person stamped with A's cohort who is not (or no
    # longer) a member of A.
    from tests.factories import UserFactory

    stranger = UserFactory(username="stranger")
    for n, (user, cohort, hours, saved) in enumerate(
        [
            (people.student, people.cohort_a, 1, 0),
            (people.student_b, people.cohort_b, 5, 7200),
            (stranger, people.cohort_a, 3, 3600),
        ]
    ):
        session = LabSession.objects.create(
            user=user,
            cohort=cohort,
            server_name=f"s{n}",
            state="running",
            gpu_seconds_saved=saved,
            **common,
        )
        GpuUsage.objects.create(
            job_id=str(100 + n),
            session=session,
            user=user,
            run=run,
            cohort=cohort,
            gpus=1,
            gpu_seconds=hours * 3600,
        )
    response = _client(people.admin_a).get(f"/runs/{run.pk}/gpu/")
    assert response.status_code == 200
    assert response.context["total"] == pytest.approx(1.0)
    assert response.context["live"] == 1
    assert response.context["saved"] == pytest.approx(0.0)
