"""Types for the type checker only: nothing here changes what runs.

``AuthedRequest`` annotates the ``request`` of pages behind ``@login_required``, whose user is
signed in: ``request.user`` is then a :class:`~academy.models.User`, not ``AnonymousUser``.  At
runtime it is plain ``HttpRequest``.

``authed_user(request)`` is the same for the REST API, whose default permission is
``IsAuthenticated``: it returns ``request.user`` as a ``User`` (a ``cast``, no check at runtime).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.http import HttpRequest

if TYPE_CHECKING:
    from rest_framework.request import Request

    from .models import User

    class AuthedRequest(HttpRequest):
        user: User

else:
    AuthedRequest = HttpRequest


def authed_user(request: Request) -> User:
    """``request.user`` of an API view behind ``IsAuthenticated`` (the default permission)."""
    return cast("User", request.user)
