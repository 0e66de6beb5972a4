"""Abuse has limits, labs side (issue 9, item 8): a huge upload is refused before it is read
whole (measured on a real server), a deeply nested notebook is a 400, submissions are limited
per student and lab without losing any, and the gradebook CSV carries no formulas."""

from __future__ import annotations

import csv
import http.client
import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F
from rest_framework.authtoken.models import Token

from courses.models import Enrolment
from notebooks.models import Submission
from tests.factories import CohortFactory, UserFactory

from .factories import fixture

MB = 1024 * 1024


def _status(key: str) -> int:
    """A line of /proc/self/status in bytes (VmRSS: resident now, VmHWM: its peak)."""
    with open("/proc/self/status") as fh:
        return int(re.search(rf"{key}:\s+(\d+) kB", fh.read()).group(1)) * 1024  # type: ignore[union-attr]


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:  # "5" resets VmHWM to the current RSS (Linux)
        fh.write("5")


def post_streamed(url: str, *, path: str, size: int, fields: dict, headers: dict):  # type: ignore[no-untyped-def]
    """POST a multipart form with a ``size``-byte notebook, generated and sent in 1 MB pieces:
    the client side never holds the body, so the process's peak memory is the server's."""
    boundary = "academy-test-boundary-7f3a"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.ipynb"\r\n'
        "Content-Type: application/x-ipynb+json\r\n\r\n"
    )
    tail = f"\r\n--{boundary}--\r\n".encode()
    prefix = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "pad": "'
    suffix = b'"}'
    pad = size - len(prefix) - len(suffix)
    length = len(head.encode()) + size + len(tail)
    target = urlsplit(url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    for key, value in headers.items():
        conn.putheader(key, value)
    conn.endheaders()
    chunk = b"a" * MB
    try:
        conn.send(head.encode() + prefix)
        left = pad
        while left > 0:
            conn.send(chunk if left >= MB else chunk[:left])
            left -= MB
        conn.send(suffix + tail)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered early; its answer is still there to read
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


@pytest.mark.django_db(transaction=True)
def test_a_200_mb_notebook_is_refused_without_the_server_growing_50_mb(
    live_server, client, lab, course
):
    student = course.people.student
    token = Token.objects.create(user=student)
    client.force_login(student)
    session = client.cookies["sessionid"].value
    csrf = "c" * 32
    attempts = [
        # The API, with a token.
        ("/api/v1/submissions/", {"lab": lab.pk}, {"Authorization": f"Token {token.key}"}),
        # The lab page's form, with the student's session and a CSRF token.
        (
            f"/labs/{lab.pk}/submit/",
            {"csrfmiddlewaretoken": csrf},
            {"Cookie": f"sessionid={session}; csrftoken={csrf}", "X-CSRFToken": csrf},
        ),
    ]
    for path, fields, headers in attempts:
        before = _status("VmRSS")
        _reset_peak()
        status, response_headers, body = post_streamed(
            live_server.url, path=path, size=200 * MB, fields=fields, headers=headers
        )
        growth = _status("VmHWM") - before
        print(f"{path}: HTTP {status}, peak RSS growth {growth / MB:.1f} MB")
        assert growth < 50 * MB, f"{path}: the server grew by {growth / MB:.0f} MB"
        assert status == 413, body[:300]
        assert b"MB" in body  # says what the limit is
    assert not Submission.objects.exists()


def test_an_oversized_notebook_under_the_request_limit_is_refused_by_its_own_limit(
    client, lab, course, settings
):
    settings.NOTEBOOK_MAX_BYTES = 1000
    client.force_login(course.people.student)
    big = SimpleUploadedFile("nb.ipynb", fixture("submitted-changed.ipynb") + b" " * 2000)
    response = client.post(f"/labs/{lab.pk}/submit/", {"file": big})
    assert response.status_code == 400
    assert "larger than" in response.content.decode()
    assert not Submission.objects.exists()


# --------------------------------------------------------------------------- nesting


NESTED_NOTEBOOK = (
    b'{"cells": [], "metadata": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b'}, "nbformat": 4}'
)


@pytest.mark.django_db
def test_a_deeply_nested_notebook_is_a_400_with_a_clear_message(client, lab, course):
    client.raise_request_exception = False
    token = Token.objects.create(user=course.people.student)
    response = client.post(
        "/api/v1/submissions/",
        {"lab": lab.pk, "file": SimpleUploadedFile("nb.ipynb", NESTED_NOTEBOOK)},
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 400, response.content[:300]
    assert "nested" in " ".join(response.json()["file"])
    client.force_login(course.people.instructor)
    response = client.post(
        f"/labs/{lab.pk}/versions/", {"file": SimpleUploadedFile("nb.ipynb", NESTED_NOTEBOOK)}
    )
    assert response.status_code == 400
    assert "nested" in response.content.decode()


# --------------------------------------------------------------------------- rate


def test_submissions_are_limited_per_student_and_lab_and_none_is_lost(
    client, lab, course, settings
):
    settings.SUBMISSION_RATE_LIMIT = 3
    settings.SUBMISSION_RATE_WINDOW = 600
    student = course.people.student
    token = Token.objects.create(user=student)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}

    def submit_api(**extra):  # type: ignore[no-untyped-def]
        notebook = SimpleUploadedFile("nb.ipynb", fixture("submitted-changed.ipynb"))
        return client.post("/api/v1/submissions/", {"lab": lab.pk, "file": notebook}, **extra)

    assert [submit_api(**auth).status_code for _ in range(3)] == [201, 201, 201]
    refused = submit_api(**auth)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 600
    assert "submissions" in refused.json()["detail"]
    # The page says the same, politely, and keeps the earlier ones.
    client.force_login(student)
    page = client.post(
        f"/labs/{lab.pk}/submit/",
        {"file": SimpleUploadedFile("nb.ipynb", fixture("submitted-changed.ipynb"))},
    )
    assert page.status_code == 429
    assert "Retry-After" in page
    assert "submissions" in page.content.decode()
    assert list(
        Submission.objects.filter(student=student)
        .order_by("attempt")
        .values_list("attempt", flat=True)
    ) == [1, 2, 3]
    client.logout()
    # Another student of the same lab is not held back.
    other = Token.objects.create(user=course.people.student_b)
    assert submit_api(HTTP_AUTHORIZATION=f"Token {other.key}").status_code == 201
    # Once the window has passed, the student may submit again.
    Submission.objects.filter(student=student).update(
        submitted_at=F("submitted_at") - timedelta(minutes=11)
    )
    again = submit_api(**auth)
    assert again.status_code == 201, again.content


# --------------------------------------------------------------------------- CSV


def test_the_gradebook_csv_neutralises_formulas(client, lab, course):
    cohort = CohortFactory(institution=course.people.inst_a, name="-2+3+cmd|' /C calc'!A0")
    evil = UserFactory(first_name='=HYPERLINK("http://evil")', last_name="x")
    Enrolment.objects.create(run=course.run, user=evil, state="active", cohort=cohort)
    client.force_login(course.people.instructor)
    response = client.get(f"/runs/{course.run.pk}/gradebook.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    row = next(r for r in rows if r[0] == evil.username)
    assert row[1].startswith("'=HYPERLINK")
    assert row[2] == "'-2+3+cmd|' /C calc'!A0"
    for r in rows:
        for cell in r:
            assert not cell or cell[0] not in "=+-@\t\r", r
