"""REST API of the course side: runs."""

from __future__ import annotations

from typing import cast

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from academy.models import User
from academy.typing import authed_user

from .. import selectors, services
from ..models import (
    Course,
    CourseRun,
    CourseStaff,
    Enrolment,
    EnrolmentState,
    GradingCategory,
    InviteCode,
)


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
