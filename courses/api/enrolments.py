"""REST API of the course side: enrolments."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from academy.typing import authed_user

from .. import selectors, services
from .runs import EnrolmentSerializer, ReasonSerializer


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
