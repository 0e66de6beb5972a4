"""REST API of the course side: catalogue."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets

from academy.typing import authed_user

from .. import selectors
from ..markdown import render_markdown
from ..models import (
    Course,
    Level,
    Sector,
)


class CourseSerializer(serializers.ModelSerializer):
    prerequisites: serializers.SlugRelatedField[Course] = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True
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
            "prerequisites",
            "is_published",
            "is_open",
        ]
        read_only_fields = fields

    def get_description_html(self, course: Course) -> str:
        return str(render_markdown(course.description))


CATALOGUE_PARAMETERS = [
    OpenApiParameter("q", str, description="Search in code, title and summary"),
    OpenApiParameter("sector", str, enum=Sector.values),
    OpenApiParameter("language", str),
    OpenApiParameter("level", str, enum=Level.values),
    OpenApiParameter("open", bool, description="Only courses with a run open for enrolment now"),
]


@extend_schema(parameters=CATALOGUE_PARAMETERS)
class CourseViewSet(viewsets.ReadOnlyModelViewSet):
    """The catalogue: published courses (drafts for operators and run staff)."""

    serializer_class = CourseSerializer
    lookup_field = "code"
    filter_backends: list = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        filters = selectors.CatalogueFilters.from_query(self.request.query_params)
        return selectors.catalogue(
            authed_user(self.request), **filters.as_kwargs()
        ).prefetch_related("prerequisites")
