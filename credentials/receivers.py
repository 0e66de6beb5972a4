"""Certificates follow results: a programme completion, or a passed run, is issued its
credential by the system, after the commit, in the background (``tasks.issue_due``)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from programmes.models import Completion
from programmes.signals import programme_completed

from . import services


@receiver(programme_completed, dispatch_uid="credentials-programme-completed")
def completed(sender: object, *, completions: list[Completion], **kwargs: Any) -> None:
    services.issue_after_commit(c.allocation.user_id for c in completions)
