from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, include, path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

import courses.api
import credentials.api
import notebooks.api
import programmes.api
import tracking.api

from . import api, health, oauth, views

router = DefaultRouter()
router.register("institutions", api.InstitutionViewSet, basename="institution")
router.register("cohorts", api.CohortViewSet, basename="cohort")
router.register("memberships", api.MembershipViewSet, basename="membership")
courses.api.register(router)
notebooks.api.register(router)
programmes.api.register(router)
credentials.api.register(router)

# ReDoc's bundle (from the sidecar, pinned in requirements.lock) styles itself with <style>
# elements: styled-components' carry the nonce it is given (templates/api/redoc.html), the two of
# its bundled perfect-scrollbar come before that and are allowed by hash (empty, then its CSS).
# Its search index runs in a worker started from a blob.  Only this page gets these.
REDOC_CSP: dict[str, Any] = {
    **settings.SECURE_CSP,
    "style-src": [
        CSP.SELF,
        CSP.NONCE,
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
        "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
    ],
    "worker-src": [CSP.SELF, "blob:"],
}

api_patterns: list[URLPattern | URLResolver] = [
    path("me/", api.me, name="api-me"),
    path("", include(router.urls)),
    *courses.api.extra_urls,
    *notebooks.api.extra_urls,
    *credentials.api.extra_urls,
    *tracking.api.extra_urls,
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(
            url_name="api:api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path(
        "redoc/",
        csp_override(REDOC_CSP)(
            SpectacularRedocView.as_view(url_name="api:api-schema", template_name="api/redoc.html")
        ),
        name="api-redoc",
    ),
]


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (the admin, JSON)."""
    return redirect(static("academy/favicon.ico"))


urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("favicon.ico", favicon),
    path("i18n/", include("django.conf.urls.i18n")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("institutions/", views.institution_list, name="institution-list"),
    path("institutions/<slug:slug>/", views.institution_detail, name="institution-detail"),
    path("institutions/<slug:slug>/invite/", views.invitation_create, name="invitation-create"),
    path("institutions/<slug:slug>/audit/", views.audit_log, name="audit-log"),
    path("institutions/<slug:slug>/cohorts/new/", views.cohort_edit, name="cohort-create"),
    path("institutions/<slug:slug>/cohorts/<int:pk>/", views.cohort_detail, name="cohort-detail"),
    path("institutions/<slug:slug>/cohorts/<int:pk>/edit/", views.cohort_edit, name="cohort-edit"),
    path("o/", include((oauth.provider_urlpatterns(), "oauth2_provider"))),
    path("oauth/userinfo", oauth.userinfo, name="oauth-userinfo"),
    # Namespaced: the router's names (institution-list, run-detail, …) would otherwise collide
    # with the pages' names, and {% url %} would send people to the API.
    path("api/v1/", include((api_patterns, "api"))),
    path("admin/", admin.site.urls),
    path("", include("courses.urls")),
    path("", include("notebooks.urls")),
    path("", include("notebooks.sessions.urls")),
    path("", include("programmes.urls")),
    path("", include("credentials.urls")),
    path("", include("tracking.urls")),
]
# MEDIA_ROOT is never served by address, not even with DEBUG: lesson files there reach browsers
# only through their access-checked view, with the headers of academy.files.
