"""Helpers shared by the modules of this package."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from academy.api_errors import translates

from .. import services
from ..forms import notebook_too_big


@translates(services.NotebookRejected)
def _rejected(exc: services.NotebookRejected) -> ValidationError:
    """The upload's field errors, and each cell's error for clients that point at the cell."""
    detail: dict[str, Any] = {
        "file": [str(e) for e in exc.cell_errors],
        "cells": [
            {"cell_index": e.cell_index, "grade_id": e.grade_id, "message": e.message}
            for e in exc.cell_errors
        ],
    }
    error = ValidationError(detail)
    # DRF turns every leaf into a string; keep cell_index a number (or null) for API clients.
    error.detail = detail  # type: ignore[assignment]
    return error


class ReleaseSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1)
    # Needed when the version's test did not pass (kept in the audit log).
    override_reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class FileUploadSerializer(serializers.Serializer):
    file = serializers.FileField()

    def validate_file(self, value: Any) -> Any:
        if not value.name.lower().endswith(".ipynb"):
            raise serializers.ValidationError("Upload a Jupyter notebook (.ipynb).")
        # Checked on the spooled file's size, before anything reads it whole.
        too_big = notebook_too_big(value)
        if too_big:
            raise serializers.ValidationError(too_big)
        return value
