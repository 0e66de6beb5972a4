"""The REST API of credentials: scoped lists and details (with the signed document), issuing
(201 new, 200 held, 400 with the reason, 403/404 without the right), revoke / suspend /
reinstate, bulk jobs (202 and progress) and the public status list."""

from __future__ import annotations

import pytest
from django.test import Client

from academy.models import Role
from courses.models import CourseStaff, StaffRole
from credentials import services, statuslist
from credentials.models import Credential, IssuanceJob
from tests.factories import CourseFactory, member
from tests.programmes.conftest import passed, result

pytestmark = pytest.mark.django_db

API = "/api/v1/credentials/"


@pytest.fixture
def world(people, eager):  # type: ignore[no-untyped-def]
    course = CourseFactory(code="GPU101", title="GPU computing")
    run = passed(people.student, course, 85)
    result(people.student_b, run, 90)
    people.failer = member(people.inst_a, Role.STUDENT, username="failer")
    result(people.failer, run, 20)
    CourseStaff.objects.create(run=run, user=people.instructor, role=StaffRole.INSTRUCTOR)
    people.ta = member(people.inst_a, Role.INSTRUCTOR, username="ta")
    CourseStaff.objects.create(run=run, user=people.ta, role=StaffRole.TEACHING_ASSISTANT)
    people.run = run
    people.cred_a, _ = services.issue_for_run(actor=None, user=people.student, run=run)
    return people


def api(user=None) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def post(client: Client, url: str, data: object) -> object:
    return client.post(url, data, content_type="application/json")


def test_list_is_scoped_and_filtered(world):
    services.issue_for_run(actor=None, user=world.student_b, run=world.run)
    ids = {c["id"] for c in api(world.operator).get(API).json()["results"]}
    assert len(ids) == 2
    own = api(world.student).get(API).json()["results"]
    assert [c["id"] for c in own] == [str(world.cred_a.uuid)]
    assert "document" not in own[0] and own[0]["state"] == "valid"
    b_only = api(world.admin_b).get(API).json()["results"]
    assert [c["user"] for c in b_only] == ["studentb"]
    assert api(world.outsider).get(API).json()["results"] == []
    assert api().get(API).status_code in (401, 403)
    filtered = api(world.operator).get(API, {"user": "student", "state": "valid"}).json()
    assert [c["user"] for c in filtered["results"]] == ["student"]
    assert api(world.operator).get(API, {"state": "revoked"}).json()["results"] == []
    assert api(world.operator).get(API, {"state": "nonsense"}).status_code == 400


def test_detail_has_the_signed_document_and_is_404_outside_scope(world):
    url = f"{API}{world.cred_a.uuid}/"
    detail = api(world.student).get(url).json()
    assert detail["document"]["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    assert api(world.admin_b).get(url).status_code == 404
    assert api(world.operator).get(f"{API}00000000-0000-0000-0000-000000000000/").status_code == 404


def test_issue_for_a_run(world):
    client = api(world.instructor)
    new = post(client, API, {"run": world.run.pk, "user": world.student_b.pk})
    assert new.status_code == 201, new.content
    assert new.json()["user"] == "studentb" and new.json()["document"]["proof"]
    again = post(client, API, {"run": world.run.pk, "user": world.student_b.pk})
    assert again.status_code == 200 and again.json()["id"] == new.json()["id"]
    refused = post(client, API, {"run": world.run.pk, "user": world.failer.pk})
    assert refused.status_code == 400
    assert "below the pass mark" in refused.json()["non_field_errors"][0]
    assert not Credential.objects.filter(user=world.failer).exists()


@pytest.mark.parametrize(
    "payload",
    [{}, {"run": 1}, {"user": 1}, {"run": "x", "user": 1}, {"run": 1, "user": 1, "completion": 1}],
)
def test_issue_bad_payloads_are_400(world, payload):
    assert post(api(world.instructor), API, payload).status_code == 400


def test_issue_without_the_right(world):
    # a TA without editing rights, an admin of B, a stranger: refused; unknown ids: 404
    for user in (world.ta, world.admin_b, world.outsider):
        response = post(api(user), API, {"run": world.run.pk, "user": world.student_b.pk})
        assert response.status_code == 403, user
    operator = api(world.operator)
    assert post(operator, API, {"run": 999999, "user": world.student.pk}).status_code == 404
    assert post(operator, API, {"run": world.run.pk, "user": 999999}).status_code == 404
    assert post(operator, API, {"completion": 999999}).status_code == 404
    # a person may claim their own
    own = post(api(world.student_b), API, {"run": world.run.pk, "user": world.student_b.pk})
    assert own.status_code == 201


def test_revoke_suspend_reinstate(world):
    url = f"{API}{world.cred_a.uuid}/"
    instructor = api(world.instructor)
    assert post(instructor, url + "revoke/", {}).status_code == 400
    assert post(instructor, url + "revoke/", {"reason": ""}).status_code == 400
    assert post(api(world.ta), url + "revoke/", {"reason": "x"}).status_code == 403
    assert post(api(world.admin_b), url + "revoke/", {"reason": "x"}).status_code == 404
    assert post(api(world.student), url + "revoke/", {"reason": "x"}).status_code == 403
    suspended = post(instructor, url + "suspend/", {"reason": "Inquiry"})
    assert suspended.status_code == 200 and suspended.json()["state"] == "suspended"
    reinstated = post(instructor, url + "reinstate/", {})
    assert reinstated.status_code == 200 and reinstated.json()["state"] == "valid"
    revoked = post(instructor, url + "revoke/", {"reason": "Cheated"})
    assert revoked.status_code == 200 and revoked.json()["revocation_reason"] == "Cheated"
    refused = post(instructor, url + "suspend/", {"reason": "again"})
    assert refused.status_code == 400 and refused.json()["non_field_errors"]


def test_bulk_job_202_and_progress(world, django_capture_on_commit_callbacks):
    client = api(world.instructor)
    with django_capture_on_commit_callbacks(execute=True):
        started = post(client, "/api/v1/credential-jobs/", {"run": world.run.pk})
    assert started.status_code == 202, started.content
    job = client.get(f"/api/v1/credential-jobs/{started.json()['id']}/").json()
    assert job["status"] == "done" and job["percent"] == 100
    assert (job["issued"], job["skipped"], job["ineligible"]) == (1, 1, 1)
    assert post(client, "/api/v1/credential-jobs/", {}).status_code == 400
    assert post(client, "/api/v1/credential-jobs/", {"programme": "nope"}).status_code == 404
    assert post(api(world.ta), "/api/v1/credential-jobs/", {"run": world.run.pk}).status_code == 403
    assert api(world.admin_b).get(f"/api/v1/credential-jobs/{job['id']}/").status_code == 404
    assert IssuanceJob.objects.count() == 1


def test_status_list_is_public(world):
    services.revoke(actor=world.operator, credential=world.cred_a, reason="x")
    number = world.cred_a.status_list
    response = api().get(f"/api/v1/credential-status-lists/{number}/revocation/")
    assert response.status_code == 200
    encoded = response.json()["credentialSubject"]["encodedList"]
    assert statuslist.is_set(statuslist.decode(encoded), world.cred_a.status_index)
    assert api().get(f"/api/v1/credential-status-lists/{number}/bogus/").status_code == 404
    assert api().get("/api/v1/credential-status-lists/999/revocation/").status_code == 404
