"""The staff and institution-admin pages of programmes: who may open each, the refusals shown
in words (frozen version, cycle, a set nobody could complete, double cohort allocation), and
query counts that do not grow with the number of people."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from academy.models import AuditEvent, Role
from programmes import services
from programmes.models import (
    Allocation,
    AllocationSource,
    AllocationState,
    JoinPolicy,
    Programme,
    ProgrammeStatus,
    Requirement,
    Rule,
)
from tests.factories import CourseFactory, CourseRunFactory, UserFactory, member

from .conftest import build_foundation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(people):  # type: ignore[no-untyped-def]
    """The foundation programme (by the operator) with a named manager, and the student of A
    following it through cohort A."""
    f = build_foundation(people.operator)
    people.manager = UserFactory(username="manager")
    f.programme.managers.add(people.manager)
    services.cohort_allocate(actor=people.admin_a, programme=f.programme, cohort=people.cohort_a)
    people.f = f
    people.allocation = Allocation.objects.get(programme=f.programme, user=people.student)
    return people


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def draft(operator, *, rule: str = Rule.ALL_IN_ORDER) -> tuple[Programme, Requirement]:  # type: ignore[no-untyped-def]
    programme = services.programme_create(actor=operator, code="draft-prog", title="Draft")
    root = Requirement.objects.get(version__programme=programme, parent=None)
    services.requirement_change(actor=operator, requirement=root, rule=rule)
    return programme, root


# --- rights ----------------------------------------------------------------------------------

MANAGER_PAGES = [
    lambda w: reverse("programme-builder", args=[w.f.programme.code]),
    lambda w: reverse("programme-builder-version", args=[w.f.programme.code, 1]),
    lambda w: reverse("programme-edit", args=[w.f.programme.code]),
    lambda w: reverse("programme-people", args=[w.f.programme.code]),
    lambda w: reverse("requirement-change", args=[w.f.elective_set.pk]),
    lambda w: reverse("requirement-remove", args=[w.f.elective_set.pk]),
]


@pytest.mark.parametrize("page", range(len(MANAGER_PAGES)))
@pytest.mark.parametrize(
    ("who", "status"),
    [
        (None, 302),
        ("student", 404),
        ("admin_b", 404),
        ("admin_a", 404),  # an admin of a member's institution does not manage the programme
        ("manager", 200),
        ("operator", 200),
    ],
)
def test_only_managers_open_the_building_pages(world, page, who, status):
    url = MANAGER_PAGES[page](world)
    response = client_for(who and getattr(world, who)).get(url)
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("who", "status"),
    [(None, 302), ("student", 404), ("admin_b", 404), ("manager", 200), ("operator", 200)],
)
def test_writes_of_the_builder_follow_the_same_rights(world, who, status):
    programme = services.programme_create(
        actor=world.operator, code="open-draft", title="Open draft"
    )
    programme.managers.add(world.manager)
    root = Requirement.objects.get(version__programme=programme, parent=None)
    response = client_for(who and getattr(world, who)).post(
        reverse("requirement-add", args=[root.pk]),
        {"kind": "set", f"set{root.pk}-title": "Block", f"set{root.pk}-rule": Rule.ALL},
    )
    assert response.status_code == (302 if status == 200 else status)
    assert root.children.exists() == (status == 200)


WRITES = [
    lambda w: (reverse("programme-version-new", args=[w.f.programme.code]), {}),
    lambda w: (reverse("programme-version-publish", args=[w.f.programme.code, 1]), {}),
    lambda w: (reverse("programme-retire", args=[w.f.programme.code]), {}),
    lambda w: (reverse("requirement-remove", args=[w.f.elective_set.pk]), {}),
    lambda w: (reverse("requirement-move", args=[w.f.elective_set.pk]), {"direction": "up"}),
    lambda w: (
        reverse("programme-allocation-decide", args=[w.allocation.pk]),
        {"action": "reject"},
    ),
    lambda w: (reverse("programme-allocation-move", args=[w.allocation.pk]), {"version": "1"}),
    lambda w: (reverse("programme-people", args=[w.f.programme.code]), {"person": "outsider"}),
]


@pytest.mark.parametrize("write", range(len(WRITES)))
@pytest.mark.parametrize(("who", "status"), [(None, 302), ("student", 404), ("admin_b", 404)])
def test_outsiders_change_nothing(world, write, who, status):
    url, data = WRITES[write](world)
    before = AuditEvent.objects.count()
    response = client_for(who and getattr(world, who)).post(url, data)
    assert response.status_code == status
    assert AuditEvent.objects.count() == before
    assert Programme.objects.get(pk=world.f.programme.pk).status == ProgrammeStatus.PUBLISHED


@pytest.mark.parametrize(
    ("who", "status", "sees"),
    [
        (None, 302, False),
        ("student", 404, False),
        ("admin_b", 200, False),  # may create their own, does not see ours
        ("manager", 200, True),
        ("operator", 200, True),
    ],
)
def test_the_list_shows_only_managed_programmes(world, who, status, sees):
    response = client_for(who and getattr(world, who)).get(reverse("programme-manage-list"))
    assert response.status_code == status
    if status == 200:
        assert (b"ai-foundation" in response.content) == sees


@pytest.mark.parametrize(
    ("who", "status"),
    [
        (None, 302),
        ("student", 404),
        ("admin_b", 404),
        ("admin_a", 200),
        ("manager", 200),
        ("operator", 200),
    ],
)
def test_a_cohorts_progress_is_for_its_admins_and_the_managers(world, who, status):
    url = reverse("programme-cohort-progress", args=[world.f.programme.code, world.cohort_a.pk])
    response = client_for(who and getattr(world, who)).get(url)
    assert response.status_code == status
    if status == 200:
        assert world.student.username in response.content.decode()


@pytest.mark.parametrize(
    ("who", "status"),
    [
        (None, 302),
        ("student", 404),  # their own progress is on the student pages
        ("student_b", 404),
        ("admin_b", 404),
        ("admin_a", 200),
        ("manager", 200),
        ("operator", 200),
    ],
)
def test_a_persons_progress_page_rights(world, who, status):
    url = reverse("programme-allocation", args=[world.allocation.pk])
    response = client_for(who and getattr(world, who)).get(url)
    assert response.status_code == status


@pytest.mark.parametrize(
    ("who", "status"),
    [
        (None, 302),
        ("student", 404),
        ("manager", 404),  # manages the programme, administers no institution
        ("admin_b", 200),  # a published programme: any institution admin may allocate
        ("operator", 200),
    ],
)
def test_allocating_a_cohort_is_for_institution_admins(world, who, status):
    url = reverse("programme-cohorts", args=[world.f.programme.code])
    response = client_for(who and getattr(world, who)).get(url)
    assert response.status_code == status


def test_a_draft_programme_cannot_be_allocated(world):
    programme, _root = draft(world.operator)
    response = client_for(world.admin_a).get(reverse("programme-cohorts", args=[programme.code]))
    assert response.status_code == 404


def test_the_cohort_page_links_to_its_programmes(world):
    url = reverse("cohort-detail", args=[world.inst_a.slug, world.cohort_a.pk])
    response = client_for(world.admin_a).get(url)
    progress = reverse(
        "programme-cohort-progress", args=[world.f.programme.code, world.cohort_a.pk]
    )
    assert progress in response.content.decode()


# --- creating and editing ----------------------------------------------------------------------


def programme_data(**over) -> dict[str, object]:  # type: ignore[no-untyped-def]
    data = {
        "code": "teach-gpu",
        "title": "Teaching with GPUs",
        "title_sr": "Настава уз GPU",
        "description": "For faculty.",
        "eqf_level": "7",
        "ects": "10",
        "sectors": ["research"],
        "join_policy": JoinPolicy.APPROVAL,
        "invite_code": "",
    }
    data.update(over)
    return data


def test_an_institution_admin_creates_a_programme_for_their_institution(world):
    client = client_for(world.admin_a)
    response = client.post(reverse("programme-manage-list"), programme_data(owner=world.inst_a.pk))
    assert response.status_code == 302
    programme = Programme.objects.get(code="teach-gpu")
    assert (programme.owner, programme.eqf_level, programme.sectors) == (
        world.inst_a,
        7,
        ["research"],
    )
    assert response["Location"] == reverse("programme-builder", args=["teach-gpu"])
    assert AuditEvent.objects.filter(action="programme.create").exists()


def test_an_admin_cannot_create_for_another_institution_or_the_factory(world):
    client = client_for(world.admin_a)
    for owner in (world.inst_b.pk, ""):
        response = client.post(reverse("programme-manage-list"), programme_data(owner=owner))
        assert response.status_code == 400
    assert not Programme.objects.filter(code="teach-gpu").exists()


def test_bad_programme_input_is_shown_and_kept(world):
    client = client_for(world.operator)
    response = client.post(
        reverse("programme-manage-list"), programme_data(code="ai-foundation", eqf_level="9")
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "Teaching with GPUs" in text  # what was typed is still there
    assert "already exists" in text
    assert "less than or equal to 8" in text


def test_an_invite_only_programme_needs_a_code(world):
    response = client_for(world.operator).post(
        reverse("programme-manage-list"), programme_data(owner="", join_policy=JoinPolicy.INVITE)
    )
    assert response.status_code == 400
    assert "needs a code" in response.content.decode()
    assert not Programme.objects.filter(code="teach-gpu").exists()


def test_editing_a_programme_is_audited(world):
    client = client_for(world.manager)
    url = reverse("programme-edit", args=[world.f.programme.code])
    response = client.post(url, programme_data(title="AI engineer", owner=world.inst_a.pk))
    assert response.status_code == 400  # a named manager may not give it to an institution
    response = client.post(url, programme_data(title="AI engineer, foundation (2027)", owner=""))
    assert response.status_code == 302
    world.f.programme.refresh_from_db()
    assert world.f.programme.title == "AI engineer, foundation (2027)"
    assert world.f.programme.owner is None
    assert world.f.programme.code == "ai-foundation"  # the code is fixed
    assert AuditEvent.objects.filter(action="programme.update").count() == 1


# --- the builder: refusals in words ---------------------------------------------------------


def test_editing_a_frozen_version_is_refused_with_the_reason(world):
    client = client_for(world.operator)
    root = world.f.root
    before = Requirement.objects.count()
    response = client.post(
        reverse("requirement-add", args=[root.pk]),
        {"kind": "set", f"set{root.pk}-title": "More", f"set{root.pk}-rule": Rule.ALL},
    )
    assert response.status_code == 400
    assert "frozen" in response.content.decode()
    assert "Make a new version" in response.content.decode()
    response = client.post(
        reverse("requirement-change", args=[world.f.elective_set.pk]),
        {"title": "Three electives", "rule": Rule.AT_LEAST, "count": "3"},
    )
    assert response.status_code == 400
    assert "2 people follow it" in response.content.decode()
    assert Requirement.objects.count() == before
    world.f.elective_set.refresh_from_db()
    assert world.f.elective_set.count == 2


def test_removing_a_course_people_count_on_is_refused(world):
    item = Requirement.objects.get(version__programme=world.f.programme, course=world.f.capstone)
    client = client_for(world.operator)
    page = client.get(reverse("requirement-remove", args=[item.pk]))
    assert page.status_code == 200
    response = client.post(reverse("requirement-remove", args=[item.pk]))
    assert response.status_code == 400
    assert "frozen" in response.content.decode()
    assert Requirement.objects.filter(pk=item.pk).exists()


def test_the_remove_confirmation_names_what_goes_with_it(world):
    services.version_new(actor=world.operator, programme=world.f.programme)
    electives = Requirement.objects.get(version__number=2, title="Two electives")
    client = client_for(world.operator)
    page = client.get(reverse("requirement-remove", args=[electives.pk])).content.decode()
    for course in world.f.electives:
        assert course.code in page
    response = client.post(reverse("requirement-remove", args=[electives.pk]))
    assert response.status_code == 302
    assert not Requirement.objects.filter(version__number=2, course__in=world.f.electives)
    assert Requirement.objects.filter(version__number=1, course__in=world.f.electives).count() == 3


def test_a_prerequisite_cycle_is_refused_with_its_path(world):
    programme, root = draft(world.operator)
    first, second = CourseFactory(code="CYC100"), CourseFactory(code="CYC200")
    first.prerequisites.add(second)  # CYC100 needs CYC200 first
    services.requirement_add(actor=world.operator, parent=root, course=first, points=5)
    client = client_for(world.operator)
    response = client.post(
        reverse("requirement-add", args=[root.pk]),
        {"kind": "item", f"item{root.pk}-course": second.pk, f"item{root.pk}-points": "5"},
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "prerequisite cycle" in text
    assert "CYC100 → CYC200" in text or "CYC200 → CYC100" in text
    assert not root.children.filter(course=second).exists()
    # What was chosen is still selected in the open form.
    assert f'<option value="{second.pk}" selected' in text


def test_a_set_nobody_could_complete_is_refused_at_publishing(world):
    programme, root = draft(world.operator, rule=Rule.ALL)
    electives = services.requirement_add(
        actor=world.operator, parent=root, rule=Rule.AT_LEAST, count=4, title="Electives"
    )
    for code in ("E1", "E2", "E3"):
        services.requirement_add(
            actor=world.operator, parent=electives, course=CourseFactory(code=code)
        )
    client = client_for(world.operator)
    builder = client.get(reverse("programme-builder", args=[programme.code])).content.decode()
    assert "asks for more items than it holds" in builder  # a warning before publishing
    response = client.post(reverse("programme-version-publish", args=[programme.code, 1]))
    assert response.status_code == 400
    assert "cannot be published" in response.content.decode()
    assert "“Electives” asks for more items than it holds" in response.content.decode()
    programme.refresh_from_db()
    assert programme.status == ProgrammeStatus.DRAFT
    response = client.post(
        reverse("requirement-change", args=[electives.pk]),
        {"title": "Electives", "rule": Rule.AT_LEAST, "count": "2"},
    )
    assert response.status_code == 302
    response = client.post(reverse("programme-version-publish", args=[programme.code, 1]))
    assert response.status_code == 302
    programme.refresh_from_db()
    assert programme.status == ProgrammeStatus.PUBLISHED


def test_moving_a_node_changes_the_order(world):
    programme, root = draft(world.operator)
    a = services.requirement_add(actor=world.operator, parent=root, course=CourseFactory(code="A1"))
    b = services.requirement_add(actor=world.operator, parent=root, course=CourseFactory(code="B1"))
    client_for(world.operator).post(reverse("requirement-move", args=[b.pk]), {"direction": "up"})
    assert list(root.children.values_list("pk", flat=True)) == [b.pk, a.pk]


def test_excluded_runs_are_chosen_on_the_change_page(world):
    services.version_new(actor=world.operator, programme=world.f.programme)
    item = Requirement.objects.get(version__number=2, course=world.f.gpu)
    run = CourseRunFactory(course=world.f.gpu, title="Pilot")
    client = client_for(world.operator)
    assert "Pilot" in client.get(reverse("requirement-change", args=[item.pk])).content.decode()
    response = client.post(
        reverse("requirement-change", args=[item.pk]),
        {"points": "6", "min_grade": "70", "excluded_runs": [run.pk]},
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.points, item.min_grade) == (Decimal(6), Decimal(70))
    assert list(item.excluded_runs.all()) == [run]


def test_new_version_then_publish_then_move_a_person(world):
    client = client_for(world.operator)
    response = client.post(reverse("programme-version-new", args=[world.f.programme.code]))
    assert response["Location"] == reverse(
        "programme-builder-version", args=[world.f.programme.code, 2]
    )
    client.post(reverse("programme-version-publish", args=[world.f.programme.code, 2]))
    version2 = world.f.programme.versions.get(number=2)
    response = client.post(
        reverse("programme-allocation-move", args=[world.allocation.pk]), {"version": version2.pk}
    )
    assert response.status_code == 302
    world.allocation.refresh_from_db()
    assert world.allocation.version == version2
    assert AuditEvent.objects.filter(action="programme.move").exists()


def test_retiring_keeps_the_people(world):
    response = client_for(world.manager).post(
        reverse("programme-retire", args=[world.f.programme.code])
    )
    assert response.status_code == 302
    world.f.programme.refresh_from_db()
    assert world.f.programme.status == ProgrammeStatus.RETIRED
    assert Allocation.objects.filter(pk=world.allocation.pk).exists()


# --- people --------------------------------------------------------------------------------


def test_pending_requests_are_approved_and_rejected(world):
    world.f.programme.join_policy = JoinPolicy.APPROVAL
    world.f.programme.save()
    asking = [
        services.allocation_join(actor=UserFactory(), programme=world.f.programme) for _ in range(2)
    ]
    client = client_for(world.manager)
    page = client.get(reverse("programme-people", args=[world.f.programme.code]))
    assert f"pending-{asking[0].pk}" in page.content.decode()
    client.post(reverse("programme-allocation-decide", args=[asking[0].pk]), {"action": "approve"})
    client.post(reverse("programme-allocation-decide", args=[asking[1].pk]), {"action": "reject"})
    asking[0].refresh_from_db()
    asking[1].refresh_from_db()
    assert (asking[0].state, asking[1].state) == (AllocationState.ACTIVE, AllocationState.WITHDRAWN)
    # Deciding twice is refused in words, not with a 500.
    response = client.post(
        reverse("programme-allocation-decide", args=[asking[0].pk]),
        {"action": "reject"},
        follow=True,
    )
    assert "already been decided" in response.content.decode()


def test_staff_add_a_person_by_username_or_email(world):
    person = UserFactory(username="newcomer", email="New.Comer@example.org")
    client = client_for(world.operator)
    url = reverse("programme-people", args=[world.f.programme.code])
    response = client.post(url, {"person": "new.comer@example.org"})
    assert response.status_code == 302
    allocation = Allocation.objects.get(user=person, programme=world.f.programme)
    assert allocation.source == AllocationSource.STAFF
    response = client.post(url, {"person": "newcomer"})
    assert response.status_code == 400
    assert "already follows" in response.content.decode()
    response = client.post(url, {"person": "nobody-here"})
    assert response.status_code == 400
    assert "Nobody you may add" in response.content.decode()


def test_an_admin_managing_their_programme_adds_only_their_members(world):
    programme = services.programme_create(
        actor=world.admin_a, code="uni-a-prog", title="A's programme", owner=world.inst_a
    )
    root = Requirement.objects.get(version__programme=programme, parent=None)
    services.requirement_add(actor=world.admin_a, parent=root, course=CourseFactory())
    services.version_publish(actor=world.admin_a, version=programme.versions.get())
    client = client_for(world.admin_a)
    url = reverse("programme-people", args=[programme.code])
    assert client.post(url, {"person": world.student_b.username}).status_code == 400
    assert client.post(url, {"person": world.student.username}).status_code == 302


def test_double_cohort_allocation_is_refused_clearly(world):
    client = client_for(world.admin_a)
    url = reverse("programme-cohorts", args=[world.f.programme.code])
    response = client.post(url, {"cohort": world.cohort_a.pk})
    assert response.status_code == 400
    assert "already follows this programme" in response.content.decode()
    assert Allocation.objects.filter(programme=world.f.programme).count() == 2


def test_an_admin_cannot_allocate_another_institutions_cohort(world):
    client = client_for(world.admin_b)
    url = reverse("programme-cohorts", args=[world.f.programme.code])
    response = client.post(url, {"cohort": world.cohort_a.pk})
    assert response.status_code == 400  # not among the choices
    response = client.post(url, {"cohort": world.cohort_b.pk})
    assert response.status_code == 302
    # The person in both cohorts already follows (through A): only the other one is added.
    assert (
        Allocation.objects.filter(programme=world.f.programme, cohort=world.cohort_b).count() == 1
    )


def test_an_admin_sees_only_their_own_members_of_a_shared_cohort_view(world):
    services.cohort_allocate(
        actor=world.admin_b, programme=world.f.programme, cohort=world.cohort_b
    )
    url = reverse("programme-cohort-progress", args=[world.f.programme.code, world.cohort_b.pk])
    text = client_for(world.admin_b).get(url).content.decode()
    assert f"<code>{world.student_b.username}</code>" in text
    assert f"<code>{world.student.username}</code>" not in text


def make_people(world, n: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        services.allocation_add(
            actor=world.operator, programme=world.f.programme, user=UserFactory()
        )


def test_the_people_page_makes_the_same_queries_for_3_or_30_people(
    world, django_assert_num_queries
):
    client = client_for(world.manager)
    url = reverse("programme-people", args=[world.f.programme.code])
    make_people(world, 1)  # 3 people with the cohort's two
    client.get(url)  # warm the session and the caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    make_people(world, 27)
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert response.content.decode().count('id="allocation-') == 30


def test_the_cohort_progress_page_makes_the_same_queries_for_3_or_30_members(
    world, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(world.admin_a)
    url = reverse("programme-cohort-progress", args=[world.f.programme.code, world.cohort_a.pk])
    newcomer = member(world.inst_a, Role.STUDENT)
    world.cohort_a.members.add(newcomer)  # joins later: follows through the receivers
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    for _ in range(27):
        world.cohort_a.members.add(member(world.inst_a, Role.STUDENT))
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert response.content.decode().count('id="allocation-') == 30


def test_the_summary_counts_per_cohort(world):
    services.allocation_add(actor=world.operator, programme=world.f.programme, user=UserFactory())
    response = client_for(world.operator).get(
        reverse("programme-people", args=[world.f.programme.code])
    )
    text = response.content.decode()
    assert 'data-cohort="A 2026"' in text
    assert "Not in a cohort" in text


def test_the_person_page_makes_a_bounded_number_of_queries(world, django_assert_max_num_queries):
    client = client_for(world.admin_a)
    url = reverse("programme-allocation", args=[world.allocation.pk])
    client.get(url)
    # Session and user, rights (memberships), the allocation, the map (at most nine).
    with django_assert_max_num_queries(16):
        response = client.get(url)
    assert "programme-map" in response.content.decode()


def test_garbage_input_gets_a_form_error_not_a_500(world):
    programme, root = draft(world.operator)
    client = client_for(world.operator)
    add = reverse("requirement-add", args=[root.pk])
    for data in (
        {"kind": "item", f"item{root.pk}-course": "abc", f"item{root.pk}-points": "-3"},
        {"kind": "item", f"item{root.pk}-course": "999999", f"item{root.pk}-points": "1"},
        {"kind": "set", f"set{root.pk}-title": "", f"set{root.pk}-rule": "sometimes"},
        {},
    ):
        response = client.post(add, data)
        assert response.status_code == 400, data
    assert not root.children.exists()
    assert client.post(reverse("requirement-add", args=[987654])).status_code == 404
    people = reverse("programme-people", args=[world.f.programme.code])
    assert client.get(people + "?page=abc").status_code == 200
    assert client.post(people, {"person": ""}).status_code == 400
    move = reverse("programme-allocation-move", args=[world.allocation.pk])
    response = client.post(move, {"version": "nope"}, follow=True)
    assert "Choose a published version" in response.content.decode()
    # Publishing twice is refused in words.
    response = client.post(reverse("programme-version-publish", args=[world.f.programme.code, 1]))
    assert response.status_code == 400
    assert "already published" in response.content.decode()
    # A course item holds nothing: nothing can be added under it.
    item = Requirement.objects.get(version__programme=world.f.programme, course=world.f.gpu)
    services.version_new(actor=world.operator, programme=world.f.programme)
    item2 = Requirement.objects.get(version__number=2, course=world.f.gpu)
    response = client.post(
        reverse("requirement-add", args=[item2.pk]),
        {"kind": "set", f"set{item2.pk}-title": "X", f"set{item2.pk}-rule": Rule.ALL},
    )
    assert response.status_code == 400
    assert "Items go into sets" in response.content.decode()
    assert not Requirement.objects.filter(parent=item).exists()


def test_a_completion_flagged_for_review_shows_on_the_people_page(world):
    from .conftest import passed, result

    user = world.student
    passed(user, world.f.gpu)
    passed(user, world.f.electives[0])
    passed(user, world.f.electives[1])
    capstone_run = passed(user, world.f.capstone)
    services.recompute_progress([user.pk])
    world.allocation.refresh_from_db()
    assert world.allocation.state == AllocationState.COMPLETED
    result(user, capstone_run, 30)  # regraded below the pass mark after completion
    services.recompute_progress([user.pk])
    client = client_for(world.manager)
    text = client.get(reverse("programme-people", args=[world.f.programme.code])).content.decode()
    row = text[text.index(f'id="allocation-{world.allocation.pk}"') :].split("</tr>")[0]
    assert "Completed" in row and "Needs review" in row
    page = client.get(reverse("programme-allocation", args=[world.allocation.pk])).content.decode()
    assert "Needs review" in page
