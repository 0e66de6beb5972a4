"""The tracking API (``/api/v1/tracking/institutions/{slug}/…``): who may read it (operators
and the institution's admins; everyone else a 404), what each endpoint answers, its filters,
pagination, search and ordering, and bad input as a 400 naming the parameter, never a 500.

``world`` builds two institutions' people with snapshots, daily activity and GPU usage written
directly (as the snapshot engine and the roll-up would); the digest, portability and privacy
tests use it too."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from academy.models import Cohort, Institution, User
from courses.models import CourseRun, Enrolment
from notebooks.sessions.models import CohortGpuBudget, GpuUsage
from tests.factories import CourseFactory, CourseRunFactory, member
from tracking import services
from tracking.models import DailyActivity, EnrolmentSnapshot, InstitutionPolicy

_jobs = itertools.count(1)


def snapshot(
    user: User,
    run: CourseRun,
    cohort: Cohort | None,
    institution: Institution | None,
    *,
    state: str = "active",
    grade: str | None = "70",
    idle_days: int | None = 1,
    missed: int = 0,
    gpu_hours: str = "0",
    passed: bool | None = None,
) -> EnrolmentSnapshot:
    now = timezone.now()
    enrolment, _ = Enrolment.objects.update_or_create(
        run=run, user=user, defaults={"state": state, "cohort": cohort}
    )
    snap = EnrolmentSnapshot.objects.create(
        enrolment=enrolment,
        user=user,
        run=run,
        cohort=cohort,
        institution=institution,
        state=state,
        lessons_done=3,
        lessons_total=10,
        labs_total=4,
        labs_submitted=2,
        labs_graded=2,
        missed_deadlines=missed,
        grade=None if grade is None else Decimal(grade),
        passed=passed,
        gpu_hours=Decimal(gpu_hours),
        last_activity_at=None if idle_days is None else now - timedelta(days=idle_days),
    )
    services.rebuild_summaries()  # as the snapshot engine leaves them
    return snap


def activity(user: User, run: CourseRun, institution: Institution, days_ago: int, n: int) -> None:
    now = timezone.now()
    DailyActivity.objects.create(
        day=timezone.localdate() - timedelta(days=days_ago),
        user=user,
        run=run,
        institution=institution,
        lessons_viewed=n,
        lessons_completed=1,
        events=n,
        last_at=now - timedelta(days=days_ago),
    )


def gpu(user: User, run: CourseRun, cohort: Cohort | None, hours: int, days_ago: int = 1) -> None:
    GpuUsage.objects.create(
        job_id=f"job-{next(_jobs)}",
        user=user,
        run=run,
        cohort=cohort,
        gpus=1,
        elapsed_seconds=hours * 3600,
        gpu_seconds=hours * 3600,
        started_at=timezone.now() - timedelta(days=days_ago),
        finished=True,
    )


@dataclass
class World:
    people: Any
    run: CourseRun  # GPU101, under way
    run2: CourseRun  # NLP201, under way
    # dual's two enrolments: one through B's cohort (B's), one through A's (A's)
    dual_in_b: EnrolmentSnapshot
    dual_in_a: EnrolmentSnapshot
    student_snap: EnrolmentSnapshot
    student_b_snap: EnrolmentSnapshot


@pytest.fixture
def world(people) -> World:  # type: ignore[no-untyped-def]
    p = people
    now = timezone.now()
    run = CourseRunFactory(
        course=CourseFactory(code="GPU101", title="GPUs"),
        starts_at=now - timedelta(days=30),
        ends_at=now + timedelta(days=30),
        enrolment_opens_at=now - timedelta(days=60),
        enrolment_closes_at=now - timedelta(days=31),
    )
    run2 = CourseRunFactory(
        course=CourseFactory(code="NLP201", title="Language"),
        starts_at=now - timedelta(days=30),
        ends_at=now + timedelta(days=30),
        enrolment_opens_at=now - timedelta(days=60),
        enrolment_closes_at=now - timedelta(days=31),
    )
    # A's student: silent for 30 days (at risk); B's student: silent for 40 days (at risk).
    student_snap = snapshot(
        p.student, run, p.cohort_a, p.inst_a, idle_days=30, grade="80", gpu_hours="2"
    )
    student_b_snap = snapshot(
        p.student_b, run, p.cohort_b, p.inst_b, idle_days=40, grade="20", gpu_hours="9"
    )
    # dual: GPU101 through B's cohort (failing, 3 missed deadlines: B's concern only) and
    # NLP201 through A's cohort (doing fine).
    dual_in_b = snapshot(
        p.dual, run, p.cohort_b, p.inst_b, grade="10", missed=3, idle_days=50, gpu_hours="7"
    )
    dual_in_a = snapshot(p.dual, run2, p.cohort_a, p.inst_a, grade="90", gpu_hours="1")
    activity(p.student, run, p.inst_a, 2, 5)
    activity(p.dual, run2, p.inst_a, 1, 4)
    activity(p.dual, run, p.inst_b, 1, 11)
    activity(p.student_b, run, p.inst_b, 3, 13)
    gpu(p.student, run, p.cohort_a, 2)
    gpu(p.dual, run2, p.cohort_a, 1)
    gpu(p.dual, run, p.cohort_b, 7)
    gpu(p.student_b, run, p.cohort_b, 9)
    CohortGpuBudget.objects.create(run=run, cohort=p.cohort_a, gpu_hours=Decimal(100))
    CohortGpuBudget.objects.create(run=run, cohort=p.cohort_b, gpu_hours=Decimal(50))
    return World(p, run, run2, dual_in_b, dual_in_a, student_snap, student_b_snap)


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def api(slug: str, rest: str) -> str:
    return f"/api/v1/tracking/institutions/{slug}/{rest}"


ENDPOINTS = ["cohorts/", "at-risk/", "trends/", "activity/"]


# ---- who may read ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("rest", ENDPOINTS)
@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("admin_a", 200),
        ("operator", 200),
        ("admin_b", 404),
        ("student", 404),
        ("instructor", 404),
        ("dual", 404),
        ("outsider", 404),
        ("invitee", 404),
    ],
)
def test_only_operators_and_the_institutions_admins_may_read(world, rest, role, status):
    response = client_for(getattr(world.people, role)).get(api("uni-a", rest))
    assert response.status_code == status, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("rest", ENDPOINTS)
def test_anonymous_is_refused_and_an_unknown_institution_is_a_404(world, rest):
    assert client_for(None).get(api("uni-a", rest)).status_code in (401, 403)
    response = client_for(world.people.operator).get(api("no-such-place", rest))
    assert response.status_code == 404


@pytest.mark.django_db
def test_the_cohort_people_and_person_endpoints_are_the_admins_only(world):
    p = world.people
    people_url = api("uni-a", f"cohorts/{p.cohort_a.pk}/people/")
    person_url = api("uni-a", f"people/{p.student.pk}/")
    for url in (people_url, person_url):
        assert client_for(p.admin_a).get(url).status_code == 200
        assert client_for(p.operator).get(url).status_code == 200
        assert client_for(p.admin_b).get(url).status_code == 404
        assert client_for(p.student).get(url).status_code == 404


# ---- what they answer -----------------------------------------------------------------------


@pytest.mark.django_db
def test_cohorts_give_the_dashboards_figures_per_cohort(world):
    p = world.people
    body = client_for(p.admin_a).get(api("uni-a", "cohorts/")).json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row["id"] == p.cohort_a.pk and row["name"] == "A 2026"
    # student and dual in A's cohort; their A enrolments (GPU101 and NLP201) only
    assert row["people"] == 2  # student and dual
    assert row["enrolments"] == 2 and row["active"] == 2
    assert Decimal(row["average_grade"]) == Decimal("85.0")  # (80 + 90) / 2: not dual's 10
    assert Decimal(row["gpu_used"]) == Decimal("3.00")  # 2 + 1: not dual's 7 in B
    assert Decimal(row["gpu_budget"]) == Decimal("100.00")
    assert row["gpu_percent"] == 3.0


@pytest.mark.django_db
def test_cohorts_filtered_by_course_count_only_its_enrolments(world):
    body = (
        client_for(world.people.admin_a).get(api("uni-a", "cohorts/"), {"course": "NLP201"}).json()
    )
    row = body["results"][0]
    assert row["enrolments"] == 1 and Decimal(row["average_grade"]) == Decimal("90.0")


@pytest.mark.django_db
def test_at_risk_lists_reasons_in_words_and_filters_by_reason(world):
    p = world.people
    body = client_for(p.admin_b).get(api("uni-b", "at-risk/")).json()
    assert body["count"] == 2
    by_user = {r["person"]["username"]: r for r in body["results"]}
    assert set(by_user) == {"dual", "studentb"}
    dual = by_user["dual"]
    codes = {r["code"] for r in dual["reasons"]}
    assert {"inactive", "failing", "missed"} <= codes
    assert any("missed deadlines" in r["text"] for r in dual["reasons"])
    assert dual["course"] == "GPU101" and dual["cohort"] == p.cohort_b.pk
    only_missed = client_for(p.admin_b).get(api("uni-b", "at-risk/"), {"reason": "missed"})
    assert [r["person"]["username"] for r in only_missed.json()["results"]] == ["dual"]


@pytest.mark.django_db
def test_at_risk_follows_the_institutions_thresholds(world):
    p = world.people
    InstitutionPolicy.objects.create(institution=p.inst_a, inactive_days=60)
    body = client_for(p.admin_a).get(api("uni-a", "at-risk/")).json()
    assert body["count"] == 0
    InstitutionPolicy.objects.filter(institution=p.inst_a).update(inactive_days=20)
    body = client_for(p.admin_a).get(api("uni-a", "at-risk/")).json()
    assert [r["person"]["username"] for r in body["results"]] == ["student"]
    assert body["results"][0]["reasons"][0]["text"] == "no activity for 30 days"


@pytest.mark.django_db
def test_at_risk_reasons_follow_the_requests_language(world):
    response = client_for(world.people.admin_a).get(
        api("uni-a", "at-risk/"), HTTP_ACCEPT_LANGUAGE="sr-latn"
    )
    assert response.status_code == 200
    assert response.json()["results"][0]["reasons"][0]["text"]


@pytest.mark.django_db
def test_trends_are_weekly_with_zeros(world):
    p = world.people
    response = client_for(p.admin_a).get(api("uni-a", "trends/"))
    assert response.status_code == 200
    weeks = response.json()
    assert 12 <= len(weeks) <= 13
    assert all(w["week"] for w in weeks)
    assert sum(w["active_learners"] for w in weeks) >= 2  # student and dual, as A's members
    assert sum(w["gpu_hours"] for w in weeks) == pytest.approx(3.0)  # not dual's 7 in B
    narrow = client_for(p.admin_a).get(
        api("uni-a", "trends/"),
        {"since": (timezone.localdate() - timedelta(days=14)).isoformat()},
    )
    assert 2 <= len(narrow.json()) <= 3


@pytest.mark.django_db
def test_cohort_people_are_searchable_sortable_and_paginated(world):
    p = world.people
    url = api("uni-a", f"cohorts/{p.cohort_a.pk}/people/")
    body = client_for(p.admin_a).get(url).json()
    assert {r["username"] for r in body["results"]} == {"student", "dual"}
    dual = next(r for r in body["results"] if r["username"] == "dual")
    assert dual["enrolments"] == 1  # NLP201 through A; GPU101 is B's
    assert Decimal(dual["grade"]) == Decimal("90")
    assert Decimal(dual["gpu_hours"]) == Decimal("1")
    assert dual["reasons"] == []
    student = next(r for r in body["results"] if r["username"] == "student")
    assert [r["code"] for r in student["reasons"]] == ["inactive"]
    searched = client_for(p.admin_a).get(url, {"search": "dual"}).json()
    assert [r["username"] for r in searched["results"]] == ["dual"]
    by_grade = client_for(p.admin_a).get(url, {"ordering": "-grade"}).json()
    assert [r["username"] for r in by_grade["results"]] == ["dual", "student"]
    paged = client_for(p.admin_a).get(url, {"page": 1}).json()
    assert paged["count"] == 2 and paged["next"] is None


@pytest.mark.django_db
def test_a_cohort_of_another_institution_is_a_404(world):
    p = world.people
    url = api("uni-a", f"cohorts/{p.cohort_b.pk}/people/")
    assert client_for(p.admin_a).get(url).status_code == 404
    assert client_for(p.operator).get(url).status_code == 404  # B's cohort is not A's
    assert client_for(p.admin_a).get(api("uni-a", "cohorts/999999/people/")).status_code == 404


@pytest.mark.django_db
def test_a_person_as_the_institution_sees_them(world):
    p = world.people
    body = client_for(p.admin_a).get(api("uni-a", f"people/{p.dual.pk}/")).json()
    assert body["username"] == "dual"
    assert [e["course"] for e in body["enrolments"]] == ["NLP201"]
    assert body["enrolments"][0]["reasons"] == []
    assert sum(d["events"] for d in body["activity"]) == 4  # A's roll-up; not B's 11
    seen_by_b = client_for(p.admin_b).get(api("uni-b", f"people/{p.dual.pk}/")).json()
    assert [e["course"] for e in seen_by_b["enrolments"]] == ["GPU101"]
    assert sum(d["events"] for d in seen_by_b["activity"]) == 11


@pytest.mark.django_db
def test_a_person_who_is_not_a_member_is_a_404(world):
    p = world.people
    client = client_for(p.admin_a)
    assert client.get(api("uni-a", f"people/{p.student_b.pk}/")).status_code == 404
    assert client.get(api("uni-a", f"people/{p.invitee.pk}/")).status_code == 404
    assert client.get(api("uni-a", "people/99999999/")).status_code == 404


@pytest.mark.django_db
def test_activity_is_the_institutions_roll_ups_filtered(world):
    p = world.people
    client = client_for(p.admin_a)
    body = client.get(api("uni-a", "activity/")).json()
    assert body["count"] == 2
    assert {(r["username"], r["course"], r["events"]) for r in body["results"]} == {
        ("student", "GPU101", 5),
        ("dual", "NLP201", 4),
    }
    assert body["results"][0]["day"] >= body["results"][1]["day"]  # newest first
    one = client.get(api("uni-a", "activity/"), {"user": p.dual.pk}).json()
    assert [r["username"] for r in one["results"]] == ["dual"]
    run = client.get(api("uni-a", "activity/"), {"run": world.run.pk}).json()
    assert [r["username"] for r in run["results"]] == ["student"]
    since = (timezone.localdate() - timedelta(days=1)).isoformat()
    recent = client.get(api("uni-a", "activity/"), {"since": since}).json()
    assert [r["username"] for r in recent["results"]] == ["dual"]
    cohort = client.get(api("uni-a", "activity/"), {"cohort": p.cohort_a.pk}).json()
    assert cohort["count"] == 2
    by_events = client.get(api("uni-a", "activity/"), {"ordering": "events"}).json()
    assert [r["events"] for r in by_events["results"]] == [4, 5]


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rest", "params", "field"),
    [
        ("cohorts/", {"cohort": "abc"}, "cohort"),
        ("cohorts/", {"run": "-1"}, "run"),
        ("cohorts/", {"course": "NOPE"}, "course"),
        ("cohorts/", {"programme": "NOPE"}, "programme"),
        ("at-risk/", {"reason": "bored"}, "reason"),
        ("at-risk/", {"cohort": "999999"}, "cohort"),
        ("trends/", {"since": "yesterday"}, "since"),
        ("trends/", {"since": "2026-05-01", "until": "2026-01-01"}, "until"),
        ("trends/", {"since": "2000-01-01", "until": "2026-01-01"}, "since"),
        ("activity/", {"until": "2026-13-45"}, "until"),
        ("activity/", {"user": "x"}, "user"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(world, rest, params, field):
    response = client_for(world.people.admin_a).get(api("uni-a", rest), params)
    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.django_db
def test_ids_too_large_for_the_database_are_not_found_not_errors(world):
    client = client_for(world.people.admin_a)
    big = "9" * 25
    assert client.get(api("uni-a", f"cohorts/{big}/people/")).status_code == 404
    assert client.get(api("uni-a", f"people/{big}/")).status_code == 404
    assert client.get(api("uni-a", "at-risk/"), {"cohort": big}).status_code == 400
    assert client.get(api("uni-a", "cohorts/"), {"run": big}).status_code == 400
    response = client.get(api("uni-a", "activity/"), {"user": big})
    assert response.status_code == 200 and response.json()["count"] == 0


@pytest.mark.django_db
def test_a_cohort_of_another_institution_as_a_filter_is_refused(world):
    p = world.people
    response = client_for(p.admin_a).get(api("uni-a", "at-risk/"), {"cohort": p.cohort_b.pk})
    assert response.status_code == 400
    assert "cohort" in response.json()


@pytest.mark.django_db
def test_bad_people_parameters_and_pages(world):
    p = world.people
    client = client_for(p.admin_a)
    url = api("uni-a", f"cohorts/{p.cohort_a.pk}/people/")
    assert client.get(url, {"ordering": "password"}).status_code == 400
    assert client.get(url, {"page": "abc"}).status_code == 404
    assert client.get(api("uni-a", "at-risk/"), {"page": "9999"}).status_code == 404


@pytest.mark.django_db
def test_the_endpoints_are_in_the_openapi_schema(world):
    schema = client_for(world.people.operator).get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    for rest in [*ENDPOINTS, "cohorts/{cohort_id}/people/", "people/{user_id}/"]:
        assert f"/api/v1/tracking/institutions/{{slug}}/{rest}" in paths
    people = paths["/api/v1/tracking/institutions/{slug}/cohorts/{cohort_id}/people/"]["get"]
    names = {param["name"] for param in people["parameters"]}
    assert {"search", "ordering", "page"} <= names


# ---- queries --------------------------------------------------------------------------------


def _queries(client: Client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


@pytest.mark.django_db
def test_the_number_of_queries_does_not_grow_with_the_people(world):
    p = world.people
    client = client_for(p.admin_a)
    urls = [
        api("uni-a", rest)
        for rest in [
            *ENDPOINTS,
            f"cohorts/{p.cohort_a.pk}/people/",
            f"people/{p.dual.pk}/",
        ]
    ]
    for url in urls:  # warm: the weekly active learners are cached until the roll-up moves on
        _queries(client, url)
    before = {url: _queries(client, url) for url in urls}
    for i in range(12):
        person = member(p.inst_a, "student", username=f"more{i}")
        p.cohort_a.members.add(person)
        snapshot(person, world.run, p.cohort_a, p.inst_a, idle_days=20 + i, gpu_hours="1")
        snapshot(person, world.run2, p.cohort_a, p.inst_a, grade="10", missed=3)
        activity(person, world.run, p.inst_a, 1, 2)
        gpu(person, world.run, p.cohort_a, 1)
    after = {url: _queries(client, url) for url in urls}
    assert after == before
    assert all(n <= 15 for n in after.values()), after
