"""The API's one translation of errors into HTTP answers (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``).

Services raise Django's exceptions and their own subclasses of them; API views call services
and let whatever they raise propagate to here.  Every answer keeps DRF's own body shape, so a
client reads errors the same way whichever app or layer (serializer, view, service) refused:

- 400, validation: ``{"<field>": ["message", ...], "non_field_errors": ["message", ...]}``;
- 403, 404, 429 and DRF's other refusals: ``{"detail": "message"}`` (429 adds ``Retry-After``).

Django's ``PermissionDenied`` is a 403 and ``Http404`` a 404 (DRF's default handler, called last,
does both); ``ObjectDoesNotExist`` is a 404 without its message, which names the model; a Django
``ValidationError`` is a 400 by field (``__all__`` becomes ``non_field_errors``), each message
keeping its code; one that carries ``retry_after`` (seconds) is a rate limit: 429 with
``Retry-After``.  A domain error whose body needs more than messages registers its translation
with :func:`translates`, next to the API that owns the field names (``notebooks.api`` does so for
a rejected notebook's per-cell errors).  Anything else is a 500, as before: an unexpected error
is not dressed up as a client's mistake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

type Translation[E: Exception] = Callable[[E], exceptions.APIException]

_translations: dict[type[Exception], Callable[[Any], exceptions.APIException]] = {}


def translates[E: Exception](kind: type[E]) -> Callable[[Translation[E]], Translation[E]]:
    """A decorator: the function it wraps translates ``kind`` (and its subclasses) into an
    API error."""

    def register(fn: Translation[E]) -> Translation[E]:
        _translations[kind] = fn
        return fn

    return register


def validation_detail(exc: DjangoValidationError) -> dict[str, list[ErrorDetail]]:
    """A Django ValidationError in DRF's shape: messages (parameters filled in) by field, the
    ones tied to no field under ``non_field_errors``; each keeps its code for ``get_codes()``."""
    by_field = exc.error_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.error_list}
    return {
        api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field: [
            ErrorDetail(message, code=error.code or "invalid")
            for error in errors
            for message in error.messages
        ]
        for field, errors in by_field.items()
    }


def _api_error(exc: Exception) -> Exception:
    for kind in type(exc).__mro__:
        if kind in _translations:
            return _translations[kind](exc)
    if isinstance(exc, DjangoValidationError):
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return exceptions.Throttled(wait=retry_after, detail=" ".join(exc.messages))
        return exceptions.ValidationError(validation_detail(exc))
    if isinstance(exc, ObjectDoesNotExist):
        return exceptions.NotFound()
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    return drf_exception_handler(_api_error(exc), context)
