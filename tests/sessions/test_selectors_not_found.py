"""Selectors report "not found, or not yours" as the model's DoesNotExist (or None), never as an
HTTP error; pages still answer 404 (academy.not_found) and so does the API (academy.api_errors)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.test import Client

from courses.models import CourseRun
from notebooks import selectors as lab_selectors
from notebooks.models import Lab
from notebooks.sessions import selectors, services
from notebooks.sessions.models import LabSession

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
HTTP_ERRORS = {"Http404", "get_object_or_404", "get_list_or_404", "PermissionDenied"}


def test_no_selector_module_names_an_http_error():
    """Not even PermissionDenied: a selector answers what exists for the user, a view or the
    API decides the HTTP answer."""
    offenders = []
    for path in sorted(ROOT.glob("*/selectors.py")) + sorted(ROOT.glob("*/*/selectors.py")):
        if ".venv" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
            if isinstance(node, ast.alias):
                name = node.name
            if name in HTTP_ERRORS:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")  # type: ignore[attr-defined]
    assert (ROOT / "notebooks/sessions/selectors.py").exists()
    assert offenders == []


def test_an_outsider_gets_does_not_exist_from_selectors_and_404_from_pages(
    lab_setup, fake_hub, fake_slurm
):
    fake_hub.start_as = "ready"
    session = services.session_open(actor=lab_setup.student, lab=lab_setup.lab)
    outsider = lab_setup.people.student_b
    with pytest.raises(Lab.DoesNotExist):
        lab_selectors.lab_for_author(lab_setup.student, lab_setup.lab.pk)
    with pytest.raises(CourseRun.DoesNotExist):
        lab_selectors.gradebook(outsider, lab_setup.run.pk)
    with pytest.raises(LabSession.DoesNotExist):
        selectors.session_for(outsider, session.pk)
    assert selectors.gpu_burn_down(outsider, lab_setup.run.pk) is None
    assert selectors.session_for(lab_setup.student, session.pk) == session

    client = Client()
    client.force_login(outsider)
    run, lab = lab_setup.run.pk, lab_setup.lab.pk
    for url in [
        f"/labs/{lab}/",
        f"/labs/{lab}/edit/",
        f"/labs/{lab}/grading/",
        f"/runs/{run}/gradebook/",
        f"/runs/{run}/gpu/",
        f"/labs/{lab}/session/",
        "/labs/999999/",
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"DoesNotExist" not in response.content and b"matching query" not in response.content
    assert client.post(f"/sessions/{session.pk}/extend/").status_code == 404
    assert client.get(f"/api/v1/runs/{run}/gradebook/").status_code == 404
