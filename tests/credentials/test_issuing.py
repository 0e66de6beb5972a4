"""Issuing on completion: a passed run or a programme completion yields a signed Open Badges
3.0 credential; anything else is refused with the reason; issuing twice issues once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from academy.models import AuditEvent
from credentials import keys, services, signing, verification
from credentials.models import Credential, CredentialKind
from programmes import services as programme_services
from programmes.models import Completion, EscoSkill, LearningOutcome
from tests.factories import CourseFactory, UserFactory
from tests.programmes.conftest import build_foundation, finished_run, passed, result

pytestmark = pytest.mark.django_db


def test_a_passed_run_yields_a_signed_open_badge_that_verifies():
    student = UserFactory(email="Ana@Example.org")
    course = CourseFactory(code="GPU101", title="GPUs", ects=Decimal("2.5"), eqf_level=6)
    skill = EscoSkill.objects.create(uri="http://data.europa.eu/esco/skill/x", label="CUDA")
    outcome = LearningOutcome.objects.create(course=course, title="Write kernels")
    outcome.esco_skills.add(skill)
    run = passed(student, course, 85)

    credential, new = services.issue_for_run(actor=None, user=student, run=run)

    assert new and credential.kind == CredentialKind.COURSE
    doc = credential.document
    assert doc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert doc["issuer"]["id"] == keys.issuer().did
    achievement = doc["credentialSubject"]["achievement"]
    assert achievement["creditsAvailable"] == 2.5
    targets = {a["targetUrl"] for a in achievement["alignment"]}
    assert targets == {skill.uri, "http://data.europa.eu/snb/eqf/6"}
    assert "ana@example.org" not in str(doc).lower()
    identity = doc["credentialSubject"]["identifier"][0]
    assert identity["identityHash"] == signing.hashed_identity("ana@example.org", identity["salt"])
    assert "85.00%" in doc["evidence"][0]["narrative"]
    assert {s["statusPurpose"] for s in doc["credentialStatus"]} == {"revocation", "suspension"}
    assert verification.verify(doc).verdict == verification.VERIFIED
    assert AuditEvent.objects.filter(
        action="credential.issue", target_id=str(credential.pk)
    ).exists()


def test_issuing_twice_returns_the_same_credential():
    student = UserFactory()
    run = passed(student, CourseFactory(), 90)
    first, new = services.issue_for_run(actor=None, user=student, run=run)
    second, again = services.issue_for_run(actor=None, user=student, run=run)
    assert new and not again and first.pk == second.pk
    assert Credential.objects.count() == 1


@pytest.mark.parametrize(
    ("percent", "reason"),
    [(40, "below the pass mark"), (None, "grade 0.00% is below")],
)
def test_not_passed_is_refused_with_the_reason(percent, reason):
    student = UserFactory()
    run = finished_run(CourseFactory())
    result(student, run, percent)
    with pytest.raises(services.NotEligible, match=reason):
        services.issue_for_run(actor=None, user=student, run=run)
    assert not Credential.objects.exists()


def test_not_enrolled_and_not_ended_are_refused():
    student = UserFactory()
    run = finished_run(CourseFactory())
    with pytest.raises(services.NotEligible, match="not enrolled"):
        services.issue_for_run(actor=None, user=student, run=run)


def test_a_stranger_cannot_issue_for_someone_else():
    student, stranger = UserFactory(), UserFactory()
    run = passed(student, CourseFactory())
    with pytest.raises(PermissionDenied):
        services.issue_for_run(actor=stranger, user=student, run=run)


def test_revocation_and_suspension_flip_the_published_bits(people):
    student = UserFactory()
    run = passed(student, CourseFactory())
    credential, _ = services.issue_for_run(actor=None, user=student, run=run)
    services.suspend(actor=people.operator, credential=credential, reason="under investigation")
    assert verification.verify(credential.document).verdict == verification.SUSPENDED
    services.reinstate(actor=people.operator, credential=credential)
    assert verification.verify(credential.document).verdict == verification.VERIFIED
    services.revoke(actor=people.operator, credential=credential, reason="plagiarism")
    assert verification.verify(credential.document).verdict == verification.REVOKED
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"credential.suspend", "credential.reinstate", "credential.revoke"} <= actions
    with pytest.raises(PermissionDenied):
        services.revoke(actor=people.outsider, credential=credential, reason="x")


def test_tampering_is_caught():
    student = UserFactory()
    run = passed(student, CourseFactory())
    credential, _ = services.issue_for_run(actor=None, user=student, run=run)
    doc = dict(credential.document)
    doc["name"] = "Doctor of Everything"
    assert verification.verify(doc).verdict == verification.TAMPERED


def _complete(f, student):  # type: ignore[no-untyped-def]
    programme_services.allocation_join(actor=student, programme=f.programme)
    for course in [f.gpu, *f.electives[:2], f.capstone]:
        passed(student, course, 80)


def test_a_programme_completion_issues_the_programme_certificate(transactional_db, eager):
    f = build_foundation()
    student = UserFactory()
    _complete(f, student)

    completion = Completion.objects.get(allocation__user=student)
    credential = Credential.objects.get(completion=completion)
    doc = credential.document
    assert credential.kind == CredentialKind.PROGRAMME
    assert doc["credentialSubject"]["achievement"]["achievementType"] == "Certificate"
    assert doc["credentialSubject"]["creditsEarned"] == 20
    assert "GPU101" in doc["evidence"][0]["narrative"]
    assert verification.verify(doc).verified
    # the system issued everything earned at once: the programme and its four passed runs
    assert Credential.objects.filter(user=student).count() == 5
    assert services.issue_due([student.pk]) == 0


def test_a_completion_flagged_for_review_is_not_issued(transactional_db, eager):
    f = build_foundation()
    student = UserFactory()
    _complete(f, student)
    completion = Completion.objects.get(allocation__user=student)
    Credential.objects.filter(completion=completion).delete()
    Completion.objects.filter(pk=completion.pk).update(
        needs_review=True, review_reason="GPU101: 80 → 50"
    )
    completion.refresh_from_db()
    with pytest.raises(services.NotEligible, match="flagged for review"):
        services.issue_for_completion(actor=None, completion=completion)


def test_bulk_job_is_idempotent_and_counts(people):
    course = CourseFactory()
    run = finished_run(course)
    students = [UserFactory() for _ in range(5)]
    for i, student in enumerate(students):
        result(student, run, 90 if i < 3 else 30)
    services.issue_for_run(actor=None, user=students[0], run=run)

    job = services.start_job(actor=people.operator, run=run)
    job = services.run_job(job.pk)
    assert (job.total, job.processed, job.issued, job.skipped, job.ineligible) == (5, 5, 2, 1, 2)
    again = services.run_job(services.start_job(actor=people.operator, run=run).pk)
    assert (again.issued, again.skipped) == (0, 3)
    assert Credential.objects.filter(run=run).count() == 3
    with pytest.raises(PermissionDenied):
        services.start_job(actor=people.student, run=run)
