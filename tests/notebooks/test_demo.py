from __future__ import annotations

import pytest

from notebooks import demo
from notebooks.models import Lab, LabVersion


@pytest.mark.django_db
def test_the_demo_seed_is_idempotent(people):  # type: ignore[no-untyped-def]
    users = {"instructor": people.instructor, "student": people.student}
    demo.seed(users)
    demo.seed(users)
    lab = Lab.objects.get()
    assert lab.released_version is not None and LabVersion.objects.count() == 1
