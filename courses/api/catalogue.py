"""REST API of the course side: catalogue."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from academy.api_errors import validation_detail
from academy.selectors import is_operator
from academy.typing import authed_user

from .. import selectors, services
from ..markdown import render_markdown
from ..models import (
    Course,
    Level,
    Sector,
)


class CourseSerializer(serializers.ModelSerializer):
    prerequisites: serializers.SlugRelatedField[Course] = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True, help_text="Courses to pass first (enforced)"
    )
    recommended: serializers.SlugRelatedField[Course] = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True, help_text="Courses recommended first (shown)"
    )
    description_html = serializers.SerializerMethodField()
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = Course
        fields = [
            "id",
            "code",
            "title",
            "summary",
            "description",
            "description_html",
            "language",
            "level",
            "sectors",
            "effort_hours",
            "ects",
            "eqf_level",
            "prerequisites",
            "recommended",
            "is_published",
            "is_open",
        ]
        read_only_fields = fields

    def get_description_html(self, course: Course) -> str:
        return str(render_markdown(course.description))


class PrerequisitesSerializer(serializers.Serializer):
    """Input of ``PUT /courses/{code}/prerequisites/``: course codes.  Only operators reach it,
    and they may name any course."""

    prerequisites = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Course.objects.all()
    )
    recommended = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Course.objects.all(), required=False
    )

    def validate(self, data: dict) -> dict:
        try:
            services.check_prerequisites(
                self.context["course"], data["prerequisites"], data.get("recommended")
            )
        except ValidationError as exc:
            raise serializers.ValidationError(validation_detail(exc)) from exc
        return data


CATALOGUE_PARAMETERS = [
    OpenApiParameter("q", str, description="Search in code, title and summary"),
    OpenApiParameter("sector", str, enum=Sector.values),
    OpenApiParameter("language", str),
    OpenApiParameter("level", str, enum=Level.values),
    OpenApiParameter("open", bool, description="Only courses with a run open for enrolment now"),
]


@extend_schema_view(
    list=extend_schema(parameters=CATALOGUE_PARAMETERS),
    retrieve=extend_schema(parameters=CATALOGUE_PARAMETERS),
)
class CourseViewSet(viewsets.ReadOnlyModelViewSet):
    """The catalogue: published courses (drafts for operators and run staff)."""

    serializer_class = CourseSerializer
    lookup_field = "code"
    filter_backends: list = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        filters = selectors.CatalogueFilters.from_query(self.request.query_params)
        return selectors.catalogue(
            authed_user(self.request), **filters.as_kwargs()
        ).prefetch_related("prerequisites", "recommended")

    @extend_schema(request=PrerequisitesSerializer, responses=CourseSerializer)
    @action(detail=True, methods=["put"])
    def prerequisites(self, request: Request, code: str) -> Response:
        """Operators set the courses to pass first and those recommended first; a cycle is
        refused with its path."""
        course = self.get_object()
        user = authed_user(request)
        if not is_operator(user):
            raise PermissionDenied
        data = PrerequisitesSerializer(data=request.data, context={"course": course})
        data.is_valid(raise_exception=True)
        course = services.course_prerequisites_set(
            actor=user,
            course=course,
            prerequisites=data.validated_data["prerequisites"],
            recommended=data.validated_data.get("recommended"),
        )
        return Response(CourseSerializer(course).data)
