"""The permission matrix of the people side: every role against every page and endpoint,
including objects of another institution fetched by id (404, never data)."""

from __future__ import annotations

import pytest
from django.test import Client

from academy.models import Membership

# dual: a student of A and of B (accepted both); invitee: invited to A, not yet accepted.
ROLES = ["anonymous", "student", "instructor", "admin_a", "admin_b", "operator", "dual", "invitee"]


def client_for(people, role: str) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    if role != "anonymous":
        client.force_login(getattr(people, role))
    return client


def urls(people) -> dict[str, str]:  # type: ignore[no-untyped-def]
    membership_a = Membership.objects.get(user=people.student)
    dual_a = Membership.objects.get(user=people.dual, institution=people.inst_a)
    dual_b = Membership.objects.get(user=people.dual, institution=people.inst_b)
    return {
        "home": "/",
        "institutions": "/institutions/",
        "institution_a": "/institutions/uni-a/",
        "institution_b": "/institutions/uni-b/",
        "audit_a": "/institutions/uni-a/audit/",
        "cohort_new_a": "/institutions/uni-a/cohorts/new/",
        "cohort_a": f"/institutions/uni-a/cohorts/{people.cohort_a.pk}/",
        "cohort_b_via_a": f"/institutions/uni-a/cohorts/{people.cohort_b.pk}/",
        "cohort_edit_a": f"/institutions/uni-a/cohorts/{people.cohort_a.pk}/edit/",
        "admin": "/admin/",
        "api_me": "/api/v1/me/",
        "api_institutions": "/api/v1/institutions/",
        "api_institution_a": f"/api/v1/institutions/{people.inst_a.pk}/",
        "api_cohorts": "/api/v1/cohorts/",
        "api_cohort_a": f"/api/v1/cohorts/{people.cohort_a.pk}/",
        "api_cohort_b": f"/api/v1/cohorts/{people.cohort_b.pk}/",
        "api_memberships": "/api/v1/memberships/",
        "api_membership_a": f"/api/v1/memberships/{membership_a.pk}/",
        "api_membership_dual_a": f"/api/v1/memberships/{dual_a.pk}/",
        "api_membership_dual_b": f"/api/v1/memberships/{dual_b.pk}/",
        "api_schema": "/api/v1/schema/",
        "api_docs": "/api/v1/docs/",
    }


L = "login"  # redirect to the login page (pages) / 403 (API) for anonymous users
# Expected status per page and role, in ROLES order.
MATRIX: dict[str, list[int | str]] = {
    #                    anon stud instr adm_a adm_b oper dual invitee
    "home": [L, 200, 200, 200, 200, 200, 200, 200],
    "institutions": [L, 200, 200, 200, 200, 200, 200, 200],
    "institution_a": [L, 404, 404, 200, 404, 200, 404, 404],
    "institution_b": [L, 404, 404, 404, 200, 200, 404, 404],
    "audit_a": [L, 404, 404, 200, 404, 200, 404, 404],
    "cohort_new_a": [L, 404, 404, 200, 404, 200, 404, 404],
    "cohort_a": [L, 404, 404, 200, 404, 200, 404, 404],
    "cohort_b_via_a": [L, 404, 404, 404, 404, 404, 404, 404],
    "cohort_edit_a": [L, 404, 404, 200, 404, 200, 404, 404],
    "admin": [302, 302, 302, 302, 302, 200, 302, 302],
    "api_me": [403, 200, 200, 200, 200, 200, 200, 200],
    "api_institutions": [403, 200, 200, 200, 200, 200, 200, 200],
    "api_institution_a": [403, 200, 200, 200, 404, 200, 200, 404],
    "api_cohorts": [403, 200, 200, 200, 200, 200, 200, 200],
    "api_cohort_a": [403, 200, 200, 200, 404, 200, 200, 404],
    "api_cohort_b": [403, 404, 404, 404, 200, 200, 200, 404],
    "api_memberships": [403, 200, 200, 200, 200, 200, 200, 200],
    "api_membership_a": [403, 200, 404, 200, 404, 200, 404, 404],
    # Each institution's admin sees the dual member's membership there, not the other one.
    "api_membership_dual_a": [403, 404, 404, 200, 404, 200, 200, 404],
    "api_membership_dual_b": [403, 404, 404, 404, 200, 200, 200, 404],
    "api_schema": [200, 200, 200, 200, 200, 200, 200, 200],
    "api_docs": [200, 200, 200, 200, 200, 200, 200, 200],
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_endpoint_answers_as_intended(people, role):
    client = client_for(people, role)
    failures = []
    for name, url in urls(people).items():
        expected = MATRIX[name][ROLES.index(role)]
        response = client.get(url)
        if expected == L:
            ok = response.status_code == 302 and "/accounts/login/" in response["Location"]
        else:
            ok = response.status_code == expected
        if not ok:
            failures.append(f"{name} {url}: expected {expected}, got {response.status_code}")
        if response.status_code in (403, 404) and role != "anonymous":
            # A denied object never leaks its data.
            assert b"University B" not in response.content or role in (
                "admin_b",
                "operator",
                "dual",
            )
    assert not failures, "\n".join(failures)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "institutions", "cohorts"),
    [
        ("student", ["uni-a"], ["A 2026"]),
        ("instructor", ["uni-a"], ["A 2026"]),
        ("admin_a", ["uni-a"], ["A 2026"]),
        ("admin_b", ["uni-b"], ["B 2026"]),
        ("operator", ["uni-a", "uni-b"], ["A 2026", "B 2026"]),
        ("dual", ["uni-a", "uni-b"], ["A 2026", "B 2026"]),
        ("invitee", [], []),
    ],
)
def test_lists_are_scoped_to_the_actor(people, role, institutions, cohorts):
    client = client_for(people, role)
    got = [i["slug"] for i in client.get("/api/v1/institutions/").json()["results"]]
    assert sorted(got) == institutions
    got = [c["name"] for c in client.get("/api/v1/cohorts/").json()["results"]]
    assert sorted(got) == cohorts


