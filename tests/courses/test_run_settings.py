"""The run settings page: seats (more seats promote from the waitlist) and invite codes."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from academy.models import AuditEvent
from courses import services
from courses.models import Enrolment, InviteCode
from tests.factories import CourseRunFactory, CourseStaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(people):  # type: ignore[no-untyped-def]
    run = CourseRunFactory(capacity=1, policy="invite")
    CourseStaffFactory(run=run, user=people.instructor)
    return run


def test_only_the_runs_staff_reach_it(client, run, people):
    invite = services.invite_code_create(run=run, actor=people.instructor)
    for user in (people.student, people.admin_a, people.outsider):
        client.force_login(user)
        assert client.get(f"/runs/{run.pk}/settings/").status_code == 404
        assert client.post(f"/runs/{run.pk}/settings/", {"form": "seats"}).status_code == 404
        assert client.post(f"/invite-codes/{invite.pk}/deactivate/").status_code == 404
    invite.refresh_from_db()
    assert invite.is_active


def test_more_seats_promote_from_the_waitlist(client, run, people):
    first, second, third = UserFactory(), UserFactory(), UserFactory()
    invite = services.invite_code_create(run=run, actor=people.instructor, code="GPU-2027")
    for user in (first, second, third):
        services.enrolment_request(run=run, user=user, invite_code="GPU-2027")
    assert Enrolment.objects.get(user=second).state == "waitlisted"
    client.force_login(people.instructor)
    response = client.post(
        f"/runs/{run.pk}/settings/", {"form": "seats", "seats-capacity": "2"}, follow=True
    )
    body = response.content.decode()
    assert "1 person(s) promoted from the waitlist." in body
    assert Enrolment.objects.get(user=second).state == "active"
    assert Enrolment.objects.get(user=third).state == "waitlisted"
    invite.refresh_from_db()
    assert invite.uses == 3

    response = client.post(f"/runs/{run.pk}/settings/", {"form": "seats", "seats-capacity": "-1"})
    assert response.status_code == 400
    run.refresh_from_db()
    assert run.capacity == 2


def test_invite_codes_are_created_checked_and_switched_off(client, run, people):
    client.force_login(people.instructor)
    response = client.post(
        f"/runs/{run.pk}/settings/",
        {"form": "invite", "invite-code": "", "invite-max_uses": "1"},
        follow=True,
    )
    invite = InviteCode.objects.get(run=run)
    assert len(invite.code) >= 8 and invite.created_by == people.instructor
    assert f"Invite code {invite.code} created." in response.content.decode()

    past = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/runs/{run.pk}/settings/",
        {"form": "invite", "invite-code": "late", "invite-expires_at": past},
    )
    assert (
        response.status_code == 400 and "Choose a time in the future." in response.content.decode()
    )
    response = client.post(
        f"/runs/{run.pk}/settings/", {"form": "invite", "invite-code": invite.code}
    )
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert InviteCode.objects.filter(run=run).count() == 1

    client.post(f"/invite-codes/{invite.pk}/deactivate/")
    invite.refresh_from_db()
    assert not invite.is_active
    assert AuditEvent.objects.filter(action="invite_code.deactivate", target_id=str(invite.pk))
    with pytest.raises(ValidationError):
        services.enrolment_request(run=run, user=people.student, invite_code=invite.code)
    assert "Switched off" in client.get(f"/runs/{run.pk}/settings/").content.decode()


def policy_post(run, rows, mark="60"):  # type: ignore[no-untyped-def]
    """The form the page posts: one row per category (existing first), like the browser."""
    data = {
        "form": "policy",
        "policy-pass_mark": mark,
        "cat-TOTAL_FORMS": str(len(rows)),
        "cat-INITIAL_FORMS": str(sum(1 for r in rows if r.get("id"))),
        "cat-MIN_NUM_FORMS": "0",
        "cat-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data[f"cat-{i}-id"] = row.get("id", "")
        data[f"cat-{i}-run"] = run.pk
        data[f"cat-{i}-name"] = row.get("name", "")
        data[f"cat-{i}-weight"] = row.get("weight", "")
        data[f"cat-{i}-drop_lowest"] = row.get("drop_lowest", "0")
        if row.get("delete"):
            data[f"cat-{i}-DELETE"] = "on"
    return data


def test_grading_policy_is_edited_and_never_loses_a_labs_category(client, run, people):
    from notebooks.models import Lab
    from tests.notebooks.factories import LabFactory

    client.force_login(people.instructor)
    url = f"/runs/{run.pk}/settings/"
    response = client.post(
        url,
        policy_post(
            run,
            [
                {"name": "Labs", "weight": "70", "drop_lowest": "1"},
                {"name": "Exam", "weight": "30"},
            ],
        ),
    )
    assert response.status_code == 302
    run.refresh_from_db()
    labs, exam = run.categories.order_by("name").reverse()
    assert (labs.name, labs.weight, labs.drop_lowest, run.pass_mark) == ("Labs", 70, 1, 60)

    # Swapping two names in one save works (no half-way clash on the unique name).
    response = client.post(
        url,
        policy_post(
            run,
            [
                {"id": labs.pk, "name": "Exam", "weight": "70"},
                {"id": exam.pk, "name": "Labs", "weight": "30"},
            ],
        ),
    )
    assert response.status_code == 302
    assert dict(run.categories.values_list("pk", "name")) == {labs.pk: "Exam", exam.pk: "Labs"}

    lab = LabFactory(run=run, category=exam)
    rows = [
        {"id": labs.pk, "name": "Exam", "weight": "70"},
        {"id": exam.pk, "name": "Labs", "weight": "30", "delete": True},
    ]
    response = client.post(url, policy_post(run, rows))
    assert response.status_code == 400
    assert "still counts 1 lab(s)" in response.content.decode()
    assert Lab.objects.get(pk=lab.pk).category_id == exam.pk

    bad = [{"id": labs.pk, "name": "Exam", "weight": "170"}]
    assert client.post(url, policy_post(run, bad)).status_code == 400
    assert client.post(url, policy_post(run, [], mark="101")).status_code == 400
    dupes = [{"id": labs.pk, "name": "Exam", "weight": "5"}, {"name": "Exam", "weight": "5"}]
    response = client.post(url, policy_post(run, dupes))
    assert response.status_code == 400 and "may not share a name" in response.content.decode()
    assert sorted(run.categories.values_list("name", "weight")) == [("Exam", 70), ("Labs", 30)]
    assert AuditEvent.objects.filter(action="run.grading_policy").count() == 2

    client.force_login(people.student)
    assert client.post(url, policy_post(run, [])).status_code == 404


def test_settings_page_query_count_does_not_grow(client, run, people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from courses.models import GradingCategory

    client.force_login(people.instructor)

    def grow(k: int) -> None:
        for _ in range(k):
            services.invite_code_create(run=run, actor=people.instructor)
            GradingCategory.objects.create(
                run=run, name=f"C{GradingCategory.objects.count()}", weight=1
            )

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/runs/{run.pk}/settings/").status_code == 200
        return len(ctx)

    grow(1)
    first = count()
    grow(3)
    # session, user, run, staff rows of the user, state counts, categories, invite codes,
    # the run's staff (who may edit), nav roles
    assert count() == first == 9
