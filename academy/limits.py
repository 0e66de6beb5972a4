"""Limits on what one client may make the server do: request body size, JSON depth, API rate.

- :class:`RequestBodyLimitMiddleware` refuses a body over ``UPLOAD_MAX_BYTES`` from its
  ``Content-Length``, before anything reads it (Django's own ``DATA_UPLOAD_MAX_MEMORY_SIZE``
  skips file fields, so a 200 MB notebook used to be spooled to disk and then read whole).
- :class:`JSONParser` answers JSON nested too deeply for the parser with a 400, not a 500.
- :class:`UserRateThrottle` and :class:`AnonRateThrottle` are DRF's, with their rates read from
  settings at each request (so tests and operators can change them) and the client address
  taken as the audit log takes it (``PROXY_COUNT``), so a forged X-Forwarded-For buys nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from rest_framework import parsers, throttling
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings

from .audit import client_ip

MB = 1024 * 1024
# A multipart body carries, besides the file, its form fields and framing: a file of exactly
# UPLOAD_MAX_BYTES still fits.
MULTIPART_ALLOWANCE = 1 * MB
_DRAIN_CHUNK = 64 * 1024


def upload_max_bytes() -> int:
    return int(settings.UPLOAD_MAX_BYTES)


class RequestBodyLimitMiddleware:
    """413 for a request whose declared body is over the limit, with the limit in the message.

    The body is read and dropped in small pieces first: a browser still sending its upload
    shows our answer only once it has been heard out, and Django's development server would
    otherwise read the rest in one piece when closing.  Put the same limit on the proxy in front
    (nginx ``client_max_body_size``) so such bodies never reach a worker."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = upload_max_bytes()
        allowed = limit
        if request.content_type == "multipart/form-data":
            allowed += MULTIPART_ALLOWANCE
        if length <= allowed:
            return self.get_response(request)
        try:
            while request.read(_DRAIN_CHUNK):
                pass
        except OSError:
            pass  # the client went away: nothing left to answer
        message = _(
            "The upload is too large: at most %(mb)s MB is accepted. Choose a smaller file "
            "and try again."
        ) % {"mb": limit // MB}
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=413)
        return HttpResponse(
            render_to_string("413.html", {"message": message}, request=None), status=413
        )


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with JSON nested deeper than Python's parser can go answered as the
    client's error (DRF turns ValueError into a 400 but lets RecursionError become a 500)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON parse error - the document is nested too deeply.")) from None


class _FromSettings:
    scope: str | None

    def get_rate(self) -> str | None:
        # Read at each request (DRF reads it once, at import): overriding settings works.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")
        return None if rate is None else str(rate)

    def get_ident(self, request: Any) -> str:
        return client_ip(request) or ""


class UserRateThrottle(_FromSettings, throttling.UserRateThrottle):
    pass


class AnonRateThrottle(_FromSettings, throttling.AnonRateThrottle):
    pass
