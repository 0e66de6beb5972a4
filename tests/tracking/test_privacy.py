"""The acceptance's permission tests: an institution admin never sees another institution's
people or figures, in pages, API or exports, including people who belong to two institutions.

``dual`` is a member of A and of B.  Besides the shared ``world``, dual has three more
enrolments, each in a course whose code marks who may see it:

- ``AONLY9`` through A's cohort: A's (A's admin must see it: the positive control);
- ``BONLY9`` through B's cohort: B's, with GPU time, activity, a credential and at-risk reasons;
- ``NOBODY9`` with no cohort: dual has two institutions, so it is attributed to neither.

Every page, API answer and export (CSV and XLSX) is read whole as text; A's admin must find
``AONLY9`` wherever dual's runs are listed and never ``BONLY9``, ``NOBODY9`` or B's people;
B's admin the reverse.  Pages and exports are named by URL name: one that does not exist fails
the test with its name."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from openpyxl import load_workbook

from courses.models import CourseRun
from credentials.models import Credential
from tests.factories import CourseFactory, CourseRunFactory
from tests.tracking import test_api
from tests.tracking.test_api import World, activity, client_for, gpu, snapshot

world = test_api.world  # the shared fixture

A_MARK, B_MARK, NOBODY_MARK = "AONLY9", "BONLY9", "NOBODY9"


def _run(code: str) -> CourseRun:
    now = timezone.now()
    return CourseRunFactory(
        course=CourseFactory(code=code, title=f"Course {code}"),
        starts_at=now - timedelta(days=20),
        ends_at=now + timedelta(days=20),
        enrolment_opens_at=now - timedelta(days=40),
        enrolment_closes_at=now - timedelta(days=21),
    )


@pytest.fixture
def two_homes(world: World) -> World:
    p = world.people
    run_a, run_b, run_none = _run(A_MARK), _run(B_MARK), _run(NOBODY_MARK)
    snapshot(p.dual, run_a, p.cohort_a, p.inst_a, grade="88", idle_days=2, gpu_hours="1")
    # B's enrolment: failing, silent, missed deadlines (at risk for B only)
    snapshot(p.dual, run_b, p.cohort_b, p.inst_b, grade="5", idle_days=60, missed=4, gpu_hours="5")
    snapshot(p.dual, run_none, None, None, grade="3", idle_days=90, missed=5)
    activity(p.dual, run_a, p.inst_a, 1, 3)
    activity(p.dual, run_b, p.inst_b, 1, 17)
    gpu(p.dual, run_a, p.cohort_a, 1)
    gpu(p.dual, run_b, p.cohort_b, 5)
    gpu(p.dual, run_none, None, 6)
    for i, run in enumerate((run_a, run_b, run_none), start=1):
        Credential.objects.create(
            user=p.dual,
            kind="course",
            run=run,
            title=f"Certificate {run.course.code}",
            document={"name": run.course.code},
            key_id="did:web:example#key-1",
            issued_at=timezone.now(),
            status_index=1000 + i,
        )
    return world


def url(name: str, *args: object, query: str = "") -> str:
    try:
        found = reverse(name, args=args)
    except NoReverseMatch:
        pytest.fail(f"URL name {name!r} does not exist (yet): the page or export is missing")
    return found + (f"?{query}" if query else "")


def text_of(client: Client, address: str) -> str:
    """The whole answer as text (pages, JSON, streamed CSV, XLSX cells); fails unless 200."""
    response = client.get(address)
    assert response.status_code == 200, f"{address}: {response.status_code}"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if response["Content-Type"].startswith("application/vnd.openxmlformats"):
        book = load_workbook(io.BytesIO(body), read_only=True)
        return "\n".join(
            "\t".join("" if v is None else str(v) for v in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    return body.decode()


def a_views(w: World) -> dict[str, str]:
    """Everything A's admin may open about A, by kind."""
    p = w.people
    api = "/api/v1/tracking/institutions/uni-a/"
    return {
        "dashboard page": url("tracking-dashboard", "uni-a"),
        "cohort page": url("tracking-cohort", "uni-a", p.cohort_a.pk),
        "cohort page, searched": url("tracking-cohort", "uni-a", p.cohort_a.pk, query="q=dual"),
        "person page": url("tracking-person", "uni-a", p.dual.pk),
        "dashboard CSV": url("tracking-dashboard-export", "uni-a", query="format=csv"),
        "dashboard XLSX": url("tracking-dashboard-export", "uni-a", query="format=xlsx"),
        "at-risk CSV": url("tracking-dashboard-export", "uni-a", query="table=risk&format=csv"),
        "at-risk XLSX": url("tracking-dashboard-export", "uni-a", query="table=risk&format=xlsx"),
        "cohort CSV": url("tracking-cohort-export", "uni-a", p.cohort_a.pk, query="format=csv"),
        "cohort XLSX": url("tracking-cohort-export", "uni-a", p.cohort_a.pk, query="format=xlsx"),
        "person CSV": url("tracking-person-export", "uni-a", p.dual.pk, query="format=csv"),
        "person XLSX": url("tracking-person-export", "uni-a", p.dual.pk, query="format=xlsx"),
        "API cohorts": f"{api}cohorts/",
        "API at-risk": f"{api}at-risk/",
        "API trends": f"{api}trends/",
        "API cohort people": f"{api}cohorts/{p.cohort_a.pk}/people/",
        "API person": f"{api}people/{p.dual.pk}/",
        "API activity": f"{api}activity/",
    }


