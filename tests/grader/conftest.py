from __future__ import annotations

from pathlib import Path

import pytest

from notebooks.grader import KernelPool, Limits

FIXTURES = Path(__file__).parent / "fixtures"


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


# Short limits keep the suite fast on two cores.
FAST = Limits(
    cell_timeout=5,
    notebook_timeout=30,
    interrupt_grace=2,
    memory_bytes=768 * 1024**2,
    startup_timeout=60,
)


@pytest.fixture(scope="session")
def pool():
    with KernelPool(size=2, limits=FAST) as p:
        yield p
