"""Benchmark (prints, never fails on time): one PDF certificate rendered by WeasyPrint, cold
(the first render in the process: fonts and Pango set up) and warm (median of 10 renders, no
cache), and a cached certificate served through the view.  Target: one PDF under 1 s.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/academy DEBUG=1 \\
      .venv/bin/python -m pytest tests/bench/test_credentials_pdf_bench.py -m bench -s
"""

from __future__ import annotations

import importlib
import statistics
import sys
import time
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from credentials import services, signing
from tests.factories import CourseFactory, UserFactory
from tests.programmes.conftest import passed

WARM = 10


@pytest.mark.bench
@pytest.mark.django_db
def test_one_pdf_certificate(settings, tmp_path):
    settings.NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"
    settings.CREDENTIAL_KEY = f"key-1:{signing.generate_key()[0]}"
    student = UserFactory(first_name="Ana", last_name="Marković")
    course = CourseFactory(title="GPU programming", ects=Decimal("2.5"), eqf_level=6)
    credential, _ = services.issue_for_run(actor=None, user=student, run=passed(student, course))

    already = "weasyprint" in sys.modules
    t0 = time.perf_counter()
    pdf = importlib.import_module("credentials.pdf")
    imported = time.perf_counter() - t0

    t0 = time.perf_counter()
    first = pdf.render_pdf(credential, "sr")
    cold = time.perf_counter() - t0
    assert first.startswith(b"%PDF-")

    warm = []
    for _ in range(WARM):
        t0 = time.perf_counter()
        pdf.render_pdf(credential, "sr")
        warm.append(time.perf_counter() - t0)

    client = Client()
    url = reverse("credential-pdf", args=[credential.uuid])
    t0 = time.perf_counter()
    assert client.get(url, {"lang": "en"}).status_code == 200  # renders and caches
    first_request = time.perf_counter() - t0
    served = []
    for _ in range(WARM):
        t0 = time.perf_counter()
        response = client.get(url, {"lang": "en"})
        served.append(time.perf_counter() - t0)
        assert response.status_code == 200 and response.content.startswith(b"%PDF-")

    print(
        f"\nPDF certificate (WeasyPrint, A4 landscape, QR + attached credential, "
        f"{len(first) / 1024:.0f} KiB):"
        f"\n  import of WeasyPrint + credentials.pdf {imported * 1000:6.0f} ms"
        f"{' (already imported)' if already else ''}"
        f"\n  cold render (first in the process)      {cold * 1000:6.0f} ms"
        f"\n  warm render, median of {WARM}              {statistics.median(warm) * 1000:6.0f} ms "
        f"(max {max(warm) * 1000:.0f} ms)"
        f"\n  first request (render + cache)          {first_request * 1000:6.0f} ms"
        f"\n  cached request, median of {WARM}           {statistics.median(served) * 1000:6.1f} ms"
        f"\n  target: one PDF under 1000 ms"
    )
