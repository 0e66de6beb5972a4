"""Files that users uploaded, on their way in and out.

Everything a user supplied (lesson files, lab notebooks, submissions, feedback) reaches a browser
through :func:`serve_user_file`, and lesson files get their stored type from
:func:`checked_upload_type`.  Neither trusts the name a person typed or the type their browser
claimed: the type comes from the stored bytes (magic numbers) and the stored file's own,
allow-listed extension.  Only raster images (PNG, JPEG, GIF, WebP) and PDF are shown inline;
everything else is a download.  Every response carries ``X-Content-Type-Options: nosniff`` (so a
browser never runs a file as a script or renders it as a page against its type) and
``Content-Security-Policy: sandbox`` (so a document opened from us anyway runs no script and has
no access to our origin).  Without this an instructor's "page.html" or SVG ran in every student's
browser under our origin, where ``script-src 'self'`` let it load further "files" as scripts.
"""

from __future__ import annotations

import os
import re
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _

# Shown inline: decoded by the browser's image decoder or PDF viewer, never as a document with
# script of our origin.  Sniffed from the first bytes, whatever the extension says.
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")

# Stored extension -> the type its content must sniff as (uploads that lie are refused).
SNIFFED_EXTENSIONS = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
}

# Downloads of these stored extensions keep a plain, inert type (handy for the browser's "open
# with"); every other file, SVG and HTML included, is application/octet-stream.
DOWNLOAD_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "py": "text/plain; charset=utf-8",
    "json": "application/json",
    "ipynb": "application/x-ipynb+json",
    "zip": "application/zip",
}
OCTET_STREAM = "application/octet-stream"

# The policy of a served file: no script, a unique origin, nothing fetched but images of ours
# (an image opened on its own), never framed.
FILE_CSP = "sandbox; default-src 'none'; img-src 'self'; frame-ancestors 'none'"

_HEAD = 16


def sniff(head: bytes) -> str | None:
    """The inline type of a file from its first bytes, or None when it is none of them."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def extension(name: str) -> str:
    return os.path.splitext(os.path.basename(name or ""))[1].lower().lstrip(".")


def _head(file: Any) -> bytes:
    """The first bytes of an upload or stored file, leaving its position at the start."""
    file.seek(0)
    head = file.read(_HEAD)
    file.seek(0)
    return head if isinstance(head, bytes) else head.encode()


def checked_upload_type(file: Any, name: str | None = None) -> str:
    """The type to store for an uploaded file: from its bytes and its stored extension (already
    allow-listed by the model), never the client's ``content_type``.  A file whose extension
    names an image or PDF must be one; otherwise ValidationError says what it is not."""
    ext = extension(name or getattr(file, "name", "") or "")
    sniffed = sniff(_head(file))
    expected = SNIFFED_EXTENSIONS.get(ext)
    if expected is not None:
        if sniffed != expected:
            raise ValidationError(
                _(
                    "The file “%(name)s” is not a %(kind)s file: its content does not match "
                    "its extension."
                )
                % {"name": os.path.basename(name or file.name or ""), "kind": ext.upper()},
                code="content_mismatch",
            )
        return sniffed
    return DOWNLOAD_TYPES.get(ext, OCTET_STREAM).split(";")[0]


def stored_type(file: Any, name: str | None = None) -> str:
    """Like :func:`checked_upload_type` for a file already kept (a copy of an older upload):
    never refuses, a mismatched image or PDF is simply not one."""
    try:
        return checked_upload_type(file, name)
    except ValidationError:
        return OCTET_STREAM


_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/]+')


def download_name(shown: str, stored: str) -> str:
    """The name a browser saves the file under: the name shown, but always ending with the
    stored file's own extension (a "page.html" kept as .txt is saved as "page.html.txt")."""
    name = _UNSAFE_NAME.sub("_", os.path.basename(shown or "")).strip(" .") or "file"
    ext = extension(stored)
    if ext and extension(name) != ext:
        name = f"{name}.{ext}"
    return name[:200]


def serve_user_file(
    file: Any, *, filename: str, stored_name: str | None = None, inline: bool = True
) -> FileResponse:
    """A response for a user-supplied file that no browser treats as active content.

    ``file`` is a stored FieldFile (or an open binary file); ``filename`` the name shown.  The
    type comes from the stored bytes: a sniffed raster image or PDF is inline (unless
    ``inline=False``), anything else an attachment typed by its stored extension's allow-list
    or application/octet-stream."""
    stored = stored_name if stored_name is not None else getattr(file, "name", "") or ""
    try:
        handle: IO[bytes] = file.open("rb") if hasattr(file, "storage") else file
        head = _head(handle)
    except (FileNotFoundError, ValueError):
        raise Http404 from None
    sniffed = sniff(head) if inline else None
    if sniffed in INLINE_TYPES:
        content_type = sniffed
        as_attachment = False
    else:
        content_type = DOWNLOAD_TYPES.get(extension(stored), OCTET_STREAM)
        as_attachment = True
    response = FileResponse(
        handle,
        as_attachment=as_attachment,
        filename=download_name(filename, stored),
        content_type=content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private"
    return response
