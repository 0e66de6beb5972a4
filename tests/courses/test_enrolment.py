from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from academy.models import AuditEvent
from courses import selectors, services
from courses.models import Enrolment, EnrolmentState, InviteCode
from tests.factories import CourseFactory, CourseRunFactory, CourseStaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def enrol(run, user, **kw):  # type: ignore[no-untyped-def]
    return services.enrolment_request(run=run, user=user, **kw)


def test_it_enrols_then_waitlists_when_full(django_capture_on_commit_callbacks):
    run = CourseRunFactory(capacity=1)
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        assert enrol(run, a).state == EnrolmentState.ACTIVE
        eb, ec = enrol(run, b), enrol(run, c)
    assert (eb.state, eb.waitlist_position) == (EnrolmentState.WAITLISTED, 1)
    assert (ec.state, ec.waitlist_position) == (EnrolmentState.WAITLISTED, 2)
    run.refresh_from_db()
    assert run.active_count == 1
    assert [m.to for m in mail.outbox] == [[a.email], [b.email], [c.email]]
    assert "waitlist" in mail.outbox[1].subject


def test_withdrawal_promotes_the_first_waitlisted_and_tells_them(
    django_capture_on_commit_callbacks,
):
    run = CourseRunFactory(capacity=1)
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    ea, eb, ec = enrol(run, a), enrol(run, b), enrol(run, c)
    with django_capture_on_commit_callbacks(execute=True):
        services.enrolment_withdraw(enrolment=ea, actor=a)
    eb.refresh_from_db(), ec.refresh_from_db()
    assert eb.state == EnrolmentState.ACTIVE
    assert ec.state == EnrolmentState.WAITLISTED
    assert any(m.to == [b.email] and "seat is yours" in m.subject for m in mail.outbox)
    assert AuditEvent.objects.filter(action="enrolment.promote", target_id=str(eb.pk)).count() == 1


def test_a_withdrawn_student_can_enrol_again_and_queues_at_the_end():
    run = CourseRunFactory(capacity=1)
    a, b = UserFactory(), UserFactory()
    ea = enrol(run, a)
    enrol(run, b)
    services.enrolment_withdraw(enrolment=ea, actor=a)  # b promoted
    again = enrol(run, a)
    assert again.pk == ea.pk and again.state == EnrolmentState.WAITLISTED


def test_it_refuses_a_second_request():
    run = CourseRunFactory()
    user = UserFactory()
    enrol(run, user)
    with pytest.raises(ValidationError, match="already enrolled"):
        enrol(run, user)


def test_it_checks_the_window():
    now = timezone.now()
    run = CourseRunFactory(
        enrolment_opens_at=now - timedelta(days=9), enrolment_closes_at=now - timedelta(days=1)
    )
    with pytest.raises(ValidationError, match="window is closed"):
        enrol(run, UserFactory())


def test_it_checks_prerequisites():
    basics = CourseFactory(code="GPU101")
    run = CourseRunFactory()
    run.course.prerequisites.add(basics)
    user = UserFactory()
    with pytest.raises(ValidationError, match="Prerequisite missing: GPU101"):
        enrol(run, user)
    Enrolment.objects.create(
        run=CourseRunFactory(course=basics), user=user, state=EnrolmentState.COMPLETED
    )
    assert enrol(run, user).state == EnrolmentState.ACTIVE


def test_it_checks_allowed_institutions_and_cohorts(people):
    run = CourseRunFactory(is_public=False)
    run.allowed_institutions.add(people.inst_b)
    with pytest.raises(ValidationError, match="only for listed"):
        enrol(run, people.student)
    assert enrol(run, people.student_b).state == EnrolmentState.ACTIVE
    run.allowed_cohorts.add(people.cohort_a)
    e = enrol(run, people.student)
    assert e.cohort == people.cohort_a


def test_approval_policy_queues_and_staff_decide(people):
    run = CourseRunFactory(policy="approval", capacity=1)
    CourseStaffFactory(run=run, user=people.instructor)
    e1, e2 = enrol(run, people.student), enrol(run, people.student_b)
    assert e1.state == e2.state == EnrolmentState.PENDING
    with pytest.raises(PermissionDenied):
        services.enrolment_approve(enrolment=e1, actor=people.outsider)
    assert services.enrolment_approve(enrolment=e1, actor=people.instructor).state == "active"
    # Full: approval puts the second on the waitlist.
    assert services.enrolment_approve(enrolment=e2, actor=people.instructor).state == "waitlisted"


