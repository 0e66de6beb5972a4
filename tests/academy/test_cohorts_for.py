"""``academy.selectors.cohorts_for``: each cohort once, whichever way the person reaches it."""

from __future__ import annotations

import pytest

from academy.models import Role
from academy.selectors import cohorts_for
from tests.factories import CohortFactory, InstitutionFactory, member

pytestmark = pytest.mark.django_db


def test_an_admin_who_is_also_in_a_cohort_sees_it_once():
    """The admin's own cohorts were OR-ed with a join on the members table: a cohort with
    several members came back once per member, and ``.get()`` raised MultipleObjectsReturned."""
    uni = InstitutionFactory()
    admin = member(uni, Role.ADMIN)
    cohort = CohortFactory(institution=uni)
    cohort.members.add(admin, member(uni), member(uni))
    assert list(cohorts_for(admin)) == [cohort]
    assert cohorts_for(admin).get(pk=cohort.pk) == cohort
