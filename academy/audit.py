"""Writing the audit log.  Services call :func:`audit`; the request's address comes from a
context variable set by :class:`AuditContextMiddleware`, so services need no request object.

:func:`client_ip` is the one answer to "who is the client" (audit rows, login lockouts, API
throttling): with ``PROXY_COUNT`` proxies in front, the address the outermost of ours saw is
the ``PROXY_COUNT``-th entry of X-Forwarded-For from the right (each proxy appends the address
it was reached from, so entries further left are whatever the client sent); with 0 the header
is the client's own words and is ignored."""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest, HttpResponse

from .models import AuditEvent, Institution, User

_client_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_ip", default=None)


def client_ip(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    count = settings.PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [
        entry.strip()
        for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if entry.strip()
    ]
    if len(forwarded) < count:
        return remote  # not through all our proxies (a health check on the host itself)
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _client_ip.set(client_ip(request))
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
