"""The programme services against the database: building, publishing, versions, allocation,
progress computed from results, completion frozen, the review flag."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from academy.models import AuditEvent, Membership, Role
from courses.models import EnrolmentState
from programmes import rules, selectors, services
from programmes.models import (
    Allocation,
    AllocationSource,
    AllocationState,
    Completion,
    JoinPolicy,
    Requirement,
    Rule,
)
from tests.factories import CohortFactory, CourseFactory, InstitutionFactory, UserFactory, member

from .conftest import build_foundation, finished_run, passed, result

# Progress follows results after commit (on_commit), as in production: real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


def join(foundation, user=None):  # type: ignore[no-untyped-def]
    user = user or UserFactory()
    return services.allocation_join(actor=user, programme=foundation.programme)


def state_of(allocation, requirement) -> str:  # type: ignore[no-untyped-def]
    allocation.refresh_from_db()
    return allocation.progress[str(requirement.pk)]


def item(foundation, course) -> Requirement:  # type: ignore[no-untyped-def]
    return Requirement.objects.get(version__programme=foundation.programme, course=course)


def test_a_new_follower_sees_the_first_course_open_and_the_rest_locked(foundation):
    allocation = join(foundation)
    assert state_of(allocation, item(foundation, foundation.gpu)) == rules.AVAILABLE
    assert state_of(allocation, foundation.elective_set) == rules.LOCKED
    assert state_of(allocation, item(foundation, foundation.capstone)) == rules.LOCKED
    assert (allocation.items_done, allocation.items_total) == (0, 5)


def test_progress_follows_a_graded_submission_without_anyone_copying_it(foundation):
    allocation = join(foundation)
    passed(allocation.user, foundation.gpu)
    allocation.refresh_from_db()
    assert state_of(allocation, item(foundation, foundation.gpu)) == rules.DONE
    assert state_of(allocation, foundation.elective_set) == rules.AVAILABLE
    assert allocation.credits_earned == Decimal(5)


def test_an_elective_below_its_minimum_grade_does_not_count(foundation):
    allocation = join(foundation)
    user = allocation.user
    passed(user, foundation.gpu)
    med, ene, _llm = foundation.electives
    passed(user, med, percent=55)  # passes the run (pass mark 50) but under the item's 60
    passed(user, ene, percent=90)
    assert state_of(allocation, item(foundation, med)) == rules.AVAILABLE
    assert state_of(allocation, foundation.elective_set) == rules.IN_PROGRESS
    passed(user, med, percent=75)  # a later run of the same course counts
    assert state_of(allocation, foundation.elective_set) == rules.DONE
    assert state_of(allocation, item(foundation, foundation.capstone)) == rules.AVAILABLE


def test_an_excluded_run_does_not_count(foundation):
    allocation = join(foundation)
    run = finished_run(foundation.gpu)
    row = item(foundation, foundation.gpu)
    row.excluded_runs.add(run)
    result(allocation.user, run, 95)
    assert state_of(allocation, row) == rules.AVAILABLE


def test_a_seat_in_a_run_shows_in_progress(foundation):
    from tests.factories import CourseRunFactory, EnrolmentFactory

    allocation = join(foundation)
    EnrolmentFactory(run=CourseRunFactory(course=foundation.gpu), user=allocation.user)
    assert state_of(allocation, item(foundation, foundation.gpu)) == rules.IN_PROGRESS


def complete(foundation, allocation):  # type: ignore[no-untyped-def]
    user = allocation.user
    passed(user, foundation.gpu)
    passed(user, foundation.electives[0], percent=70)
    runs = {"llm": passed(user, foundation.electives[2], percent=88)}
    runs["cap"] = passed(user, foundation.capstone, percent=91)
    allocation.refresh_from_db()
    return runs


def test_a_satisfied_tree_leaves_a_completion_with_frozen_evidence(foundation):
    allocation = join(foundation)
    runs = complete(foundation, allocation)
    assert allocation.state == AllocationState.COMPLETED
    completion = Completion.objects.get(allocation=allocation)
    assert completion.credits == Decimal(20)
    assert completion.version.number == 1
    by_course = {e["course"]: e for e in completion.evidence}
    assert by_course[str(foundation.capstone.pk)]["run"] == str(runs["cap"].pk)
    assert by_course[str(foundation.capstone.pk)]["grade"] == "91.00"
    assert len(completion.evidence) == 4
    assert AuditEvent.objects.filter(action="programme.complete").count() == 1


def test_recomputing_twice_changes_nothing(foundation):
    allocation = join(foundation)
    complete(foundation, allocation)
    before = Completion.objects.get(allocation=allocation)
    assert services.recompute_progress([allocation.user_id]) == 1
    assert services.recompute_progress([allocation.user_id]) == 1
    after = Completion.objects.get(allocation=allocation)
    assert (after.pk, after.evidence, after.needs_review) == (before.pk, before.evidence, False)
    assert Completion.objects.count() == 1


def test_a_grade_changed_after_completion_flags_the_record_and_never_rewrites_it(foundation):
    allocation = join(foundation)
    runs = complete(foundation, allocation)
    evidence = Completion.objects.get(allocation=allocation).evidence
    result(allocation.user, runs["cap"], 40)  # a regrade: the capstone now fails
    completion = Completion.objects.get(allocation=allocation)
    assert completion.needs_review
    assert completion.evidence == evidence
    allocation.refresh_from_db()
    assert allocation.state == AllocationState.COMPLETED


def test_a_version_followed_by_anyone_is_frozen(foundation):
    join(foundation)
    version = foundation.programme.versions.get()
    with pytest.raises(ValidationError, match="frozen: 1 people follow it"):
        services.requirement_add(
            actor=foundation.operator, parent=foundation.root, course=CourseFactory()
        )
    with pytest.raises(ValidationError, match="frozen"):
        services.requirement_remove(
            actor=foundation.operator, requirement=item(foundation, foundation.capstone)
        )
    assert Requirement.objects.filter(version=version).count() == 7


def test_a_new_version_copies_the_tree_and_followers_keep_theirs_until_moved(foundation):
    allocation = join(foundation)
    version2 = services.version_new(actor=foundation.operator, programme=foundation.programme)
    assert version2.number == 2
    rows = Requirement.objects.filter(version=version2)
    assert rows.count() == 7
    root2 = rows.get(parent=None)
    assert root2.rule == Rule.ALL_IN_ORDER
    extra = CourseFactory(code="ETH110")
    services.requirement_add(actor=foundation.operator, parent=root2, course=extra, points=2)
    services.version_publish(actor=foundation.operator, version=version2)
    newcomer = join(foundation)
    assert newcomer.version == version2
    allocation.refresh_from_db()
    assert allocation.version.number == 1
    services.allocation_move(actor=foundation.operator, allocation=allocation, version=version2)
    allocation.refresh_from_db()
    assert (allocation.version.number, allocation.items_total) == (2, 6)
    event = AuditEvent.objects.get(action="programme.move")
    assert (event.data["previous"], event.data["version"]) == (1, 2)


def test_publishing_an_unsatisfiable_tree_is_refused_naming_the_set():
    f = build_foundation(publish=False)
    services.requirement_change(actor=f.operator, requirement=f.elective_set, count=4)
    with pytest.raises(ValidationError, match="“Two electives” asks for more items than it holds"):
        services.version_publish(actor=f.operator, version=f.programme.versions.get())
    services.requirement_add(actor=f.operator, parent=f.root, rule=Rule.ALL, title="Later")
    with pytest.raises(ValidationError) as error:
        services.version_publish(actor=f.operator, version=f.programme.versions.get())
    assert "The set “Later” has nothing in it." in error.value.messages
    assert f.programme.versions.get().published_at is None


def test_points_sets_are_checked_against_their_items():
    f = build_foundation(publish=False)
    services.requirement_change(
        actor=f.operator, requirement=f.elective_set, rule=Rule.MIN_POINTS, count=16
    )
    with pytest.raises(ValidationError, match="more points than its items give"):
        services.version_publish(actor=f.operator, version=f.programme.versions.get())


def test_a_prerequisite_cycle_is_refused_with_its_path_and_nothing_is_added():
    f = build_foundation(publish=False)
    f.gpu.prerequisites.add(f.capstone)  # GPU101 needs CAP300, which the tree puts after it
    before = Requirement.objects.count()
    with pytest.raises(ValidationError, match="A prerequisite cycle: .*(CAP300|GPU101).*→"):
        services.requirement_add(actor=f.operator, parent=f.root, course=CourseFactory())
    assert Requirement.objects.count() == before


def test_joining_twice_is_refused_and_keeps_the_first_allocation(foundation):
    allocation = join(foundation)
    with pytest.raises(ValidationError, match="already follows"):
        services.allocation_join(actor=allocation.user, programme=foundation.programme)
    assert Allocation.objects.filter(user=allocation.user).count() == 1


def test_a_draft_cannot_be_joined():
    f = build_foundation(publish=False)
    with pytest.raises(ValidationError, match="not open to join"):
        join(f)


def test_invite_code_and_approval_policies(foundation):
    programme = foundation.programme
    programme.join_policy, programme.invite_code = JoinPolicy.INVITE, "GPU-2026"
    programme.save()
    with pytest.raises(ValidationError, match="invite code is not valid"):
        services.allocation_join(actor=UserFactory(), programme=programme, code="nope")
    allocation = services.allocation_join(actor=UserFactory(), programme=programme, code="GPU-2026")
    assert allocation.source == AllocationSource.INVITE
    programme.join_policy = JoinPolicy.APPROVAL
    programme.save()
    request = services.allocation_join(actor=UserFactory(), programme=programme)
    assert request.state == AllocationState.PENDING
    with pytest.raises(ValidationError, match="own request"):
        services.allocation_decide(actor=request.user, allocation=request, approve=True)
    with pytest.raises(PermissionDenied):
        services.allocation_decide(actor=UserFactory(), allocation=request, approve=True)
    services.allocation_decide(actor=foundation.operator, allocation=request, approve=True)
    request.refresh_from_db()
    assert (request.state, request.source) == (AllocationState.ACTIVE, AllocationSource.APPROVAL)
    with pytest.raises(ValidationError, match="already been decided"):
        services.allocation_decide(actor=foundation.operator, allocation=request, approve=False)


def test_a_cohort_is_allocated_and_later_members_follow(foundation):
    uni = InstitutionFactory()
    admin = member(uni, Role.ADMIN)
    cohort = CohortFactory(institution=uni)
    first, second = member(uni), member(uni)
    outsider = UserFactory()  # no accepted membership of the institution
    cohort.members.add(first, second, outsider)
    with pytest.raises(PermissionDenied):
        services.cohort_allocate(actor=member(uni), programme=foundation.programme, cohort=cohort)
    assert services.cohort_allocate(actor=admin, programme=foundation.programme, cohort=cohort) == 2
    later = member(uni)
    cohort.members.add(later)
    sources = dict(
        Allocation.objects.filter(programme=foundation.programme).values_list("user", "source")
    )
    assert sources == {u.pk: AllocationSource.COHORT for u in (first, second, later)}
    with pytest.raises(ValidationError, match="already follows"):
        services.cohort_allocate(actor=admin, programme=foundation.programme, cohort=cohort)


def test_people_already_following_are_left_as_they_are_by_a_cohort(foundation):
    uni = InstitutionFactory()
    cohort = CohortFactory(institution=uni)
    person = member(uni)
    own = join(foundation, person)
    cohort.members.add(person)
    services.cohort_allocate(
        actor=member(uni, Role.ADMIN), programme=foundation.programme, cohort=cohort
    )
    assert Allocation.objects.get(pk=own.pk).source == AllocationSource.SELF


def test_only_managers_build(foundation):
    stranger = UserFactory()
    with pytest.raises(PermissionDenied):
        services.version_new(actor=stranger, programme=foundation.programme)
    with pytest.raises(PermissionDenied):
        services.programme_create(actor=stranger, code="x", title="X")


def test_an_institution_admin_creates_a_programme_their_institution_owns():
    uni = InstitutionFactory()
    admin = member(uni, Role.ADMIN)
    programme = services.programme_create(
        actor=admin, code="teach-gpu", title="Teaching with GPUs", owner=uni
    )
    assert selectors.can_manage_programme(admin, programme)
    other = member(InstitutionFactory(), Role.ADMIN)
    assert not selectors.can_manage_programme(other, programme)
    assert AuditEvent.objects.get(action="programme.create").institution == uni


def test_a_withdrawn_enrolment_does_not_count(foundation):
    allocation = join(foundation)
    run = passed(allocation.user, foundation.gpu)
    run.enrolments.filter(user=allocation.user).update(state=EnrolmentState.WITHDRAWN)
    services.recompute_progress([allocation.user_id])
    assert state_of(allocation, item(foundation, foundation.gpu)) == rules.AVAILABLE


def test_membership_is_needed_for_cohort_allocation(foundation):
    uni = InstitutionFactory()
    cohort = CohortFactory(institution=uni)
    person = member(uni)
    Membership.objects.filter(user=person).delete()
    cohort.members.add(person)
    assert (
        services.cohort_allocate(
            actor=member(uni, Role.ADMIN), programme=foundation.programme, cohort=cohort
        )
        == 0
    )
