"""Fixtures for tests/cluster.

Unit tests need nothing. Integration tests (``-m integration``) need the stack from
``ops/cluster/up.sh`` and read ``$ACADEMY_CLUSTER_STATE/academy.env`` (default state dir
/var/lib/academy-cluster); variables already set in the environment win. They FAIL, not skip,
when the stack is missing.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def load_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (no quoting, # comments) -> dict."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value
    return out


@pytest.fixture(scope="session")
def cluster_env() -> dict[str, str]:
    state = Path(os.environ.get("ACADEMY_CLUSTER_STATE", "/var/lib/academy-cluster"))
    env_file = state / "academy.env"
    values: dict[str, str] = {}
    if env_file.exists():
        values.update(load_env_file(env_file))
    values.update({k: v for k, v in os.environ.items() if k.startswith("ACADEMY_")})
    missing = [k for k in ("ACADEMY_HUB_URL", "ACADEMY_HUB_API_TOKEN") if not values.get(k)]
    if missing:
        pytest.fail(
            f"cluster stack not configured: {', '.join(missing)} unset and {env_file} missing; "
            "run ops/cluster/up.sh first"
        )
    return values


@pytest.fixture(scope="session")
def hub(cluster_env):
    from notebooks.clients.hub import HubClient, HubUnavailable

    client = HubClient(cluster_env["ACADEMY_HUB_URL"], cluster_env["ACADEMY_HUB_API_TOKEN"])
    try:
        client.info()
    except HubUnavailable as e:
        pytest.fail(
            f"JupyterHub not answering at {cluster_env['ACADEMY_HUB_URL']}: {e}; "
            "run ops/cluster/up.sh"
        )
    return client


@pytest.fixture(scope="session")
def slurm(cluster_env):
    from notebooks.clients.slurm import SlurmError, SlurmReader

    reader = SlurmReader(cluster_env.get("ACADEMY_SLURM_COMMAND_PREFIX", ""), timeout=20)
    try:
        reader.queue_info("1")
    except SlurmError as e:
        pytest.fail(f"Slurm not answering: {e}; run ops/cluster/up.sh")
    return reader


@pytest.fixture
def student(hub, request):
    """A hub user per test, named after the test (stable, so repeated runs don't pile up Unix
    accounts on the dev box); its servers are stopped before and after the test."""
    import hashlib

    name = "it" + hashlib.sha256(request.node.name.encode()).hexdigest()[:8]

    def stop_all():
        user = hub.get_user(name) or {}
        for server in user.get("servers") or {}:
            with contextlib.suppress(Exception):  # best effort cleanup
                hub.stop_server(name, server, wait=20)

    hub.ensure_user(name)
    stop_all()
    yield name
    stop_all()
