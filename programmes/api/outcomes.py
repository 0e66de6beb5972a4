"""REST API of learning outcomes (``/api/v1/``): ``learning-outcomes`` (a programme's or a
course's outcomes; writes for their editors, through the services: 403 without the right, 400
with the reason for bad input), ``esco-skills`` (the picker's search) and ``outcome-mastery``
(a person's mastery: your own, or a person you may see)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from academy.models import User
from academy.typing import authed_user
from courses.models import Course, GradingCategory
from courses.selectors import courses_for
from notebooks.models import Lab

from .. import selectors as programme_selectors
from ..models import EscoSkill, LearningOutcome, OutcomeAlignment, Programme
from ..outcomes import selectors, services


class EscoSkillSerializer(serializers.ModelSerializer):
    class Meta:
        model = EscoSkill
        fields = ["id", "uri", "label", "description"]
        read_only_fields = fields


class AlignmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutcomeAlignment
        fields = ["id", "lab", "grade_id", "category"]
        read_only_fields = fields


class OutcomeSerializer(serializers.ModelSerializer):
    programme: serializers.SlugRelatedField[Programme] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    course: serializers.SlugRelatedField[Course] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    esco_skills: serializers.SlugRelatedField[EscoSkill] = serializers.SlugRelatedField(
        slug_field="uri", many=True, read_only=True
    )
    alignments = AlignmentSerializer(many=True, read_only=True)
    display_title = serializers.CharField(read_only=True)

    class Meta:
        model = LearningOutcome
        fields = [
            "id",
            "programme",
            "course",
            "parent",
            "position",
            "code",
            "title",
            "title_sr",
            "display_title",
            "esco_skills",
            "method",
            "mastery_percent",
            "decay_percent",
            "n_times",
            "alignments",
        ]
        read_only_fields = fields


RULE_FIELDS = ["code", "title", "title_sr", "method", "mastery_percent", "decay_percent", "n_times"]


class OutcomeInputSerializer(serializers.ModelSerializer):
    """Input: a new outcome names its programme or course (by code); ``parent`` is an outcome
    id of the same tree (null: at the top); ESCO skills by URI."""

    programme = serializers.SlugRelatedField(
        slug_field="code", queryset=Programme.objects.all(), required=False, allow_null=True
    )
    course = serializers.SlugRelatedField(
        slug_field="code", queryset=Course.objects.all(), required=False, allow_null=True
    )
    parent = serializers.PrimaryKeyRelatedField(  # type: ignore[assignment]
        queryset=LearningOutcome.objects.all(), required=False, allow_null=True
    )
    esco_skills = serializers.SlugRelatedField(
        slug_field="uri", many=True, queryset=EscoSkill.objects.all(), required=False
    )

    class Meta:
        model = LearningOutcome
        fields = ["programme", "course", "parent", "esco_skills", *RULE_FIELDS]


class AlignInputSerializer(serializers.Serializer):
    lab = serializers.PrimaryKeyRelatedField(
        queryset=Lab.objects.select_related("run"), required=False, allow_null=True
    )
    grade_id = serializers.CharField(required=False, allow_blank=True, max_length=100)
    category = serializers.PrimaryKeyRelatedField(
        queryset=GradingCategory.objects.select_related("run"), required=False, allow_null=True
    )


OUTCOME_FILTERS = [
    OpenApiParameter("programme", str, description="A programme's code"),
    OpenApiParameter("course", str, description="A course's code"),
]


@extend_schema(parameters=OUTCOME_FILTERS)
class OutcomeViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Outcomes of the programmes and courses you may see; their editors change them."""

    serializer_class = OutcomeSerializer

    def get_queryset(self) -> QuerySet[LearningOutcome]:
        user = authed_user(self.request)
        qs = LearningOutcome.objects.filter(
            Q(programme__in=programme_selectors.programmes_for(user).values("pk"))
            | Q(course__in=courses_for(user).values("pk"))
        )
        params = self.request.query_params
        if params.get("programme"):
            qs = qs.filter(programme__code=params["programme"])
        if params.get("course"):
            qs = qs.filter(course__code=params["course"])
        return (
            qs.select_related("programme", "course")
            .prefetch_related("esco_skills", "alignments")
            .order_by("programme_id", "course_id", "position", "id")
        )

    @extend_schema(request=OutcomeInputSerializer, responses={201: OutcomeSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = OutcomeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        outcome = services.outcome_create(
            actor=authed_user(request),
            programme=fields.pop("programme", None),
            course=fields.pop("course", None),
            parent=fields.pop("parent", None),
            esco_skills=fields.pop("esco_skills", []),
            **fields,
        )
        return Response(self._out(outcome.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=OutcomeInputSerializer, responses=OutcomeSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        outcome = selectors.outcome_for_editor(authed_user(request), self.get_object().pk)
        data = OutcomeInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields.pop("programme", None), fields.pop("course", None)
        moved = "parent" in fields
        parent = fields.pop("parent", None)
        # the move first: a refused move (a cycle) then leaves the outcome as it was
        if moved and parent != outcome.parent:
            services.outcome_move(actor=authed_user(request), outcome=outcome, parent=parent)
        services.outcome_update(
            actor=authed_user(request),
            outcome=outcome,
            esco_skills=fields.pop("esco_skills", None),
            **fields,
        )
        return Response(self._out(outcome.pk))

    def perform_destroy(self, instance: LearningOutcome) -> None:
        services.outcome_delete(actor=authed_user(self.request), outcome=instance)

    @extend_schema(request=AlignInputSerializer, responses={201: AlignmentSerializer})
    @action(detail=True, methods=["post"])
    def align(self, request: Request, pk: str) -> Response:
        """Align to a lab's graded cell (``lab`` and ``grade_id``) or to a ``category``."""
        data = AlignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alignment = services.alignment_add(
            actor=authed_user(request),
            outcome=self.get_object(),
            lab=data.validated_data.get("lab"),
            grade_id=data.validated_data.get("grade_id", ""),
            category=data.validated_data.get("category"),
        )
        return Response(AlignmentSerializer(alignment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=inline_serializer("Unalign", {"alignment": serializers.IntegerField()}),
        responses={204: None},
    )
    @action(detail=True, methods=["post"])
    def unalign(self, request: Request, pk: str) -> Response:
        outcome = self.get_object()
        payload = request.data if isinstance(request.data, dict) else {}
        raw = str(payload.get("alignment", ""))
        alignment = OutcomeAlignment.objects.filter(
            pk=int(raw) if raw.isdigit() else 0, outcome=outcome
        ).first()
        if alignment is None:
            raise NotFound
        services.alignment_remove(actor=authed_user(request), alignment=alignment)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _out(self, pk: int) -> dict:
        return dict(OutcomeSerializer(self.get_queryset().get(pk=pk)).data)


@extend_schema(parameters=[OpenApiParameter("q", str, description="Two letters at least")])
class EscoSkillViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The ESCO skills whose label or description holds ``q``: 20 at most, labels first."""

    serializer_class = EscoSkillSerializer
    pagination_class = None
    queryset = EscoSkill.objects.none()  # for the schema: the search returns a list

    def get_queryset(self) -> Any:
        return selectors.esco_search(self.request.query_params.get("q", ""))


MasteryRowSerializer = inline_serializer(
    "MasteryRow",
    {
        "outcome": serializers.IntegerField(),
        "title": serializers.CharField(),
        "depth": serializers.IntegerField(),
        "method": serializers.CharField(),
        "mastery_percent": serializers.DecimalField(max_digits=5, decimal_places=2),
        "score": serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True),
        "mastered": serializers.BooleanField(),
        "evidence_count": serializers.IntegerField(),
        "esco_skills": serializers.ListField(child=serializers.CharField()),
    },
)


@extend_schema(
    parameters=[
        *OUTCOME_FILTERS,
        OpenApiParameter("user", int, description="Another person's id (default: you)"),
    ],
    responses=inline_serializer(
        "MasterySection",
        {"course": serializers.CharField(allow_null=True), "rows": MasteryRowSerializer},
        many=True,
    ),
)
class MasteryViewSet(viewsets.ViewSet):
    """A person's mastery per outcome of a programme (its own and its courses' outcomes; they
    follow it) or of a course (they hold a seat in one of its runs).  Name one of them; without
    a programme or a course there is nothing to show (404)."""

    def list(self, request: Request) -> Response:
        viewer = authed_user(request)
        raw_user = request.query_params.get("user", "")
        person = (
            viewer
            if not raw_user
            else User.objects.filter(pk=int(raw_user) if raw_user.isdigit() else 0).first()
        )
        if person is None:
            raise NotFound
        code = request.query_params.get("programme")
        if code:
            programme = get_object_or_404(programme_selectors.programmes_for(viewer), code=code)
            sections = selectors.programme_mastery(viewer, programme, person)
        elif request.query_params.get("course"):
            course = get_object_or_404(courses_for(viewer), code=request.query_params["course"])
            sections = selectors.course_mastery(viewer, course, person)
        else:
            raise NotFound(_("Name a programme or a course."))
        return Response(
            [
                {
                    "course": section.course.code if section.course else None,
                    "rows": [
                        {
                            "outcome": row.outcome.pk,
                            "title": row.outcome.display_title,
                            "depth": row.depth,
                            "method": row.outcome.method,
                            "mastery_percent": str(row.outcome.mastery_percent),
                            "score": None if row.result.score is None else str(row.result.score),
                            "mastered": row.result.mastered,
                            "evidence_count": row.result.evidence_count,
                            "esco_skills": [s.uri for s in row.outcome.esco_skills.all()],
                        }
                        for row in section.rows
                    ],
                }
                for section in sections
            ]
        )


def register(router: BaseRouter) -> None:
    router.register("learning-outcomes", OutcomeViewSet, basename="learning-outcome")
    router.register("esco-skills", EscoSkillViewSet, basename="esco-skill")
    router.register("outcome-mastery", MasteryViewSet, basename="outcome-mastery")
