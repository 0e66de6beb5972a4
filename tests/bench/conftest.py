"""Benchmarks run only when asked for by name (`-m bench`, as `make bench` does).

The project's default marker expression already leaves them out; this also keeps them out of a
run that replaces it with another expression (`-m "not integration"` would otherwise select a
benchmark of several minutes).  They are deselected, never skipped."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "bench" in (config.getoption("-m") or "").replace("not bench", ""):
        return
    benchmarks = [item for item in items if item.get_closest_marker("bench")]
    if benchmarks:
        config.hook.pytest_deselected(items=benchmarks)
        items[:] = [item for item in items if not item.get_closest_marker("bench")]
