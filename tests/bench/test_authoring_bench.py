"""Benchmark (prints, never fails on time): lab authoring.

- "Test this version" on a small lab (an answer, a test with hidden tests): the two gradings in
  the CPU sandbox (the source's solution, the student version), as the check task runs them,
  kernels started on demand (no pool: the web tier's eager path; a worker with a pool is faster);
- the version diff of a 300-cell notebook against itself with every tenth cell changed.

Run: DEBUG=1 .venv/bin/python -m pytest tests/bench/test_authoring_bench.py -m bench -s
(figures: docs/benchmarks.md, "Lab authoring")
"""

from __future__ import annotations

import statistics
import time

import nbformat
import pytest

from courses.models import CourseStaff, StaffRole
from notebooks import services
from notebooks.grader.diff import diff
from notebooks.models import VersionCheckStatus
from tests.factories import CourseRunFactory, UserFactory
from tests.notebooks.factories import LabFactory, small_lab

pytestmark = [pytest.mark.bench, pytest.mark.django_db]


def test_bench_test_this_version(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"
    instructor = UserFactory(username="benchauthor")
    run = CourseRunFactory()
    CourseStaff.objects.create(run=run, user=instructor, role=StaffRole.INSTRUCTOR)
    lab = LabFactory(run=run)
    version = services.lab_version_upload(actor=instructor, lab=lab, content=small_lab())
    times = []
    for _ in range(3):
        check = services.version_check_request(actor=instructor, version=version)
        t0 = time.perf_counter()
        check = services.version_check_execute(check_id=check.pk)
        times.append(time.perf_counter() - t0)
        assert check is not None and check.status == VersionCheckStatus.DONE and check.passed
    print(
        f"\n[authoring] test this version (2 gradings, small lab): "
        f"median {statistics.median(times):.2f} s, runs {[round(t, 2) for t in times]}"
    )


def test_bench_version_diff():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"x{i} = {i}\nprint(x{i})") for i in range(300)]
    old = nbformat.writes(nb).encode()
    for i in range(0, 300, 10):
        nb.cells[i].source += "\n# changed"
    new = nbformat.writes(nb).encode()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        d = diff(old, new)
        times.append(time.perf_counter() - t0)
    assert d.changed == 30 and d.unchanged == 270
    median_ms = statistics.median(times) * 1000
    print(f"\n[authoring] diff of 300 cells (30 changed): median {median_ms:.1f} ms")
