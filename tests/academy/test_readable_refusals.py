"""Refusals a person can read: a model rule that fails is named in words (never "Constraint …
is violated"), and a lab whose author's account was deleted is not refused for it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from ..factories import CourseRunFactory, CourseStaffFactory, UserFactory
from ..notebooks.factories import LabFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def test_a_lab_due_before_it_opens_is_refused_in_words(api, people):  # type: ignore[no-untyped-def]
    run = CourseRunFactory()
    CourseStaffFactory(run=run, user=people.instructor)
    lab = LabFactory(run=run, created_by=people.instructor)
    api.force_authenticate(people.instructor)
    opens = lab.due_at + timedelta(days=30)
    response = api.patch(f"/api/v1/labs/{lab.pk}/", {"opens_at": opens.isoformat()}, format="json")
    assert response.status_code == 400
    message = response.json()["non_field_errors"][0]
    assert "Constraint" not in message and "lab_dates_ordered" not in message, message
    assert "due" in message and "open" in message, message


def test_a_lab_whose_author_left_can_still_be_edited(api, people):  # type: ignore[no-untyped-def]
    run = CourseRunFactory()
    CourseStaffFactory(run=run, user=people.instructor)
    author = UserFactory()
    lab = LabFactory(run=run, created_by=author)
    author.delete()
    api.force_authenticate(people.instructor)
    response = api.patch(f"/api/v1/labs/{lab.pk}/", {"title": "Renamed"}, format="json")
    assert response.status_code == 200, response.json()
    lab.refresh_from_db()
    assert lab.title == "Renamed" and lab.created_by is None