@pytest.mark.django_db
def test_institution_admin_sees_only_their_members(people):
    client = client_for(people, "admin_b")
    rows = client.get("/api/v1/memberships/").json()["results"]
    assert {m["user"]["username"] for m in rows} == {"studentb", "adminb", "dual"}
    assert {m["institution"] for m in rows} == {"uni-b"}  # not dual's membership of A


@pytest.mark.django_db
def test_an_invited_person_is_no_member_until_they_accept(people):
    from academy import services

    client = client_for(people, "admin_a")
    rows = client.get("/api/v1/memberships/").json()["results"]
    assert "invitee" not in {m["user"]["username"] for m in rows}
    page = client.get("/institutions/uni-a/?q=invitee").content.decode()
    assert people.invitee.email in page  # among the pending invitations only ...
    assert "<code>invitee</code>" not in page  # ... not a row of the members' table
    services.invitation_accept_as(
        token=services.invitation_token(people.invitation), user=people.invitee
    )
    rows = client.get("/api/v1/memberships/").json()["results"]
    assert "invitee" in {m["user"]["username"] for m in rows}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "status"),
    [("student", 403), ("instructor", 403), ("admin_b", 400), ("admin_a", 201), ("operator", 201)],
)
def test_creating_a_cohort_needs_admin_rights_there(people, role, status):
    client = client_for(people, role)
    response = client.post(
        "/api/v1/cohorts/",
        {"institution": "uni-a", "name": "New", "intake_year": 2027},
        content_type="application/json",
    )
    # admin_b cannot even name institution A: it reads as a field error, not a leak.
    assert response.status_code == status, response.content


@pytest.mark.django_db
def test_patching_another_institutions_cohort_is_404(people):
    client = client_for(people, "admin_b")
    response = client.patch(
        f"/api/v1/cohorts/{people.cohort_a.pk}/",
        {"name": "Hacked"},
        content_type="application/json",
    )
    assert response.status_code == 404
    people.cohort_a.refresh_from_db()
    assert people.cohort_a.name == "A 2026"


@pytest.mark.django_db
def test_deleting_a_membership_of_another_institution_is_404(people):
    membership = Membership.objects.get(user=people.student)
    response = client_for(people, "admin_b").delete(f"/api/v1/memberships/{membership.pk}/")
    assert response.status_code == 404
    assert Membership.objects.filter(pk=membership.pk).exists()
