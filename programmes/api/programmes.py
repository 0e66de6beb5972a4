"""REST API of programmes: the programmes, their versions and requirement trees.

Querysets come from the selectors (what the user may not see is a 404); every write goes through
a service, which checks the rights (403), refuses bad changes with the reason (400: a frozen
version, a prerequisite cycle, a tree that can never be completed) and writes the audit row.
People's allocations and completions are in ``allocations``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter
from rest_framework.settings import api_settings

from academy.models import Cohort, Institution
from academy.selectors import cohorts_for, institutions_for
from academy.typing import authed_user
from courses.models import Course, Sector
from courses.selectors import courses_for

from .. import selectors, services
from ..models import Programme, ProgrammeStatus, ProgrammeVersion, Requirement, Rule
from . import allocations
from .allocations import AllocationSerializer

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY

# ---- output -------------------------------------------------------------------------------


class ProgrammeSerializer(serializers.ModelSerializer):
    owner: serializers.SlugRelatedField[Institution] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="Null: the AI factory."
    )
    display_title = serializers.CharField(read_only=True)
    sectors = serializers.ListField(child=serializers.CharField(), read_only=True)
    # Plain strings in the schema: enums named "status" exist elsewhere with other values.
    status = serializers.CharField(read_only=True, help_text="draft, published or retired")
    join_policy = serializers.CharField(read_only=True, help_text="open, approval or invite")

    class Meta:
        model = Programme
        fields = [
            "id",
            "code",
            "title",
            "title_sr",
            "display_title",
            "description",
            "description_sr",
            "owner",
            "eqf_level",
            "ects",
            "sectors",
            "status",
            "join_policy",
            "created_at",
        ]
        read_only_fields = fields


class RequirementSerializer(serializers.ModelSerializer):
    course: serializers.SlugRelatedField[Course] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True, help_text="Items: the course code."
    )
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]
    rule = serializers.CharField(
        read_only=True, help_text="Sets: all_in_order, all, at_least or min_points; items: empty"
    )

    class Meta:
        model = Requirement
        fields = [
            "id",
            "version",
            "parent",
            "position",
            "label",
            "title",
            "rule",
            "count",
            "course",
            "points",
            "min_grade",
        ]
        read_only_fields = fields


class RequirementNodeSerializer(RequirementSerializer):
    """A node of the tree with its children (``subtree``, set by :func:`_tree`)."""

    class Meta(RequirementSerializer.Meta):
        fields = [*RequirementSerializer.Meta.fields, "children"]
        read_only_fields = fields


# The tree is recursive: the field refers to the class itself, so it is added once the class
# exists (drf-spectacular names it as one component that refers to itself).
RequirementNodeSerializer._declared_fields["children"] = RequirementNodeSerializer(
    many=True, read_only=True, source="subtree"
)


class ProgrammeVersionSerializer(serializers.ModelSerializer):
    followers = serializers.IntegerField(read_only=True, help_text="People following it.")
    frozen = serializers.SerializerMethodField(
        help_text="Followed by someone: changes go into a new version."
    )

    class Meta:
        model = ProgrammeVersion
        fields = ["id", "programme", "number", "published_at", "created_at", "followers", "frozen"]
        read_only_fields = fields

    def get_frozen(self, version: ProgrammeVersion) -> bool:
        return bool(getattr(version, "followers", 0))


class ProgrammeVersionTreeSerializer(ProgrammeVersionSerializer):
    tree = RequirementNodeSerializer(read_only=True, source="root", allow_null=True)

    class Meta(ProgrammeVersionSerializer.Meta):
        fields = [*ProgrammeVersionSerializer.Meta.fields, "tree"]
        read_only_fields = fields


class ProgrammeDetailSerializer(ProgrammeSerializer):
    current_version = ProgrammeVersionTreeSerializer(
        read_only=True,
        allow_null=True,
        help_text="The published version new people get, with its requirement tree.",
    )

    class Meta(ProgrammeSerializer.Meta):
        fields = [*ProgrammeSerializer.Meta.fields, "current_version"]
        read_only_fields = fields


def _tree(rows: list[Requirement]) -> Requirement | None:
    """The root row, each row holding its children in ``subtree`` (rows from
    ``selectors.requirement_rows``: no further query)."""
    children: dict[int | None, list[Requirement]] = defaultdict(list)
    for row in rows:
        children[row.parent_id].append(row)
    for row in rows:
        row.subtree = children[row.pk]  # type: ignore[attr-defined]
    return children[None][0] if children[None] else None


def _with_tree(version: ProgrammeVersion | None) -> ProgrammeVersion | None:
    if version is not None:
        version.root = _tree(selectors.requirement_rows(version))  # type: ignore[attr-defined]
    return version


def _with_followers(versions: QuerySet[ProgrammeVersion]) -> QuerySet[ProgrammeVersion]:
    return versions.annotate(followers=Count("allocations"))


# ---- input --------------------------------------------------------------------------------


class ProgrammeWriteSerializer(serializers.ModelSerializer):
    """Owner: the slug of an institution you administer; empty (operators only) for the AI
    factory itself."""

    owner = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Institution.objects.none(),
        required=False,
        allow_null=True,
    )
    sectors = serializers.ListField(
        child=serializers.ChoiceField(choices=Sector.choices), required=False, max_length=20
    )

    class Meta:
        model = Programme
        fields = [
            "code",
            "title",
            "title_sr",
            "description",
            "description_sr",
            "owner",
            "eqf_level",
            "ects",
            "sectors",
            "join_policy",
            "invite_code",
        ]
        extra_kwargs = {"invite_code": {"write_only": True}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            owner = self.fields["owner"]
            assert isinstance(owner, serializers.SlugRelatedField)
            # Institutions the user cannot see read as "does not exist".
            owner.queryset = institutions_for(authed_user(request))  # type: ignore[arg-type]


class ProgrammeUpdateSerializer(ProgrammeWriteSerializer):
    """The code names the programme in links: fixed once made."""

    class Meta(ProgrammeWriteSerializer.Meta):
        fields = [f for f in ProgrammeWriteSerializer.Meta.fields if f != "code"]


class JoinSerializer(serializers.Serializer):
    code = serializers.CharField(
        required=False, allow_blank=True, max_length=40, help_text="The invite code, if needed."
    )


class CohortAllocateSerializer(serializers.Serializer):
    cohort = serializers.PrimaryKeyRelatedField(queryset=Cohort.objects.none())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            cohort = self.fields["cohort"]
            assert isinstance(cohort, serializers.PrimaryKeyRelatedField)
            # By id: the selector's union of two joins repeats cohorts.
            visible = cohorts_for(authed_user(request)).values("pk")
            cohort.queryset = Cohort.objects.filter(pk__in=visible)  # type: ignore[arg-type]


class RequirementWriteSerializer(serializers.Serializer):
    """A course item (``course``: its code) or a sub-set (``rule``, with ``count`` for
    at_least and min_points), added last under the set ``parent``."""

    parent = serializers.PrimaryKeyRelatedField(  # type: ignore[assignment]
        queryset=Requirement.objects.none()
    )
    course = serializers.SlugRelatedField(
        slug_field="code", queryset=Course.objects.none(), required=False, allow_null=True
    )
    rule = serializers.ChoiceField(choices=Rule.choices, required=False, allow_blank=True)
    count = serializers.DecimalField(max_digits=6, decimal_places=1, min_value=0, required=False)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    points = serializers.DecimalField(max_digits=5, decimal_places=1, min_value=0, required=False)
    min_grade = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False, allow_null=True
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            user = authed_user(request)
            parent = self.fields["parent"]
            course = self.fields["course"]
            assert isinstance(parent, serializers.PrimaryKeyRelatedField)
            assert isinstance(course, serializers.SlugRelatedField)
            parent.queryset = selectors.requirements_for(user)  # type: ignore[arg-type]
            course.queryset = courses_for(user)  # type: ignore[arg-type]


class RequirementChangeSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    rule = serializers.ChoiceField(choices=Rule.choices, required=False)
    count = serializers.DecimalField(max_digits=6, decimal_places=1, min_value=0, required=False)
    points = serializers.DecimalField(max_digits=5, decimal_places=1, min_value=0, required=False)
    min_grade = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False, allow_null=True
    )


# ---- views --------------------------------------------------------------------------------

LIST_PARAMETERS = [
    OpenApiParameter("q", str, description="Search in code, title and description"),
    OpenApiParameter("level", int, description="EQF level, 1 to 8"),
    OpenApiParameter("sector", str, enum=Sector.values),
    OpenApiParameter(
        "status",
        str,
        enum=[ProgrammeStatus.DRAFT, ProgrammeStatus.PUBLISHED],
        description="Drafts: only the programmes you manage",
    ),
]


class ProgrammeViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Programmes: the published ones for everyone, drafts and retired ones for their managers
    (and the people following them).  Operators and institution admins create them."""

    serializer_class = ProgrammeSerializer
    filter_backends: list = []  # the selectors filter, as on the catalogue page
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        user = authed_user(self.request)
        if self.action != "list":
            return selectors.programmes_for(user)
        params = self.request.query_params
        queryset = selectors.catalogue(user, selectors.CatalogueFilters.from_query(params))
        wanted = params.get("status", "")
        return queryset.filter(status=wanted) if wanted in ProgrammeStatus.values else queryset

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        return ProgrammeDetailSerializer if self.action == "retrieve" else ProgrammeSerializer

    def _detail(self, programme: Programme) -> dict[str, Any]:
        published = _with_followers(programme.versions.exclude(published_at=None))
        programme.current_version = _with_tree(  # type: ignore[attr-defined]
            published.order_by("-number").first()
        )
        return ProgrammeDetailSerializer(programme).data

    @extend_schema(parameters=LIST_PARAMETERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self._detail(self.get_object()))

    @extend_schema(request=ProgrammeWriteSerializer, responses={201: ProgrammeDetailSerializer})
    def create(self, request: Request) -> Response:
        """A draft programme with version 1 holding an empty root set; you become a manager."""
        data = ProgrammeWriteSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        programme = services.programme_create(actor=authed_user(request), **data.validated_data)
        return Response(self._detail(programme), status=status.HTTP_201_CREATED)

    @extend_schema(request=ProgrammeUpdateSerializer, responses=ProgrammeDetailSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change the description fields (managers); the code, status and versions stay."""
        programme = self.get_object()
        data = ProgrammeUpdateSerializer(
            data=request.data, partial=True, context=self.get_serializer_context()
        )
        data.is_valid(raise_exception=True)
        programme = services.programme_update(
            actor=authed_user(request), programme=programme, **data.validated_data
        )
        return Response(self._detail(programme))

    @extend_schema(responses=ProgrammeVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str) -> Response:
        """The versions, newest first: all of them for managers, the published ones for
        others."""
        programme = self.get_object()
        versions = _with_followers(programme.versions.order_by("-number"))
        if not selectors.can_manage_programme(authed_user(request), programme):
            versions = versions.exclude(published_at=None)
        return Response(ProgrammeVersionSerializer(versions, many=True).data)

    @extend_schema(request=None, responses={201: ProgrammeVersionTreeSerializer})
    @action(detail=True, methods=["post"], url_path="new-version")
    def new_version(self, request: Request, pk: str) -> Response:
        """A new unpublished version, a copy of the newest one's tree, to change (managers)."""
        version = services.version_new(actor=authed_user(request), programme=self.get_object())
        version.followers = 0  # type: ignore[attr-defined]
        data = ProgrammeVersionTreeSerializer(_with_tree(version)).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=JoinSerializer, responses={201: AllocationSerializer})
    @action(detail=True, methods=["post"])
    def join(self, request: Request, pk: str) -> Response:
        """Join under the programme's policy: following at once when open (or with the right
        invite code), waiting for approval when it needs it."""
        data = JoinSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        allocation = services.allocation_join(
            actor=authed_user(request),
            programme=self.get_object(),
            code=data.validated_data.get("code", ""),
        )
        return Response(AllocationSerializer(allocation).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=CohortAllocateSerializer,
        responses={
            201: inline_serializer("CohortAllocated", {"allocated": serializers.IntegerField()})
        },
    )
    @action(detail=True, methods=["post"])
    def cohorts(self, request: Request, pk: str) -> Response:
        """Put a cohort on the programme (admins of the cohort's institution): its members
        follow it now, and those who join the cohort later follow it too."""
        programme = self.get_object()
        data = CohortAllocateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        allocated = services.cohort_allocate(
            actor=authed_user(request), programme=programme, cohort=data.validated_data["cohort"]
        )
        return Response({"allocated": allocated}, status=status.HTTP_201_CREATED)


class ProgrammeVersionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One version with its requirement tree; its managers publish it."""

    serializer_class = ProgrammeVersionTreeSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return _with_followers(selectors.versions_for(authed_user(self.request)))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(ProgrammeVersionTreeSerializer(_with_tree(self.get_object())).data)

    @extend_schema(request=None, responses=ProgrammeVersionTreeSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        """Make this the version new people get; refused, naming why, when its tree can never
        be completed or makes a prerequisite cycle."""
        version = services.version_publish(actor=authed_user(request), version=self.get_object())
        return Response(
            ProgrammeVersionTreeSerializer(_with_tree(self.get_queryset().get(pk=version.pk))).data
        )


class RequirementViewSet(
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Nodes of a version's tree, changed while nobody follows the version (managers)."""

    serializer_class = RequirementSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.requirements_for(authed_user(self.request)).select_related("course")

    @extend_schema(request=RequirementWriteSerializer, responses={201: RequirementSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = RequirementWriteSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        requirement = services.requirement_add(actor=authed_user(request), **data.validated_data)
        return Response(RequirementSerializer(requirement).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RequirementChangeSerializer, responses=RequirementSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        requirement = self.get_object()
        data = RequirementChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not data.validated_data:
            raise serializers.ValidationError({NON_FIELD: [_("Nothing to change.")]})
        requirement = services.requirement_change(
            actor=authed_user(request), requirement=requirement, **data.validated_data
        )
        return Response(RequirementSerializer(requirement).data)

    def perform_destroy(self, instance: Requirement) -> None:
        services.requirement_remove(actor=authed_user(self.request), requirement=instance)


def register(router: BaseRouter) -> None:
    router.register("programmes", ProgrammeViewSet, basename="programme")
    router.register("programme-versions", ProgrammeVersionViewSet, basename="programme-version")
    router.register("programme-requirements", RequirementViewSet, basename="programme-requirement")
    allocations.register(router)
