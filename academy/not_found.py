"""Pages answer 404 for what a selector did not find (``ObjectDoesNotExist``).

Selectors report "not there, or not yours" as a domain error (a model's ``DoesNotExist``), never
as an HTTP one; the API's exception handler (``academy.api_errors``) turns it into a 404, and
this middleware does the same for the pages, so that page and API answer alike and an outsider
learns nothing (not even that the object exists).  The API never reaches it: DRF answers its
own exceptions before any middleware sees them."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ObjectDoesNotExist
from django.core.handlers.exception import response_for_exception
from django.http import Http404, HttpRequest, HttpResponse


class NotFoundMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ObjectDoesNotExist):
            # The model's name stays out of the page: a plain 404.
            return response_for_exception(request, Http404())
        return None
