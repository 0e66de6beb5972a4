"""Issue 10 item 3: each rule is decided once, in the service, selector or model that owns it, and
every interface (page, API, template) asks that decision instead of re-deriving it."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from courses import bulk, selectors, services
from courses.models import OPEN_STATES, SEAT_STATES, BulkUpload, EnrolmentState, InviteCode
from tests.factories import (
    CourseRunFactory,
    CourseStaffFactory,
    EnrolmentFactory,
    LessonFactory,
    ModuleFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():  # type: ignore[no-untyped-def]
    return APIClient()


# --------------------------------------------------------------------------- invite-code expiry


@pytest.fixture
def invite_run(people):  # type: ignore[no-untyped-def]
    run = CourseRunFactory(capacity=5, policy="invite")
    CourseStaffFactory(run=run, user=people.instructor)
    return run


def test_the_service_refuses_an_invite_code_that_expires_in_the_past(invite_run, people):
    for when in (timezone.now() - timedelta(minutes=1), timezone.now() - timedelta(days=400)):
        with pytest.raises(ValidationError) as refused:
            services.invite_code_create(run=invite_run, actor=people.instructor, expires_at=when)
        assert refused.value.message_dict == {"expires_at": ["Choose a time in the future."]}
    assert not InviteCode.objects.filter(run=invite_run).exists()
    later = timezone.now() + timedelta(hours=1)
    invite = services.invite_code_create(run=invite_run, actor=people.instructor, expires_at=later)
    assert invite.expires_at == later


def test_page_and_api_give_the_services_expiry_answer(client, api, invite_run, people):
    past = timezone.localtime() - timedelta(days=1)
    client.force_login(people.instructor)
    response = client.post(
        f"/runs/{invite_run.pk}/settings/",
        {
            "form": "invite",
            "invite-code": "late",
            "invite-expires_at": past.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 400
    assert response.context["invite_form"].errors["expires_at"] == ["Choose a time in the future."]

    api.force_authenticate(people.instructor)
    response = api.post(
        f"/api/v1/runs/{invite_run.pk}/invite-codes/",
        {"code": "late", "expires_at": past.isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"expires_at": ["Choose a time in the future."]}
    assert not InviteCode.objects.filter(run=invite_run).exists()


def test_the_settings_badge_and_enrolment_agree_at_the_instant_of_expiry(
    client, invite_run, people, monkeypatch
):
    """A code works up to and including its expiry instant (the service compares with ``<``);
    the settings page used to call it expired at that instant (``<=``)."""
    invite = services.invite_code_create(
        run=invite_run,
        actor=people.instructor,
        code="EDGE-1",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert invite.expires_at is not None
    # Stop the clock exactly at the expiry: page and enrolment then read the same instant.
    instant = invite.expires_at
    monkeypatch.setattr(timezone, "now", lambda: instant)
    client.force_login(people.instructor)
    body = client.get(f"/runs/{invite_run.pk}/settings/").content.decode()
    row = body[body.index("EDGE-1") :]
    row = row[: row.index("</tr>")]
    assert "Works" in row and "Expired" not in row
    enrolment = services.enrolment_request(
        run=invite_run, user=people.student, invite_code="EDGE-1"
    )
    assert enrolment.state == "active"

    monkeypatch.setattr(timezone, "now", lambda: instant + timedelta(microseconds=1))
    body = client.get(f"/runs/{invite_run.pk}/settings/").content.decode()
    row = body[body.index("EDGE-1") :]
    assert "Expired" in row[: row.index("</tr>")]
    with pytest.raises(ValidationError) as refused:
        services.enrolment_request(run=invite_run, user=people.student_b, invite_code="EDGE-1")
    assert refused.value.message_dict == {"invite_code": ["This invite code has expired."]}


# --------------------------------------------------------------------------- seat-holding states


@pytest.mark.parametrize("state", EnrolmentState.values)
def test_dashboard_and_course_page_follow_the_models_seat_rule(client, people, state):
    """Which states hold a seat is ``SEAT_STATES``; the dashboard and the course page show the
    run's own page (and the green badge) exactly for those, and the enrolment line for the
    ``OPEN_STATES``, instead of listing states themselves."""
    enrolment = EnrolmentFactory(user=people.student, state=state)
    run = enrolment.run
    assert enrolment.holds_seat == (state in SEAT_STATES)
    assert enrolment.is_open == (state in OPEN_STATES)
    client.force_login(people.student)
    run_link = f'href="/runs/{run.pk}/"'

    dashboard = client.get("/").content.decode()
    assert (run_link in dashboard) == enrolment.holds_seat

    course_page = client.get(f"/courses/{run.course.code}/").content.decode()
    assert course_page.count(run_link) == (1 if enrolment.holds_seat else 0)
    assert ("Your enrolment:" in course_page) == enrolment.is_open


# --------------------------------------------------------------------------- bulk-fill runs

CSV = b"email,first_name,last_name,cohort\nnew@example.org,Nova,Newcomer,\n"


@pytest.fixture
def bulk_runs(people):  # type: ignore[no-untyped-def]
    """Runs around institution A: the ones A's admin may fill, and the ones they may not."""
    now = timezone.now()
    open_ = CourseRunFactory(title="public open")
    upcoming = CourseRunFactory(
        title="public upcoming",
        enrolment_opens_at=now + timedelta(days=3),
        enrolment_closes_at=now + timedelta(days=9),
    )
    for_a = CourseRunFactory(title="for A", is_public=False)
    for_a.allowed_institutions.add(people.inst_a)
    for_cohort_a = CourseRunFactory(title="for a cohort of A", is_public=False)
    for_cohort_a.allowed_cohorts.add(people.cohort_a)
    for_b = CourseRunFactory(title="for B only", is_public=False)
    for_b.allowed_institutions.add(people.inst_b)
    finished = CourseRunFactory(
        title="finished",
        enrolment_opens_at=now - timedelta(days=90),
        enrolment_closes_at=now - timedelta(days=80),
        starts_at=now - timedelta(days=70),
        ends_at=now - timedelta(days=1),
    )
    unpublished = CourseRunFactory(title="draft course", course__is_published=False)
    return (open_, upcoming, for_a, for_cohort_a), (for_b, finished, unpublished)


