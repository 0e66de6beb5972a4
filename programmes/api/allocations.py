"""REST API of programmes: people's allocations (with their progress, as last computed from
their results) and completions (with the frozen evidence).

Each person sees their own; a programme's managers see everyone following it; institution
admins see their members'.  Approving, rejecting and moving people go through the services."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from academy.models import User
from academy.typing import authed_user

from .. import selectors, services
from ..models import Allocation, Completion, Programme

# ---- output -------------------------------------------------------------------------------


class ProgrammeCompletionBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Completion
        fields = ["id", "completed_at", "credits", "needs_review", "review_reason"]
        read_only_fields = fields


class AllocationSerializer(serializers.ModelSerializer):
    programme: serializers.SlugRelatedField[Programme] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    version = serializers.IntegerField(source="version.number", read_only=True)
    user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    cohort = serializers.CharField(
        source="cohort.name", read_only=True, default=None, allow_null=True
    )
    # Plain strings in the schema: enums named "state" and "source" exist elsewhere.
    state = serializers.CharField(
        read_only=True, help_text="pending, active, completed or withdrawn"
    )
    source = serializers.CharField(  # type: ignore[assignment]
        read_only=True, help_text="self, approval, invite, cohort or staff"
    )

    class Meta:
        model = Allocation
        fields = [
            "id",
            "programme",
            "version",
            "user",
            "state",
            "source",
            "cohort",
            "items_done",
            "items_total",
            "credits_earned",
            "computed_at",
            "created_at",
        ]
        read_only_fields = fields


class NodeStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    parent = serializers.IntegerField(allow_null=True)  # type: ignore[assignment]
    label = serializers.CharField()  # type: ignore[assignment]
    course = serializers.CharField(allow_null=True, help_text="The code of an item's course.")
    state = serializers.CharField(
        allow_null=True,
        help_text="done, in_progress, available or locked (null: not computed yet)",
    )


class AllocationDetailSerializer(AllocationSerializer):
    nodes = NodeStateSerializer(
        many=True, read_only=True, help_text="Every node of the version's tree, with its state."
    )
    completion = ProgrammeCompletionBriefSerializer(read_only=True, allow_null=True)

    class Meta(AllocationSerializer.Meta):
        fields = [*AllocationSerializer.Meta.fields, "nodes", "completion"]
        read_only_fields = fields


class ProgrammeCompletionSerializer(serializers.ModelSerializer):
    allocation = serializers.IntegerField(source="allocation_id", read_only=True)
    programme = serializers.CharField(source="allocation.programme.code", read_only=True)
    user = serializers.CharField(source="allocation.user.username", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    evidence = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text=(
            "Frozen when completed, one entry per course item done: the course, the run that "
            "did it, its grade, when it ended, the item's points."
        ),
    )

    class Meta:
        model = Completion
        fields = [
            "id",
            "allocation",
            "programme",
            "user",
            "version",
            "credits",
            "completed_at",
            "evidence",
            "needs_review",
            "review_reason",
        ]
        read_only_fields = fields


# ---- input --------------------------------------------------------------------------------


class AllocationMoveSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The version's number.")


# ---- views --------------------------------------------------------------------------------


def _nodes(allocation: Allocation) -> list[dict[str, Any]]:
    return [
        {
            "id": row.pk,
            "parent": row.parent_id,
            "label": row.label,
            "course": row.course.code if row.course else None,
            "state": allocation.progress.get(str(row.pk)),
        }
        for row in selectors.requirement_rows(allocation.version)
    ]


class AllocationViewSet(viewsets.ReadOnlyModelViewSet):
    """People following programmes, with their progress: yours; the programmes' you manage;
    your institutions' members'."""

    serializer_class = AllocationSerializer
    filterset_fields = ["programme", "state", "cohort"]
    ordering_fields = ["created_at", "credits_earned"]
    search_fields = ["user__username", "user__last_name", "programme__code"]

    def get_queryset(self) -> QuerySet[Allocation]:
        return (
            selectors.allocations_for(authed_user(self.request))
            .select_related("completion")
            .order_by("programme__code", "user__username", "id")
        )

    @extend_schema(responses=AllocationDetailSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self._detail(self.get_object()))

    def _detail(self, allocation: Allocation) -> dict[str, Any]:
        allocation.nodes = _nodes(allocation)  # type: ignore[attr-defined]
        return AllocationDetailSerializer(allocation).data

    def _reload(self, allocation: Allocation) -> dict[str, Any]:
        return self._detail(self.get_queryset().get(pk=allocation.pk))

    @extend_schema(request=None, responses=AllocationDetailSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """Let a pending request in (the programme's managers)."""
        allocation = services.allocation_decide(
            actor=authed_user(request), allocation=self.get_object(), approve=True
        )
        return Response(self._reload(allocation))

    @extend_schema(request=None, responses=AllocationDetailSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        allocation = services.allocation_decide(
            actor=authed_user(request), allocation=self.get_object(), approve=False
        )
        return Response(self._reload(allocation))

    @extend_schema(request=AllocationMoveSerializer, responses=AllocationDetailSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str) -> Response:
        """Move the person to another published version of the programme (managers; audited);
        their progress is recomputed under it."""
        allocation = self.get_object()
        data = AllocationMoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        number = data.validated_data["version"]
        version = allocation.programme.versions.filter(number=number).first()
        if version is None:
            raise serializers.ValidationError(
                {"version": [_("This programme has no version %(n)s.") % {"n": number}]}
            )
        allocation = services.allocation_move(
            actor=authed_user(request), allocation=allocation, version=version
        )
        return Response(self._reload(allocation))


class CompletionViewSet(viewsets.ReadOnlyModelViewSet):
    """Completions with their frozen evidence: yours; the programmes' you manage; your
    institutions' members'.  ``needs_review``: a grade changed after completion."""

    serializer_class = ProgrammeCompletionSerializer
    filterset_fields = ["needs_review"]
    ordering_fields = ["completed_at"]

    def get_queryset(self) -> QuerySet[Completion]:
        visible = selectors.allocations_for(authed_user(self.request)).values("pk")
        return (
            Completion.objects.filter(allocation__in=visible)
            .select_related("allocation__programme", "allocation__user", "version")
            .order_by("-completed_at", "id")
        )


def register(router: BaseRouter) -> None:
    router.register("programme-allocations", AllocationViewSet, basename="programme-allocation")
    router.register("programme-completions", CompletionViewSet, basename="programme-completion")
