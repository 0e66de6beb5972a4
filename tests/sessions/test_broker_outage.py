"""Opening a lab session while the broker is down (a real outage: a closed port)."""

from __future__ import annotations

import pytest

from notebooks.sessions import services
from notebooks.sessions.models import LabSession, SessionState
from tests.worker import broker_unreachable

pytestmark = pytest.mark.django_db


def test_a_start_the_broker_cannot_take_fails_the_session_at_once_saying_why(
    client, lab_setup, fake_hub, django_capture_on_commit_callbacks
):
    with broker_unreachable(), django_capture_on_commit_callbacks(execute=True):
        session = services.session_open(actor=lab_setup.student, lab=lab_setup.lab)
    session = LabSession.objects.get(pk=session.pk)
    assert session.state == SessionState.FAILED
    assert session.failure_reason == services.UNAVAILABLE
    assert (session.ended_reason, session.ended_at is not None) == ("failed", True)
    assert fake_hub.starts == []  # nothing reached the hub
    client.force_login(lab_setup.student)
    response = client.get(f"/labs/{lab_setup.lab.pk}/session/")
    assert b"The lab service is unavailable" in response.content