def test_one_selector_decides_the_runs_an_admin_may_bulk_fill(bulk_runs, people):
    allowed, refused = bulk_runs
    assert set(selectors.bulk_fill_runs(people.inst_a)) == set(allowed)
    for run in refused:
        with pytest.raises(ValidationError) as error:
            bulk.bulk_upload_store(
                actor=people.admin_a,
                institution=people.inst_a,
                run=run,
                file=io.BytesIO(CSV),
                size=len(CSV),
            )
        assert list(error.value.message_dict) == ["run"]
    assert not BulkUpload.objects.exists()


def test_the_bulk_page_offers_only_the_institutions_runs(client, bulk_runs, people):
    """The page used to offer every published unfinished run, whatever the institution."""
    allowed, refused = bulk_runs
    client.force_login(people.admin_a)
    response = client.get("/institutions/uni-a/bulk-enrol/")
    assert set(response.context["runs"]) == set(allowed)
    for run in refused:
        response = client.post(
            "/institutions/uni-a/bulk-enrol/",
            {"run": run.pk, "file": SimpleUploadedFile("list.csv", CSV)},
        )
        assert response.status_code == 400 and "Choose a run." in response.content.decode()
    for run in allowed:
        response = client.post(
            "/institutions/uni-a/bulk-enrol/",
            {"run": run.pk, "file": SimpleUploadedFile("list.csv", CSV)},
        )
        assert response.status_code == 302, run.title
    assert {u.run for u in BulkUpload.objects.all()} == set(allowed)


def test_the_bulk_api_refuses_the_runs_the_page_refuses(api, bulk_runs, people):
    """The API used to accept any run its caller could see, finished ones included."""
    allowed, refused = bulk_runs
    api.force_authenticate(people.admin_a)
    for run in refused:
        response = api.post(
            "/api/v1/bulk-enrolments/",
            {"institution": "uni-a", "run": run.pk, "file": SimpleUploadedFile("l.csv", CSV)},
            format="multipart",
        )
        assert response.status_code == 400, (run.title, response.content)
        assert "run" in response.json()
    for run in allowed:
        response = api.post(
            "/api/v1/bulk-enrolments/",
            {"institution": "uni-a", "run": run.pk, "file": SimpleUploadedFile("l.csv", CSV)},
            format="multipart",
        )
        assert response.status_code == 201, (run.title, response.content)
    assert {u.run for u in BulkUpload.objects.all()} == set(allowed)


