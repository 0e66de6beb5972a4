"""The staff pages of credentials: the scoped list (filters, counts, CSV, a constant number of
queries), one credential with its audit trail and the revoke / suspend / reinstate forms, an
institution's people and what they hold, bulk issuing with its progress."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from academy.models import AuditEvent, Role
from courses.models import CourseStaff, StaffRole
from credentials import services, verification
from credentials.models import Credential, IssuanceJob, JobStatus
from tests.factories import CourseFactory, member
from tests.programmes.conftest import passed, result

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(people, eager):  # type: ignore[no-untyped-def]
    """A run taught by the instructor (of A), passed by A's student and B's student; one
    failed; credentials issued to both who passed."""
    course = CourseFactory(code="GPU101", title="GPU computing")
    run = passed(people.student, course, 85)
    result(people.student_b, run, 90)
    people.failer = member(people.inst_a, Role.STUDENT, username="failer")
    result(people.failer, run, 20)
    CourseStaff.objects.create(run=run, user=people.instructor, role=StaffRole.INSTRUCTOR)
    people.ta = member(people.inst_a, Role.INSTRUCTOR, username="ta")
    CourseStaff.objects.create(
        run=run, user=people.ta, role=StaffRole.TEACHING_ASSISTANT, can_edit=False
    )
    people.run = run
    people.cred_a, _ = services.issue_for_run(actor=None, user=people.student, run=run)
    people.cred_b, _ = services.issue_for_run(actor=None, user=people.student_b, run=run)
    return people


def test_operator_sees_all_with_counts_and_filters(client, world):
    services.revoke(actor=world.operator, credential=world.cred_b, reason="Plagiarism")
    client.force_login(world.operator)
    page = client.get("/credentials/manage/")
    assert page.status_code == 200
    body = page.content.decode()
    assert str(world.cred_a.uuid) in body and str(world.cred_b.uuid) in body
    assert page.context["counts"] == {"valid": 1, "suspended": 0, "revoked": 1}
    revoked = client.get("/credentials/manage/?state=revoked").content.decode()
    assert str(world.cred_b.uuid) in revoked and str(world.cred_a.uuid) not in revoked
    found = client.get("/credentials/manage/?q=studentb").content.decode()
    assert str(world.cred_b.uuid) in found and str(world.cred_a.uuid) not in found
    # bad filter values are ignored, never a 500
    assert client.get("/credentials/manage/?run=abc&state=zzz&page=x").status_code == 200


def test_csv_export_is_the_filtered_list_and_formula_safe(client, world):
    world.student.first_name = "=HYPERLINK(1)"
    world.student.save()
    client.force_login(world.operator)
    response = client.get("/credentials/manage.csv?q=student")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "credential"
    uuids = {r[0] for r in rows[1:]}
    assert str(world.cred_a.uuid) in uuids
    assert any(r[2] == "'=HYPERLINK(1)" for r in rows[1:])


def test_admin_of_b_sees_only_their_member(client, world):
    client.force_login(world.admin_b)
    body = client.get("/credentials/manage/").content.decode()
    assert str(world.cred_b.uuid) in body and str(world.cred_a.uuid) not in body
    assert client.get(f"/credentials/manage/{world.cred_a.uuid}/").status_code == 404
    detail = client.get(f"/credentials/manage/{world.cred_b.uuid}/")
    assert detail.status_code == 200 and not detail.context["may_manage"]
    assert b'id="revoke-form"' not in detail.content
    # and cannot revoke by posting
    response = client.post(
        f"/credentials/manage/{world.cred_b.uuid}/", {"action": "revoke", "reason": "x"}
    )
    assert response.status_code == 404
    assert Credential.objects.get(pk=world.cred_b.pk).revoked_at is None


def test_student_cannot_open_manage_pages(client, world):
    client.force_login(world.student)
    assert client.get("/credentials/manage/").status_code == 404
    assert client.get("/credentials/manage.csv").status_code == 404
    assert client.get(f"/credentials/manage/{world.cred_a.uuid}/").status_code == 404
    assert client.get(f"/runs/{world.run.pk}/credentials/").status_code == 404
    assert client.get("/institutions/uni-a/credentials/").status_code == 404


def test_ta_without_edit_rights_sees_but_cannot_revoke(client, world):
    client.force_login(world.ta)
    detail = client.get(f"/credentials/manage/{world.cred_a.uuid}/")
    assert detail.status_code == 200 and b'id="read-only"' in detail.content
    response = client.post(
        f"/credentials/manage/{world.cred_a.uuid}/",
        {"action": "revoke", "reason": "x", "confirm": "1"},
    )
    assert response.status_code == 404
    assert client.get(f"/runs/{world.run.pk}/credentials/").status_code == 404


def test_revoke_needs_reason_and_confirmation_then_is_audited(client, world):
    client.force_login(world.instructor)
    url = f"/credentials/manage/{world.cred_a.uuid}/"
    no_reason = client.post(url, {"action": "revoke", "reason": "  ", "confirm": "1"})
    assert no_reason.status_code == 400 and b"Give a reason" in no_reason.content
    unconfirmed = client.post(url, {"action": "revoke", "reason": "Cheated"})
    assert unconfirmed.status_code == 400 and b"revocation is final" in unconfirmed.content
    assert b"Cheated" in unconfirmed.content  # the input is kept
    assert Credential.objects.get(pk=world.cred_a.pk).revoked_at is None
    done = client.post(url, {"action": "revoke", "reason": "Cheated", "confirm": "1"})
    assert done.status_code == 302
    credential = Credential.objects.get(pk=world.cred_a.pk)
    assert credential.revocation_reason == "Cheated"
    assert verification.verify(credential.document).verdict == verification.REVOKED
    page = client.get(url).content.decode()
    assert "credential.revoke" in page and "credential.issue" in page and "Cheated" in page
    # revoked: no more forms; reinstating is refused
    assert 'id="revoke-form"' not in page
    refused = client.post(url, {"action": "reinstate"})
    assert refused.status_code in (302, 400)
    assert Credential.objects.get(pk=world.cred_a.pk).revoked_at is not None


def test_suspend_and_reinstate(client, world):
    client.force_login(world.instructor)
    url = f"/credentials/manage/{world.cred_a.uuid}/"
    assert client.post(url, {"action": "suspend", "reason": ""}).status_code == 400
    assert client.post(url, {"action": "suspend", "reason": "Inquiry"}).status_code == 302
    assert Credential.objects.get(pk=world.cred_a.pk).state == "suspended"
    assert client.post(url, {"action": "reinstate"}).status_code == 302
    assert Credential.objects.get(pk=world.cred_a.pk).state == "valid"
    actions = set(
        AuditEvent.objects.filter(target_id=str(world.cred_a.pk)).values_list("action", flat=True)
    )
    assert {"credential.suspend", "credential.reinstate"} <= actions
    assert client.post(url, {"action": "bogus"}).status_code == 400


def test_list_queries_are_constant(client, world):
    def count(user) -> int:  # type: ignore[no-untyped-def]
        client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/credentials/manage/").status_code == 200
        return len(queries)

    before = {u.username: count(u) for u in (world.operator, world.admin_a, world.instructor)}
    course = CourseFactory(code="MORE1")
    for i in range(6):
        person = member(world.inst_a, Role.STUDENT, username=f"more{i}")
        run = passed(person, course, 90)
        CourseStaff.objects.get_or_create(run=run, user=world.instructor)
        services.issue_for_run(actor=None, user=person, run=run)
    after = {u.username: count(u) for u in (world.operator, world.admin_a, world.instructor)}
    assert after == before
    client.force_login(world.admin_a)
    assert len(client.get("/credentials/manage/").context["page"].object_list) == 7


def test_institution_page_is_for_its_admins_only(client, world):
    client.force_login(world.admin_a)
    page = client.get("/institutions/uni-a/credentials/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "failer" in body and str(world.cred_a.uuid) in body
    assert str(world.cred_b.uuid) not in body
    cohort = client.get(f"/institutions/uni-a/credentials/?cohort={world.cohort_a.pk}")
    assert "failer" not in cohort.content.decode()  # not in the cohort
    assert client.get("/institutions/uni-b/credentials/").status_code == 404
    assert b"institutions/uni-a/credentials/" in client.get("/institutions/uni-a/").content
    client.force_login(world.operator)
    assert client.get("/institutions/uni-b/credentials/").status_code == 200


def test_run_page_issues_to_everyone_who_passed_once(
    client, world, django_capture_on_commit_callbacks
):
    Credential.objects.filter(user=world.student_b).delete()
    client.force_login(world.instructor)
    page = client.get(f"/runs/{world.run.pk}/credentials/")
    assert page.context["summary"] == {"enrolled": 3, "passed": 2, "held": 1, "owed": 1}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/runs/{world.run.pk}/credentials/")
    job = IssuanceJob.objects.get()
    assert response.url == f"/credentials/jobs/{job.pk}/"
    status = client.get(f"/credentials/jobs/{job.pk}/status").json()
    assert status["status"] == JobStatus.DONE and status["done"]
    assert (status["issued"], status["skipped"], status["ineligible"]) == (1, 1, 1)
    assert status["percent"] == 100
    job_page = client.get(f"/credentials/jobs/{job.pk}/").content.decode()
    assert 'src="/static/credentials/job.js"' in job_page or "credentials/job.js" in job_page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/runs/{world.run.pk}/credentials/")
    again = IssuanceJob.objects.order_by("-pk").first()
    assert again is not None and (again.issued, again.skipped) == (0, 2)
    assert Credential.objects.filter(run=world.run).count() == 2
    # jobs are scoped: the student's admin of B sees none of them
    client.force_login(world.admin_b)
    assert client.get(f"/credentials/jobs/{job.pk}/status").status_code == 404
    assert client.get(f"/credentials/jobs/{job.pk}/").status_code == 404


def test_programme_page_counts_and_issues_to_completions(
    client, people, eager, django_capture_on_commit_callbacks
):
    from programmes.models import Allocation, AllocationSource, AllocationState, Completion
    from tests.programmes.conftest import build_foundation

    foundation = build_foundation(people.operator)
    version = foundation.programme.versions.get()

    def completion(user, *, flagged: bool = False) -> Completion:  # type: ignore[no-untyped-def]
        allocation = Allocation.objects.create(
            version=version,
            programme=foundation.programme,
            user=user,
            state=AllocationState.COMPLETED,
            source=AllocationSource.STAFF,
        )
        return Completion.objects.create(
            allocation=allocation,
            version=version,
            evidence=[],
            credits=20,
            needs_review=flagged,
            review_reason="grade changed" if flagged else "",
        )

    completion(people.student)
    completion(people.student_b, flagged=True)
    url = f"/manage/programmes/{foundation.programme.code}/credentials/"
    client.force_login(people.student)
    assert client.get(url).status_code == 404
    client.force_login(people.operator)
    page = client.get(url)
    assert page.context["summary"] == {"total": 2, "flagged": 1, "held": 0, "owed": 1}
    assert b"grade changed" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    job = IssuanceJob.objects.get()
    assert response.url == f"/credentials/jobs/{job.pk}/"
    job.refresh_from_db()
    assert (job.issued, job.skipped, job.ineligible) == (1, 0, 1)
    assert client.get(url).context["summary"]["held"] == 1
    assert (
        f"/manage/programmes/{foundation.programme.code}/credentials/"
        in client.get(f"/credentials/jobs/{job.pk}/").content.decode()
    )
