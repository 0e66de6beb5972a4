"""`manage.py seed_demo` with credentials: whoever passed a finished demo run holds a verified
certificate of it, a failed run gives none, and seeding twice issues nothing twice."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from credentials import verification
from credentials.models import Credential

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo", stdout=StringIO())


def test_demo_people_hold_the_certificates_of_what_they_passed(seeded):
    held = set(Credential.objects.values_list("user__username", "run__course__code"))
    assert {("student", "GPU101"), ("student", "EN220"), ("jelena", "TCH310")} <= held
    assert not any(username == "milica" for username, _code in held)  # failed GPU101
    gpu = Credential.objects.get(user__username="student", run__course__code="GPU101")
    achievement = gpu.document["credentialSubject"]["achievement"]
    assert achievement["creditsAvailable"] == 3
    assert verification.verify(gpu.document).verified


def test_seeding_twice_issues_nothing_twice(seeded):
    count = Credential.objects.count()
    call_command("seed_demo", stdout=StringIO())
    assert Credential.objects.count() == count > 0