# --------------------------------------------------------------------------- content visibility


@pytest.mark.parametrize("state", [*EnrolmentState.values, None])
def test_page_and_api_read_content_by_the_same_rule(client, api, people, state):
    """Content is for the run's staff and operators and for people holding a seat: the run page
    (``can_view_content``) and the API's module and lesson lists (``content_runs``) agree."""
    run = CourseRunFactory()
    module = ModuleFactory(run=run)
    lesson = LessonFactory(module=module)
    other_lesson = LessonFactory(module=ModuleFactory())  # another run's: operators only
    if state is not None:
        EnrolmentFactory(run=run, user=people.student, state=state)
    ta = UserFactory()
    CourseStaffFactory(run=run, user=ta, role="ta")
    for user, may in (
        (people.student, state in SEAT_STATES),
        (ta, True),
        (people.operator, True),
        (people.outsider, False),
    ):
        assert selectors.can_view_content(user, run) == may
        assert (run in selectors.content_runs(user)) == may
        client.force_login(user)
        assert (client.get(f"/runs/{run.pk}/").status_code == 200) == may, user
        api.force_authenticate(user)
        modules = api.get("/api/v1/modules/", {"run": run.pk}).json()
        modules = modules["results"] if isinstance(modules, dict) else modules
        assert [m["id"] for m in modules] == ([module.pk] if may else []), user
        assert (api.get(f"/api/v1/lessons/{lesson.pk}/").status_code == 200) == may, user
        elsewhere = api.get(f"/api/v1/lessons/{other_lesson.pk}/").status_code
        assert (elsewhere == 200) == (user == people.operator), user


# --------------------------------------------------------------------------- filter parsing


def test_catalogue_page_and_api_parse_the_same_filters(client, api, people):
    """One parser (``CatalogueFilters.from_query``): the API used to keep the spaces around a
    search (no match), and the page ignored ``open=true``, which the API's schema documents."""
    course = CourseRunFactory(course__title="Scaling GPUs").course
    closed = CourseRunFactory(
        course__title="Scaling later",
        enrolment_opens_at=timezone.now() + timedelta(days=3),
        enrolment_closes_at=timezone.now() + timedelta(days=9),
    ).course
    client.force_login(people.student)
    api.force_authenticate(people.student)
    for query, expected in (
        ({"q": "  Scaling GPUs  "}, {course}),
        ({"q": "scaling", "open": "true"}, {course}),
        ({"q": "scaling", "open": "1"}, {course}),
        ({"q": "scaling", "sector": "no-such", "level": "no-such"}, {course, closed}),
    ):
        page = client.get("/courses/", query).context["page"]
        assert set(page.object_list) == expected, query
        body = api.get("/api/v1/courses/", query).json()
        rows = body["results"] if isinstance(body, dict) else body
        assert {row["code"] for row in rows} == {c.code for c in expected}, query


def test_roster_page_export_and_api_parse_the_same_filters(client, api, people):
    """One parser (``RosterFilters.from_query``): the API used to keep the spaces around a
    search, so a pasted name found nobody there while the page found them."""
    run = CourseRunFactory()
    CourseStaffFactory(run=run, user=people.instructor)
    EnrolmentFactory(run=run, user=people.student)
    EnrolmentFactory(run=run, user=people.student_b, state="pending")
    client.force_login(people.instructor)
    api.force_authenticate(people.instructor)
    for query, expected in (
        ({"q": f" {people.student_b.username} "}, {people.student_b.username}),
        ({"state": "pending", "cohort": "x"}, {people.student_b.username}),
        ({"state": "bogus"}, {people.student.username, people.student_b.username}),
    ):
        page = client.get(f"/runs/{run.pk}/roster/", query).context["page"]
        assert {e.user.username for e in page.object_list} == expected, query
        body = api.get(f"/api/v1/runs/{run.pk}/roster/", query).json()
        rows = body["results"] if isinstance(body, dict) else body
        assert len(rows) == len(expected), query
        csv = b"".join(client.get(f"/runs/{run.pk}/roster.csv", query).streaming_content)
        assert all(name.encode() in csv for name in expected), query
