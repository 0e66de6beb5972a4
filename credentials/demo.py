"""Demo credentials: the demo courses are credit-rated, and everyone who passed a finished run
or completed a programme holds its certificate (as the system issues them after a run ends)."""

from __future__ import annotations

from decimal import Decimal

from academy.models import User
from courses.models import Course

from . import services

# code: (ECTS credits, EQF level)
RATINGS = {
    "GPU101": (Decimal(3), 6),
    "LLM201": (Decimal(4), 6),
    "MED210": (Decimal(3), 6),
    "EN220": (Decimal(3), 6),
    "CAP300": (Decimal(6), 7),
    "TCH310": (Decimal(2), 7),
    "TCH320": (Decimal(2), 7),
}


def seed(users: dict[str, User]) -> None:
    for code, (ects, eqf) in RATINGS.items():
        Course.objects.filter(code=code, ects__isnull=True).update(ects=ects, eqf_level=eqf)
    services.issue_due([user.pk for user in users.values()])
