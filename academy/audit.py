"""Writing the audit log.  Services call :func:`audit`; the request's address comes from a
context variable set by :class:`AuditContextMiddleware`, so services need no request object."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from django.db import models
from django.http import HttpRequest, HttpResponse

from .models import AuditEvent, Institution, User

_client_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_ip", default=None)


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _client_ip.set(request.META.get("REMOTE_ADDR"))
        try:
            return self.get_response(request)
        finally:
            _client_ip.reset(token)


def audit(
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    *,
    institution: Institution | None = None,
    **data: Any,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_repr=(actor.username if actor is not None and actor.pk else "system"),
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:300] if target is not None else "",
        institution=institution,
        ip_address=_client_ip.get(),
        data=data,
    )
