"""The Django admin of programmes: every changelist and change page renders for an operator;
trees are read-only once people follow them; a programme's changes go through its service."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from academy.models import AuditEvent
from programmes import services
from programmes.models import (
    Allocation,
    Completion,
    Programme,
    ProgrammeCohort,
    ProgrammeVersion,
    Requirement,
)

from .conftest import build_foundation

pytestmark = pytest.mark.django_db


@pytest.fixture
def followed(people):  # type: ignore[no-untyped-def]
    """The foundation programme followed by the student (completed) and cohort A; v2 draft."""
    foundation = build_foundation(people.operator)
    programme = foundation.programme
    allocation = services.allocation_join(actor=people.student, programme=programme)
    services.cohort_allocate(actor=people.admin_a, programme=programme, cohort=people.cohort_a)
    Completion.objects.create(
        allocation=allocation,
        version=allocation.version,
        evidence=[{"course": "1", "run": "2", "grade": "91.50"}],
        credits=Decimal(15),
    )
    services.version_new(actor=people.operator, programme=programme)
    return foundation


MODELS = [Programme, ProgrammeVersion, Requirement, Allocation, ProgrammeCohort, Completion]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_changelist_and_change_page_loads(client, people, followed, model):
    client.force_login(people.operator)
    info = (model._meta.app_label, model._meta.model_name)
    listing = client.get(reverse("admin:{}_{}_changelist".format(*info)))
    assert listing.status_code == 200
    row = model.objects.order_by("pk").first()
    assert row is not None
    page = client.get(reverse("admin:{}_{}_change".format(*info), args=[row.pk]))
    assert page.status_code == 200
    assert str(row) in page.content.decode()


def test_the_changelists_take_a_constant_number_of_queries(
    client, people, followed, django_assert_max_num_queries
):
    client.force_login(people.operator)
    for model in MODELS:
        url = reverse(f"admin:programmes_{model._meta.model_name}_changelist")
        with django_assert_max_num_queries(12):
            assert client.get(url).status_code == 200


def test_trees_are_shown_but_changed_only_through_the_services(client, people, followed):
    client.force_login(people.operator)
    v1, v2 = followed.programme.versions.order_by("number")
    listing = client.get(reverse("admin:programmes_programmeversion_changelist")).content.decode()
    assert "ai-foundation v1" in listing and "ai-foundation v2" in listing
    for version in (v1, v2):
        page = client.get(reverse("admin:programmes_programmeversion_change", args=[version.pk]))
        assert "GPU101" in page.content.decode() and "Two electives" in page.content.decode()
        assert 'name="requirements-0-title"' not in page.content.decode()
    item = Requirement.objects.get(version=v1, course=followed.gpu)
    url = reverse("admin:programmes_requirement_change", args=[item.pk])
    assert client.post(url, {"title": "changed"}).status_code == 403
    delete = reverse("admin:programmes_requirement_delete", args=[item.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    item.refresh_from_db()
    assert item.title == ""


def test_people_records_are_read_only(client, people, followed):
    client.force_login(people.operator)
    allocation = Allocation.objects.get(user=people.student)
    page = client.get(reverse("admin:programmes_allocation_change", args=[allocation.pk]))
    assert page.status_code == 200 and 'name="state"' not in page.content.decode()
    assert client.get(reverse("admin:programmes_allocation_add")).status_code == 403
    assert client.get(reverse("admin:programmes_programmecohort_add")).status_code == 403
    completion = Completion.objects.get()
    page = client.get(reverse("admin:programmes_completion_change", args=[completion.pk]))
    assert 'name="evidence"' not in page.content.decode() and "91.50" in page.content.decode()
    assert 'name="needs_review"' in page.content.decode()  # the reviewer clears the flag


def test_a_programme_is_changed_through_its_service(client, people, followed):
    client.force_login(people.operator)
    programme = followed.programme
    assert client.get(reverse("admin:programmes_programme_add")).status_code == 403
    url = reverse("admin:programmes_programme_change", args=[programme.pk])
    page = client.get(url)
    assert 'name="code"' not in page.content.decode()  # fixed once made
    form = {
        "title": "AI engineer, foundation (2027)",
        "title_sr": "",
        "description": "",
        "description_sr": "",
        "owner": "",
        "eqf_level": "6",
        "ects": "20.0",
        "sectors": "[]",
        "join_policy": "open",
        "invite_code": "",
        "managers": [people.operator.pk, people.instructor.pk],
        "versions-TOTAL_FORMS": "2",
        "versions-INITIAL_FORMS": "2",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
        **{
            f"versions-{i}-{k}": v
            for i, version in enumerate(programme.versions.order_by("-number"))
            for k, v in (("id", version.pk), ("programme", programme.pk))
        },
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    programme.refresh_from_db()
    assert (programme.title, programme.eqf_level) == ("AI engineer, foundation (2027)", 6)
    event = AuditEvent.objects.get(action="programme.update")
    assert event.actor == people.operator
    assert set(programme.managers.all()) == {people.operator, people.instructor}
    event = AuditEvent.objects.get(action="programme.managers")
    assert (event.actor, event.data) == (
        people.operator,
        {"added": ["instructor"], "removed": []},
    )
