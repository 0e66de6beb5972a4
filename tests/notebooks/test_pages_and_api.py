"""Pages and API: scoping (others' objects are 404), uploads with per-cell errors, the status
fragment, the gradebook (pinned query counts) and its CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from notebooks import services
from notebooks.models import Extension, Submission
from tests.factories import UserFactory

from .factories import LabFactory, fixture

pytestmark = pytest.mark.django_db


def upload(content: bytes, name: str = "nb.ipynb") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/x-ipynb+json")


@pytest.fixture
def graded(lab, course):  # type: ignore[no-untyped-def]
    """A submission of people.student, graded synchronously."""
    sub = services.submission_create(
        actor=course.people.student, lab=lab, content=fixture("submitted-changed.ipynb")
    )
    services.grading_run_execute(submission_id=sub.pk, number=1)
    sub.refresh_from_db()
    return sub


def test_an_instructor_of_another_run_gets_404(client, lab, course, graded):
    client.force_login(course.other_instructor)
    for url in (
        f"/labs/{lab.pk}/",
        f"/labs/{lab.pk}/grading/",
        f"/submissions/{graded.pk}/",
        f"/runs/{course.run.pk}/gradebook/",
        f"/api/v1/labs/{lab.pk}/",
        f"/api/v1/submissions/{graded.pk}/",
        f"/api/v1/runs/{course.run.pk}/gradebook/",
    ):
        assert client.get(url).status_code == 404, url


def test_a_student_cannot_see_another_students_submission(client, lab, course, graded):
    client.force_login(course.people.student_b)
    assert client.get(f"/submissions/{graded.pk}/").status_code == 404
    assert client.get(f"/submissions/{graded.pk}/status/").status_code == 404
    assert client.get(f"/api/v1/submissions/{graded.pk}/").status_code == 404
    assert client.get("/api/v1/submissions/").json()["count"] == 0
    assert client.get(f"/labs/{lab.pk}/grading/").status_code == 404
    assert client.get(f"/labs/{lab.pk}/versions/1/source.ipynb").status_code == 404


def test_an_institution_admin_reads_only_their_students(client, lab, course, graded):
    client.force_login(course.people.admin_a)
    assert client.get(f"/api/v1/submissions/{graded.pk}/").status_code == 200
    client.force_login(course.people.admin_b)
    assert client.get(f"/api/v1/submissions/{graded.pk}/").status_code == 404


def test_the_upload_page_shows_per_cell_errors(client, course):
    lab = LabFactory(run=course.run)
    client.force_login(course.people.instructor)
    bad = fixture("submitted-unchanged.ipynb").replace(b'"points": 3.0', b'"points": null')
    response = client.post(f"/labs/{lab.pk}/versions/", {"file": upload(bad)})
    assert response.status_code == 400
    assert b"graded cell has no points" in response.content and b"quux" in response.content
    assert not lab.versions.exists()
    response = client.post(
        f"/labs/{lab.pk}/versions/", {"file": upload(fixture("submitted-unchanged.ipynb"))}
    )
    assert response.status_code == 302 and lab.versions.count() == 1
    assert client.post(f"/labs/{lab.pk}/release/").status_code == 302
    preview = client.get(f"/labs/{lab.pk}/versions/1/preview/")
    assert b"YOUR CODE HERE" in preview.content


def test_the_student_page_downloads_submits_and_polls(client, lab, course):
    client.force_login(course.people.student)
    download = client.get(f"/labs/{lab.pk}/download/")
    assert download.status_code == 200 and b"BEGIN SOLUTION" not in b"".join(
        download.streaming_content
    )
    assert client.post(f"/labs/{lab.pk}/submit/", {"file": upload(b"{")}).status_code == 400
    assert (
        client.post(
            f"/labs/{lab.pk}/submit/", {"file": upload(fixture("submitted-changed.ipynb"))}
        ).status_code
        == 302
    )
    sub = Submission.objects.get()
    fragment = client.get(f"/submissions/{sub.pk}/status/").content.decode()
    # waiting in the queue: its place, polled every 5 s
    assert 'hx-trigger="every 5s"' in fragment and "queued" in fragment
    assert "place in the queue: 1" in fragment
    services.grading_run_execute(submission_id=sub.pk, number=1)
    fragment = client.get(f"/submissions/{sub.pk}/status/").content.decode()
    assert "hx-trigger" not in fragment and "needs_manual" in fragment


def test_the_manual_grading_page_saves_and_moves_on(client, lab, course, graded):
    client.force_login(course.ta)
    page = client.get(f"/labs/{lab.pk}/grading/")
    assert page.status_code == 200 and b"baz" in page.content and b"grading.js" in page.content
    response = client.post(f"/labs/{lab.pk}/grading/?i=0", {"score": "9", "comment": ""})
    assert response.status_code == 400
    response = client.post(f"/labs/{lab.pk}/grading/?i=0", {"score": "2", "comment": "ok"})
    assert response.status_code == 302
    graded.refresh_from_db()
    assert graded.manual_grades.count() == 1


def test_api_uploads_give_field_errors(client, course, lab):
    client.force_login(course.people.instructor)
    response = client.post(f"/api/v1/labs/{lab.pk}/versions/", {"file": upload(b"[]")})
    assert response.status_code == 400 and "cells" in response.json() and "file" in response.json()
    response = client.post(f"/api/v1/labs/{lab.pk}/versions/", {})
    assert response.status_code == 400 and "file" in response.json()
    response = client.post("/api/v1/labs/", {"run": course.run.pk}, content_type="application/json")
    assert response.status_code == 400 and {"title", "due_at"} <= set(response.json())
    client.force_login(course.people.student)
    response = client.post("/api/v1/submissions/", {"lab": lab.pk})
    assert response.status_code == 400 and "file" in response.json()


def test_api_cell_errors_keep_their_types_and_release_refuses_bad_payloads(client, course):
    lab = LabFactory(run=course.run)
    client.force_login(course.people.instructor)
    bad = fixture("submitted-unchanged.ipynb").replace(b'"points": 3.0', b'"points": null')
    cells = client.post(f"/api/v1/labs/{lab.pk}/versions/", {"file": upload(bad)}).json()["cells"]
    assert any(isinstance(c["cell_index"], int) for c in cells)
    assert all(c["cell_index"] is None or isinstance(c["cell_index"], int) for c in cells)
    release = f"/api/v1/labs/{lab.pk}/release/"
    for payload in ("[1, 2]", '"x"', '{"version": "abc"}', '{"version": -1}'):
        response = client.post(release, payload, content_type="application/json")
        assert response.status_code == 400, (payload, response.content)
    response = client.post(release, '{"version": 7}', content_type="application/json")
    assert response.status_code == 400 and response.json() == {"version": ["No such version."]}


def test_api_submission_and_feedback_hide_nothing_they_should_not(client, lab, course, graded):
    client.force_login(course.people.student)
    body = client.get(f"/api/v1/submissions/{graded.pk}/feedback/").json()
    assert body["status"] == "needs_manual" and body["visible"] is False
    client.force_login(course.people.instructor)
    response = client.post(
        f"/api/v1/submissions/{graded.pk}/grades/",
        {"grade_id": "baz", "score": "1"},
        content_type="application/json",
    )
    assert response.status_code == 200
    response = client.post(
        f"/api/v1/submissions/{graded.pk}/grades/",
        {"grade_id": "nope", "score": "1"},
        content_type="application/json",
    )
    assert response.status_code == 400 and "grade_id" in response.json()


def test_the_schema_builds(client, course):
    client.force_login(course.people.operator)
    assert client.get("/api/v1/schema/").status_code == 200


# ------------------------------------------------------------------- gradebook


def populate(course, n_labs: int, n_students: int):  # type: ignore[no-untyped-def]
    from courses.models import Enrolment

    labs = [
        LabFactory(run=course.run, late_policy="per_day", late_penalty_percent=10)
        for _ in range(n_labs)
    ]
    students = [UserFactory() for _ in range(n_students)]
    for s in students:
        Enrolment.objects.create(
            run=course.run, user=s, state="active", cohort=course.people.cohort_a
        )
    version = None
    for lab in labs:
        for s in students:
            Submission.objects.create(
                lab=lab,
                student=s,
                attempt=1,
                sha256="x",
                status="graded",
                score=Decimal(8),
                max_score=Decimal(10),
                late_seconds=3600,
            )
    return labs, students, version


@pytest.mark.parametrize(("n_labs", "n_students"), [(1, 1), (4, 12)])
def test_the_gradebook_query_count_is_constant(
    client, course, django_assert_num_queries, n_labs, n_students
):  # type: ignore[no-untyped-def]
    populate(course, n_labs, n_students)
    client.force_login(course.people.instructor)
    # session, user, run (+ categories prefetch), admin memberships, staff roles, labs,
    # enrolments (+ users, cohorts), latest submissions, extensions; the page adds the
    # navigation roles and the cohorts of the filter
    with django_assert_num_queries(12):
        response = client.get(f"/runs/{course.run.pk}/gradebook/")
    assert response.status_code == 200
    # the same minus the navigation and the filter's cohorts
    with django_assert_num_queries(10):
        response = client.get(f"/runs/{course.run.pk}/gradebook.csv")
        body = b"".join(response.streaming_content).decode()
    assert body.count("\n") == 1 + 2 + n_students  # header, the two course students, the others
    assert "72.00" in body  # 80 % minus a day's 10 % penalty


def test_the_gradebook_filters_by_cohort_and_shows_the_penalty(client, course):
    populate(course, 2, 3)
    client.force_login(course.people.instructor)
    page = client.get(f"/runs/{course.run.pk}/gradebook/?cohort={course.people.cohort_b.pk}")
    assert page.content.count(b'class="course-grade"') == 1  # only student_b
    page = client.get(f"/runs/{course.run.pk}/gradebook/")
    assert b"72 %" in page.content and b"late-penalty" in page.content
    api = client.get(f"/api/v1/runs/{course.run.pk}/gradebook/").json()
    row = next(r for r in api if r["labs"][0]["submission"])
    assert row["labs"][0]["late_penalty_percent"] == "10.00" and row["course_grade"] == "72.00"


def test_one_course_grade_on_the_page_the_api_and_the_csv(client, course):
    """A fixed scenario worked out by hand; every path that shows a course grade shows it.

    Labs 60 % (drop the lowest 1), Exam 40 %, pass mark 60; four labs (three past due, one not
    yet due) and one past-due exam.
    student: labs 80, 50, missing (0), not due (left out) -> drop the 0 -> mean(80, 50) = 65;
      exam 70 -> 0.6 * 65 + 0.4 * 70 = 67.00, passed.
    student_b: labs 80, 50, the third extended to next week (left out), not due -> drop 50 ->
      80; exam missing past due (0) -> 0.6 * 80 + 0.4 * 0 = 48.00, failed.
    (Before the one rule, missing and not-yet-due work both counted 0: 54.00 and 26.00.)
    """
    run, people = course.run, course.people
    run.pass_mark = Decimal(60)
    run.save(update_fields=["pass_mark"])
    labs_cat = run.categories.create(name="Labs", weight=Decimal(60), drop_lowest=1)
    exam_cat = run.categories.create(name="Exam", weight=Decimal(40))
    past, future = timezone.now() - timedelta(days=2), timezone.now() + timedelta(days=7)
    l1, l2, l3 = (LabFactory(run=run, category=labs_cat, due_at=past) for _ in range(3))
    LabFactory(run=run, category=labs_cat, due_at=future)
    exam = LabFactory(run=run, category=exam_cat, due_at=past)

    def grade(lab, student, score):  # type: ignore[no-untyped-def]
        Submission.objects.create(
            lab=lab, student=student, attempt=1, sha256="x", status="graded",
            score=Decimal(score), max_score=Decimal(10),
        )  # fmt: skip

    for student in (people.student, people.student_b):
        grade(l1, student, 8)
        grade(l2, student, 5)
    grade(exam, people.student, 7)
    Extension.objects.create(lab=l3, student=people.student_b, due_at=future)
    client.force_login(course.people.instructor)
    expected = {
        people.student.username: ("67.00", True),
        people.student_b.username: ("48.00", False),
    }

    page = client.get(f"/runs/{run.pk}/gradebook/").content.decode()
    for username, (value, passed) in expected.items():
        cell = re.search(
            rf'data-student="{username}">.*?<td class="course-grade">(.*?)</td>', page, re.S
        )
        assert cell is not None
        assert f"{value.removesuffix('.00')} %" in cell[1]
        assert ("badge-ok" if passed else "badge-err") in cell[1]

    api = client.get(f"/api/v1/runs/{run.pk}/gradebook/").json()
    assert {r["student"]: (r["course_grade"], r["passed"]) for r in api} == expected

    response = client.get(f"/runs/{run.pk}/gradebook.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r[0]: (r[-2], r[-1] == "yes") for r in rows[1:]} == expected


def test_per_cell_errors_are_shown_in_the_readers_language(client, course):
    lab = LabFactory(run=course.run)
    client.force_login(course.people.instructor)
    client.post("/i18n/setlang/", {"language": "sr"})
    bad = fixture("submitted-unchanged.ipynb").replace(b'"points": 3.0', b'"points": null')
    response = client.post(f"/labs/{lab.pk}/versions/", {"file": upload(bad)})
    assert response.status_code == 400
    assert "оцењена ћелија нема бодове" in response.content.decode()
    response = client.post(f"/labs/{lab.pk}/versions/", {"file": upload(b"{")})
    assert "није исправан JSON" in response.content.decode()
    assert not lab.versions.exists()