def test_institution_admin_approves_their_people_only(people):
    run = CourseRunFactory(policy="approval")
    e_a, e_b = enrol(run, people.student), enrol(run, people.student_b)
    assert services.enrolment_approve(enrolment=e_a, actor=people.admin_a).state == "active"
    with pytest.raises(PermissionDenied):
        services.enrolment_approve(enrolment=e_b, actor=people.admin_a)


def test_reject_and_remove_are_audited_with_the_reason(people):
    run = CourseRunFactory(policy="approval", capacity=1)
    CourseStaffFactory(run=run, user=people.instructor)
    e1, e2 = enrol(run, people.student), enrol(run, people.student_b)
    services.enrolment_reject(enrolment=e2, actor=people.instructor, reason="Not eligible")
    services.enrolment_approve(enrolment=e1, actor=people.instructor)
    with pytest.raises(ValidationError):
        services.enrolment_remove(enrolment=e1, actor=people.instructor, reason=" ")
    services.enrolment_remove(enrolment=e1, actor=people.instructor, reason="Left the programme")
    e1.refresh_from_db()
    assert (e1.state, e1.reason) == (EnrolmentState.WITHDRAWN, "Left the programme")
    removal = AuditEvent.objects.get(action="enrolment.remove")
    assert removal.data["reason"] == "Left the programme"
    assert removal.actor == people.instructor
    assert AuditEvent.objects.get(action="enrolment.reject").data["reason"] == "Not eligible"
    run.refresh_from_db()
    assert run.active_count == 0


def test_invite_codes_expire_and_run_out(people):
    run = CourseRunFactory(policy="invite")
    CourseStaffFactory(run=run, user=people.instructor)
    code = services.invite_code_create(
        run=run, actor=people.instructor, code="GPU-2027", max_uses=1
    )
    with pytest.raises(ValidationError, match="not valid"):
        enrol(run, people.student, invite_code="nope")
    assert enrol(run, people.student, invite_code="gpu-2027 ").state == "active"
    with pytest.raises(ValidationError, match="used up"):
        enrol(run, people.student_b, invite_code="GPU-2027")
    InviteCode.objects.filter(pk=code.pk).update(
        max_uses=None, expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(ValidationError, match="expired"):
        enrol(run, people.student_b, invite_code="GPU-2027")


def test_more_capacity_promotes_from_the_waitlist(people):
    run = CourseRunFactory(capacity=0)
    CourseStaffFactory(run=run, user=people.instructor)
    e = enrol(run, people.student)
    assert e.state == "waitlisted"
    services.run_capacity_set(run=run, actor=people.instructor, capacity=5)
    e.refresh_from_db()
    assert e.state == "active"


def test_staff_and_active_enrolment_helpers(people):
    run = CourseRunFactory()
    CourseStaffFactory(run=run, user=people.instructor, role="ta")
    assert run.pk in selectors.staff_run_ids(people.instructor)
    assert run.pk not in selectors.staff_run_ids(people.student)
    assert selectors.active_enrolment(people.student, run) is None
    e = enrol(run, people.student)
    assert selectors.active_enrolment(people.student, run) == e
    assert selectors.has_active_enrolment(people.student, run.pk)


def test_enrolments_are_scoped(people):
    run = CourseRunFactory()
    ea, eb = enrol(run, people.student), enrol(run, people.student_b)
    assert set(selectors.enrolments_for(people.student)) == {ea}
    assert set(selectors.enrolments_for(people.admin_a)) == {ea}
    assert set(selectors.enrolments_for(people.operator)) == {ea, eb}
    CourseStaffFactory(run=run, user=people.instructor)
    assert set(selectors.enrolments_for(people.instructor)) == {ea, eb}


def test_sectors_are_validated():
    course = CourseFactory.build(sectors=["health", "space"])
    with pytest.raises(ValidationError, match="space"):
        course.full_clean()
