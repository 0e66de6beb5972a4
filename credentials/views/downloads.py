"""Downloads of a credential, public like its page (the unguessable id is the capability the
holder shares): the signed JSON, a QR code pointing to the public page, the PDF certificate."""

from __future__ import annotations

import json
from types import ModuleType
from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET

from academy.files import FILE_CSP

from .. import selectors
from ..models import Credential


def _credential(uuid: UUID) -> Credential:
    try:
        return selectors.public_credential(uuid)
    except Credential.DoesNotExist:
        raise Http404 from None


@require_GET
def credential_json(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The signed credential exactly as issued (a wallet or a verifier takes this file)."""
    credential = _credential(uuid)
    response = HttpResponse(
        json.dumps(credential.document, indent=2, ensure_ascii=False),
        content_type="application/vc+ld+json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="credential-{credential.uuid}.json"'
    return response


def _pdf() -> ModuleType:
    """credentials.pdf, imported when first used: WeasyPrint loads Pango (half a second), which
    no other page, command or worker needs."""
    from .. import pdf

    return pdf


def _file_headers(response: HttpResponse) -> HttpResponse:
    """As academy/files.py does for every file: never sniffed, a document runs nothing."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    return response


@require_GET
def credential_qr(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The QR code of the credential's public page, as SVG (an SVG is a document: sandboxed)."""
    pdf = _pdf()
    credential = _credential(uuid)
    response = HttpResponse(pdf.qr_svg(credential), content_type="image/svg+xml")
    response["Content-Disposition"] = f'inline; filename="qr-{credential.uuid}.svg"'
    return _file_headers(response)


@require_GET
def credential_qr_png(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The same QR code as a PNG (for documents and slides that take no SVG)."""
    pdf = _pdf()
    credential = _credential(uuid)
    response = HttpResponse(pdf.qr_png(credential), content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="qr-{credential.uuid}.png"'
    return _file_headers(response)


def pdf_language(request: HttpRequest, credential: Credential) -> str:
    """?lang= when it names one of the certificate's languages; else the holder's preferred
    language; else the reader's; else English (an unknown ?lang= is ignored)."""
    pdf = _pdf()
    for candidate in (
        request.GET.get("lang"),
        credential.user.preferred_language,
        getattr(request, "LANGUAGE_CODE", None),
    ):
        language = pdf.language_or_default(candidate)
        if language:
            return language
    return pdf.DEFAULT_LANGUAGE


@require_GET
def credential_pdf(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The PDF certificate, rendered the first time it is asked for and cached after."""
    pdf = _pdf()
    credential = _credential(uuid)
    language = pdf_language(request, credential)
    response = HttpResponse(pdf.cached_pdf(credential, language), content_type="application/pdf")
    response["Content-Disposition"] = (
        f'inline; filename="certificate-{credential.uuid}-{language}.pdf"'
    )
    # A revocation changes the file: browsers ask again rather than keep a stale one.
    response["Cache-Control"] = "no-cache"
    return _file_headers(response)


urlpatterns: list[URLPattern] = [
    path("credentials/<uuid:uuid>/credential.json", credential_json, name="credential-json"),
    path("credentials/<uuid:uuid>/qr.svg", credential_qr, name="credential-qr"),
    path("credentials/<uuid:uuid>/qr.png", credential_qr_png, name="credential-qr-png"),
    path("credentials/<uuid:uuid>/certificate.pdf", credential_pdf, name="credential-pdf"),
]
