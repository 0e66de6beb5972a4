"""Demo data of this app; called by `manage.py seed_demo` with the demo users. Idempotent."""

from __future__ import annotations

from academy.models import User


def seed(users: dict[str, User]) -> None:
    pass
