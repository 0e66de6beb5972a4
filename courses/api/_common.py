"""Helpers shared by the modules of this package."""

from __future__ import annotations

from django.urls import URLPattern

extra_urls: list[URLPattern] = []
