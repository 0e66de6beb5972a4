"""REST API of the course side: content."""

from __future__ import annotations

from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from academy.typing import authed_user

from .. import authoring, selectors, services
from ..markdown import render_markdown
from ..models import (
    CourseRun,
    Lesson,
    Module,
)


class LessonSerializer(serializers.ModelSerializer):
    run = serializers.IntegerField(source="module.run_id", read_only=True)
    module = serializers.CharField(source="module.title", read_only=True)
    body_html = serializers.SerializerMethodField()

    class Meta:
        model = Lesson
        fields = ["id", "run", "module", "title", "position", "body", "body_html"]
        read_only_fields = fields

    def get_body_html(self, lesson: Lesson) -> str:
        return str(render_markdown(lesson.body))


def _scoped(queryset, user, field: str):  # type: ignore[no-untyped-def]
    return queryset.filter(**{f"{field}__in": selectors.content_runs(user)})


class MoveSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=["up", "down"])


class ModuleSerializer(serializers.ModelSerializer):
    run = serializers.PrimaryKeyRelatedField(queryset=CourseRun.objects.all())
    lessons: serializers.PrimaryKeyRelatedField[Lesson] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True
    )

    class Meta:
        model = Module
        fields = ["id", "run", "title", "position", "lessons"]
        read_only_fields = ["position", "lessons"]

    def validate_run(self, run: CourseRun) -> CourseRun:
        if self.instance is not None and run.pk != self.instance.run_id:
            raise serializers.ValidationError(_("A module stays in its run."))
        return run


@extend_schema(parameters=[OpenApiParameter("run", int, description="Only this run's modules.")])
class ModuleViewSet(viewsets.ModelViewSet):
    """A run's modules, in order.  Readable by its staff and students holding a seat; written
    by its staff."""

    serializer_class = ModuleSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Module.objects.none()
        queryset = _scoped(
            Module.objects.prefetch_related(
                Prefetch("lessons", queryset=Lesson.objects.order_by("position", "id"))
            ),
            authed_user(self.request),
            "run_id",
        ).order_by("run_id", "position", "id")
        run = self.request.query_params.get("run", "")
        return queryset.filter(run_id=run) if run.isdigit() else queryset

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        run = serializer.validated_data["run"]
        if not selectors.can_view_content(authed_user(self.request), run):
            raise NotFound
        serializer.instance = authoring.module_create(
            actor=authed_user(self.request),
            run=run,
            title=serializer.validated_data.get("title", ""),
        )

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        module = serializer.instance
        assert isinstance(module, Module)  # an update's serializer holds the object
        serializer.instance = authoring.module_update(
            actor=authed_user(self.request),
            module=module,
            title=serializer.validated_data.get("title", module.title),
        )

    def perform_destroy(self, instance: Module) -> None:
        authoring.module_delete(actor=authed_user(self.request), module=instance)

    @extend_schema(request=MoveSerializer, responses=ModuleSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str) -> Response:
        """Swap with the neighbour above or below."""
        data = MoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        module = self.get_object()
        authoring.module_move(
            actor=authed_user(request),
            module=module,
            direction=-1 if data.validated_data["direction"] == "up" else 1,
        )
        module.refresh_from_db()
        return Response(ModuleSerializer(module).data)


class LessonWriteSerializer(serializers.ModelSerializer):
    module = serializers.PrimaryKeyRelatedField(queryset=Module.objects.all())

    class Meta:
        model = Lesson
        fields = ["id", "module", "title", "body", "position"]
        read_only_fields = ["position"]


class LessonViewSet(
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A lesson: students holding a seat read it and mark it done; the run's staff write it
    (``module`` on update moves it to the end of another module of the same run)."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        if self.action in {"create", "partial_update", "update"}:
            return LessonWriteSerializer
        return LessonSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Lesson.objects.none()
        return _scoped(
            Lesson.objects.select_related("module__run"),
            authed_user(self.request),
            "module__run_id",
        )

    def get_object(self):  # type: ignore[no-untyped-def]
        lesson = super().get_object()
        if not selectors.can_view_content(authed_user(self.request), lesson.module.run):
            raise NotFound
        return lesson

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        module = serializer.validated_data["module"]
        if not selectors.can_view_content(authed_user(self.request), module.run):
            raise NotFound
        serializer.instance = authoring.lesson_create(
            actor=authed_user(self.request),
            module=module,
            title=serializer.validated_data.get("title", ""),
            body=serializer.validated_data.get("body", ""),
        )

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        lesson = serializer.instance
        assert isinstance(lesson, Lesson)  # an update's serializer holds the object
        data = serializer.validated_data
        serializer.instance = authoring.lesson_update(
            actor=authed_user(self.request),
            lesson=lesson,
            title=data.get("title", lesson.title),
            body=data.get("body", lesson.body),
            module=data.get("module"),
        )

    def perform_destroy(self, instance: Lesson) -> None:
        authoring.lesson_delete(actor=authed_user(self.request), lesson=instance)

    @extend_schema(request=MoveSerializer, responses=LessonSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str) -> Response:
        """Swap with the neighbour above or below in its module."""
        data = MoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lesson = self.get_object()
        authoring.lesson_move(
            actor=authed_user(request),
            lesson=lesson,
            direction=-1 if data.validated_data["direction"] == "up" else 1,
        )
        lesson.refresh_from_db()
        return Response(LessonSerializer(lesson).data)

    @extend_schema(
        request=None,
        responses=inline_serializer("Completion", {"done": serializers.BooleanField()}),
    )
    @action(detail=True, methods=["post", "delete"])
    def complete(self, request: Request, pk: str) -> Response:
        """POST marks the lesson done for you, DELETE unmarks it."""
        done = services.lesson_complete(
            lesson=self.get_object(),
            user=authed_user(request),
            done=request.method == "POST",
        )
        return Response({"done": done})
