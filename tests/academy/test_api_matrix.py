"""Every list endpoint of the API, for every role: anonymous users get nothing, signed-in users
get an answer scoped to them, and nobody gets a 500.  Bad payloads get 400 with field errors."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.academy.test_permissions import ROLES, client_for


def list_endpoints(client: Client) -> list[str]:
    schema = client.get("/api/v1/schema/?format=json").json()
    return sorted(p for p, ops in schema["paths"].items() if "{" not in p and "get" in ops)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_list_endpoint_answers_without_error(people, role):
    client = client_for(people, role)
    paths = list_endpoints(Client())
    assert len(paths) >= 8, paths
    problems = []
    for path in paths:
        if path.endswith(("/schema/", "/docs/", "/redoc/")):
            continue
        status = client.get(path).status_code
        if role == "anonymous" and status not in (401, 403):
            problems.append(f"{path}: anonymous got {status}")
        elif role != "anonymous" and status not in (200, 403, 404):
            problems.append(f"{path}: {role} got {status}")
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"institution": "uni-a"},
        {"institution": "uni-a", "name": "", "intake_year": "soon"},
        {"institution": "uni-a", "name": "X" * 500, "intake_year": 2027},
        {
            "institution": "uni-a",
            "name": "X",
            "intake_year": 2027,
            "starts_on": "2027-05-01",
            "ends_on": "2027-01-01",
        },
        {"institution": ["uni-a"], "name": {"a": 1}, "intake_year": None},
    ],
)
def test_bad_payloads_get_field_errors_not_500(people, payload):
    response = client_for(people, "admin_a").post(
        "/api/v1/cohorts/", payload, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert isinstance(response.json(), dict) and response.json()


@pytest.mark.django_db
def test_malformed_json_is_a_400(people):
    response = client_for(people, "admin_a").post(
        "/api/v1/cohorts/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
