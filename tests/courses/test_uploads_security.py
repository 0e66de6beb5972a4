"""Uploaded files never become active content (issue 9, item 3).

An instructor or TA can upload a lesson file whose display name or client content type once made
it be served inline as HTML, SVG or script, running in every student's browser under our origin
(the CSP allows ``script-src 'self'``).  The files here are planted straight into the database
and storage, with the types a hostile client would send, so the serving side is tested whatever
the upload checks would have said; the upload checks have tests of their own below.
"""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from academy.models import Role
from courses import services
from courses.models import Attachment, Enrolment
from tests.factories import (
    PASSWORD,
    TINY_PNG,
    CourseStaffFactory,
    InstitutionFactory,
    LessonFactory,
    member,
)

JS = b"document.title = 'PWNED'; fetch('/pwned-marker/js');"
HTML = b"<html><body><h1>Notes</h1><script src='/attachments/%d/'></script></body></html>"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    b'width="10" height="10"><script xlink:href="/attachments/%d/"></script>'
    b'<rect width="10" height="10"/></svg>'
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00"
    b"\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
WEBP = (
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11"
    b"\x88\x88\xfe\x07\x00"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path


def plant(lesson, stored: str, content: bytes, name: str, content_type: str) -> Attachment:  # type: ignore[no-untyped-def]
    """A lesson file as a hostile upload left it: any display name, the client's type."""
    return Attachment.objects.create(
        lesson=lesson,
        file=ContentFile(content, name=stored),
        name=name,
        size=len(content),
        content_type=content_type,
    )


def plant_attack(lesson) -> dict[str, Attachment]:  # type: ignore[no-untyped-def]
    js = plant(lesson, "helper.txt", JS, "helper.js", "text/javascript")
    return {
        "js": js,
        "html": plant(lesson, "page.txt", HTML % js.pk, "page.html", "image/png"),
        "svg": plant(lesson, "diagram.svg", SVG % js.pk, "Diagram.SVG", "image/svg+xml"),
        "fake-png": plant(lesson, "plot.png", HTML % js.pk, "plot.html", "image/png"),
    }


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_planted_html_svg_and_script_never_run_in_a_students_browser(
    live_server, page: Page, artifacts
):
    institution = InstitutionFactory()
    student = member(institution, Role.STUDENT, username="victim")
    lesson = LessonFactory(title="Week 1")
    Enrolment.objects.create(run=lesson.module.run, user=student, state="active")
    files = plant_attack(lesson)
    # The body links the SVG as an image too, the way a lesson shows a diagram.
    lesson.body = f"Diagram: ![d](/attachments/{files['svg'].pk}/)"
    lesson.save()

    requested: list[str] = []
    page.context.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "victim")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator(".whoami")).to_be_visible()

    lesson_url = f"{live_server.url}/lessons/{lesson.pk}/"
    ran: list[str] = []
    for key in ("html", "svg", "fake-png", "js"):
        page.goto(lesson_url)
        link = page.locator(f"a[href='/attachments/{files[key].pk}/']")
        expect(link).to_be_visible()
        try:
            link.click()
            page.wait_for_timeout(800)
        except PlaywrightError:
            pass  # a download aborts the navigation: nothing was rendered
        if page.title() == "PWNED":
            ran.append(f"{key} (clicked)")
        # Visiting the file's address directly (a link in an e-mail, a bookmark).
        page.goto(lesson_url)
        try:
            page.goto(f"{live_server.url}/attachments/{files[key].pk}/")
            page.wait_for_timeout(800)
        except PlaywrightError:
            pass
        if page.title() == "PWNED":
            ran.append(f"{key} (visited)")
    page.goto(lesson_url)
    page.screenshot(path=str(artifacts / "uploads-planted-lesson.png"), full_page=True)
    assert ran == []
    assert not [url for url in requested if "pwned-marker" in url]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_stored_script_file_is_refused_as_script_even_by_a_page_of_our_origin(
    live_server, page: Page
):
    """Defence in depth: were some other hole to put ``<script src=…>`` on one of our pages, a
    lesson file still is not a script (octet-stream or text under nosniff)."""
    institution = InstitutionFactory()
    staff = member(institution, Role.INSTRUCTOR, username="teacher")
    lesson = LessonFactory()
    CourseStaffFactory(run=lesson.module.run, user=staff)
    js = plant(lesson, "helper.txt", JS, "helper.js", "text/javascript")
    requested: list[str] = []
    page.context.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "teacher")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator(".whoami")).to_be_visible()
    # A page of our origin (simulated: the browser is handed it for this one address).
    page.route(
        f"{live_server.url}/injected-page/",
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            body=f"<html><head><title>ok</title><script src='/attachments/{js.pk}/'></script>"
            "</head><body>x</body></html>",
        ),
    )
    page.goto(f"{live_server.url}/injected-page/")
    page.wait_for_timeout(800)
    assert page.title() == "ok"
    assert not [url for url in requested if "pwned-marker" in url]


# --------------------------------------------------------------------------- headers


@pytest.fixture
def lesson_and_student(people):  # type: ignore[no-untyped-def]
    lesson = LessonFactory()
    CourseStaffFactory(run=lesson.module.run, user=people.instructor)
    services.enrolment_request(run=lesson.module.run, user=people.student)
    return lesson, people.student


