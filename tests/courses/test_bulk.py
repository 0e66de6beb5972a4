import io
import tempfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from academy import services as people_services
from academy.models import AuditEvent, Invitation, Membership, Role, User
from courses import bulk, services
from courses.models import BulkUpload, Enrolment, ReservedEnrolment
from tests.factories import CourseRunFactory, UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(people):  # type: ignore[no-untyped-def]
    run = CourseRunFactory(capacity=3)
    enrolled = member(people.inst_a, Role.STUDENT, email="enrolled@example.org")
    services.enrolment_request(run=run, user=enrolled)  # 1 of 3 seats taken
    # Members of institution A (they accepted its invitation earlier) ...
    member(people.inst_a, Role.STUDENT, email="known1@example.org")
    member(people.inst_a, Role.STUDENT, email="known2@example.org")
    member(people.inst_a, Role.STUDENT, email="known3@example.org")
    # ... and an account that is not a member: it is invited, like an unknown address.
    UserFactory(email="elsewhere@example.org")
    return people, run


EVERY_KIND = (
    "email,first_name,last_name,cohort\n"
    "new@example.org,Nova,Newcomer,A 2026\n"  # 2 not a member -> invitation
    "Known1@example.org,Kim,Known,\n"  # 3 member -> enrolled
    "enrolled@example.org,Ed,Enrolled,A 2026\n"  # 4 already enrolled
    "not-an-email,Bad,Mail,A 2026\n"  # 5 bad e-mail
    "known2@example.org,Kai,Known,Z 1999\n"  # 6 unknown cohort
    "known2@example.org,Kai,Known,A 2026\n"  # 7 member -> last seat
    "known3@example.org,Kit,Known,a 2026\n"  # 8 over capacity -> waitlist
    "new@example.org,Nova,Again,A 2026\n"  # 9 duplicate line
    "\n"  # blank lines are ignored
    "elsewhere@example.org,El,Sewhere,\n"  # 11 an account, not a member -> invitation
)


def store(people, run, data: bytes):  # type: ignore[no-untyped-def]
    return bulk.bulk_upload_store(
        actor=people.admin_a,
        institution=people.inst_a,
        run=run,
        file=io.BytesIO(data),
        size=len(data),
        filename="list.csv",
    )


def outcomes(lines):  # type: ignore[no-untyped-def]
    return [(ln.number, ln.outcome) for ln in lines]


def test_preview_lists_every_lines_outcome_and_changes_nothing(setup):
    people, run = setup
    upload = store(people, run, EVERY_KIND.encode())
    before = (Enrolment.objects.count(), Invitation.objects.count(), AuditEvent.objects.count())
    lines = bulk.bulk_preview(upload=upload, actor=people.admin_a)
    assert outcomes(lines) == [
        (2, "invite"),
        (3, "enrol"),
        (4, "already_enrolled"),
        (5, "bad_email"),
        (6, "unknown_cohort"),
        (7, "enrol"),
        (8, "waitlist"),
        (9, "duplicate"),
        (11, "invite"),
    ]
    assert (
        Enrolment.objects.count(),
        Invitation.objects.count(),
        AuditEvent.objects.count(),
    ) == before


def test_apply_then_apply_again_is_a_no_op(setup, django_capture_on_commit_callbacks):
    people, run = setup
    upload = store(people, run, EVERY_KIND.encode())
    with django_capture_on_commit_callbacks(execute=True):
        counts = bulk.bulk_apply(upload=upload, actor=people.admin_a)
    assert counts["enrol"] == 2 and counts["waitlist"] == 1 and counts["invite"] == 2
    states = dict(Enrolment.objects.filter(run=run).values_list("user__email", "state"))
    assert states == {
        "enrolled@example.org": "active",
        "known1@example.org": "active",
        "known2@example.org": "active",
        "known3@example.org": "waitlisted",
    }
    assert (
        Invitation.objects.filter(email="new@example.org", institution=people.inst_a).count() == 1
    )
    assert ReservedEnrolment.objects.filter(run=run, email="new@example.org").exists()
    # The account that is not a member was invited, not added.
    assert Invitation.objects.filter(email="elsewhere@example.org").count() == 1
    assert not Membership.objects.filter(user__email="elsewhere@example.org").exists()
    assert not Enrolment.objects.filter(user__email="elsewhere@example.org").exists()
    assert people.cohort_a.members.filter(email="known3@example.org").exists()

    snapshot = (
        list(Enrolment.objects.order_by("pk").values_list("pk", "state", "waitlist_position")),
        Invitation.objects.count(),
        ReservedEnrolment.objects.count(),
        Membership.objects.count(),
    )
    again = store(people, run, EVERY_KIND.encode())  # the same file uploaded twice
    assert again.pk == upload.pk and BulkUpload.objects.count() == 1
    lines = bulk.bulk_preview(upload=again, actor=people.admin_a)
    assert not any(ln.changes for ln in lines)
    bulk.bulk_apply(upload=again, actor=people.admin_a)
    assert snapshot == (
        list(Enrolment.objects.order_by("pk").values_list("pk", "state", "waitlist_position")),
        Invitation.objects.count(),
        ReservedEnrolment.objects.count(),
        Membership.objects.count(),
    )


