"""REST API of the course side (``/api/v1/``).  Querysets come from the selectors, writes go
through the services: the API and the pages enforce the same rules."""

from __future__ import annotations

from typing import cast

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.urls import URLPattern
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from academy import selectors as people
from academy.models import Institution, User
from academy.typing import authed_user

from . import authoring, bulk, selectors, services
from .markdown import render_markdown
from .models import (
    BulkUpload,
    Course,
    CourseRun,
    CourseStaff,
    Enrolment,
    EnrolmentState,
    GradingCategory,
    InviteCode,
    Lesson,
    Level,
    Module,
    Sector,
)

extra_urls: list[URLPattern] = []


# --------------------------------------------------------------------------- courses


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


# --------------------------------------------------------------------------- runs


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = GradingCategory
        fields = ["id", "name", "weight", "drop_lowest"]


class CategoryChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, allow_null=True, default=None)
    name = serializers.CharField(max_length=100)
    weight = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100)
    drop_lowest = serializers.IntegerField(min_value=0, default=0)
    delete = serializers.BooleanField(default=False)


class GradingPolicySerializer(serializers.Serializer):
    pass_mark = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100)
    categories = CategoryChangeSerializer(many=True)


class CourseRunSerializer(serializers.ModelSerializer):
    course: serializers.SlugRelatedField[Course] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    seats_left = serializers.SerializerMethodField()
    categories = CategorySerializer(many=True, read_only=True)

    class Meta:
        model = CourseRun
        fields = [
            "id",
            "course",
            "title",
            "starts_at",
            "ends_at",
            "enrolment_opens_at",
            "enrolment_closes_at",
            "capacity",
            "active_count",
            "seats_left",
            "policy",
            "is_public",
            "pass_mark",
            "categories",
        ]
        read_only_fields = fields

    def get_seats_left(self, run: CourseRun) -> int | None:
        return selectors.seats_left(run)


class EnrolmentSerializer(serializers.ModelSerializer):
    user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    email = serializers.EmailField(source="user.email", read_only=True)
    course = serializers.CharField(source="run.course.code", read_only=True)
    cohort = serializers.CharField(source="cohort.name", read_only=True, default=None)

    class Meta:
        model = Enrolment
        fields = [
            "id",
            "run",
            "course",
            "user",
            "email",
            "state",
            "cohort",
            "waitlist_position",
            "requested_at",
            "state_changed_at",
            "reason",
        ]
        read_only_fields = fields


class EnrolInputSerializer(serializers.Serializer):
    invite_code = serializers.CharField(required=False, allow_blank=True, max_length=40)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


ROSTER_PARAMETERS = [
    OpenApiParameter("state", str, enum=EnrolmentState.values),
    OpenApiParameter("cohort", int),
    OpenApiParameter("institution", int),
    OpenApiParameter("q", str, description="Search login, e-mail, last name"),
]


class StaffSerializer(serializers.ModelSerializer):
    user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    # A plain string in the schema: an enum named "role" would collide with memberships' roles.
    role = serializers.CharField(read_only=True, help_text="instructor or ta")

    class Meta:
        model = CourseStaff
        fields = ["id", "user", "role", "can_edit"]
        read_only_fields = fields


class StaffPermissionSerializer(serializers.Serializer):
    can_edit = serializers.BooleanField()


class CapacitySerializer(serializers.Serializer):
    capacity = serializers.IntegerField(min_value=0, allow_null=True)


class InviteCodeSerializer(serializers.ModelSerializer):
    code = serializers.CharField(max_length=40, required=False, allow_blank=True)

    class Meta:
        model = InviteCode
        fields = ["id", "code", "expires_at", "max_uses", "uses", "is_active", "created_at"]
        read_only_fields = ["id", "uses", "is_active", "created_at"]
        extra_kwargs = {"max_uses": {"min_value": 1}}


class CourseRunViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CourseRunSerializer
    filterset_fields = ["course__code", "policy", "is_public"]
    ordering_fields = ["starts_at"]
    search_fields = ["title", "course__title", "course__code"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return (
            selectors.runs_for(authed_user(self.request))
            .prefetch_related("categories")
            .order_by("-starts_at", "id")
        )

    @extend_schema(request=EnrolInputSerializer, responses={201: EnrolmentSerializer})
    @action(detail=True, methods=["post"])
    def enrol(self, request: Request, pk: str) -> Response:
        """Ask to enrol: active, waitlisted (full) or pending (approval policy)."""
        data = EnrolInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enrolment = services.enrolment_request(
            run=self.get_object(),
            user=authed_user(request),
            invite_code=data.validated_data.get("invite_code", ""),
        )
        return Response(EnrolmentSerializer(enrolment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=EnrolmentSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        enrolment = Enrolment.objects.filter(run=run, user=authed_user(request)).first()
        if enrolment is None:
            raise NotFound
        enrolment = services.enrolment_withdraw(enrolment=enrolment, actor=authed_user(request))
        return Response(EnrolmentSerializer(enrolment).data)

    @extend_schema(parameters=ROSTER_PARAMETERS, responses=EnrolmentSerializer(many=True))
    @action(detail=True, methods=["get"])
    def roster(self, request: Request, pk: str) -> Response:
        """The run's enrolments, for its staff (CSV export: /runs/{id}/roster.csv)."""
        run = self.get_object()
        if not selectors.can_teach_run(authed_user(request), run):
            raise PermissionDenied
        filters = selectors.RosterFilters.from_query(request.query_params)
        qs = selectors.roster(run, **filters.as_kwargs()).select_related("run__course")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(EnrolmentSerializer(page, many=True).data)

    def _managed(self, request: Request) -> CourseRun:
        """The run, if the user may change its seats, codes and grading policy (instructors,
        TAs granted it, operators)."""
        run = self.get_object()
        if not selectors.can_author_run(authed_user(request), run):
            raise PermissionDenied
        return run

    @extend_schema(responses=StaffSerializer(many=True))
    @action(detail=True, methods=["get"])
    def staff(self, request: Request, pk: str) -> Response:
        """The run's staff and who may edit the run (any of its staff may read it)."""
        run = self.get_object()
        if not selectors.can_teach_run(authed_user(request), run):
            raise PermissionDenied
        rows = run.staff.select_related("user").order_by("role", "user__username")
        return Response(StaffSerializer(rows, many=True).data)

    @extend_schema(request=StaffPermissionSerializer, responses=StaffSerializer)
    @action(detail=True, methods=["patch"], url_path=r"staff/(?P<staff_id>\d+)")
    def staff_permission(self, request: Request, pk: str, staff_id: str) -> Response:
        """An instructor lets a teaching assistant edit the run (``can_edit``), or not."""
        run = self.get_object()
        if not selectors.can_teach_run(authed_user(request), run):
            raise PermissionDenied
        row = get_object_or_404(run.staff, pk=staff_id)
        data = StaffPermissionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.staff_permission_set(
            actor=authed_user(request),
            staff=row,
            can_edit=data.validated_data["can_edit"],
        )
        return Response(StaffSerializer(row).data)

    @extend_schema(request=CapacitySerializer, responses=CourseRunSerializer)
    @action(detail=True, methods=["post"])
    def capacity(self, request: Request, pk: str) -> Response:
        """Set the seats (null: no limit); more seats promote from the waitlist at once."""
        run = self._managed(request)
        data = CapacitySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.run_capacity_set(
            run=run,
            actor=authed_user(request),
            capacity=data.validated_data["capacity"],
        )
        return Response(CourseRunSerializer(run).data)

    @extend_schema(request=GradingPolicySerializer, responses=CourseRunSerializer)
    @action(detail=True, methods=["put"], url_path="grading-policy")
    def grading_policy(self, request: Request, pk: str) -> Response:
        """Set the pass mark and change categories: an ``id`` changes one, no ``id`` adds one,
        ``delete: true`` removes one (not while labs count towards it); categories not listed
        stay as they are.  All or nothing."""
        run = self._managed(request)
        data = GradingPolicySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.grading_policy_set(
            run=run,
            actor=authed_user(request),
            pass_mark=data.validated_data["pass_mark"],
            # the serializer checked each entry's keys and types
            categories=cast(
                "list[services.CategoryChange]",
                [dict(c) for c in data.validated_data["categories"]],
            ),
        )
        run = self.get_queryset().get(pk=run.pk)
        return Response(CourseRunSerializer(run).data)

    @extend_schema(methods=["get"], responses=InviteCodeSerializer(many=True))
    @extend_schema(
        methods=["post"], request=InviteCodeSerializer, responses={201: InviteCodeSerializer}
    )
    @action(detail=True, methods=["get", "post"], url_path="invite-codes")
    def invite_codes(self, request: Request, pk: str) -> Response:
        """The run's invite codes (staff); POST creates one (empty code: a random one)."""
        run = self._managed(request)
        if request.method == "GET":
            codes = run.invite_codes.order_by("-created_at")
            return Response(InviteCodeSerializer(codes, many=True).data)
        data = InviteCodeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invite = services.invite_code_create(
            run=run,
            actor=authed_user(request),
            code=data.validated_data.get("code", ""),
            expires_at=data.validated_data.get("expires_at"),
            max_uses=data.validated_data.get("max_uses"),
        )
        return Response(InviteCodeSerializer(invite).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=InviteCodeSerializer)
    @action(
        detail=True,
        methods=["post"],
        url_path=r"invite-codes/(?P<code_id>\d+)/deactivate",
    )
    def deactivate_invite_code(self, request: Request, pk: str, code_id: str) -> Response:
        """Switch a code off; enrolments made with it stay."""
        run = self._managed(request)
        invite = get_object_or_404(run.invite_codes, pk=code_id)
        invite = services.invite_code_deactivate(invite=invite, actor=authed_user(request))
        return Response(InviteCodeSerializer(invite).data)


# --------------------------------------------------------------------------- enrolments


class EnrolmentViewSet(viewsets.ReadOnlyModelViewSet):
    """Your enrolments; your runs' (staff); your institutions' people's (admins)."""

    serializer_class = EnrolmentSerializer
    filterset_fields = ["run", "state", "cohort"]
    ordering_fields = ["requested_at", "waitlist_position"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.enrolments_for(authed_user(self.request)).order_by(
            "run_id", "requested_at", "id"
        )

    def _act(self, fn, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        enrolment = fn(enrolment=self.get_object(), actor=authed_user(self.request), **kwargs)
        return Response(EnrolmentSerializer(enrolment).data)

    @extend_schema(request=None, responses=EnrolmentSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        return self._act(services.enrolment_approve)

    @extend_schema(request=None, responses=EnrolmentSerializer)
    @action(detail=True, methods=["post"])
    def waitlist(self, request: Request, pk: str) -> Response:
        return self._act(services.enrolment_waitlist)

    @extend_schema(request=ReasonSerializer, responses=EnrolmentSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._act(services.enrolment_reject, reason=data.validated_data.get("reason", ""))

    @extend_schema(request=ReasonSerializer, responses=EnrolmentSerializer)
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, pk: str) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._act(services.enrolment_remove, reason=data.validated_data.get("reason", ""))

    @extend_schema(request=None, responses=EnrolmentSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        return self._act(services.enrolment_withdraw)


# --------------------------------------------------------------------------- lessons


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


# --------------------------------------------------------------------------- bulk


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


def register(router: BaseRouter) -> None:
    router.register("courses", CourseViewSet, basename="course")
    router.register("runs", CourseRunViewSet, basename="run")
    router.register("enrolments", EnrolmentViewSet, basename="enrolment")
    router.register("modules", ModuleViewSet, basename="module")
    router.register("lessons", LessonViewSet, basename="lesson")
    router.register("bulk-enrolments", BulkEnrolmentViewSet, basename="bulk-enrolment")
