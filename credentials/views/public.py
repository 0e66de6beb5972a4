"""The credential's public page (its id): anyone with the link sees it checked."""

from __future__ import annotations

from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path

from .. import selectors, verification
from ..models import Credential


def credential_public(request: HttpRequest, uuid: UUID) -> HttpResponse:
    try:
        credential = selectors.public_credential(uuid)
    except Credential.DoesNotExist:
        raise Http404 from None
    verdict = verification.verify(credential.document)
    return render(
        request,
        "credentials/public.html",
        {"credential": credential, "verdict": verdict},
    )


urlpatterns: list[URLPattern] = [
    path("credentials/<uuid:uuid>/", credential_public, name="credential-public"),
]
