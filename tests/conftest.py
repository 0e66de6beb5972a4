"""Suite-wide fixtures: fast password hashing, people of every role, the browser set-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from academy.models import Invitation, Membership, Role
from credentials import signing

from .factories import CohortFactory, InstitutionFactory, OperatorFactory, UserFactory, member

# The real-stack fixtures (a released lab on the test cluster, sessions stopped after each test).
pytest_plugins = ["tests.lab_fixtures"]

# Playwright's sync API runs an event loop in the test thread; live_server tests use the ORM too.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
]
ARTIFACTS = Path(
    os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts")
)


@pytest.fixture(scope="session")
def issuer_secret() -> str:
    return signing.generate_key()[0]


@pytest.fixture(autouse=True)
def _issuer_key(settings, issuer_secret):  # type: ignore[no-untyped-def]
    """Every test signs with one known key (no key file in VAR_DIR); the site is the test
    host's, as the live server's pages would link it."""
    settings.CREDENTIAL_KEY = f"key-1:{issuer_secret}"
    settings.CREDENTIAL_RETIRED_KEYS = []
    settings.CREDENTIAL_VALID_YEARS = 0


@pytest.fixture(autouse=True)
def _fast_passwords(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _default_language_after_each_test():  # type: ignore[no-untyped-def]
    """A request in another language leaves it active in the test's thread (LocaleMiddleware
    does not switch back): later tests would read Serbian messages.  Start each one in English."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():  # type: ignore[no-untyped-def]
    """API throttling counts in the cache (one per process here): each test starts at zero, so
    the suite's own API calls never add up to a 429 (tests of throttling set low rates)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):  # type: ignore[no-untyped-def]
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def people(db):  # type: ignore[no-untyped-def]
    """One person per role, across two institutions A and B; plus a person in both and a
    person invited to A who has not accepted."""
    inst_a = InstitutionFactory(name="University A", slug="uni-a")
    inst_b = InstitutionFactory(name="University B", slug="uni-b")
    cohort_a = CohortFactory(institution=inst_a, name="A 2026")
    cohort_b = CohortFactory(institution=inst_b, name="B 2026")
    student = member(inst_a, Role.STUDENT, username="student")
    cohort_a.members.add(student)
    student_b = member(inst_b, Role.STUDENT, username="studentb")
    cohort_b.members.add(student_b)

    class People:
        pass

    p = People()
    p.inst_a, p.inst_b, p.cohort_a, p.cohort_b = inst_a, inst_b, cohort_a, cohort_b
    p.student = student
    p.student_b = student_b
    p.instructor = member(inst_a, Role.INSTRUCTOR, username="instructor")
    p.admin_a = member(inst_a, Role.ADMIN, username="admina")
    p.admin_b = member(inst_b, Role.ADMIN, username="adminb")
    p.operator = OperatorFactory(username="operator")
    p.outsider = UserFactory(username="outsider")
    # A person who accepted both institutions' invitations: a student of A and of B.
    p.dual = member(inst_a, Role.STUDENT, username="dual")
    Membership.objects.create(user=p.dual, institution=inst_b, role=Role.STUDENT)
    cohort_a.members.add(p.dual)
    cohort_b.members.add(p.dual)
    # An account invited to A that has not answered yet: no membership, so A's admins have no
    # rights over them.
    p.invitee = UserFactory(username="invitee")
    p.invitation = Invitation.objects.create(
        email=p.invitee.email, institution=inst_a, role=Role.STUDENT, invited_by=p.admin_a
    )
    return p
