"""Academy as the OAuth2 provider of its JupyterHub.

JupyterHub's GenericOAuthenticator reads ``/oauth/userinfo`` after the code exchange: the hub user
is the cluster login (``preferred_username``). Claims are released by scope, as OpenID Connect
says: ``profile`` gives the login and name, ``email`` the address, ``groups`` the institutions.

The provider is closed to ordinary users: only operators see the application pages (a user who
could register an application could pick the hub's ``client_id`` first); people keep the page of
the tokens they granted. Device flow and dynamic client registration are not served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET
from oauth2_provider import views as oauth_views
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2 import Server

# Which scope releases which claim (ID tokens and /oauth/userinfo alike).
CLAIM_SCOPE = {
    "sub": "openid",
    "preferred_username": "profile",
    "name": "profile",
    "email": "email",
    "groups": "groups",
}


def _claims(user: Any) -> dict[str, Any]:
    return {
        "sub": str(user.pk),
        "preferred_username": user.username,
        "name": user.get_full_name() or user.username,
        "email": user.email,
        # Only accepted memberships exist as rows: an invitation grants nothing until accepted.
        "groups": lambda: sorted(user.memberships.values_list("institution__slug", flat=True)),
    }


def released_claims(user: Any, scopes: set[str]) -> dict[str, Any]:
    """The claims a token with ``scopes`` may read; ``sub`` always (it names the subject)."""
    out: dict[str, Any] = {}
    for claim, value in _claims(user).items():
        if claim == "sub" or CLAIM_SCOPE[claim] in scopes:
            out[claim] = value() if callable(value) else value
    return out


class AcademyOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, **CLAIM_SCOPE}

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        # The base class filters these by oidc_claim_scope against the token's scopes.
        return {k: v for k, v in _claims(request.user).items() if k != "sub"}


@require_GET
def userinfo(request: HttpRequest) -> HttpResponse:
    """What JupyterHub's GenericOAuthenticator reads after the code exchange (``userdata_url``)."""
    core = OAuthLibCore(Server(AcademyOAuth2Validator()))
    valid, oauth_request = core.verify_request(request, scopes=["profile"])
    if not valid:
        return HttpResponseForbidden()
    scopes = set(oauth_request.access_token.scope.split())
    return JsonResponse(released_claims(oauth_request.user, scopes))


def operator_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous visitors go to sign-in; signed-in non-operators get 403."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def signed_in(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped


def provider_urlpatterns() -> list[URLPattern]:
    """django-oauth-toolkit's routes that Academy serves, mounted under ``o/`` (namespace
    ``oauth2_provider``). Left out: device authorization and dynamic client registration."""
    v = oauth_views
    return [
        # RFC 8414 metadata: the issuer (``iss`` of authorization responses) is derived from it.
        path(
            ".well-known/oauth-authorization-server",
            v.OAuthServerMetadataView.as_view(),
            name="oauth-server-metadata",
        ),
        path("authorize/", v.AuthorizationView.as_view(), name="authorize"),
        path("token/", v.TokenView.as_view(), name="token"),
        path("revoke_token/", v.RevokeTokenView.as_view(), name="revoke-token"),
        path("introspect/", v.IntrospectTokenView.as_view(), name="introspect"),
        path("applications/", operator_only(v.ApplicationList.as_view()), name="list"),
        path(
            "applications/register/",
            operator_only(v.ApplicationRegistration.as_view()),
            name="register",
        ),
        path(
            "applications/<slug:pk>/", operator_only(v.ApplicationDetail.as_view()), name="detail"
        ),
        path(
            "applications/<slug:pk>/delete/",
            operator_only(v.ApplicationDelete.as_view()),
            name="delete",
        ),
        path(
            "applications/<slug:pk>/update/",
            operator_only(v.ApplicationUpdate.as_view()),
            name="update",
        ),
        # Everyone may see and revoke the tokens they granted (the views scope to the user).
        path(
            "authorized_tokens/",
            signed_in(v.AuthorizedTokensListView.as_view()),
            name="authorized-token-list",
        ),
        path(
            "authorized_tokens/<slug:pk>/delete/",
            signed_in(v.AuthorizedTokenDeleteView.as_view()),
            name="authorized-token-delete",
        ),
        path(
            ".well-known/openid-configuration",
            v.ConnectDiscoveryInfoView.as_view(),
            name="oidc-connect-discovery-info",
        ),
        path(".well-known/jwks.json", v.JwksInfoView.as_view(), name="jwks-info"),
        path("userinfo/", v.UserInfoView.as_view(), name="user-info"),
        path("logout/", v.RPInitiatedLogoutView.as_view(), name="rp-initiated-logout"),
    ]
