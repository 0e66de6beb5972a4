"""The programmes API (``/api/v1/programmes/`` and its neighbours): who may do what (every
endpoint against every role), the tree and progress as clients read them, staff building a
programme through it, bad input answered with 400 and the reason (never a 500, nothing lost),
a schema without warnings, and list endpoints at a constant number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from academy.models import AuditEvent, User
from courses.models import Course
from programmes import services
from programmes.models import (
    Allocation,
    AllocationSource,
    AllocationState,
    Completion,
    Programme,
    ProgrammeVersion,
    Requirement,
)
from tests.factories import CourseFactory, UserFactory

from .conftest import Foundation, build_foundation, passed

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "student", "admin_a", "admin_b", "manager", "operator"]


@dataclass
class World:
    """The foundation programme (published v1, factory-owned, the instructor as a manager) with
    the student completed, ``dual`` waiting for approval and an unpublished v2; a draft
    programme; a course not in any tree."""

    people: Any
    foundation: Foundation
    programme: Programme
    v1: ProgrammeVersion
    v2: ProgrammeVersion
    student_allocation: Allocation
    pending: Allocation
    completion: Completion
    draft: Programme
    spare: Course

    def user(self, role: str) -> User | None:
        if role == "anonymous":
            return None
        return self.people.instructor if role == "manager" else getattr(self.people, role)

    def node(self, version: ProgrammeVersion, label: str) -> Requirement:
        rows = Requirement.objects.filter(version=version).select_related("course")
        return next(r for r in rows if r.label == label)

    def root(self, version: ProgrammeVersion) -> Requirement:
        return Requirement.objects.get(version=version, parent=None)


@pytest.fixture
def world(people) -> World:  # type: ignore[no-untyped-def]
    foundation = build_foundation(people.operator)
    programme = foundation.programme
    programme.managers.add(people.instructor)
    v1 = programme.versions.get()
    student_allocation = services.allocation_join(actor=people.student, programme=programme)
    Allocation.objects.filter(pk=student_allocation.pk).update(state=AllocationState.COMPLETED)
    completion = Completion.objects.create(
        allocation=student_allocation,
        version=v1,
        evidence=[{"course": str(foundation.gpu.pk), "run": "1", "grade": "80.00"}],
        credits=Decimal(15),
    )
    pending = Allocation.objects.create(
        programme=programme,
        version=v1,
        user=people.dual,
        state=AllocationState.PENDING,
        source=AllocationSource.SELF,
    )
    v2 = services.version_new(actor=people.operator, programme=programme)
    draft = services.programme_create(actor=people.operator, code="teaching-gpus", title="Teach")
    draft.managers.add(people.instructor)
    spare = CourseFactory(code="HPC150")
    return World(
        people, foundation, programme, v1, v2, student_allocation, pending, completion, draft, spare
    )


def client_as(world: World, role: str) -> APIClient:
    client = APIClient()
    user = world.user(role)
    if user is not None:
        client.force_authenticate(user)
    return client


def call(client: APIClient, method: str, url: str, payload: Any = None):  # type: ignore[no-untyped-def]
    return getattr(client, method)(url, payload, format="json")


# ---- the rights matrix ------------------------------------------------------------------------

# name: (method, url, payload, expected status per role in ROLES order:
#        anonymous, student, admin_a (the people's institution), admin_b (another institution),
#        manager (named on the programme), operator)
MATRIX: dict[str, tuple[str, str, Any, tuple[int, ...]]] = {
    "list": ("get", "/programmes/", None, (403, 200, 200, 200, 200, 200)),
    "detail": ("get", "/programmes/{p}/", None, (403, 200, 200, 200, 200, 200)),
    "draft detail": ("get", "/programmes/{draft}/", None, (403, 404, 404, 404, 200, 200)),
    "versions": ("get", "/programmes/{p}/versions/", None, (403, 200, 200, 200, 200, 200)),
    "published version": (
        "get",
        "/programme-versions/{v1}/",
        None,
        (403, 200, 200, 200, 200, 200),
    ),
    "draft version": ("get", "/programme-versions/{v2}/", None, (403, 404, 404, 404, 200, 200)),
    "requirement": (
        "get",
        "/programme-requirements/{v1_root}/",
        None,
        (403, 200, 200, 200, 200, 200),
    ),
    "draft requirement": (
        "get",
        "/programme-requirements/{v2_root}/",
        None,
        (403, 404, 404, 404, 200, 200),
    ),
    "allocations": ("get", "/programme-allocations/", None, (403, 200, 200, 200, 200, 200)),
    "student's allocation": (
        "get",
        "/programme-allocations/{own}/",
        None,
        (403, 200, 200, 404, 200, 200),
    ),
    "completions": ("get", "/programme-completions/", None, (403, 200, 200, 200, 200, 200)),
    "student's completion": (
        "get",
        "/programme-completions/{completion}/",
        None,
        (403, 200, 200, 404, 200, 200),
    ),
    "create for the factory": (
        "post",
        "/programmes/",
        {"code": "new-prog", "title": "New"},
        (403, 403, 403, 403, 403, 201),
    ),
    "create for uni-a": (
        "post",
        "/programmes/",
        # admin_b cannot see uni-a: it reads as not existing.
        {"code": "new-prog", "title": "New", "owner": "uni-a"},
        (403, 403, 201, 400, 403, 201),
    ),
    "update": ("patch", "/programmes/{p}/", {"title": "Renamed"}, (403, 403, 403, 403, 200, 200)),
    "update draft": (
        "patch",
        "/programmes/{draft}/",
        {"title": "Renamed"},
        (403, 404, 404, 404, 200, 200),
    ),
    "new version": ("post", "/programmes/{p}/new-version/", None, (403, 403, 403, 403, 201, 201)),
    "publish": (
        "post",
        "/programme-versions/{v2}/publish/",
        None,
        (403, 404, 404, 404, 200, 200),
    ),
    "add to the followed version": (
        "post",
        "/programme-requirements/",
        {"parent": "{v1_root}", "course": "HPC150"},
        # managers are refused because the version is frozen (two people follow it)
        (403, 403, 403, 403, 400, 400),
    ),
    "add to the new version": (
        "post",
        "/programme-requirements/",
        # others cannot see the unpublished version's sets: "does not exist"
        {"parent": "{v2_root}", "course": "HPC150"},
        (403, 400, 400, 400, 201, 201),
    ),
    "change": (
        "patch",
        "/programme-requirements/{v2_electives}/",
        {"count": 1},
        (403, 404, 404, 404, 200, 200),
    ),
    "remove": (
        "delete",
        "/programme-requirements/{v2_capstone}/",
        None,
        (403, 404, 404, 404, 204, 204),
    ),
    # the student follows already (double allocation); everyone else may join
    "join": ("post", "/programmes/{p}/join/", {}, (403, 400, 201, 201, 201, 201)),
    "approve": (
        "post",
        "/programme-allocations/{pending}/approve/",
        None,
        (403, 404, 403, 403, 200, 200),
    ),
    "reject": (
        "post",
        "/programme-allocations/{pending}/reject/",
        None,
        (403, 404, 403, 403, 200, 200),
    ),
    "move": (
        "post",
        "/programme-allocations/{pending}/move/",
        {"version": 1},
        (403, 404, 403, 403, 200, 200),
    ),
    "allocate a cohort": (
        "post",
        "/programmes/{p}/cohorts/",
        # the student and the instructor see their cohort but do not administer uni-a;
        # admin_b does not see it at all
        {"cohort": "{cohort_a}"},
        (403, 403, 201, 400, 403, 201),
    ),
}


def ids(world: World) -> dict[str, int]:
    return {
        "p": world.programme.pk,
        "draft": world.draft.pk,
        "v1": world.v1.pk,
        "v2": world.v2.pk,
        "v1_root": world.root(world.v1).pk,
        "v2_root": world.root(world.v2).pk,
        "v2_electives": world.node(world.v2, "Two electives").pk,
        "v2_capstone": world.node(world.v2, "CAP300").pk,
        "own": world.student_allocation.pk,
        "pending": world.pending.pk,
        "completion": world.completion.pk,
        "cohort_a": world.people.cohort_a.pk,
    }


def fill(payload: Any, values: dict[str, int]) -> Any:
    if not isinstance(payload, dict):
        return payload
    return {
        k: values[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v
        for k, v in payload.items()
    }


@pytest.mark.parametrize("name", list(MATRIX))
def test_every_endpoint_answers_each_role_as_intended(world, name):
    method, url, payload, expected = MATRIX[name]
    values = ids(world)
    url, payload = "/api/v1" + url.format(**values), fill(payload, values)
    failures = []
    for role, status in zip(ROLES, expected, strict=True):
        # Each role on the same world: what one role's write changed is rolled back.
        with transaction.atomic():
            audits = AuditEvent.objects.count()
            response = call(client_as(world, role), method, url, payload)
            if response.status_code != status:
                failures.append(f"{role}: {response.status_code} {response.content[:200]!r}")
            wrote = AuditEvent.objects.count() > audits
            if method != "get" and response.status_code < 300 and not wrote:
                failures.append(f"{role}: no audit row")  # every write leaves its audit row
            if response.status_code >= 400 and wrote:
                failures.append(f"{role}: refused, yet audited")
            transaction.set_rollback(True)
    assert not failures, failures


# ---- what clients read ------------------------------------------------------------------------


def test_the_detail_nests_the_published_tree_with_rules_items_and_minimum_grades(world):
    data = client_as(world, "student").get(f"/api/v1/programmes/{world.programme.pk}/").json()
    assert "invite_code" not in data
    version = data["current_version"]
    assert (version["number"], version["followers"], version["frozen"]) == (1, 2, True)
    tree = version["tree"]
    assert tree["rule"] == "all_in_order"
    assert [c["label"] for c in tree["children"]] == ["GPU101", "Two electives", "CAP300"]
    electives = tree["children"][1]
    assert (electives["rule"], electives["count"]) == ("at_least", "2.0")
    assert [(c["course"], c["points"], c["min_grade"]) for c in electives["children"]] == [
        ("MED210", "5.0", "60.00"),
        ("ENE220", "5.0", "60.00"),
        ("LLM230", "5.0", "60.00"),
    ]
    assert tree["children"][0]["children"] == []


def test_the_list_filters_and_shows_drafts_only_to_their_managers(world):
    world.programme.sectors = ["health"]
    world.programme.eqf_level = 6
    world.programme.save()
    student = client_as(world, "student")

    def codes(client: APIClient, query: str = "") -> list[str]:
        return [p["code"] for p in client.get(f"/api/v1/programmes/?{query}").json()["results"]]

    assert codes(student) == ["ai-foundation"]
    assert codes(student, "q=engineer") == ["ai-foundation"]
    assert codes(student, "q=nothing-like-it") == []
    assert codes(student, "level=6&sector=health") == ["ai-foundation"]
    assert codes(student, "level=5") == []
    assert codes(student, "status=draft") == []
    manager = client_as(world, "manager")
    assert codes(manager) == ["ai-foundation", "teaching-gpus"]
    assert codes(manager, "status=draft") == ["teaching-gpus"]
    assert codes(manager, "level=banana&status=whatever") == ["ai-foundation", "teaching-gpus"]


def test_versions_show_drafts_to_managers_only(world):
    url = f"/api/v1/programmes/{world.programme.pk}/versions/"
    assert [v["number"] for v in client_as(world, "student").get(url).json()] == [1]
    rows = client_as(world, "manager").get(url).json()
    assert [(v["number"], v["frozen"], v["published_at"] is None) for v in rows] == [
        (2, False, True),
        (1, True, False),
    ]


def test_allocation_lists_are_scoped_and_filtered(world):
    def people(role: str, query: str = "") -> list[str]:
        response = client_as(world, role).get(f"/api/v1/programme-allocations/?{query}")
        return [a["user"] for a in response.json()["results"]]

    assert people("student") == ["student"]
    assert people("admin_a") == ["dual", "student"]  # their members
    assert people("admin_b") == ["dual"]
    assert people("manager") == ["dual", "student"]
    assert people("operator", "state=pending") == ["dual"]
    assert people("operator", f"programme={world.draft.pk}") == []
    for bad in ("state=sleeping", "programme=abc"):
        response = client_as(world, "operator").get(f"/api/v1/programme-allocations/?{bad}")
        assert response.status_code == 400


def test_progress_reads_from_results_per_node(world):
    person = UserFactory(username="learner")
    api = APIClient()
    api.force_authenticate(person)
    joined = api.post(f"/api/v1/programmes/{world.programme.pk}/join/", {}, format="json")
    assert joined.status_code == 201
    assert (joined.json()["state"], joined.json()["source"]) == ("active", "self")
    passed(person, world.foundation.gpu)
    services.recompute_progress([person.pk])
    data = api.get(f"/api/v1/programme-allocations/{joined.json()['id']}/").json()
    assert (data["items_done"], data["items_total"], data["credits_earned"]) == (1, 5, "5.0")
    states = {n["label"]: n["state"] for n in data["nodes"]}
    assert states["GPU101"] == "done"
    assert states["Two electives"] == "available"
    assert states["CAP300"] == "locked"
    assert data["completion"] is None
    capstone = next(n for n in data["nodes"] if n["label"] == "CAP300")
    assert capstone["course"] == "CAP300"


def test_completions_carry_their_frozen_evidence_and_review_flag(world):
    Completion.objects.filter(pk=world.completion.pk).update(
        needs_review=True, review_reason="grade changed"
    )
    rows = client_as(world, "admin_a").get("/api/v1/programme-completions/").json()["results"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["user"], row["programme"], row["version"]) == ("student", "ai-foundation", 1)
    assert row["evidence"] == world.completion.evidence
    assert (row["needs_review"], row["review_reason"]) == (True, "grade changed")
    assert client_as(world, "admin_b").get("/api/v1/programme-completions/").json()["count"] == 0
    detail = client_as(world, "student").get(f"/api/v1/programme-allocations/{row['allocation']}/")
    assert detail.json()["completion"]["needs_review"] is True


# ---- staff build a programme through the API --------------------------------------------------


def test_staff_build_publish_and_version_a_programme(world):
    api = client_as(world, "operator")
    created = api.post(
        "/api/v1/programmes/",
        {
            "code": "gpu-teaching",
            "title": "Teaching with GPUs",
            "eqf_level": 7,
            "ects": "10.0",
            "sectors": ["research"],
            "join_policy": "invite",
            "invite_code": "FACULTY",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    programme = created.json()
    assert programme["status"] == "draft" and programme["current_version"] is None
    version = api.get(f"/api/v1/programmes/{programme['id']}/versions/").json()[0]
    tree = api.get(f"/api/v1/programme-versions/{version['id']}/").json()["tree"]
    root = tree["id"]
    changed = api.patch(
        f"/api/v1/programme-requirements/{root}/", {"rule": "all_in_order"}, format="json"
    )
    assert changed.json()["rule"] == "all_in_order"

    def add(**fields: Any) -> dict[str, Any]:
        response = api.post("/api/v1/programme-requirements/", fields, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    add(parent=root, course="GPU101", points="5")
    electives = add(parent=root, rule="at_least", count="2", title="Electives")
    for code in ("MED210", "ENE220"):
        add(parent=electives["id"], course=code, points="2.5", min_grade="60")
    # An elective set asking for more than it holds can never be completed: publishing says so.
    api.patch(f"/api/v1/programme-requirements/{electives['id']}/", {"count": 3}, format="json")
    refused = api.post(f"/api/v1/programme-versions/{version['id']}/publish/")
    assert refused.status_code == 400
    assert "Electives" in str(refused.json()) and "more items" in str(refused.json())
    api.patch(f"/api/v1/programme-requirements/{electives['id']}/", {"count": 2}, format="json")
    add(parent=root, course="CAP300", points="5")
    published = api.post(f"/api/v1/programme-versions/{version['id']}/publish/")
    assert published.status_code == 200, published.content
    assert published.json()["published_at"] is not None
    # A later course requiring an earlier one's follower in the same ordered set: a cycle.
    world.foundation.gpu.prerequisites.add(world.foundation.capstone)
    new = api.post(f"/api/v1/programmes/{programme['id']}/new-version/").json()
    assert new["number"] == 2 and new["published_at"] is None
    gpu = next(c for c in new["tree"]["children"] if c["label"] == "GPU101")
    rejected = api.patch(
        f"/api/v1/programme-requirements/{gpu['id']}/", {"points": "6"}, format="json"
    )
    assert rejected.status_code == 400
    assert "GPU101" in str(rejected.json()) and "CAP300" in str(rejected.json())
    # Invite codes: the wrong one is refused, the right one lets a person in.
    joiner = client_as(world, "admin_b")
    url = f"/api/v1/programmes/{programme['id']}/join/"
    assert joiner.post(url, {"code": "guess"}, format="json").status_code == 400
    joined = joiner.post(url, {"code": "FACULTY"}, format="json")
    assert joined.status_code == 201 and joined.json()["source"] == "invite"
    assert AuditEvent.objects.filter(action="programme.publish").exists()


def test_a_manager_moves_approves_and_rejects_people(world):
    manager = client_as(world, "manager")
    services.version_publish(actor=world.people.operator, version=world.v2)
    moved = manager.post(
        f"/api/v1/programme-allocations/{world.pending.pk}/move/", {"version": 2}, format="json"
    )
    assert moved.status_code == 200 and moved.json()["version"] == 2
    approved = manager.post(f"/api/v1/programme-allocations/{world.pending.pk}/approve/")
    assert (approved.json()["state"], approved.json()["source"]) == ("active", "approval")
    again = manager.post(f"/api/v1/programme-allocations/{world.pending.pk}/reject/")
    assert again.status_code == 400 and "already been decided" in str(again.json())
    assert AuditEvent.objects.filter(action="programme.move").count() == 1


def test_an_institution_admin_allocates_a_cohort(world):
    newcomer = UserFactory(username="newcomer")
    from academy.models import Membership, Role

    Membership.objects.create(user=newcomer, institution=world.people.inst_a, role=Role.STUDENT)
    world.people.cohort_a.members.add(newcomer)
    api = client_as(world, "admin_a")
    url = f"/api/v1/programmes/{world.programme.pk}/cohorts/"
    response = api.post(url, {"cohort": world.people.cohort_a.pk}, format="json")
    assert (response.status_code, response.json()) == (201, {"allocated": 1})
    assert Allocation.objects.get(user=newcomer).source == "cohort"
    twice = api.post(url, {"cohort": world.people.cohort_a.pk}, format="json")
    assert twice.status_code == 400 and "already follows" in str(twice.json())


# ---- bad input: 400 with the reason, never a 500, nothing lost ---------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {},
        ["code", "title"],
        "just a string",
        {"code": "ok-code"},
        {"code": "no spaces!", "title": "T"},
        {"code": ["x"], "title": {"a": 1}},
        {"code": "ok-code", "title": "T", "eqf_level": "high"},
        {"code": "ok-code", "title": "T", "eqf_level": 9},
        {"code": "ok-code", "title": "T", "ects": "lots"},
        {"code": "ok-code", "title": "T", "sectors": "health"},
        {"code": "ok-code", "title": "T", "sectors": ["nowhere"]},
        {"code": "ok-code", "title": "T", "owner": "no-such-place"},
        {"code": "ok-code", "title": "T", "join_policy": "bribe"},
        {"code": "ai-foundation", "title": "Taken"},
        {"code": "ok-code", "title": "X" * 201},
    ],
)
def test_bad_programmes_are_refused_by_field(world, payload):
    before = Programme.objects.count()
    response = call(client_as(world, "operator"), "post", "/api/v1/programmes/", payload)
    assert response.status_code == 400, response.content
    assert isinstance(response.json(), dict) and response.json()
    assert Programme.objects.count() == before


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({}, "parent"),
        ([{"parent": 1}], "non_field_errors"),
        ({"parent": "abc", "course": "HPC150"}, "parent"),
        ({"parent": "{v2_root}", "course": "NOPE999"}, "course"),
        ({"parent": "{v2_root}", "course": ["HPC150"]}, "course"),
        ({"parent": "{v2_root}"}, "either a course or a rule"),
        ({"parent": "{v2_root}", "course": "HPC150", "rule": "all"}, "either a course or a rule"),
        ({"parent": "{v2_root}", "rule": "sometimes"}, "rule"),
        ({"parent": "{v2_root}", "rule": "at_least", "count": "many"}, "count"),
        ({"parent": "{v2_root}", "course": "HPC150", "min_grade": 150}, "min_grade"),
        ({"parent": "{v2_root}", "course": "HPC150", "points": -1}, "points"),
        ({"parent": "{v2_gpu}", "course": "HPC150"}, "into sets"),
    ],
)
def test_bad_requirements_are_refused_with_the_reason(world, payload, reason):
    values = {**ids(world), "v2_gpu": world.node(world.v2, "GPU101").pk}
    before = Requirement.objects.count()
    response = call(
        client_as(world, "operator"),
        "post",
        "/api/v1/programme-requirements/",
        fill(payload, values),
    )
    assert response.status_code == 400, response.content
    assert reason in str(response.json())
    assert Requirement.objects.count() == before


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({}, "Nothing to change"),
        ({"unknown": 1}, "Nothing to change"),
        ({"count": -1}, "count"),
        ({"min_grade": "x"}, "min_grade"),
        ({"rule": "all"}, "no rule"),
        ([{"count": 1}], "non_field_errors"),
    ],
)
def test_bad_changes_are_refused_with_the_reason(world, payload, reason):
    item = world.node(world.v2, "GPU101")
    response = call(
        client_as(world, "operator"), "patch", f"/api/v1/programme-requirements/{item.pk}/", payload
    )
    assert response.status_code == 400, response.content
    assert reason in str(response.json())


def test_a_followed_version_is_frozen_and_loses_nothing(world):
    api = client_as(world, "operator")
    item = world.node(world.v1, "CAP300")
    removed = api.delete(f"/api/v1/programme-requirements/{item.pk}/")
    assert removed.status_code == 400
    assert "frozen" in str(removed.json()) and "new version" in str(removed.json())
    changed = api.patch(
        f"/api/v1/programme-requirements/{item.pk}/", {"min_grade": "90"}, format="json"
    )
    assert changed.status_code == 400 and "frozen" in str(changed.json())
    item.refresh_from_db()
    assert item.min_grade is None
    assert api.delete(f"/api/v1/programme-requirements/{world.root(world.v2).pk}/").json() == {
        "non_field_errors": ["The root set cannot be removed."]
    }


@pytest.mark.parametrize(
    ("url", "payload"),
    [
        ("/programmes/{p}/join/", {"code": ["x"]}),
        ("/programmes/{p}/join/", {"code": {"a": 1}}),
        ("/programmes/{p}/join/", ["x"]),
        ("/programmes/{draft}/join/", {}),  # not published: not open to join
        ("/programmes/{p}/cohorts/", {}),
        ("/programmes/{p}/cohorts/", {"cohort": "abc"}),
        ("/programmes/{p}/cohorts/", {"cohort": 999999}),
        ("/programmes/{p}/cohorts/", [1]),
        ("/programme-allocations/{pending}/move/", {}),
        ("/programme-allocations/{pending}/move/", {"version": "two"}),
        ("/programme-allocations/{pending}/move/", {"version": 9}),
        ("/programme-allocations/{pending}/move/", {"version": 2}),  # not published
        ("/programme-allocations/{own}/approve/", None),  # already decided
        ("/programme-versions/{v1}/publish/", None),  # already published
    ],
)
def test_bad_actions_are_400_not_500(world, url, payload):
    values = ids(world)
    allocations = list(Allocation.objects.values_list("pk", "state", "version_id"))
    response = call(client_as(world, "operator"), "post", "/api/v1" + url.format(**values), payload)
    assert response.status_code == 400, response.content
    assert isinstance(response.json(), dict) and response.json()
    assert list(Allocation.objects.values_list("pk", "state", "version_id")) == allocations


def test_a_programme_update_keeps_its_code_and_checks_fields(world):
    api = client_as(world, "manager")
    url = f"/api/v1/programmes/{world.programme.pk}/"
    assert api.patch(url, {"eqf_level": 0}, format="json").status_code == 400
    assert api.patch(url, {"owner": "uni-b"}, format="json").status_code == 400  # not visible
    response = api.patch(url, {"code": "renamed", "title_sr": "Инжењер"}, format="json")
    assert response.status_code == 200
    assert (response.json()["code"], response.json()["title_sr"]) == ("ai-foundation", "Инжењер")
    assert AuditEvent.objects.filter(action="programme.update").count() == 1


# ---- schema and query counts --------------------------------------------------------------------


def test_the_schema_has_the_programme_endpoints_and_no_warnings_from_them():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    # This module's views and serializers (the learning outcomes' API is another module's).
    ours = tuple(
        f"programmes{sep}api{sep}{name}" for sep in "/." for name in ("programmes", "allocations")
    )
    warnings = [w for w in GENERATOR_STATS._warn_cache if any(o in w for o in ours)]
    errors = [e for e in GENERATOR_STATS._error_cache if any(o in e for o in ours)]
    assert not warnings and not errors, warnings + errors
    for path in (
        "/api/v1/programmes/{id}/join/",
        "/api/v1/programmes/{id}/versions/",
        "/api/v1/programmes/{id}/new-version/",
        "/api/v1/programmes/{id}/cohorts/",
        "/api/v1/programme-versions/{id}/publish/",
        "/api/v1/programme-requirements/{id}/",
        "/api/v1/programme-allocations/{id}/move/",
        "/api/v1/programme-completions/{id}/",
    ):
        assert path in schema["paths"], path
    tree = schema["components"]["schemas"]["RequirementNode"]["properties"]["children"]
    assert tree["items"]["$ref"].endswith("/RequirementNode")  # the tree refers to itself


def _count(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def _more(world: World, n: int) -> None:
    """``n`` more published programmes, each followed and completed by someone of uni-a."""
    from academy.models import Membership, Role

    for i in range(n):
        programme = services.programme_create(
            actor=world.people.operator, code=f"extra-{i}", title=f"Extra {i}"
        )
        root = Requirement.objects.get(version__programme=programme, parent=None)
        services.requirement_add(actor=world.people.operator, parent=root, course=world.spare)
        version = programme.versions.get()
        services.version_publish(actor=world.people.operator, version=version)
        person = UserFactory()
        Membership.objects.create(user=person, institution=world.people.inst_a, role=Role.STUDENT)
        allocation = services.allocation_join(actor=person, programme=programme)
        Completion.objects.create(allocation=allocation, version=version, evidence=[], credits=0)


# Each list: the session and its user (2), the count and the page (2), plus the scoping's
# look-up of the institutions the user administers (1) where the selector needs it.
@pytest.mark.parametrize(
    ("url", "role", "queries"),
    [
        ("/api/v1/programmes/", "student", 5),
        ("/api/v1/programmes/", "operator", 4),
        ("/api/v1/programme-allocations/", "admin_a", 5),
        ("/api/v1/programme-allocations/", "operator", 4),
        ("/api/v1/programme-completions/", "admin_a", 5),
        ("/api/v1/programme-completions/", "student", 5),
    ],
)
def test_list_endpoints_take_a_constant_number_of_queries(world, url, role, queries):
    client = APIClient()
    user = world.user(role)
    assert user is not None
    client.force_login(user)
    few = _count(client, url)
    _more(world, 4)
    assert _count(client, url) == few == queries


def test_a_detail_takes_the_same_queries_whatever_the_tree(world):
    """The session and its user (2), the institutions the user administers (1, for the
    scoping), the programme (1), its newest published version (1), the tree's rows with their
    courses and their excluded runs (2)."""
    operator = world.people.operator

    def programme_with(courses: list[Course]) -> Programme:
        programme = services.programme_create(
            actor=operator, code=f"size-{len(courses)}", title="Sized"
        )
        root = Requirement.objects.get(version__programme=programme, parent=None)
        inner = services.requirement_add(actor=operator, parent=root, rule="all", title="Inner")
        for course in courses:
            services.requirement_add(actor=operator, parent=inner, course=course, points=1)
        services.version_publish(actor=operator, version=programme.versions.get())
        return programme

    small = programme_with([world.spare])
    large = programme_with([CourseFactory() for _ in range(6)])
    client = APIClient()
    client.force_login(world.people.student)
    assert _count(client, f"/api/v1/programmes/{small.pk}/") == 7
    assert _count(client, f"/api/v1/programmes/{large.pk}/") == 7
    tree = client.get(f"/api/v1/programmes/{large.pk}/").json()["current_version"]["tree"]
    assert len(tree["children"][0]["children"]) == 6
