from __future__ import annotations

import pytest

from notebooks.sessions import clients

from .fakes import FakeHub, FakeSlurm


@pytest.fixture
def fake_hub():  # type: ignore[no-untyped-def]
    hub = FakeHub()
    clients.override("hub", hub)
    yield hub
    clients.override("hub", None)


@pytest.fixture
def fake_slurm():  # type: ignore[no-untyped-def]
    slurm = FakeSlurm()
    clients.override("slurm", slurm)
    yield slurm
    clients.override("slurm", None)
