"""The PDF certificate of a credential and its QR code.

The certificate is rendered by WeasyPrint from ``credentials/certificate.html`` in the holder's
language (English, Serbian in Cyrillic or in Latin script), with the verification URL, its QR
code, and the signed credential itself attached to the PDF as an embedded file: whoever has the
PDF has the credential, and can check it with any verifier.  WeasyPrint fetches nothing from
outside: its URL fetcher answers ``data:`` URIs and the few files of ours named in
:data:`ALLOWED_FILES`, and refuses everything else.

A certificate is rendered when first asked for and kept under the private storage root
(``NOTEBOOKS_PRIVATE_ROOT/credentials/``), one file per credential, language and state: a
revocation or suspension yields a new file (with its notice), a reinstatement the old one.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import segno
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.formats import number_format
from weasyprint import HTML, Attachment
from weasyprint.urls import URLFetcher, URLFetcherResponse

from programmes.models import localised

from . import services
from .models import Credential

# The languages a certificate is rendered in (Django language codes).
LANGUAGES = ("en", "sr", "sr-latn")
DEFAULT_LANGUAGE = "en"

# Bumped whenever the certificate's layout changes, so that cached files are rendered anew.
LAYOUT_VERSION = 1

LOGO = Path(settings.BASE_DIR) / "static" / "academy" / "favicon.svg"
# The only files WeasyPrint may read (by file: URL); everything but data: URIs is refused.
ALLOWED_FILES = frozenset({LOGO.resolve()})

logger = logging.getLogger(__name__)

EQF_FRAMEWORK = "European Qualifications Framework"


class Refused(ValueError):
    """WeasyPrint asked for something outside: not fetched."""


class LocalOnlyFetcher(URLFetcher):
    """Answers data: URIs and the allowed files; refuses the network and every other file.

    ``refused`` lists what was asked for and refused (the tests read it)."""

    def __init__(self, allowed: frozenset[Path] = ALLOWED_FILES) -> None:
        super().__init__(allowed_protocols=("data", "file"), allow_redirects=False)
        self.allowed = allowed
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            path = Path(url.removeprefix("file://").split("?")[0].split("#")[0]).resolve()
            if path in self.allowed:
                return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": _type(path)})
        self.refused.append(url)
        raise Refused(f"not fetched: {url}")


def _type(path: Path) -> str:
    return {".svg": "image/svg+xml", ".css": "text/css", ".png": "image/png"}.get(
        path.suffix.lower(), "application/octet-stream"
    )


# --------------------------------------------------------------------------- QR codes


def qr_code(credential: Credential) -> segno.QRCode:
    """The QR code of the credential's public page (its verification URL)."""
    return segno.make(services.credential_url(credential), error="m", micro=False)


def qr_svg(credential: Credential, *, scale: int = 8) -> bytes:
    out = io.BytesIO()
    qr_code(credential).save(out, kind="svg", scale=scale, border=4, title="QR")
    return out.getvalue()


def qr_png(credential: Credential, *, scale: int = 8) -> bytes:
    out = io.BytesIO()
    qr_code(credential).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


# --------------------------------------------------------------------------- content


def language_or_default(language: str | None) -> str:
    """One of :data:`LANGUAGES` for a code such as "sr-Latn" or "sr_latn"; "" otherwise."""
    code = (language or "").strip().lower().replace("_", "-")
    return code if code in LANGUAGES else ""


def _achievement(credential: Credential) -> dict:
    document = credential.document if isinstance(credential.document, dict) else {}
    subject = document.get("credentialSubject") or {}
    achievement = subject.get("achievement") if isinstance(subject, dict) else None
    return achievement if isinstance(achievement, dict) else {}


def _number(value: Any) -> str:
    """ECTS credits as the active language writes them (7.5, 7,5; 20, not 20.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return number_format(value)


def _eqf_level(achievement: dict) -> str:
    for alignment in achievement.get("alignment") or []:
        if isinstance(alignment, dict) and alignment.get("targetFramework") == EQF_FRAMEWORK:
            return str(alignment.get("targetCode") or "")
    return ""


def context(credential: Credential) -> dict[str, Any]:
    """What the template shows; call it under ``translation.override`` (the title follows the
    active language)."""
    achievement = _achievement(credential)
    creator = achievement.get("creator")
    credits = achievement.get("creditsAvailable")
    url = services.credential_url(credential)
    return {
        "credential": credential,
        "issuer_name": settings.CREDENTIAL_ISSUER_NAME,
        "recipient": credential.user.get_full_name() or credential.user.username,
        "title": localised(credential.title, credential.title_sr),
        "kind": credential.get_kind_display(),
        "credits": _number(credits),
        "eqf_level": _eqf_level(achievement),
        "co_issuer": creator.get("name", "") if isinstance(creator, dict) else "",
        "url": url,
        # Shown on two lines, broken before the credential's id rather than anywhere.
        "url_head": url.removesuffix(f"{credential.uuid}/"),
        "url_tail": url[len(url.removesuffix(f"{credential.uuid}/")) :],
        "qr": qr_code(credential).svg_data_uri(scale=4, border=0, dark="#0f2341"),
        "logo": LOGO.resolve().as_uri(),
        "state": credential.state,
    }


def html(credential: Credential, language: str) -> str:
    with translation.override(language):
        return render_to_string(
            "credentials/certificate.html", {**context(credential), "language": language}
        )


def document(credential: Credential, language: str, fetcher: LocalOnlyFetcher | None = None):  # type: ignore[no-untyped-def]
    """The laid-out certificate (a WeasyPrint Document: its pages' boxes hold the text)."""
    fetcher = fetcher or LocalOnlyFetcher()
    source = HTML(
        string=html(credential, language),
        base_url=str(settings.BASE_DIR),
        url_fetcher=fetcher,
    )
    return source.render()


def attachment_name(credential: Credential) -> str:
    return f"credential-{credential.uuid}.json"


def render_pdf(credential: Credential, language: str) -> bytes:
    """The certificate as PDF bytes, with the signed credential attached."""
    language = language_or_default(language) or DEFAULT_LANGUAGE
    fetcher = LocalOnlyFetcher()
    signed = json.dumps(credential.document, indent=2, ensure_ascii=False).encode()
    attachment = Attachment(
        string=signed,
        name=attachment_name(credential),
        description="Signed Open Badges 3.0 credential (W3C Verifiable Credential)",
        relationship="Data",
        url_fetcher=fetcher,
    )
    pdf = document(credential, language, fetcher).write_pdf(attachments=[attachment])
    assert isinstance(pdf, bytes)
    return pdf


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    return Path(settings.NOTEBOOKS_PRIVATE_ROOT) / "credentials"


def cache_path(credential: Credential, language: str) -> Path:
    return cache_dir() / f"{credential.uuid}-{language}-{credential.state}-v{LAYOUT_VERSION}.pdf"


def cached_pdf(credential: Credential, language: str) -> bytes:
    """The certificate from the cache, rendered and kept there the first time it is asked for."""
    language = language_or_default(language) or DEFAULT_LANGUAGE
    path = cache_path(credential, language)
    try:
        return path.read_bytes()
    except OSError:  # not rendered yet (or an unusable cache directory: render anyway)
        pass
    pdf = render_pdf(credential, language)
    try:
        _write_atomically(path, pdf)
    except OSError:
        # A full or read-only disk costs a render per request, never the certificate.
        logger.exception("could not cache the certificate %s", path)
    return pdf


def _write_atomically(path: Path, data: bytes) -> None:
    """A reader sees the whole file or none (two renderers race harmlessly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".render-", suffix=".pdf")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
