"""REST API of credentials (``/api/v1/``): querysets from the selectors (what the user may not
see is a 404), every write through the services (who may: 403; refused with the reason: 400;
audited there).

- ``credentials``: the credentials one may see (one's own; the runs one teaches; the programmes
  one manages; an institution's members' and co-issued ones for its admins; all for operators),
  the signed document in the detail; issuing (``run`` + ``user``, or ``completion``): 201 for a
  new credential, 200 for the one already held, 400 with the reason when not earned;
  ``revoke``, ``suspend`` (a reason each) and ``reinstate``.
- ``credential-jobs``: bulk issuing for a run's or a programme's people (202), and its progress.
- ``credential-status-lists/{number}/{purpose}/``: a signed Bitstring Status List, public; the
  same document as ``/credentials/status/{number}/{purpose}``, the URL credentials name.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter
from rest_framework.settings import api_settings

from academy.api_errors import translates
from academy.models import Institution, User
from academy.typing import authed_user
from courses.models import CourseRun
from programmes.models import Completion, Programme
from programmes.selectors import allocations_for

from . import selectors, services
from .models import Credential, CredentialKind, IssuanceJob, StatusPurpose

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


@translates(services.NotEligible)
def _not_eligible(exc: services.NotEligible) -> exceptions.APIException:
    return exceptions.ValidationError({NON_FIELD: [str(exc)]}, code="not_eligible")


# ---- output -------------------------------------------------------------------------------


class CredentialSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True, help_text="The public id.")
    user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="The holder's login."
    )
    holder = serializers.SerializerMethodField(help_text="The holder's name.")
    kind = serializers.CharField(read_only=True, help_text="course or programme")
    run = serializers.IntegerField(source="run_id", read_only=True, allow_null=True)
    programme: serializers.SlugRelatedField[Programme] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    completion = serializers.IntegerField(source="completion_id", read_only=True, allow_null=True)
    institution: serializers.SlugRelatedField[Institution] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="The co-issuer."
    )
    state = serializers.CharField(read_only=True, help_text="valid, suspended or revoked")
    url = serializers.SerializerMethodField(help_text="The public page, the credential's id.")

    class Meta:
        model = Credential
        fields = [
            "id",
            "url",
            "user",
            "holder",
            "kind",
            "title",
            "run",
            "programme",
            "completion",
            "institution",
            "issued_at",
            "valid_until",
            "state",
            "revoked_at",
            "revocation_reason",
            "suspended_at",
            "suspension_reason",
            "key_id",
            "status_list",
            "status_index",
        ]
        read_only_fields = fields

    def get_holder(self, credential: Credential) -> str:
        return credential.user.get_full_name() or credential.user.username

    def get_url(self, credential: Credential) -> str:
        return services.credential_url(credential)


class CredentialDetailSerializer(CredentialSerializer):
    document = serializers.JSONField(
        read_only=True,
        help_text="The signed Open Badges 3.0 credential, byte for byte as issued.",
    )

    class Meta(CredentialSerializer.Meta):
        fields = [*CredentialSerializer.Meta.fields, "document"]
        read_only_fields = fields


class IssuanceJobSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text="course or programme")
    run = serializers.IntegerField(source="run_id", read_only=True, allow_null=True)
    programme: serializers.SlugRelatedField[Programme] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    status = serializers.CharField(read_only=True, help_text="queued, running, done or failed")
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = IssuanceJob
        fields = [
            "id",
            "kind",
            "run",
            "programme",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "status",
            "total",
            "processed",
            "issued",
            "skipped",
            "ineligible",
            "percent",
            "error",
        ]
        read_only_fields = fields


# ---- input --------------------------------------------------------------------------------


class CredentialIssueSerializer(serializers.Serializer):
    run = serializers.IntegerField(
        required=False, min_value=1, help_text="A course run's id (with ``user``)."
    )
    user = serializers.IntegerField(
        required=False, min_value=1, help_text="The person's id (with ``run``)."
    )
    completion = serializers.IntegerField(
        required=False, min_value=1, help_text="A programme completion's id (alone)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        by_run = "run" in attrs or "user" in attrs
        if by_run == ("completion" in attrs):
            raise serializers.ValidationError(_("Give either a run and a user, or a completion."))
        if by_run and not ("run" in attrs and "user" in attrs):
            raise serializers.ValidationError(_("A run needs a user, and a user a run."))
        return attrs


class CredentialReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, help_text="Why; the holder sees it, and it is audited."
    )


class CredentialJobInputSerializer(serializers.Serializer):
    run = serializers.IntegerField(required=False, min_value=1, help_text="A course run's id.")
    programme = serializers.CharField(
        required=False, max_length=50, help_text="A programme's code."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("run" in attrs) == ("programme" in attrs):
            raise serializers.ValidationError(_("Give either a run or a programme."))
        return attrs


# ---- views --------------------------------------------------------------------------------


class CredentialFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        choices=[("valid", "valid"), ("suspended", "suspended"), ("revoked", "revoked")],
        method="filter_state",
    )
    kind = django_filters.ChoiceFilter(choices=CredentialKind.choices)
    run = django_filters.NumberFilter(field_name="run_id")
    programme = django_filters.CharFilter(field_name="programme__code")
    institution = django_filters.CharFilter(field_name="institution__slug")
    user = django_filters.CharFilter(field_name="user__username")

    class Meta:
        model = Credential
        fields = ["state", "kind", "run", "programme", "institution", "user"]

    def filter_state(
        self, queryset: QuerySet[Credential], name: str, value: str
    ) -> QuerySet[Credential]:
        if value == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if value == "suspended":
            return queryset.filter(revoked_at__isnull=True, suspended_at__isnull=False)
        return queryset.filter(revoked_at__isnull=True, suspended_at__isnull=True)


class CredentialViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Credentials you may see: yours; those of the runs you teach and the programmes you
    manage; your institutions' members' and co-issued ones; all for operators."""

    lookup_field = "uuid"
    lookup_value_regex = "[0-9a-f-]{36}"
    filterset_class = CredentialFilter
    search_fields = ["user__username", "user__email", "user__last_name", "title"]
    ordering_fields = ["issued_at"]
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> QuerySet[Credential]:
        return selectors.credentials_for(authed_user(self.request)).order_by("-issued_at", "-id")

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        return CredentialSerializer if self.action == "list" else CredentialDetailSerializer

    def _out(self, credential: Credential, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=credential.pk)
        return Response(CredentialDetailSerializer(fresh).data, status=code)

    @extend_schema(
        request=CredentialIssueSerializer,
        responses={201: CredentialDetailSerializer, 200: CredentialDetailSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Issue a credential: for a passed run (``run`` and ``user``: the run's authors, or
        the person for themselves) or a programme completion (``completion``: the programme's
        managers, or the person).  201 when new, 200 when already held, 400 with the reason
        when not earned."""
        actor = authed_user(request)
        data = CredentialIssueSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "completion" in values:
            completion = get_object_or_404(
                Completion.objects.filter(allocation__in=allocations_for(actor).values("pk"))
                .select_related("allocation__user", "allocation__programme__owner", "version")
                .order_by(),
                pk=values["completion"],
            )
            credential, new = services.issue_for_completion(actor=actor, completion=completion)
        else:
            run = get_object_or_404(CourseRun.objects.select_related("course"), pk=values["run"])
            if values["user"] != actor.pk and not selectors.can_issue_for_run(actor, run):
                raise exceptions.PermissionDenied
            user = get_object_or_404(User.objects.all(), pk=values["user"])
            credential, new = services.issue_for_run(actor=actor, user=user, run=run)
        return self._out(credential, status.HTTP_201_CREATED if new else status.HTTP_200_OK)

    @extend_schema(request=CredentialReasonSerializer, responses=CredentialDetailSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, uuid: str) -> Response:
        """Revoke for good (who may change it: 403 otherwise); the reason is required."""
        data = CredentialReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._change(services.revoke, reason=data.validated_data["reason"])

    @extend_schema(request=CredentialReasonSerializer, responses=CredentialDetailSerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, uuid: str) -> Response:
        """Suspend until reinstated; the reason is required."""
        data = CredentialReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._change(services.suspend, reason=data.validated_data["reason"])

    @extend_schema(request=None, responses=CredentialDetailSerializer)
    @action(detail=True, methods=["post"])
    def reinstate(self, request: Request, uuid: str) -> Response:
        """Lift a suspension (a revoked credential stays revoked: 400)."""
        return self._change(services.reinstate)

    def _change(self, change: Any, **kwargs: Any) -> Response:
        credential = self.get_object()
        try:
            credential = change(actor=authed_user(self.request), credential=credential, **kwargs)
        except ValueError as exc:
            raise exceptions.ValidationError({NON_FIELD: [str(exc)]}) from None
        return self._out(credential)


class IssuanceJobViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Bulk issuing for everyone who passed a run or completed a programme, in the
    background: the jobs you started, and those of the runs you teach and the programmes you
    manage.  Idempotent: people who hold the credential are counted as ``skipped``."""

    serializer_class = IssuanceJobSerializer
    filterset_fields = ["kind", "status", "run"]
    ordering_fields = ["created_at"]
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> QuerySet[IssuanceJob]:
        return selectors.jobs_for(authed_user(self.request)).order_by("-created_at", "-id")

    @extend_schema(request=CredentialJobInputSerializer, responses={202: IssuanceJobSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Start issuing for a run (``run``: its authors) or a programme (``programme``: its
        managers); 202 with the job, whose progress ``GET`` follows."""
        actor = authed_user(request)
        data = CredentialJobInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "run" in values:
            run = get_object_or_404(CourseRun.objects.all(), pk=values["run"])
            job = services.start_job(actor=actor, run=run)
        else:
            programme = get_object_or_404(Programme.objects.all(), code=values["programme"])
            job = services.start_job(actor=actor, programme=programme)
        fresh = self.get_queryset().filter(Q(pk=job.pk)).first() or job
        return Response(IssuanceJobSerializer(fresh).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    operation_id="credential_status_list",
    parameters=[
        OpenApiParameter("number", int, OpenApiParameter.PATH, description="The list's number."),
        OpenApiParameter(
            "purpose", str, OpenApiParameter.PATH, enum=StatusPurpose.values, description="Purpose"
        ),
    ],
    responses={200: OpenApiTypes.OBJECT},
    auth=[],
    description=(
        "A signed W3C Bitstring Status List credential, public (no sign-in). The credentials "
        "name its twin at /credentials/status/{number}/{purpose}, which serves the same document."
    ),
)
@api_view(["GET"])
@permission_classes([AllowAny])
def status_list(request: Request, number: int, purpose: str) -> Response:
    row = services.status_list(number, purpose)
    if row is None:
        raise Http404
    return Response(row.document)


extra_urls: list[URLPattern] = [
    path(
        "credential-status-lists/<int:number>/<str:purpose>/",
        status_list,
        name="credential-status-list",
    ),
]


def register(router: BaseRouter) -> None:
    router.register("credentials", CredentialViewSet, basename="credential")
    router.register("credential-jobs", IssuanceJobViewSet, basename="credential-job")
