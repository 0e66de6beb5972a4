"""REST API of the lab side: labs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from academy.limits import JSONParser  # too deeply nested JSON is a 400
from academy.typing import authed_user
from courses.models import CourseRun, GradingCategory
from courses.selectors import can_author_run, can_teach_run

from .. import selectors, services
from ..models import LAB_SETTINGS, Lab, LabRegrade, LabVersion, ResourceProfile
from ._common import FileUploadSerializer, ReleaseSerializer


class LabSerializer(serializers.ModelSerializer):
    released_version: serializers.SlugRelatedField[LabVersion] = serializers.SlugRelatedField(
        slug_field="number", read_only=True
    )

    class Meta:
        model = Lab
        fields = ["id", "run", *LAB_SETTINGS, "released_version", "released_at", "created_at"]
        read_only_fields = fields


class LabWriteSerializer(serializers.ModelSerializer):
    run = serializers.PrimaryKeyRelatedField(queryset=CourseRun.objects.all())
    category = serializers.PrimaryKeyRelatedField(
        queryset=GradingCategory.objects.all(), required=False, allow_null=True
    )
    resource_profile = serializers.PrimaryKeyRelatedField(
        queryset=ResourceProfile.objects.all(), required=False, allow_null=True
    )
    grading_profile = serializers.PrimaryKeyRelatedField(
        queryset=ResourceProfile.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Lab
        fields = ["run", *LAB_SETTINGS]


class RegradeSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="regrade.pk")
    state = serializers.CharField(source="regrade.state")
    total = serializers.IntegerField()
    regraded = serializers.IntegerField()
    grading = serializers.IntegerField()
    waiting = serializers.IntegerField()
    cancelled = serializers.IntegerField(help_text="Dropped: these keep their earlier score.")
    percent = serializers.IntegerField()


class LabVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabVersion
        # ``cells`` lists grade_id, kind and points only: never any code.
        fields = [
            "id", "number", "source_sha256", "student_sha256", "max_score", "cells", "warnings",
            "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class LabViewSet(viewsets.ModelViewSet):
    filterset_fields = ["run"]
    search_fields = ["title"]
    ordering_fields = ["due_at", "title"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.labs_for(authed_user(self.request)).order_by("due_at", "id")

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        if self.action in ("create", "partial_update", "update"):
            return LabWriteSerializer
        if self.action == "versions" and self.request.method == "POST":
            return FileUploadSerializer
        return LabSerializer

    @extend_schema(request=LabWriteSerializer, responses={201: LabSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = LabWriteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        run = data.pop("run")
        lab = services.lab_create(actor=authed_user(request), run=run, **data)
        return Response(LabSerializer(lab).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=LabWriteSerializer, responses=LabSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        lab = self.get_object()
        ser = LabWriteSerializer(lab, data=request.data, partial=True)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        data.pop("run", None)
        lab = services.lab_update(actor=authed_user(request), lab=lab, **data)
        return Response(LabSerializer(lab).data)

    @extend_schema(
        request={"multipart/form-data": FileUploadSerializer},
        responses={200: LabVersionSerializer(many=True), 201: LabVersionSerializer},
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser, FormParser])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        lab = self.get_object()
        # every staff member reads the versions (as on the lab's page); uploading is authoring
        may = can_teach_run if request.method == "GET" else can_author_run
        if not may(authed_user(request), lab.run_id):
            raise Http404
        if request.method == "GET":
            return Response(LabVersionSerializer(lab.versions.all(), many=True).data)
        ser = FileUploadSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        version = services.lab_version_upload(
            actor=authed_user(request), lab=lab, content=ser.validated_data["file"].read()
        )
        return Response(LabVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("version", int, required=False)],
        responses=LabSerializer,
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser, FormParser])
    def release(self, request: Request, pk: str | None = None) -> Response:
        lab = self.get_object()
        if not can_author_run(authed_user(request), lab.run_id):
            raise Http404
        payload = request.data if isinstance(request.data, Mapping) else None
        if payload is None:
            raise ValidationError({"non_field_errors": ['Send an object, e.g. {"version": 2}.']})
        given = payload.get("version", request.query_params.get("version"))
        data = {} if given in (None, "") else {"version": given}
        if payload.get("override_reason") not in (None, ""):
            data["override_reason"] = payload["override_reason"]
        form = ReleaseSerializer(data=data)
        form.is_valid(raise_exception=True)
        number = form.validated_data.get("version")
        version = lab.versions.filter(number=number).first() if number else None
        if number and version is None:
            raise ValidationError({"version": ["No such version."]})
        lab = services.lab_release(
            actor=authed_user(request),
            lab=lab,
            version=version,
            override_reason=form.validated_data.get("override_reason", ""),
        )
        return Response(LabSerializer(lab).data)

    @extend_schema(request=None, responses={202: RegradeSerializer})
    @action(detail=True, methods=["post"])
    def regrade(self, request: Request, pk: str | None = None) -> Response:
        """Regrade every student's latest submission in the background (409-free: a regrade
        under way is a 400 with the reason).  Poll ``regrades/{id}/`` for its progress."""
        lab = self.get_object()
        if not can_author_run(authed_user(request), lab.run_id):
            raise Http404
        regrade = services.lab_regrade(actor=authed_user(request), lab=lab)
        progress = selectors.regrade_progress(regrade)
        return Response(RegradeSerializer(progress).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: RegradeSerializer})
    @action(detail=True, methods=["get"], url_path=r"regrades/(?P<regrade_id>\d+)")
    def regrade_progress(
        self, request: Request, pk: str | None = None, regrade_id: str = ""
    ) -> Response:
        regrade = self._regrade(request, regrade_id)
        return Response(RegradeSerializer(selectors.regrade_progress(regrade)).data)

    @extend_schema(request=None, responses={200: RegradeSerializer})
    @action(detail=True, methods=["post"], url_path=r"regrades/(?P<regrade_id>\d+)/cancel")
    def regrade_cancel(
        self, request: Request, pk: str | None = None, regrade_id: str = ""
    ) -> Response:
        """Cancel: submissions not yet taken by a worker keep their score."""
        regrade = self._regrade(request, regrade_id)
        services.lab_regrade_cancel(actor=authed_user(request), regrade=regrade)
        return Response(RegradeSerializer(selectors.regrade_progress(regrade)).data)

    def _regrade(self, request: Request, regrade_id: str) -> LabRegrade:
        lab = self.get_object()
        try:
            return selectors.regrade_for_author(authed_user(request), lab.pk, int(regrade_id))
        except LabRegrade.DoesNotExist:
            raise Http404 from None
