"""Query counts pinned: a constant number whatever the number of people."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from credentials import services as credential_services
from notebooks.models import Submission
from programmes import services
from programmes.models import Completion
from tests.factories import UserFactory

from .conftest import finished_run, result

pytestmark = pytest.mark.django_db(transaction=True)


# --- recompute_progress (h6) ----------------------------------------------------------------

# BEGIN; the allocations (locked), their completions, the six of finished_results, the seats,
# the tree (rows and excluded runs, once per version); the changed allocations, computed_at,
# the new completions (or the flagged ones) and their audit rows; COMMIT.
RECOMPUTE_QUERIES = 17


def _followers(foundation, runs, n):  # type: ignore[no-untyped-def]
    """``n`` people who joined and completed the programme, not yet recomputed."""
    people = []
    for _ in range(n):
        user = UserFactory()
        services.allocation_join(actor=user, programme=foundation.programme)
        for run, percent in zip(runs, (80, 70, 88, 91), strict=True):
            result(user, run, percent)
        people.append(user.pk)
    return people


def test_recompute_progress_is_a_constant_number_of_queries(foundation, monkeypatch):
    monkeypatch.setattr(services, "send", lambda *args, **kwargs: True)  # recompute by hand
    # and the certificates of the completions are another task's queries, not the recompute's
    monkeypatch.setattr(credential_services, "issue_after_commit", lambda user_ids: None)
    courses = [foundation.gpu, foundation.electives[0], foundation.electives[2]]
    runs = [finished_run(c) for c in (*courses, foundation.capstone)]
    few = _followers(foundation, runs, 3)
    many = _followers(foundation, runs, 30)
    counts = []
    for people in (few, many):
        with CaptureQueriesContext(connection) as queries:
            assert services.recompute_progress(people) == len(people)
        counts.append(len(queries))
    assert counts == [RECOMPUTE_QUERIES, RECOMPUTE_QUERIES]
    assert Completion.objects.count() == 33
    # Again, with nothing to write: fewer queries, and still the same for 3 and for 30.
    again = []
    for people in (few, many):
        with CaptureQueriesContext(connection) as queries:
            services.recompute_progress(people)
        again.append(len(queries))
    assert again[0] == again[1] < RECOMPUTE_QUERIES
    # A regrade after completion: every record flagged, still the same for 3 and for 30.
    Submission.objects.filter(lab__run=runs[0]).update(score=Decimal(72))
    flagged = []
    for people in (few, many):
        with CaptureQueriesContext(connection) as queries:
            services.recompute_progress(people)
        flagged.append(len(queries))
    # GPU101 is still passed, so no progress changes: one UPDATE fewer.
    assert flagged == [RECOMPUTE_QUERIES - 1, RECOMPUTE_QUERIES - 1]
    assert Completion.objects.filter(needs_review=True).count() == 33