def fetch(client, attachment: Attachment):  # type: ignore[no-untyped-def]
    response = client.get(f"/attachments/{attachment.pk}/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    return response, body


def assert_inert(response) -> None:  # type: ignore[no-untyped-def]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in [
        d.strip().split(" ")[0] for d in response["Content-Security-Policy"].split(";")
    ]


SAFE_INLINE = [
    ("loss.png", TINY_PNG, "image/png"),
    ("photo.jpg", JPEG, "image/jpeg"),
    ("anim.gif", GIF, "image/gif"),
    ("slides.pdf", PDF, "application/pdf"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stored", "content", "expected"), SAFE_INLINE, ids=[c[0] for c in SAFE_INLINE]
)
def test_safe_images_and_pdfs_are_inline_with_the_sniffed_type(
    client, lesson_and_student, stored, content, expected
):
    lesson, student = lesson_and_student
    # Whatever the client claimed and whatever the name shown says.
    attachment = plant(lesson, stored, content, "shown.html", "text/html")
    client.force_login(student)
    response, body = fetch(client, attachment)
    assert body == content
    assert response["Content-Type"] == expected
    assert response["Content-Disposition"].startswith("inline")
    assert_inert(response)


@pytest.mark.django_db
def test_webp_is_sniffed_from_its_magic_bytes(client, lesson_and_student):
    lesson, student = lesson_and_student
    attachment = plant(lesson, "chart.png", WEBP, "chart.png", "image/png")
    client.force_login(student)
    response, _body = fetch(client, attachment)
    assert response["Content-Type"] == "image/webp"
    assert response["Content-Disposition"].startswith("inline")
    assert_inert(response)


HOSTILE = [
    ("page.txt", HTML % 1, "page.html", "image/png"),
    ("page.txt", HTML % 1, "page.htm", "text/html"),
    ("helper.txt", JS, "helper.js", "text/javascript"),
    ("diagram.svg", SVG % 1, "Diagram.SVG", "image/svg+xml"),
    ("diagram.svg", SVG % 1, "diagram.png", "image/png"),
    ("plot.png", HTML % 1, "plot.png", "image/png"),  # not a PNG inside
    ("data.json", b'{"a": 1}', "data.xhtml", "application/xhtml+xml"),
    ("notes.md", b"# notes", "notes.md", "text/html"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stored", "content", "name", "client_type"),
    HOSTILE,
    ids=[f"{c[0]}-as-{c[2]}" for c in HOSTILE],
)
def test_everything_else_is_an_inert_download(
    client, lesson_and_student, stored, content, name, client_type
):
    lesson, student = lesson_and_student
    attachment = plant(lesson, stored, content, name, client_type)
    client.force_login(student)
    response, body = fetch(client, attachment)
    assert body == content
    assert response["Content-Disposition"].startswith("attachment")
    content_type = response["Content-Type"].split(";")[0]
    assert content_type in {
        "application/octet-stream",
        "text/plain",
        "text/csv",
        "text/markdown",
        "application/json",
        "application/zip",
        "application/x-ipynb+json",
    }, content_type
    # The saved file's name ends with the stored file's own extension, never the shown one's.
    filename = re.search(r'filename="?([^";]+)', response["Content-Disposition"]).group(1)
    assert filename.lower().endswith("." + stored.rsplit(".", 1)[1])
    assert_inert(response)


# --------------------------------------------------------------------------- uploads


@pytest.mark.django_db
def test_upload_stores_the_sniffed_type_not_the_clients(people):
    lesson = LessonFactory()
    CourseStaffFactory(run=lesson.module.run, user=people.instructor)
    image = services.attachment_add(
        lesson=lesson,
        actor=people.instructor,
        file=SimpleUploadedFile("loss.png", TINY_PNG, content_type="text/html"),
    )
    assert image.content_type == "image/png"
    notes = services.attachment_add(
        lesson=lesson,
        actor=people.instructor,
        file=SimpleUploadedFile("notes.txt", b"<script>x</script>", content_type="image/png"),
    )
    assert notes.content_type == "text/plain"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stored", "content"),
    [
        ("plot.png", HTML % 1),  # a PNG that is not one
        ("slides.pdf", b"<html>not a pdf</html>"),
        ("photo.jpg", TINY_PNG),  # a PNG named .jpg: say what it is
    ],
)
def test_an_image_or_pdf_that_is_not_one_is_refused_with_a_reason(people, stored, content):
    lesson = LessonFactory()
    CourseStaffFactory(run=lesson.module.run, user=people.instructor)
    with pytest.raises(ValidationError, match="not"):
        services.attachment_add(
            lesson=lesson,
            actor=people.instructor,
            file=SimpleUploadedFile(stored, content, content_type="image/png"),
        )
    assert not lesson.attachments.exists()


def test_media_root_is_not_served_by_address_even_in_debug(settings):
    """Lesson files live under MEDIA_ROOT: only the access-checked view may serve them (``make
    run`` runs with DEBUG=1, where Django's static() helper would serve MEDIA_ROOT raw)."""
    import importlib

    import academy.urls

    settings.DEBUG = True
    try:
        module = importlib.reload(academy.urls)
        patterns = [str(p.pattern) for p in module.urlpatterns]
    finally:
        settings.DEBUG = False
        importlib.reload(academy.urls)
    assert not [p for p in patterns if "media" in p]
