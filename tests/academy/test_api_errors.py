"""The API's one error translation (``academy.api_errors``): each kind of error a service raises
becomes one status and DRF's body shape whichever app answers ({field: [messages]} for a 400,
{"detail": message} otherwise), and an unexpected error stays a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone
from rest_framework.test import APIClient

import notebooks.api  # noqa: F401  (registers the labs side's translations, as the URLconf does)
from academy.api_errors import exception_handler
from academy.models import Institution, Membership
from notebooks.grading import CellError
from notebooks.services import NotebookRejected, SubmissionRateLimited
from tests.factories import CourseRunFactory, CourseStaffFactory

from ..notebooks.factories import LabFactory

FORBIDDEN = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}


def answer(exc: Exception):  # type: ignore[no-untyped-def]
    return exception_handler(exc, {})


def test_a_field_error_is_a_400_by_field_with_its_code_and_parameters() -> None:
    response = answer(
        ValidationError(
            {
                "title": ValidationError(
                    "At most %(n)s characters.", code="max_length", params={"n": 200}
                ),
                "due_at": ["Required.", "In the future."],
            }
        )
    )
    assert response.status_code == 400
    assert response.data == {
        "title": ["At most 200 characters."],
        "due_at": ["Required.", "In the future."],
    }
    assert response.data["title"][0].code == "max_length"
    assert response.data["due_at"][0].code == "invalid"


def test_an_error_of_no_field_is_a_400_under_non_field_errors() -> None:
    response = answer(ValidationError("This enrolment cannot be withdrawn.", code="state"))
    assert (response.status_code, response.data) == (
        400,
        {"non_field_errors": ["This enrolment cannot be withdrawn."]},
    )
    assert response.data["non_field_errors"][0].code == "state"
    response = answer(ValidationError(["One.", "Two."]))
    assert response.data == {"non_field_errors": ["One.", "Two."]}
    # Django's own key for errors of the whole object (model constraints) reads as DRF's.
    response = answer(ValidationError({"__all__": ["Constraint violated."], "name": ["Taken."]}))
    assert response.data == {"non_field_errors": ["Constraint violated."], "name": ["Taken."]}


def test_permission_denied_is_a_403_and_missing_objects_are_404s_that_name_no_model() -> None:
    response = answer(PermissionDenied())
    assert (response.status_code, response.data) == (403, FORBIDDEN)
    response = answer(Institution.DoesNotExist("Institution matching query does not exist."))
    assert (response.status_code, response.data) == (404, NOT_FOUND)
    response = answer(ObjectDoesNotExist())
    assert (response.status_code, response.data) == (404, NOT_FOUND)
    response = answer(Http404())
    assert (response.status_code, response.data) == (404, NOT_FOUND)


def test_a_rate_limit_is_a_429_with_retry_after() -> None:
    response = answer(SubmissionRateLimited(limit=3, window=600, retry_after=125))
    assert response.status_code == 429 and response["Retry-After"] == "125"
    assert set(response.data) == {"detail"}
    assert "at most 3 to a lab in 10 minutes" in response.data["detail"]


def test_a_rejected_notebook_keeps_its_per_cell_errors_with_numbers() -> None:
    response = answer(
        NotebookRejected([CellError("No points.", 2, "q1"), CellError("Not a notebook.")])
    )
    assert response.status_code == 400
    assert response.data == {
        "file": ["cell 3 'q1': No points.", "Not a notebook."],
        "cells": [
            {"cell_index": 2, "grade_id": "q1", "message": "No points."},
            {"cell_index": None, "grade_id": None, "message": "Not a notebook."},
        ],
    }


def test_an_unexpected_error_is_not_translated() -> None:
    assert answer(RuntimeError("bug")) is None  # DRF re-raises it: a 500, logged
    assert answer(KeyError("x")) is None


# ---- through the real views: the same shapes from every app --------------------------------


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.mark.django_db
def test_a_model_constraint_from_a_service_reads_as_non_field_errors(api, people) -> None:  # type: ignore[no-untyped-def]
    run = CourseRunFactory()
    CourseStaffFactory(run=run, user=people.instructor)
    lab = LabFactory(run=run, created_by=people.instructor)
    api.force_authenticate(people.instructor)
    opens = timezone.now() + timedelta(days=30)
    response = api.patch(f"/api/v1/labs/{lab.pk}/", {"opens_at": opens.isoformat()}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"], response.json()


@pytest.mark.django_db
def test_every_app_answers_a_refusal_in_the_same_shape(api, people) -> None:  # type: ignore[no-untyped-def]
    run = CourseRunFactory()
    api.force_authenticate(people.student)
    # The labs side: the service refuses a student (403).
    response = api.post(
        "/api/v1/labs/",
        {"run": run.pk, "title": "Mine", "due_at": timezone.now().isoformat()},
        format="json",
    )
    assert (response.status_code, response.json()) == (403, FORBIDDEN)
    # The people side: the service refuses to remove one's own membership (400, no field).
    api.force_authenticate(people.admin_a)
    own = Membership.objects.get(user=people.admin_a, institution=people.inst_a)
    response = api.delete(f"/api/v1/memberships/{own.pk}/")
    assert (response.status_code, response.json()) == (
        400,
        {"non_field_errors": ["You cannot remove your own membership."]},
    )
    # The course side: the service refuses a removal without a reason (400, by field).
    api.force_authenticate(people.student)
    enrolled = api.post(f"/api/v1/runs/{run.pk}/enrol/", {}, format="json").json()
    CourseStaffFactory(run=run, user=people.instructor)
    api.force_authenticate(people.instructor)
    response = api.post(f"/api/v1/enrolments/{enrolled['id']}/remove/", {}, format="json")
    assert response.status_code == 400 and set(response.json()) == {"reason"}
    # ...and a withdrawal that cannot be (400, no field).
    api.force_authenticate(people.student)
    assert api.post(f"/api/v1/runs/{run.pk}/withdraw/").status_code == 200
    response = api.post(f"/api/v1/runs/{run.pk}/withdraw/")
    assert (response.status_code, response.json()) == (
        400,
        {"non_field_errors": ["This enrolment cannot be withdrawn."]},
    )


@pytest.mark.django_db
def test_what_a_selector_does_not_find_is_a_json_404(api, people) -> None:  # type: ignore[no-untyped-def]
    run = CourseRunFactory()
    api.force_authenticate(people.student)
    response = api.get(f"/api/v1/runs/{run.pk}/gradebook/")
    assert response["Content-Type"] == "application/json"
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
