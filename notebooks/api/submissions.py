"""REST API of the lab side: submissions."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from academy.limits import JSONParser  # too deeply nested JSON is a 400
from academy.models import User
from academy.typing import authed_user
from courses.selectors import can_author_run, can_teach_run

from .. import selectors, services
from ..models import Submission
from ._common import FileUploadSerializer


class QueuePlaceSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="1: the next grading a worker takes.")
    estimate_seconds = serializers.IntegerField(
        allow_null=True, help_text="Until the score, from recent grading durations."
    )


class SubmissionSerializer(serializers.ModelSerializer):
    student: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    queue = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id", "lab", "student", "attempt", "source", "submitted_at", "late_seconds", "status",
            "reason", "score", "max_score", "sha256", "size", "queue",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(QueuePlaceSerializer(allow_null=True))
    def get_queue(self, sub: Submission) -> dict[str, Any] | None:
        """Its place in the grading queue while it waits (``selectors.with_queue_places``)."""
        place = getattr(sub, "place", None)
        return QueuePlaceSerializer(place).data if place else None


class SubmissionCreateSerializer(serializers.Serializer):
    lab = serializers.IntegerField()
    file = serializers.FileField()

    def validate_file(self, value: Any) -> Any:
        return FileUploadSerializer().validate_file(value)


class FeedbackCellSerializer(serializers.Serializer):
    grade_id = serializers.CharField()
    kind = serializers.CharField()
    score = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    max_score = serializers.FloatField()
    output = serializers.CharField(
        help_text="Empty for students where withheld (hidden tests; every cell after them)."
    )
    comment = serializers.CharField()
    hidden = serializers.BooleanField(help_text="The cell holds hidden tests.")
    withheld = serializers.BooleanField(help_text="Its output is never shown to the student.")
    note = serializers.CharField(help_text="What the student is told instead of the output.")


class FeedbackSerializer(serializers.Serializer):
    visible = serializers.BooleanField()
    status = serializers.CharField()
    score = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    max_score = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    cells = FeedbackCellSerializer(many=True)


class ManualGradeInputSerializer(serializers.Serializer):
    grade_id = serializers.CharField(max_length=100)
    score = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=0)
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class SubmissionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    serializer_class = SubmissionSerializer
    filterset_fields = ["lab", "status"]
    ordering_fields = ["submitted_at"]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.submissions_for(authed_user(self.request)).order_by("-submitted_at", "-id")

    def paginate_queryset(self, queryset):  # type: ignore[no-untyped-def]
        page = super().paginate_queryset(queryset)
        return None if page is None else selectors.with_queue_places(page)

    def get_object(self):  # type: ignore[no-untyped-def]
        return selectors.with_queue_places([super().get_object()])[0]

    @extend_schema(
        request={"multipart/form-data": SubmissionCreateSerializer},
        responses={201: SubmissionSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = SubmissionCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        lab = selectors.labs_for(authed_user(request)).filter(pk=ser.validated_data["lab"]).first()
        if lab is None:
            raise ValidationError({"lab": ["No such lab."]})
        # A student over the submission rate gets a 429 with Retry-After (academy.api_errors).
        sub = services.submission_create(
            actor=authed_user(request), lab=lab, content=ser.validated_data["file"].read()
        )
        return Response(SubmissionSerializer(sub).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=FeedbackSerializer)
    @action(detail=True, methods=["get"])
    def feedback(self, request: Request, pk: str | None = None) -> Response:
        sub = self.get_object()
        visible = selectors.feedback_visible(sub, authed_user(request))
        cells = selectors.feedback(sub, authed_user(request)) if visible else []
        return Response(
            FeedbackSerializer(
                {
                    "visible": visible,
                    "status": sub.status,
                    "score": sub.score if visible else None,
                    "max_score": sub.max_score,
                    "cells": cells,
                }  # fmt: skip
            ).data
        )

    @extend_schema(request=ManualGradeInputSerializer, responses=SubmissionSerializer)
    @action(detail=True, methods=["post"], parser_classes=[JSONParser, FormParser])
    def grades(self, request: Request, pk: str | None = None) -> Response:
        sub = self.get_object()
        if not can_teach_run(authed_user(request), sub.lab.run_id):
            raise Http404
        ser = ManualGradeInputSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.manual_grade_save(actor=authed_user(request), submission=sub, **ser.validated_data)
        sub.refresh_from_db()
        return Response(SubmissionSerializer(sub).data)

    @extend_schema(request=None, responses={202: SubmissionSerializer})
    @action(detail=True, methods=["post"])
    def regrade(self, request: Request, pk: str | None = None) -> Response:
        sub = self.get_object()
        if not can_author_run(authed_user(request), sub.lab.run_id):
            raise Http404
        sub = services.submission_regrade(actor=authed_user(request), submission=sub)
        return Response(SubmissionSerializer(sub).data, status=status.HTTP_202_ACCEPTED)
