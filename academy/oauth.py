"""OpenID Connect claims for JupyterHub's GenericOAuthenticator: the hub user is the
cluster login (``preferred_username``)."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from oauth2_provider.decorators import protected_resource
from oauth2_provider.oauth2_validators import OAuth2Validator

from .typing import OAuthRequest


class AcademyOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = None  # every claim below is released for the scopes the client holds

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        return {
            "preferred_username": user.username,
            "email": user.email,
            "name": user.get_full_name() or user.username,
            "groups": sorted(user.memberships.values_list("institution__slug", flat=True)),
        }


@protected_resource(scopes=["profile"])
def userinfo(request: OAuthRequest) -> JsonResponse:
    """What JupyterHub's GenericOAuthenticator reads after the code exchange (``userdata_url``):
    the hub user name is the cluster login."""
    user = request.resource_owner
    return JsonResponse(
        {
            "sub": str(user.pk),
            "preferred_username": user.username,
            "email": user.email,
            "name": user.get_full_name() or user.username,
            "groups": sorted(user.memberships.values_list("institution__slug", flat=True)),
        }
    )
