from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .models import Role


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Role flags for the navigation; one query per request for a signed-in user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {}}
    roles = set(user.memberships.values_list("role", flat=True))
    return {
        "nav": {
            "operator": user.is_staff,
            "institution_admin": Role.ADMIN in roles,
            "instructor": Role.INSTRUCTOR in roles or Role.ADMIN in roles or user.is_staff,
            "student": Role.STUDENT in roles,
        }
    }
