"""The PDF certificate and the QR code of a credential: rendered in the holder's language with
WeasyPrint (nothing fetched from outside), the signed credential attached, cached per language
and state, served publicly by its unguessable id."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zlib
from decimal import Decimal
from io import BytesIO
from uuid import uuid4

import pytest
import segno
from django.urls import reverse
from django.utils import translation
from PIL import Image
from weasyprint.formatting_structure import boxes

from credentials import pdf, services
from credentials.models import Credential
from programmes import services as programme_services
from programmes.models import Completion, Programme
from tests.factories import CourseFactory, InstitutionFactory, OperatorFactory, UserFactory
from tests.programmes.conftest import build_foundation, passed


@pytest.fixture(autouse=True)
def _private_root(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"


def _course_credential(**user) -> Credential:  # type: ignore[no-untyped-def]
    student = UserFactory(first_name="Ana", last_name="Marković", **user)
    course = CourseFactory(code="GPU101", title="GPU programming", ects=Decimal("2.5"), eqf_level=6)
    credential, _ = services.issue_for_run(actor=None, user=student, run=passed(student, course))
    return credential


def _text(credential: Credential, language: str) -> str:
    """The text WeasyPrint laid out on the certificate's pages, whitespace collapsed."""
    fetcher = pdf.LocalOnlyFetcher()
    document = pdf.document(credential, language, fetcher)
    assert len(document.pages) == 1
    assert fetcher.refused == []
    parts = [
        box.text
        for page in document.pages
        for box in page._page_box.descendants(placeholders=True)
        if isinstance(box, boxes.TextBox)
    ]
    return re.sub(r"\s+", " ", " ".join(parts))


def _streams(data: bytes) -> list[bytes]:
    """Every stream of the PDF, inflated where it is compressed (read from the raw bytes:
    WeasyPrint packs the objects' dictionaries into compressed object streams)."""
    found = []
    for match in re.finditer(rb"stream\r?\n", data):
        if data[match.start() - 3 : match.start()] == b"end":
            continue
        end = data.find(b"endstream", match.end())
        raw = data[match.end() : end]
        try:
            found.append(zlib.decompress(raw))
        except zlib.error:
            found.append(raw)
    return found


# --------------------------------------------------------------------------- rendering


@pytest.mark.django_db
def test_the_certificate_is_a_pdf_carrying_the_signed_credential():
    credential = _course_credential()
    data = pdf.render_pdf(credential, "en")

    assert data.startswith(b"%PDF-")
    streams = _streams(data)
    everything = b"\n".join([data, *streams])
    assert b"/EmbeddedFile" in everything
    assert pdf.attachment_name(credential).encode() in everything
    attached = [s for s in streams if s.lstrip().startswith(b"{")]
    assert len(attached) == 1
    assert json.loads(attached[0]) == credential.document


@pytest.mark.django_db
def test_english_certificate_names_the_holder_the_achievement_and_the_facts(settings):
    settings.CREDENTIAL_ISSUER_NAME = "Serbian AI Factory"
    credential = _course_credential()
    text = _text(credential, "en")

    assert "Serbian AI Factory" in text
    assert "Ana Marković" in text
    assert "has successfully completed" in text
    assert "GPU programming" in text
    assert "2.5 ECTS credits" in text
    assert "EQF level 6" in text
    assert "Course" in text
    assert str(credential.uuid) in text
    assert services.credential_url(credential) in text.replace(" ", "")
    with translation.override("en"):
        assert credential.issued_at.strftime("%Y") in text
    assert "REVOKED" not in text


@pytest.mark.django_db
def test_the_language_decides_the_title_script_and_the_numbers():
    credential = _course_credential()
    Credential.objects.filter(pk=credential.pk).update(title_sr="Програмирање графичких процесора")
    credential.refresh_from_db()

    cyrillic = _text(credential, "sr")
    latin = _text(credential, "sr-latn")
    english = _text(credential, "en")

    assert "Програмирање графичких процесора" in cyrillic
    assert "Programiranje grafičkih procesora" in latin
    assert "Програмирање" not in latin
    assert "GPU programming" in english and "Програмирање" not in english
    assert "2,5" in cyrillic and "2,5" in latin  # Serbian decimal comma
    assert "Ana Marković" in cyrillic


def test_the_fetcher_refuses_the_network_and_unlisted_files():
    fetcher = pdf.LocalOnlyFetcher()
    for url in ("https://example.org/font.woff", "http://127.0.0.1/x.css", "file:///etc/passwd"):
        with pytest.raises(pdf.Refused):
            fetcher.fetch(url)
    assert len(fetcher.refused) == 3
    assert fetcher.fetch("data:text/plain,hello").read() == b"hello"
    assert fetcher.fetch(pdf.LOGO.resolve().as_uri()).read().startswith(b"<svg")


