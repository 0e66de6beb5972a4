"""Keys and an unsigned credential shared by the signing and interop tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from academy.celery import app
from credentials import signing

ISSUER = "did:web:academy.example"
KEY_1 = f"{ISSUER}#key-1"
KEY_2 = f"{ISSUER}#key-2"
CREATED = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def old_key() -> tuple[str, str]:
    return signing.generate_key()


@pytest.fixture(scope="session")
def new_key() -> tuple[str, str]:
    return signing.generate_key()


@pytest.fixture
def credential() -> dict:
    return signing.build_credential(
        credential_id="urn:uuid:5f0c2a8e-6d0e-4c52-9a3e-2f1d8a7b9c10",
        issuer_id=ISSUER,
        issuer_name="Academy",
        issuer_url="https://academy.example/",
        achievement_id="https://academy.example/programmes/ml-foundations",
        name="Machine learning foundations",
        description="Supervised learning, evaluation and data preparation.",
        criteria="Passed every graded notebook of the programme.",
        recipient_email="Ana.Student@example.org",
        salt="c2FsdA",
        valid_from=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        valid_until=datetime(2031, 12, 1, tzinfo=UTC),
        credits=7.5,
        eqf_level=6,
        esco_skills=[
            (
                "http://data.europa.eu/esco/skill/e465a154-93f7-4973-9ce1-31659fe16dd2",
                "machine learning",
            )
        ],
        evidence="12 graded notebooks passed, final project 91/100.",
    )


# --- the Django side: a configured issuer, eager tasks, people with results -------------------


@pytest.fixture
def eager():  # type: ignore[no-untyped-def]
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
