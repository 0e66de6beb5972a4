from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

import courses.api
import notebooks.api

from . import api, health, oauth, views

router = DefaultRouter()
router.register("institutions", api.InstitutionViewSet, basename="institution")
router.register("cohorts", api.CohortViewSet, basename="cohort")
router.register("memberships", api.MembershipViewSet, basename="membership")
courses.api.register(router)
notebooks.api.register(router)

api_patterns: list[URLPattern | URLResolver] = [
    path("me/", api.me, name="api-me"),
    path("", include(router.urls)),
    *courses.api.extra_urls,
    *notebooks.api.extra_urls,
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
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
    path("api/v1/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("", include("courses.urls")),
    path("", include("notebooks.urls")),
    path("", include("notebooks.sessions.urls")),
]
# MEDIA_ROOT is never served by address, not even with DEBUG: lesson files there reach browsers
# only through their access-checked view, with the headers of academy.files.