@pytest.mark.django_db
def test_nothing_outside_is_fetched_even_when_a_name_asks_for_it():
    credential = _course_credential()
    credential.user.first_name = '<img src="https://tracker.example/p.png">'
    fetcher = pdf.LocalOnlyFetcher()
    pdf.document(credential, "en", fetcher)
    assert fetcher.refused == []  # the name is escaped text, not markup


@pytest.mark.django_db
def test_revoked_and_suspended_certificates_say_so():
    operator = OperatorFactory()
    credential = _course_credential()
    credential = services.suspend(actor=operator, credential=credential, reason="Under review")
    assert "SUSPENDED" in _text(credential, "en")
    assert "Suspended on" in _text(credential, "en")

    credential = services.reinstate(actor=operator, credential=credential)
    credential = services.revoke(actor=operator, credential=credential, reason="Plagiarism")
    text = _text(credential, "en")
    assert "REVOKED" in text and "no longer valid" in text
    assert "SUSPENDED" not in text


@pytest.mark.django_db(transaction=True)
def test_a_programme_certificate_names_the_co_issuer_in_serbian(eager):
    f = build_foundation()
    owner = InstitutionFactory(name="Univerzitet u Novom Sadu")
    Programme.objects.filter(pk=f.programme.pk).update(
        owner=owner, title_sr="Инжењер вештачке интелигенције", eqf_level=7
    )
    student = UserFactory(first_name="Petar", last_name="Petrović")
    programme_services.allocation_join(actor=student, programme=f.programme)
    for course in [f.gpu, *f.electives[:2], f.capstone]:
        passed(student, course, 80)
    credential = Credential.objects.get(completion=Completion.objects.get(allocation__user=student))

    text = _text(credential, "sr-latn")
    assert "Inženjer veštačke inteligencije" in text
    assert "Univerzitet u Novom Sadu" in text
    assert "Petar Petrović" in text
    assert "20" in text  # ECTS credits
    assert "7" in text
    english = _text(credential, "en")
    assert "AI engineer, foundation" in english
    assert "Programme" in english and "Univerzitet u Novom Sadu" in english


# --------------------------------------------------------------------------- cache


@pytest.mark.django_db
def test_a_certificate_is_rendered_once_then_served_from_the_cache(monkeypatch):
    credential = _course_credential()
    calls: list[str] = []
    real = pdf.render_pdf

    def counting(credential, language):  # type: ignore[no-untyped-def]
        calls.append(language)
        if len(calls) > 2:
            raise AssertionError("rendered again instead of served from the cache")
        return real(credential, language)

    monkeypatch.setattr(pdf, "render_pdf", counting)
    first = pdf.cached_pdf(credential, "en")
    second = pdf.cached_pdf(credential, "en")
    assert first == second and calls == ["en"]
    assert pdf.cache_path(credential, "en").read_bytes() == first
    assert not list(pdf.cache_dir().glob(".render-*"))  # no temporary file left behind

    pdf.cached_pdf(credential, "sr")  # another language is another file
    assert calls == ["en", "sr"]


@pytest.mark.django_db
def test_revoking_yields_a_new_cached_certificate(monkeypatch):
    credential = _course_credential()
    valid = pdf.cached_pdf(credential, "en")
    credential = services.revoke(actor=OperatorFactory(), credential=credential, reason="Error")
    revoked_path = pdf.cache_path(credential, "en")
    assert "-revoked-" in revoked_path.name and not revoked_path.exists()
    revoked = pdf.cached_pdf(credential, "en")
    assert revoked != valid and revoked_path.exists()


# --------------------------------------------------------------------------- views


