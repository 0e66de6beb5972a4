"""REST API of the lab side: gradebook."""

from __future__ import annotations

from django.urls import URLPattern, path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from academy.typing import authed_user

from .. import selectors


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