def b_people_marks(w: World) -> list[str]:
    """What of B's people must never show at A: names, logins, e-mails."""
    b = w.people.student_b
    return [b.username, b.email, b.get_full_name(), "B 2026", "University B"]


# Where dual's runs are listed one by one (the positive control: A's run is there).
LISTS_DUALS_RUNS = ["person page", "person CSV", "person XLSX", "API person"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin_a", "operator"])
def test_as_a_nothing_of_b_shows_anywhere(two_homes, role):
    client = client_for(getattr(two_homes.people, role))
    leaks = []
    for kind, address in a_views(two_homes).items():
        text = text_of(client, address)
        for mark in (B_MARK, NOBODY_MARK, *b_people_marks(two_homes)):
            if mark in text:
                leaks.append(f"{kind}: {mark!r}")
        if kind in LISTS_DUALS_RUNS and A_MARK not in text:
            leaks.append(f"{kind}: dual's A run {A_MARK} is missing (the test would be empty)")
    assert not leaks, "\n".join(leaks)


@pytest.mark.django_db
def test_as_b_nothing_of_a_shows_for_the_person_in_both(two_homes):
    p = two_homes.people
    client = client_for(p.admin_b)
    api = "/api/v1/tracking/institutions/uni-b/"
    views = {
        "person page": url("tracking-person", "uni-b", p.dual.pk),
        "person CSV": url("tracking-person-export", "uni-b", p.dual.pk, query="format=csv"),
        "cohort CSV": url("tracking-cohort-export", "uni-b", p.cohort_b.pk, query="format=csv"),
        "at-risk CSV": url("tracking-dashboard-export", "uni-b", query="table=risk&format=csv"),
        "API person": f"{api}people/{p.dual.pk}/",
        "API at-risk": f"{api}at-risk/",
        "API activity": f"{api}activity/?user={p.dual.pk}",
    }
    for kind, address in views.items():
        text = text_of(client, address)
        assert A_MARK not in text and NOBODY_MARK not in text, kind
        assert p.student.email not in text and "A 2026" not in text, kind
    # B sees its own enrolment of dual, with its reasons
    assert B_MARK in text_of(client, views["person page"])
    assert B_MARK in text_of(client, views["API at-risk"])
    assert B_MARK in text_of(client, views["person CSV"])


@pytest.mark.django_db
def test_the_numbers_at_a_count_only_duals_a_enrolments(two_homes):
    p = two_homes.people
    client = client_for(p.admin_a)
    api = "/api/v1/tracking/institutions/uni-a/"
    person = client.get(f"{api}people/{p.dual.pk}/").json()
    assert sorted(e["course"] for e in person["enrolments"]) == [A_MARK, "NLP201"]
    assert sorted(c["title"] for c in person["credentials"]) == [f"Certificate {A_MARK}"]
    assert sum(d["events"] for d in person["activity"]) == 4 + 3  # not B's 11 + 17
    (cohort,) = client.get(f"{api}cohorts/").json()["results"]
    assert Decimal(cohort["gpu_used"]) == Decimal("4.00")  # 2 + 1 + 1: not B's, not nobody's
    assert cohort["enrolments"] == 3
    rows = client.get(f"{api}cohorts/{p.cohort_a.pk}/people/", {"search": "dual"}).json()
    (dual,) = rows["results"]
    assert dual["enrolments"] == 2 and dual["missed_deadlines"] == 0
    assert dual["credentials"] == 1 and dual["reasons"] == []
    at_risk = client.get(f"{api}at-risk/").json()
    assert "dual" not in {r["person"]["username"] for r in at_risk["results"]}


@pytest.mark.django_db
def test_a_cannot_reach_bs_pages_exports_or_api(two_homes):
    p = two_homes.people
    client = client_for(p.admin_a)
    api = "/api/v1/tracking/institutions/"
    refused = [
        url("tracking-dashboard", "uni-b"),
        url("tracking-cohort", "uni-b", p.cohort_b.pk),
        url("tracking-cohort", "uni-a", p.cohort_b.pk),  # B's cohort under A's address
        url("tracking-person", "uni-b", p.dual.pk),
        url("tracking-person", "uni-a", p.student_b.pk),  # B's person under A's address
        url("tracking-dashboard-export", "uni-b", query="format=csv"),
        url("tracking-cohort-export", "uni-b", p.cohort_b.pk, query="format=csv"),
        url("tracking-cohort-export", "uni-a", p.cohort_b.pk, query="format=xlsx"),
        url("tracking-person-export", "uni-a", p.student_b.pk, query="format=csv"),
        url("tracking-person-export", "uni-b", p.dual.pk, query="format=csv"),
        url("tracking-policy", "uni-b"),
        url("tracking-digest", "uni-b"),
        f"{api}uni-b/cohorts/",
        f"{api}uni-b/at-risk/",
        f"{api}uni-b/trends/",
        f"{api}uni-b/activity/",
        f"{api}uni-b/people/{p.dual.pk}/",
        f"{api}uni-b/cohorts/{p.cohort_b.pk}/people/",
        f"{api}uni-a/cohorts/{p.cohort_b.pk}/people/",
        f"{api}uni-a/people/{p.student_b.pk}/",
    ]
    answers = {address: client.get(address).status_code for address in refused}
    assert all(code == 404 for code in answers.values()), answers


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["student", "instructor", "dual", "outsider", "invitee"])
def test_people_who_are_not_admins_reach_nothing(two_homes, role):
    p = two_homes.people
    client = client_for(getattr(p, role))
    for kind, address in a_views(two_homes).items():
        assert client.get(address).status_code == 404, kind


@pytest.mark.django_db
def test_anonymous_people_reach_nothing(two_homes):
    client = Client()
    for kind, address in a_views(two_homes).items():
        assert client.get(address).status_code in (302, 401, 403), kind


@pytest.mark.django_db
def test_the_digest_keeps_to_each_institution(two_homes):
    from django.core import mail

    from tracking import digest

    p = two_homes.people
    digest.send_due()
    (to_a,) = [m for m in mail.outbox if m.to == [p.admin_a.email]]
    (to_b,) = [m for m in mail.outbox if m.to == [p.admin_b.email]]
    for mark in (B_MARK, NOBODY_MARK, *b_people_marks(two_homes)):
        assert mark not in to_a.body and mark not in to_a.alternatives[0][0]
    assert B_MARK in to_b.body  # dual's B enrolment is at risk there
    assert A_MARK not in to_b.body and NOBODY_MARK not in to_b.body