@pytest.mark.django_db
def test_the_pdf_view_serves_the_certificate_inline(client):
    credential = _course_credential()
    response = client.get(reverse("credential-pdf", args=[credential.uuid]), {"lang": "sr-latn"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline;")
    assert f"certificate-{credential.uuid}-sr-latn.pdf" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body.startswith(b"%PDF-")
    assert pdf.cache_path(credential, "sr-latn").read_bytes() == body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("preferred", "query", "accept", "expected"),
    [
        ("sr", None, "en", "sr"),  # the holder's language first
        ("sr-Latn", None, "en", "sr-latn"),
        ("", None, "sr", "sr"),  # else the reader's
        ("de", None, "de", "en"),  # else English
        ("sr", "en", "sr", "en"),  # an explicit choice wins
        ("sr", "klingon", "en", "sr"),  # an unknown one is ignored, never a 500
    ],
)
def test_the_pdf_language(client, preferred, query, accept, expected):
    credential = _course_credential(preferred_language=preferred)
    params = {"lang": query} if query else {}
    response = client.get(
        reverse("credential-pdf", args=[credential.uuid]), params, HTTP_ACCEPT_LANGUAGE=accept
    )
    assert response.status_code == 200
    assert f"-{expected}.pdf" in response["Content-Disposition"]


@pytest.mark.django_db
def test_unknown_credentials_are_404(client):
    for name in ("credential-pdf", "credential-qr", "credential-qr-png"):
        assert client.get(reverse(name, args=[uuid4()])).status_code == 404
    assert client.get("/credentials/not-a-uuid/certificate.pdf").status_code == 404


@pytest.mark.django_db
def test_the_qr_svg_encodes_the_public_page(client):
    credential = _course_credential()
    response = client.get(reverse("credential-qr", args=[credential.uuid]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert f"qr-{credential.uuid}.svg" in response["Content-Disposition"]
    url = services.credential_url(credential)
    assert url.endswith(f"/credentials/{credential.uuid}/")
    expected = BytesIO()
    segno.make(url, error="m", micro=False).save(
        expected, kind="svg", scale=8, border=4, title="QR"
    )
    assert response.content == expected.getvalue()
    assert b"<script" not in response.content


@pytest.mark.django_db
def test_the_qr_png_modules_are_those_of_the_public_url(client):
    credential = _course_credential()
    response = client.get(reverse("credential-qr-png", args=[credential.uuid]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    image = Image.open(BytesIO(response.content)).convert("L")
    scale, border = 8, 4
    size = image.width // scale - 2 * border
    modules = tuple(
        tuple(
            image.getpixel(((border + x) * scale + scale // 2, (border + y) * scale + scale // 2))
            < 128
            for x in range(size)
        )
        for y in range(size)
    )
    expected = segno.make(services.credential_url(credential), error="m", micro=False)
    assert modules == tuple(tuple(bool(m) for m in row) for row in expected.matrix)
    other = segno.make(services.absolute(f"/credentials/{uuid4()}/"), error="m", micro=False)
    assert modules != tuple(tuple(bool(m) for m in row) for row in other.matrix)


# --------------------------------------------------------------------------- a look at it


@pytest.mark.django_db(transaction=True)
def test_render_a_certificate_to_look_at(artifacts, eager):
    f = build_foundation()
    owner = InstitutionFactory(name="Univerzitet u Beogradu")
    Programme.objects.filter(pk=f.programme.pk).update(
        owner=owner, title_sr="Инжењер вештачке интелигенције, основни ниво", eqf_level=6
    )
    student = UserFactory(first_name="Jelena", last_name="Jovanović")
    programme_services.allocation_join(actor=student, programme=f.programme)
    for course in [f.gpu, *f.electives[:2], f.capstone]:
        passed(student, course, 80)
    credential = Credential.objects.get(completion=Completion.objects.get(allocation__user=student))
    for language in pdf.LANGUAGES:
        path = artifacts / f"certificate-{language}.pdf"
        path.write_bytes(pdf.render_pdf(credential, language))
        if shutil.which("pdftoppm"):
            subprocess.run(
                ["pdftoppm", "-png", "-r", "60", "-singlefile", path, path.with_suffix("")],
                check=True,
            )
    credential = services.revoke(actor=f.operator, credential=credential, reason="Wrong")
    (artifacts / "certificate-revoked.pdf").write_bytes(pdf.render_pdf(credential, "en"))


@pytest.mark.django_db
def test_a_very_long_title_stays_on_one_page(artifacts):
    credential = _course_credential()
    long_title = (
        "Advanced methods of high-performance computing for scientific machine learning, "
    ) * 4
    Credential.objects.filter(pk=credential.pk).update(title=long_title[:300])
    credential.refresh_from_db()
    assert "Advanced methods" in _text(credential, "en")  # one page (asserted by _text)
    (artifacts / "certificate-long-title.pdf").write_bytes(pdf.render_pdf(credential, "en"))


@pytest.mark.django_db
def test_an_unwritable_cache_still_serves_the_certificate(client, settings, tmp_path):
    credential = _course_credential()
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    settings.NOTEBOOKS_PRIVATE_ROOT = blocker  # mkdir under a file fails
    response = client.get(reverse("credential-pdf", args=[credential.uuid]))
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
