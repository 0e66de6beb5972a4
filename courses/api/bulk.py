"""REST API of the course side: bulk."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from academy import selectors as people
from academy.models import Institution
from academy.typing import authed_user

from .. import bulk, selectors
from ..models import (
    BulkUpload,
    CourseRun,
)


class BulkUploadInputSerializer(serializers.Serializer):
    institution = serializers.SlugRelatedField(
        slug_field="slug", queryset=Institution.objects.none()
    )
    run = serializers.PrimaryKeyRelatedField(queryset=CourseRun.objects.none())
    file = serializers.FileField()

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        request = self.context.get("request")  # absent when the schema is generated
        if request is not None:
            user = authed_user(request)
            institution, run = self.fields["institution"], self.fields["run"]
            assert isinstance(institution, serializers.SlugRelatedField)
            assert isinstance(run, serializers.PrimaryKeyRelatedField)
            # ignore: the stubs type ``queryset`` with Manager, which mypy takes for a descriptor
            institution.queryset = people.institutions_for(user)  # type: ignore[arg-type]
            run.queryset = selectors.runs_for(user)  # type: ignore[arg-type]


class BulkLineSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    email = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    cohort = serializers.CharField()
    outcome = serializers.ChoiceField(choices=sorted(bulk.LABELS))
    # ignore: a field named like Field.label; DRF's metaclass moves fields off the class
    label = serializers.CharField()  # type: ignore[assignment]
    is_error = serializers.BooleanField()


class BulkPreviewSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    run = serializers.IntegerField()
    institution = serializers.CharField()
    sha256 = serializers.CharField()
    applied_at = serializers.DateTimeField(allow_null=True)
    overrides = serializers.ListField(child=serializers.CharField())
    lines = BulkLineSerializer(many=True)


def _preview_data(upload: BulkUpload, lines: list[bulk.Line]) -> dict:
    return {
        "id": upload.pk,
        "run": upload.run_id,
        "institution": upload.institution.slug,
        "sha256": upload.sha256,
        "applied_at": upload.applied_at,
        # The run's rules this bulk enrolment overrides, and why.
        "overrides": [str(o) for o in bulk.bulk_overrides(upload.run)],
        "lines": [ln.as_dict() for ln in lines],
    }


class BulkEnrolmentViewSet(viewsets.GenericViewSet):
    """Bulk enrolment by institution admins: POST a CSV to preview (nothing changes), then
    POST .../{id}/apply/.  The same file for the same run is the same upload."""

    parser_classes = [MultiPartParser, FormParser]
    serializer_class = BulkPreviewSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        user = authed_user(self.request)
        qs = BulkUpload.objects.select_related("institution", "run")
        return (
            qs
            if people.is_operator(user)
            else qs.filter(institution_id__in=people.admin_institution_ids(user))
        )

    @extend_schema(
        request={"multipart/form-data": BulkUploadInputSerializer},
        responses={201: BulkPreviewSerializer},
    )
    def create(self, request: Request) -> Response:
        data = BulkUploadInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        file = data.validated_data["file"]
        upload = bulk.bulk_upload_store(
            actor=authed_user(request),
            institution=data.validated_data["institution"],
            run=data.validated_data["run"],
            file=file,
            size=file.size,
            filename=file.name or "",
        )
        lines = bulk.bulk_preview(upload=upload, actor=authed_user(request))
        return Response(_preview_data(upload, lines), status=status.HTTP_201_CREATED)

    @extend_schema(responses=BulkPreviewSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        upload = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(
            _preview_data(upload, bulk.bulk_preview(upload=upload, actor=authed_user(request)))
        )

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "BulkApplyResult", {"counts": serializers.DictField(child=serializers.IntegerField())}
        ),
    )
    @action(detail=True, methods=["post"])
    def apply(self, request: Request, pk: str) -> Response:
        upload = get_object_or_404(self.get_queryset(), pk=pk)
        return Response({"counts": bulk.bulk_apply(upload=upload, actor=authed_user(request))})