def test_the_invited_person_is_enrolled_when_they_arrive(setup):
    people, run = setup
    bulk.bulk_apply(upload=store(people, run, EVERY_KIND.encode()), actor=people.admin_a)
    invitation = Invitation.objects.get(email="new@example.org")
    newcomer = people_services.invitation_accept(
        token=people_services.invitation_token(invitation),
        username="nova",
        password="a-Long-enough-pass-42",
    )
    assert people.cohort_a.members.filter(pk=newcomer.pk).exists()
    enrolment = Enrolment.objects.get(run=run, user=newcomer)
    assert enrolment.state == "waitlisted"  # the run filled meanwhile
    assert enrolment.cohort == people.cohort_a
    assert services.enrolment_claim_reserved(user=newcomer) == []

    # The existing account accepts when signed in, and is enrolled then.
    elsewhere = User.objects.get(email="elsewhere@example.org")
    people_services.invitation_accept_as(
        token=people_services.invitation_token(
            Invitation.objects.get(email="elsewhere@example.org")
        ),
        user=elsewhere,
    )
    assert Enrolment.objects.get(run=run, user=elsewhere).state == "waitlisted"


@pytest.mark.parametrize(
    "data, message",
    [
        ("email;first_name;last_name;cohort\nä@x.org;Ä;Ö;A\n".encode("latin-1"), "not UTF-8"),
        (b"PK\x03\x04\x00\x00binary spreadsheet", "binary file"),
        (b"email,first_name\nx@example.org,X\n", "Missing columns: last_name, cohort"),
        (b"", "empty"),
        (b"email,first_name,last_name,cohort\n", "no lines"),
    ],
)
def test_bad_files_get_a_clear_error_and_change_nothing(setup, data, message):
    people, run = setup
    with pytest.raises(ValidationError, match=message):
        store(people, run, data)
    assert BulkUpload.objects.count() == 0


def test_a_100_mb_file_is_refused_before_reading(setup):
    people, run = setup
    with tempfile.TemporaryFile() as f:
        f.truncate(100 * 1024 * 1024)
        with pytest.raises(ValidationError, match="too big"):
            bulk.bulk_upload_store(
                actor=people.admin_a,
                institution=people.inst_a,
                run=run,
                file=f,
                size=100 * 1024 * 1024,
            )
    assert BulkUpload.objects.count() == 0


def test_semicolons_and_a_bom_are_accepted(setup):
    people, run = setup
    upload = store(
        people, run, "\ufeffEmail;First_name;Last_name;Cohort\nknown1@example.org;K;K;\n".encode()
    )
    assert outcomes(bulk.bulk_preview(upload=upload, actor=people.admin_a)) == [(2, "enrol")]


def test_only_the_institutions_admins_may_upload(setup):
    people, run = setup
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        bulk.bulk_upload_store(
            actor=people.admin_b,
            institution=people.inst_a,
            run=run,
            file=io.BytesIO(EVERY_KIND.encode()),
        )


def test_the_pages_preview_and_apply(client, setup):
    people, run = setup
    client.force_login(people.admin_b)
    assert client.get("/institutions/uni-a/bulk-enrol/").status_code == 404
    client.force_login(people.admin_a)
    bad = client.post(
        "/institutions/uni-a/bulk-enrol/",
        {"run": run.pk, "file": SimpleUploadedFile("x.xlsx", b"PK\x03\x04\x00\x00")},
    )
    assert bad.status_code == 400 and "binary file" in bad.content.decode()
    response = client.post(
        "/institutions/uni-a/bulk-enrol/",
        {"run": run.pk, "file": SimpleUploadedFile("list.csv", EVERY_KIND.encode())},
        follow=True,
    )
    body = response.content.decode()
    assert "Unknown cohort at this institution" in body and "Duplicate line" in body
    response = client.post(response.redirect_chain[-1][0], follow=True)
    assert "Nothing to change" in response.content.decode()
