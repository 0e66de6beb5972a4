"""Notebooks served to browsers (released lab, source and student versions, submissions) are inert
downloads: one helper gives them their headers (issue 9, item 3)."""

from __future__ import annotations

import pytest

from notebooks import services

from .factories import fixture

pytestmark = pytest.mark.django_db


def assert_inert_download(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    b"".join(response.streaming_content)
    assert response["Content-Type"] in {"application/x-ipynb+json", "application/octet-stream"}
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Disposition"].rstrip('"').endswith(".ipynb")
    assert response["X-Content-Type-Options"] == "nosniff"
    policy = [d.strip() for d in response["Content-Security-Policy"].split(";")]
    assert "sandbox" in policy


def test_lab_notebooks_and_submissions_are_inert_downloads(client, lab, course):
    sub = services.submission_create(
        actor=course.people.student, lab=lab, content=fixture("submitted-changed.ipynb")
    )
    client.force_login(course.people.student)
    assert_inert_download(client.get(f"/labs/{lab.pk}/download/"))
    assert_inert_download(client.get(f"/submissions/{sub.pk}/download/"))
    client.force_login(course.people.instructor)
    for kind in ("source", "student"):
        assert_inert_download(client.get(f"/labs/{lab.pk}/versions/1/{kind}.ipynb"))
    assert_inert_download(client.get(f"/submissions/{sub.pk}/download/"))
