"""REST API of the labs side: ``register(router)`` adds its viewsets under /api/v1/.

Querysets come from the selectors (scoped to the user: others' objects are 404); writes go
through the services, so the API and the pages enforce the same rules.  Input and output
serializers are separate where the shapes differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import Http404
from django.urls import URLPattern, path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from academy.api_errors import translates
from academy.limits import JSONParser  # too deeply nested JSON is a 400
from academy.models import User
from academy.typing import authed_user
from courses.models import CourseRun, GradingCategory
from courses.selectors import can_author_run, can_teach_run

from . import selectors, services
from .forms import notebook_too_big
from .models import Lab, LabVersion, ResourceProfile, Submission


@translates(services.NotebookRejected)
def _rejected(exc: services.NotebookRejected) -> ValidationError:
    """The upload's field errors, and each cell's error for clients that point at the cell."""
    detail: dict[str, Any] = {
        "file": [str(e) for e in exc.cell_errors],
        "cells": [
            {"cell_index": e.cell_index, "grade_id": e.grade_id, "message": e.message}
            for e in exc.cell_errors
        ],
    }
    error = ValidationError(detail)
    # DRF turns every leaf into a string; keep cell_index a number (or null) for API clients.
    error.detail = detail  # type: ignore[assignment]
    return error


class ReleaseSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1)


class FileUploadSerializer(serializers.Serializer):
    file = serializers.FileField()

    def validate_file(self, value: Any) -> Any:
        if not value.name.lower().endswith(".ipynb"):
            raise serializers.ValidationError("Upload a Jupyter notebook (.ipynb).")
        # Checked on the spooled file's size, before anything reads it whole.
        too_big = notebook_too_big(value)
        if too_big:
            raise serializers.ValidationError(too_big)
        return value


# ----------------------------------------------------------------------------- labs


class LabSerializer(serializers.ModelSerializer):
    released_version: serializers.SlugRelatedField[LabVersion] = serializers.SlugRelatedField(
        slug_field="number", read_only=True
    )

    class Meta:
        model = Lab
        fields = [
            "id", "run", "title", "instructions", "opens_at", "due_at", "late_policy",
            "late_penalty_percent", "late_penalty_cap_percent", "attempt_limit", "category",
            "weight", "resource_profile", "feedback_release", "anonymous_grading",
            "released_version", "released_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class LabWriteSerializer(serializers.ModelSerializer):
    run = serializers.PrimaryKeyRelatedField(queryset=CourseRun.objects.all())
    category = serializers.PrimaryKeyRelatedField(
        queryset=GradingCategory.objects.all(), required=False, allow_null=True
    )
    resource_profile = serializers.PrimaryKeyRelatedField(
        queryset=ResourceProfile.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Lab
        fields = [
            "run", "title", "instructions", "opens_at", "due_at", "late_policy",
            "late_penalty_percent", "late_penalty_cap_percent", "attempt_limit", "category",
            "weight", "resource_profile", "feedback_release", "anonymous_grading",
        ]  # fmt: skip


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
        form = ReleaseSerializer(data={} if given in (None, "") else {"version": given})
        form.is_valid(raise_exception=True)
        number = form.validated_data.get("version")
        version = lab.versions.filter(number=number).first() if number else None
        if number and version is None:
            raise ValidationError({"version": ["No such version."]})
        lab = services.lab_release(actor=authed_user(request), lab=lab, version=version)
        return Response(LabSerializer(lab).data)

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"])
    def regrade(self, request: Request, pk: str | None = None) -> Response:
        lab = self.get_object()
        if not can_author_run(authed_user(request), lab.run_id):
            raise Http404
        return Response(
            {"queued": services.lab_regrade(actor=authed_user(request), lab=lab)},
            status=status.HTTP_202_ACCEPTED,
        )


# ----------------------------------------------------------------------- submissions


class SubmissionSerializer(serializers.ModelSerializer):
    student: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = Submission
        fields = [
            "id", "lab", "student", "attempt", "source", "submitted_at", "late_seconds", "status",
            "reason", "score", "max_score", "sha256", "size",
        ]  # fmt: skip
        read_only_fields = fields


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


# ------------------------------------------------------------------------- gradebook


class GradebookCellSerializer(serializers.Serializer):
    lab = serializers.IntegerField()
    submission = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    raw_percent = serializers.DecimalField(max_digits=6, decimal_places=2, allow_null=True)
    late_penalty_percent = serializers.DecimalField(max_digits=6, decimal_places=2)
    percent = serializers.DecimalField(max_digits=6, decimal_places=2, allow_null=True)


class GradebookRowSerializer(serializers.Serializer):
    student = serializers.CharField()
    name = serializers.CharField()
    cohort = serializers.CharField()
    labs = GradebookCellSerializer(many=True)
    course_grade = serializers.DecimalField(max_digits=6, decimal_places=2, allow_null=True)
    passed = serializers.BooleanField()


@extend_schema(
    parameters=[OpenApiParameter("cohort", int, required=False)],
    responses=GradebookRowSerializer(many=True),
)
@api_view(["GET"])
def gradebook(request: Request, run_id: int) -> Response:
    cohort = request.query_params.get("cohort")
    if cohort and not cohort.isdigit():
        raise ValidationError({"cohort": ["A cohort id."]})
    book = selectors.gradebook(
        authed_user(request), run_id, cohort_id=int(cohort) if cohort else None
    )
    rows = [
        {
            "student": row.student.username,
            "name": row.student.get_full_name(),
            "cohort": row.cohort,
            "labs": [
                {
                    "lab": lab.pk,
                    "submission": c.submission_id,
                    "status": c.status,
                    "raw_percent": c.raw_percent,
                    "late_penalty_percent": c.penalty,
                    "percent": c.percent,
                }  # fmt: skip
                for lab, c in zip(book.labs, row.cells, strict=True)
            ],
            "course_grade": row.course_grade,
            "passed": row.passed,
        }
        for row in book.rows
    ]
    return Response(GradebookRowSerializer(rows, many=True).data)


extra_urls: list[URLPattern] = [
    path("runs/<int:run_id>/gradebook/", gradebook, name="api-gradebook"),
]


def register(router: BaseRouter) -> None:
    router.register("labs", LabViewSet, basename="lab")
    router.register("submissions", SubmissionViewSet, basename="submission")
