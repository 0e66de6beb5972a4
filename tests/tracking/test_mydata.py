"""Portability: a signed-in person downloads all their own data as one streamed JSON file, and
nothing of anyone else's."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from courses.models import LessonCompletion
from credentials.models import Credential
from notebooks.models import Extension, Lab, Submission
from tests.factories import LessonFactory, ModuleFactory
from tests.tracking import test_api
from tests.tracking.test_api import client_for
from tracking.models import DigestPreference, LearningEvent

world = test_api.world  # the shared fixture

_slots = itertools.count(1)

SECTIONS = [
    "about",
    "profile",
    "memberships",
    "cohorts",
    "invitations",
    "enrolments",
    "lesson_completions",
    "submissions",
    "extensions",
    "enrolment_snapshots",
    "lab_sessions",
    "gpu_usage",
    "programmes",
    "credentials",
    "learning_events",
    "daily_activity",
    "digest_preferences",
]


def credential(user, run) -> Credential:  # type: ignore[no-untyped-def]
    return Credential.objects.create(
        user=user,
        kind="course",
        run=run,
        title=f"{run.course.title} for {user.username}",
        document={"type": ["VerifiableCredential"], "holder": user.username},
        key_id="did:web:example#key-1",
        issued_at=timezone.now(),
        status_index=next(_slots),
    )


@pytest.fixture
def history(world):  # type: ignore[no-untyped-def]
    """Two people's history in the same runs: dual's, and the student's (never in dual's
    file)."""
    p = world.people
    lesson = LessonFactory(module=ModuleFactory(run=world.run), title="Tensors")
    lab = Lab.objects.create(
        run=world.run, title="Lab one", due_at=timezone.now() + timedelta(days=3)
    )
    for user, released in ((p.dual, False), (p.student, True)):
        LessonCompletion.objects.create(lesson=lesson, user=user)
        Submission.objects.create(
            lab=lab,
            student=user,
            attempt=1,
            file="x.ipynb",
            sha256=("a" if user == p.dual else "b") * 64,
            status="graded",
            score=Decimal("7.5"),
            max_score=Decimal(10),
            feedback_released=released,
        )
        LearningEvent.objects.create(kind="lesson_viewed", user=user, run=world.run)
    Extension.objects.create(lab=lab, student=p.student, due_at=timezone.now())
    credential(p.dual, world.run2)
    other = credential(p.student, world.run)
    DigestPreference.objects.create(user=p.admin_a, institution=p.inst_a)
    return other


def download(user) -> tuple[dict, str]:  # type: ignore[no-untyped-def]
    response = client_for(user).get(reverse("my-data"))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="academy-{user.username}-'
    )
    text = b"".join(response.streaming_content).decode()
    return json.loads(text), text


@pytest.mark.django_db
def test_the_file_holds_the_persons_data(world, history):
    p = world.people
    data, _text = download(p.dual)
    assert list(data) == SECTIONS
    assert set(data["about"]["sections"]) == set(SECTIONS) - {"about"}
    assert data["profile"]["username"] == "dual" and data["profile"]["email"] == p.dual.email
    assert {m["institution__slug"] for m in data["memberships"]} == {"uni-a", "uni-b"}
    assert {c["name"] for c in data["cohorts"]} == {"A 2026", "B 2026"}
    assert {e["run__course__code"] for e in data["enrolments"]} == {"GPU101", "NLP201"}
    assert [c["lesson__title"] for c in data["lesson_completions"]] == ["Tensors"]
    (submission,) = data["submissions"]
    assert submission["lab"] == "Lab one" and submission["sha256"] == "a" * 64
    # feedback not released to dual yet: the score is not shown, as on their pages
    assert submission["feedback_released"] is False and submission["score"] is None
    assert {
        (s["run__course__code"], s["institution__slug"]) for s in data["enrolment_snapshots"]
    } == {
        ("GPU101", "uni-b"),
        ("NLP201", "uni-a"),
    }
    assert sorted(g["gpu_seconds"] for g in data["gpu_usage"]) == [3600, 7 * 3600]
    (cred,) = data["credentials"]
    assert cred["document"] == {"type": ["VerifiableCredential"], "holder": "dual"}
    assert [e["kind"] for e in data["learning_events"]] == ["lesson_viewed"]
    assert sorted(a["events"] for a in data["daily_activity"]) == [4, 11]
    assert data["extensions"] == [] and data["digest_preferences"] == []


@pytest.mark.django_db
def test_the_file_holds_nothing_of_anyone_else(world, history):
    p = world.people
    _data, text = download(p.dual)
    for other in (p.student, p.student_b, p.admin_a, p.admin_b, p.instructor, p.operator):
        assert other.email not in text
        assert f'"username": "{other.username}"' not in text
        assert other.get_full_name() not in text
    assert str(history.uuid) not in text  # the student's credential
    assert "b" * 64 not in text  # the student's submission
    # the student's own file has their released score, their extension, not dual's things
    data, text = download(p.student)
    assert data["submissions"][0]["score"] == "7.50"
    assert len(data["extensions"]) == 1
    assert p.dual.email not in text and "a" * 64 not in text


@pytest.mark.django_db
def test_an_admins_file_holds_their_digest_choices(world, history):
    data, _text = download(world.people.admin_a)
    assert data["digest_preferences"] == [
        {"institution__slug": "uni-a", "weekly_digest": True, "last_sent_at": None}
    ]
    assert data["enrolments"] == []


@pytest.mark.django_db
def test_the_file_is_read_with_a_fixed_number_of_queries(
    world, history, django_assert_max_num_queries
):
    client = client_for(world.people.dual)
    with django_assert_max_num_queries(30):
        response = client.get(reverse("my-data"))
        b"".join(response.streaming_content)


@pytest.mark.django_db
def test_signing_in_is_required_and_only_get_is_allowed(world):
    response = client_for(None).get(reverse("my-data"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client_for(world.people.dual).post(reverse("my-data")).status_code == 405


@pytest.mark.django_db
def test_every_page_links_to_it(world):
    page = client_for(world.people.dual).get(reverse("tracking-digest", args=["uni-a"]))
    assert page.status_code == 404  # not an admin; the 404 page has no account area
    home = client_for(world.people.dual).get("/")
    assert reverse("my-data") in home.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_person_downloads_their_data_from_the_account_area(live_server, page, artifacts):
    from playwright.sync_api import expect

    from tests.browser.support import login
    from tests.factories import UserFactory

    UserFactory(username="ana", first_name="Ana", last_name="Jović")
    login(page, live_server.url, "ana")
    link = page.locator(".topbar-right a:has-text('My data')")
    expect(link).to_be_visible()
    page.screenshot(path=str(artifacts / "tracking-my-data-link.png"))
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.startswith("academy-ana-")
    data = json.loads(open(download.path(), encoding="utf-8").read())  # noqa: SIM115
    assert data["profile"]["username"] == "ana" and data["profile"]["last_name"] == "Jović"
