"""Content authoring by a run's staff: services (order, rights, audit, copy) and pages."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from academy.models import AuditEvent
from courses import authoring, services
from courses.models import Attachment, Lesson, LessonCompletion, Module
from tests.factories import (
    TINY_PNG as PNG,
)
from tests.factories import (
    CourseRunFactory,
    CourseStaffFactory,
    LessonFactory,
    ModuleFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(people):  # type: ignore[no-untyped-def]
    run = CourseRunFactory()
    CourseStaffFactory(run=run, user=people.instructor)
    return run


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path


def titles(run) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [
        [m.title, *[lesson.title for lesson in m.lessons.order_by("position")]]
        for m in Module.objects.filter(run=run).order_by("position")
    ]


def positions(queryset) -> list[int]:  # type: ignore[no-untyped-def]
    return list(queryset.order_by("position").values_list("position", flat=True))


# --------------------------------------------------------------------------- services


def test_outline_is_built_ordered_and_kept_dense(run, people):
    actor = people.instructor
    m1 = authoring.module_create(actor=actor, run=run, title="Tensors")
    m2 = authoring.module_create(actor=actor, run=run, title="  Training  ")
    a = authoring.lesson_create(actor=actor, module=m1, title="Shapes")
    b = authoring.lesson_create(actor=actor, module=m1, title="Broadcasting")
    authoring.lesson_create(actor=actor, module=m2, title="Loops")
    assert titles(run) == [["Tensors", "Shapes", "Broadcasting"], ["Training", "Loops"]]

    assert authoring.module_move(actor=actor, module=m2, direction=-1)
    assert not authoring.module_move(actor=actor, module=m2, direction=-1)  # already first
    assert authoring.lesson_move(actor=actor, lesson=b, direction=-1)
    assert titles(run) == [["Training", "Loops"], ["Tensors", "Broadcasting", "Shapes"]]

    # Moving a lesson to another module puts it last there and closes the gap it left.
    a.refresh_from_db()
    authoring.lesson_update(actor=actor, lesson=a, title="Shapes", body="x", module=m2)
    assert titles(run) == [["Training", "Loops", "Shapes"], ["Tensors", "Broadcasting"]]
    assert positions(Lesson.objects.filter(module=m1)) == [0]
    assert positions(Lesson.objects.filter(module=m2)) == [0, 1]

    authoring.module_delete(actor=actor, module=Module.objects.get(pk=m2.pk))
    assert titles(run) == [["Tensors", "Broadcasting"]]
    assert positions(Module.objects.filter(run=run)) == [0]
    actions = list(AuditEvent.objects.filter(actor=actor).values_list("action", flat=True))
    assert {
        "module.create",
        "lesson.create",
        "module.move",
        "lesson.move",
        "lesson.update",
        "module.delete",
    } <= set(actions)


def test_only_the_runs_staff_and_operators_author(run, people):
    other_run = CourseRunFactory()
    CourseStaffFactory(run=other_run, user=people.student_b)  # teaches elsewhere
    module = ModuleFactory(run=run)
    lesson = LessonFactory(module=module)
    for outsider in (people.student, people.student_b, people.admin_a, people.outsider):
        with pytest.raises(PermissionDenied):
            authoring.module_create(actor=outsider, run=run, title="X")
        with pytest.raises(PermissionDenied):
            authoring.lesson_update(actor=outsider, lesson=lesson, title="X", body="")
        with pytest.raises(PermissionDenied):
            authoring.module_delete(actor=outsider, module=module)
    assert authoring.module_create(actor=people.operator, run=run, title="By ops").pk


def test_titles_are_required_and_modules_stay_in_their_run(run, people):
    module = ModuleFactory(run=run)
    lesson = LessonFactory(module=module)
    with pytest.raises(ValidationError):
        authoring.module_create(actor=people.instructor, run=run, title="   ")
    with pytest.raises(ValidationError):
        authoring.lesson_create(actor=people.instructor, module=module, title="x" * 201)
    foreign = ModuleFactory()
    with pytest.raises(ValidationError):
        authoring.lesson_update(
            actor=people.instructor, lesson=lesson, title="T", body="", module=foreign
        )
    lesson.refresh_from_db()
    assert lesson.module_id == module.pk


def test_copy_from_an_earlier_run_copies_files_and_relinks_them(
    run, people, django_capture_on_commit_callbacks
):
    earlier = CourseRunFactory(course=run.course)
    CourseStaffFactory(run=earlier, user=people.instructor)
    module = authoring.module_create(actor=people.instructor, run=earlier, title="Intro")
    lesson = authoring.lesson_create(actor=people.instructor, module=module, title="Plots")
    image = services.attachment_add(
        lesson=lesson,
        actor=people.instructor,
        file=SimpleUploadedFile("loss.png", PNG, content_type="image/png"),
    )
    lesson.body = f"![loss](/attachments/{image.pk}/)"
    lesson.save()
    authoring.module_create(actor=people.instructor, run=run, title="Already here")

    assert list(authoring.content_sources(people.instructor, run)) == [earlier]
    assert authoring.content_copy(actor=people.instructor, source=earlier, target=run) == 1
    assert titles(run) == [["Already here"], ["Intro", "Plots"]]
    copy = Lesson.objects.get(module__run=run, title="Plots")
    new_image = copy.attachments.get()
    assert new_image.pk != image.pk and new_image.file.name != image.file.name
    assert copy.body == f"![loss](/attachments/{new_image.pk}/)"
    # Deleting the original leaves the copy's file in place.
    with django_capture_on_commit_callbacks(execute=True):
        authoring.attachment_delete(actor=people.instructor, attachment=image)
    assert new_image.file.storage.exists(new_image.file.name)
    assert not image.file.storage.exists(image.file.name)

    other_course = CourseRunFactory()
    CourseStaffFactory(run=other_course, user=people.instructor)
    instructor = type(people.instructor).objects.get(pk=people.instructor.pk)  # fresh role cache
    with pytest.raises(ValidationError):
        authoring.content_copy(actor=instructor, source=other_course, target=run)


def test_copy_needs_the_right_to_both_runs(run, people):
    earlier = CourseRunFactory(course=run.course)
    ModuleFactory(run=earlier)
    assert list(authoring.content_sources(people.instructor, run)) == []
    with pytest.raises(PermissionDenied):
        authoring.content_copy(actor=people.instructor, source=earlier, target=run)
    assert list(authoring.content_sources(people.operator, run)) == [earlier]


# --------------------------------------------------------------------------- pages


def test_authoring_pages_are_hidden_from_everyone_else(client, run, people):
    lesson = LessonFactory(module=ModuleFactory(run=run))
    attachment = Attachment.objects.create(lesson=lesson, file="x.txt", name="x.txt")
    services.enrolment_request(run=run, user=people.student)  # enrolled, still not staff
    urls = [
        ("get", f"/runs/{run.pk}/content/"),
        ("post", f"/runs/{run.pk}/content/"),
        ("post", f"/runs/{run.pk}/content/copy/"),
        ("post", f"/modules/{lesson.module_id}/rename/"),
        ("post", f"/modules/{lesson.module_id}/move/"),
        ("get", f"/modules/{lesson.module_id}/delete/"),
        ("post", f"/modules/{lesson.module_id}/delete/"),
        ("post", f"/modules/{lesson.module_id}/lessons/"),
        ("get", f"/lessons/{lesson.pk}/edit/"),
        ("post", f"/lessons/{lesson.pk}/edit/"),
        ("post", f"/lessons/{lesson.pk}/preview/"),
        ("post", f"/lessons/{lesson.pk}/move/"),
        ("post", f"/lessons/{lesson.pk}/delete/"),
        ("post", f"/lessons/{lesson.pk}/attachments/"),
        ("post", f"/attachments/{attachment.pk}/delete/"),
    ]
    for user in (people.student, people.admin_a):
        client.force_login(user)
        for method, url in urls:
            assert getattr(client, method)(url, {"title": "X"}).status_code == 404, (user, url)
    assert Module.objects.filter(run=run).count() == 1
    assert Lesson.objects.filter(pk=lesson.pk).exists()


def test_instructor_builds_a_lesson_through_the_pages(client, run, people):
    client.force_login(people.instructor)
    response = client.post(f"/runs/{run.pk}/content/", {"module-title": "Getting started"})
    assert response.status_code == 302
    module = Module.objects.get(run=run)
    response = client.post(f"/modules/{module.pk}/lessons/", {"title": "Your first GPU job"})
    lesson = Lesson.objects.get(module=module)
    assert response["Location"] == f"/lessons/{lesson.pk}/edit/"

    preview = client.post(
        f"/lessons/{lesson.pk}/preview/", {"body": "**hi** <script>alert(1)</script>"}
    ).content.decode()
    assert "<strong>hi</strong>" in preview and "<script>" not in preview

    response = client.post(
        f"/lessons/{lesson.pk}/edit/",
        {"title": "Your first GPU job", "module": module.pk, "body": "Run `nvidia-smi`."},
    )
    assert response.status_code == 302
    lesson.refresh_from_db()
    assert lesson.body == "Run `nvidia-smi`."

    # A bad file is refused with a reason and nothing is stored.
    response = client.post(
        f"/lessons/{lesson.pk}/attachments/",
        {
            "file": SimpleUploadedFile(
                "tool.exe", b"MZ\x90\x00", content_type="application/x-msdownload"
            )
        },
    )
    assert response.status_code == 400
    assert "File extension “exe” is not allowed" in response.content.decode()
    assert not lesson.attachments.exists()
    response = client.post(
        f"/lessons/{lesson.pk}/attachments/",
        {"file": SimpleUploadedFile("loss.png", PNG, content_type="image/png"), "name": ""},
    )
    assert response.status_code == 302
    image = lesson.attachments.get()
    page = client.get(f"/lessons/{lesson.pk}/edit/").content.decode()
    assert f"![loss.png](/attachments/{image.pk}/)" in page

    # An empty title keeps the old one and says why.
    response = client.post(
        f"/lessons/{lesson.pk}/edit/", {"title": "", "module": module.pk, "body": "changed"}
    )
    assert response.status_code == 400
    lesson.refresh_from_db()
    assert lesson.body == "Run `nvidia-smi`."

    services.enrolment_request(run=run, user=people.student)
    LessonCompletion.objects.create(lesson=lesson, user=people.student)
    confirm = client.get(f"/modules/{module.pk}/delete/").content.decode()
    assert "Your first GPU job" in confirm and "1 lesson completion by students" in confirm
    client.post(f"/modules/{module.pk}/delete/")
    assert not Module.objects.filter(run=run).exists()
    assert not Attachment.objects.filter(pk=image.pk).exists()


def test_outline_page_query_count_does_not_grow(client, run, people):
    client.force_login(people.instructor)
    url = f"/runs/{run.pk}/content/"

    def grow(k: int) -> None:
        for _ in range(k):
            module = ModuleFactory(run=run)
            for _ in range(3):
                lesson = LessonFactory(module=module)
                Attachment.objects.create(lesson=lesson, file="f.txt", name="f.txt")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx)

    grow(1)
    first = count()
    grow(3)
    # session, user, run, staff runs, copy sources (exists), modules, lessons, nav roles
    assert count() == first == 8


def test_copy_with_a_lost_file_says_which_and_copies_nothing(run, people):
    earlier = CourseRunFactory(course=run.course)
    lesson = LessonFactory(module=ModuleFactory(run=earlier), title="Data")
    Attachment.objects.create(lesson=lesson, file="courses/attachments/gone.csv", name="gone.csv")
    with pytest.raises(ValidationError, match="gone.csv.*Data"):
        authoring.content_copy(actor=people.operator, source=earlier, target=run)
    assert not Module.objects.filter(run=run).exists()
