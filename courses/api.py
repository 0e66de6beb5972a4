"""REST API of this app: ``register(router)`` adds its viewsets under /api/v1/."""

from __future__ import annotations

from django.urls import URLPattern
from rest_framework.routers import BaseRouter

extra_urls: list[URLPattern] = []


def register(router: BaseRouter) -> None:
    pass
