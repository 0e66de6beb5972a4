"""REST API of the people side (``/api/v1/``).  Querysets come from the access layer; writes
go through services, so the API and the pages enforce the same rules."""

from __future__ import annotations

from django.db.models import Count
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from . import selectors, services
from .models import Cohort, Institution, Membership, Role, User
from .typing import authed_user


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "is_staff"]
        read_only_fields = fields


class MembershipBriefSerializer(serializers.ModelSerializer):
    institution: serializers.SlugRelatedField[Institution] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = Membership
        fields = ["institution", "role"]


class MeSerializer(UserSerializer):
    memberships = MembershipBriefSerializer(many=True, read_only=True)
    cohorts: serializers.PrimaryKeyRelatedField[Cohort] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True
    )

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "memberships", "cohorts"]
        read_only_fields = fields


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    user = User.objects.prefetch_related("memberships__institution", "cohorts").get(
        pk=authed_user(request).pk
    )
    return Response(MeSerializer(user).data)


class InstitutionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Institution
        fields = ["id", "name", "slug", "kind", "created_at"]
        read_only_fields = ["id", "created_at"]


class InstitutionViewSet(viewsets.ModelViewSet):
    serializer_class = InstitutionSerializer
    filterset_fields = ["kind"]
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.institutions_for(authed_user(self.request)).order_by("name")

    def perform_create(self, serializer):  # type: ignore[no-untyped-def]
        serializer.instance = services.institution_create(
            actor=authed_user(self.request), **serializer.validated_data
        )


# For serializers with an ``institution`` field: only institutions the actor may see are valid
# choices; others read as "does not exist".  (A comment, not a docstring: drf-spectacular
# would print a docstring into every schema that uses the mixin.)
class VisibleInstitutionsOnly(serializers.Serializer):
    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            institution = self.fields["institution"]
            assert isinstance(institution, serializers.SlugRelatedField)
            visible = selectors.institutions_for(authed_user(request))
            # ignore: the stubs type ``queryset`` with Manager, which mypy takes for a descriptor
            institution.queryset = visible  # type: ignore[arg-type]


class CohortSerializer(VisibleInstitutionsOnly, serializers.ModelSerializer):
    institution = serializers.SlugRelatedField(
        slug_field="slug", queryset=Institution.objects.all()
    )
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Cohort
        fields = [
            "id",
            "institution",
            "name",
            "programme",
            "intake_year",
            "starts_on",
            "ends_on",
            "member_count",
        ]
        read_only_fields = ["id", "member_count"]

    def validate(self, attrs):  # type: ignore[no-untyped-def]
        starts, ends = attrs.get("starts_on"), attrs.get("ends_on")
        if starts and ends and ends < starts:
            raise ValidationError({"ends_on": "The end date is before the start date."})
        return attrs


class CohortViewSet(viewsets.ModelViewSet):
    serializer_class = CohortSerializer
    filterset_fields = ["institution__slug", "intake_year"]
    search_fields = ["name", "programme"]
    ordering_fields = ["name", "intake_year"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return (
            selectors.cohorts_for(authed_user(self.request))
            .annotate(member_count=Count("members", distinct=True))
            .order_by("institution__name", "-intake_year", "name")
        )

    def perform_create(self, serializer):  # type: ignore[no-untyped-def]
        serializer.instance = services.cohort_create(
            actor=authed_user(self.request), **serializer.validated_data
        )
        serializer.instance.member_count = 0

    def perform_update(self, serializer):  # type: ignore[no-untyped-def]
        data = dict(serializer.validated_data)
        if "institution" in data and data.pop("institution") != serializer.instance.institution:
            raise ValidationError({"institution": "A cohort cannot move between institutions."})
        services.cohort_update(actor=authed_user(self.request), cohort=serializer.instance, **data)


class MembershipSerializer(serializers.ModelSerializer):
    user = UserSerializer(read_only=True)
    institution: serializers.SlugRelatedField[Institution] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = Membership
        fields = ["id", "user", "institution", "role", "created_at"]
        read_only_fields = fields


class MembershipWriteSerializer(VisibleInstitutionsOnly, serializers.Serializer):
    institution = serializers.SlugRelatedField(
        slug_field="slug", queryset=Institution.objects.none()
    )
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)


INVITED_DETAIL = gettext_lazy(
    "An invitation is on its way to this address. The person becomes a member when they accept it."
)


class InvitedSerializer(serializers.Serializer):
    invited = serializers.EmailField()
    detail = serializers.CharField()


class MembershipViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Memberships.  POST invites a person by e-mail (the membership begins when they accept),
    or changes the role of someone who is already a member."""

    serializer_class = MembershipSerializer
    filterset_fields = ["institution__slug", "role"]
    search_fields = ["user__email", "user__last_name", "user__username"]
    ordering_fields = ["created_at", "user__last_name"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.memberships_for(authed_user(self.request)).order_by(
            "institution__name", "user__username"
        )

    @extend_schema(
        request=MembershipWriteSerializer,
        responses={200: MembershipSerializer, 202: InvitedSerializer},
    )
    def create(self, request: Request) -> Response:
        write = MembershipWriteSerializer(data=request.data, context={"request": request})
        write.is_valid(raise_exception=True)
        actor = authed_user(request)
        institution = write.validated_data["institution"]
        if not selectors.can_manage_institution(actor, institution):
            raise PermissionDenied
        email = User.objects.normalize_email(write.validated_data["email"]).lower()
        role = write.validated_data["role"]
        # Someone the admin already sees as a member: a role change.  Anyone else, with an
        # account or not, gets an invitation, and the answer is the same in both cases (no
        # way to learn which addresses have accounts).
        membership = (
            Membership.objects.select_related("user", "institution")
            .filter(institution=institution, user__email__iexact=email)
            .first()
        )
        if membership is not None:
            membership = services.membership_role_set(actor=actor, membership=membership, role=role)
            return Response(MembershipSerializer(membership).data, status=status.HTTP_200_OK)
        services.membership_invite(actor=actor, institution=institution, email=email, role=role)
        return Response(
            InvitedSerializer({"invited": email, "detail": str(INVITED_DETAIL)}).data,
            status=status.HTTP_202_ACCEPTED,
        )

    def perform_destroy(self, instance):  # type: ignore[no-untyped-def]
        services.membership_remove(actor=authed_user(self.request), membership=instance)
