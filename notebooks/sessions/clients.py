"""The one place that builds the external clients from settings (tests swap them here)."""

from __future__ import annotations

from django.conf import settings

from notebooks.clients.hub import HubClient
from notebooks.clients.slurm import SlurmReader

_overrides: dict[str, object] = {}


def hub() -> HubClient:
    if "hub" in _overrides:
        return _overrides["hub"]  # type: ignore[return-value]
    return HubClient(settings.HUB_URL, settings.HUB_API_TOKEN, timeout=settings.HUB_TIMEOUT)


def slurm() -> SlurmReader:
    if "slurm" in _overrides:
        return _overrides["slurm"]  # type: ignore[return-value]
    return SlurmReader(settings.SLURM_COMMAND_PREFIX)


def override(name: str, client: object | None) -> None:
    """Install (or remove, with None) a fake client: unit tests only."""
    if client is None:
        _overrides.pop(name, None)
    else:
        _overrides[name] = client
