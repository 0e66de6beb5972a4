"""What the issuer publishes for verifiers, without signing in: its DID document (did:web) and
its status lists.  JSON, cacheable for a short while, readable from any origin (verifiers in a
browser fetch them)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET

from .. import keys, services

# Verifiers may cache a status list this long: a revocation reaches them within it.
STATUS_MAX_AGE = 300


def _json(document: dict, *, content_type: str, max_age: int) -> JsonResponse:
    response = JsonResponse(document, content_type=content_type, json_dumps_params={"indent": 2})
    response["Cache-Control"] = f"public, max-age={max_age}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def did_document(request: HttpRequest) -> JsonResponse:
    """``did:web:<host>`` resolves here: every key the issuer vouches for, retired ones too."""
    return _json(keys.did_document(), content_type="application/did+json", max_age=3600)


@require_GET
def status_list(request: HttpRequest, number: int, purpose: str) -> JsonResponse:
    row = services.status_list(number, purpose)
    if row is None:
        raise Http404
    return _json(row.document, content_type="application/vc+ld+json", max_age=STATUS_MAX_AGE)


urlpatterns: list[URLPattern] = [
    path(".well-known/did.json", did_document, name="credential-did"),
    path(
        "credentials/status/<int:number>/<slug:purpose>",
        status_list,
        name="credential-status-list",
    ),
]
