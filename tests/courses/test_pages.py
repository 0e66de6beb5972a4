import pytest
from django.urls import reverse

from courses import services
from courses.models import LessonCompletion
from tests.factories import (
    CourseFactory,
    CourseRunFactory,
    CourseStaffFactory,
    LessonFactory,
    ModuleFactory,
)

pytestmark = pytest.mark.django_db


def test_catalogue_searches_and_filters(client, people):
    CourseFactory(code="HLT1", title="Medical imaging", sectors=["health"], level="advanced")
    CourseFactory(code="ENR1", title="Grid forecasting", sectors=["energy"], language="sr")
    CourseFactory(code="DRF1", title="Secret draft", is_published=False)
    client.force_login(people.student)
    body = client.get("/courses/?q=imaging").content.decode()
    assert "Medical imaging" in body and "Grid forecasting" not in body
    body = client.get("/courses/?sector=energy").content.decode()
    assert "Grid forecasting" in body and "Medical imaging" not in body
    body = client.get("/courses/?language=sr&level=advanced").content.decode()
    assert "No course matches" in body
    assert "Secret draft" not in client.get("/courses/").content.decode()
    assert client.get("/courses/DRF1/").status_code == 404


def test_open_now_filter(client, people):
    from datetime import timedelta

    from django.utils import timezone

    CourseRunFactory(course=CourseFactory(title="Open one"))
    now = timezone.now()
    CourseRunFactory(
        course=CourseFactory(title="Closed one"),
        enrolment_opens_at=now - timedelta(days=20),
        enrolment_closes_at=now - timedelta(days=10),
    )
    client.force_login(people.student)
    body = client.get("/courses/?open=1").content.decode()
    assert "Open one" in body and "Closed one" not in body


def test_course_page_says_why_not_and_enrols(client, people):
    run = CourseRunFactory(capacity=1, is_public=False)
    run.allowed_institutions.add(people.inst_a)
    client.force_login(people.student_b)
    body = client.get(f"/courses/{run.course.code}/").content.decode()
    assert "only for listed institutions" in body
    client.force_login(people.student)
    body = client.get(f"/courses/{run.course.code}/").content.decode()
    assert "1 seat left" in body
    response = client.post(f"/runs/{run.pk}/enrol/", follow=True)
    assert "You are enrolled." in response.content.decode()
    assert "0 seats left" in response.content.decode()


def test_markdown_is_sanitised_and_highlighted(client, people):
    course = CourseFactory(description="<script>alert(1)</script>\n\n```python\nx = 1\n```")
    client.force_login(people.student)
    body = client.get(f"/courses/{course.code}/").content.decode()
    assert "<script>alert" not in body
    assert 'class="codehilite"' in body


def test_lessons_need_an_enrolment_and_record_completion(client, people):
    lesson = LessonFactory()
    run = lesson.module.run
    client.force_login(people.student)
    assert client.get(f"/lessons/{lesson.pk}/").status_code == 403
    services.enrolment_request(run=run, user=people.student)
    assert 'class="nb"' in client.get(f"/lessons/{lesson.pk}/").content.decode()
    response = client.post(f"/lessons/{lesson.pk}/complete/", {"done": "1"}, HTTP_HX_REQUEST="true")
    assert "Mark as not done" in response.content.decode()
    assert LessonCompletion.objects.filter(lesson=lesson, user=people.student).exists()
    LessonFactory(module=lesson.module)
    assert "1 of 2 lessons" in client.get(f"/runs/{run.pk}/").content.decode()
    assert "1 of 2 lessons" in client.get("/").content.decode()


def test_roster_is_for_staff_only_and_exports_csv(client, people):
    run = CourseRunFactory(policy="approval")
    CourseStaffFactory(run=run, user=people.instructor)
    services.enrolment_request(run=run, user=people.student)
    client.force_login(people.student)
    assert client.get(f"/runs/{run.pk}/roster/").status_code == 404
    assert client.get(f"/runs/{run.pk}/roster.csv").status_code == 404
    client.force_login(people.instructor)
    assert (
        people.student.email in client.get(f"/runs/{run.pk}/roster/?state=pending").content.decode()
    )
    assert (
        people.student.email
        not in client.get(f"/runs/{run.pk}/roster/?state=active").content.decode()
    )
    response = client.get(f"/runs/{run.pk}/roster.csv")
    assert response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("username,") and people.student.username in lines[1]


def test_instructor_approves_from_the_roster(client, people):
    run = CourseRunFactory(policy="approval")
    CourseStaffFactory(run=run, user=people.instructor)
    e = services.enrolment_request(run=run, user=people.student)
    client.force_login(people.instructor)
    assert "Requests awaiting approval" in client.get("/").content.decode()
    client.post(reverse("enrolment-action", args=[e.pk, "approve"]), {"next": "/"})
    e.refresh_from_db()
    assert e.state == "active"
    # A stranger cannot act on it.
    client.force_login(people.student_b)
    response = client.post(reverse("enrolment-action", args=[e.pk, "remove"]), {"reason": "x"})
    assert response.status_code == 404


def test_institution_admin_dashboard_groups_by_cohort(client, people):
    run = CourseRunFactory()
    services.enrolment_request(run=run, user=people.student)
    client.force_login(people.admin_a)
    body = client.get("/").content.decode()
    assert "A 2026" in body and run.course.code in body
    assert "Bulk enrolment (CSV)" in client.get("/institutions/uni-a/").content.decode()


def test_module_factory_orders_lessons(people):
    module = ModuleFactory()
    assert module.run.pk


def test_attachments_have_type_and_size_limits_and_are_served_to_enrolled_only(
    client, people, settings, tmp_path
):
    from django.core.exceptions import PermissionDenied, ValidationError
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    settings.COURSES_ATTACHMENT_MAX_BYTES = 1024
    lesson = LessonFactory()
    CourseStaffFactory(run=lesson.module.run, user=people.instructor)
    with pytest.raises(ValidationError, match="not allowed"):
        services.attachment_add(
            lesson=lesson, actor=people.instructor, file=SimpleUploadedFile("run.exe", b"MZ")
        )
    with pytest.raises(ValidationError, match="larger than"):
        services.attachment_add(
            lesson=lesson, actor=people.instructor, file=SimpleUploadedFile("big.pdf", b"x" * 2048)
        )
    with pytest.raises(PermissionDenied):
        services.attachment_add(
            lesson=lesson, actor=people.student, file=SimpleUploadedFile("notes.txt", b"hi")
        )
    attachment = services.attachment_add(
        lesson=lesson,
        actor=people.instructor,
        file=SimpleUploadedFile("notes.txt", b"hello", "text/plain"),
    )
    client.force_login(people.student)
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 403
    services.enrolment_request(run=lesson.module.run, user=people.student)
    response = client.get(f"/attachments/{attachment.pk}/")
    assert b"".join(response.streaming_content) == b"hello"
    assert "attachment" in response["Content-Disposition"]
