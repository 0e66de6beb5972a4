"""List pages and endpoints run a fixed number of queries, whatever the number of rows."""

from __future__ import annotations

import pytest

from academy import services
from academy.models import Role
from tests.factories import CohortFactory, member


def grow(people, n: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        cohort = CohortFactory(institution=people.inst_a)
        user = member(people.inst_a, Role.STUDENT)
        cohort.members.add(user)
        services.cohort_update(actor=people.admin_a, cohort=cohort, programme="P")


PAGES = [
    # (url, actor, queries): session + user + nav roles + the page's own queries
    ("/institutions/uni-a/", "admin_a", 11),
    ("/institutions/uni-a/audit/", "admin_a", 8),
    ("/institutions/", "admin_a", 7),  # + invitations waiting for the admin's own answer
    ("/api/v1/cohorts/", "admin_a", 6),
    ("/api/v1/memberships/", "admin_a", 5),
    ("/api/v1/institutions/", "operator", 4),
    ("/api/v1/me/", "student", 6),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "actor", "queries"), PAGES)
def test_query_count_does_not_grow_with_rows(
    client, people, django_assert_num_queries, url, actor, queries
):
    client.force_login(getattr(people, actor))
    grow(people, 3)
    with django_assert_num_queries(queries):
        assert client.get(url).status_code == 200
    grow(people, 12)
    with django_assert_num_queries(queries):
        assert client.get(url).status_code == 200
