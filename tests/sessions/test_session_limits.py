"""Submitting from a session pulls the notebook through the lab server's contents API, and its
size is the student's to choose (issue 9, item 8): it is never read whole past the limit."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notebooks.clients.hub import HubClient
from notebooks.models import Submission
from notebooks.sessions import clients, services

MB = 1024 * 1024
SIZE = 200 * MB


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        return int(re.search(rf"{key}:\s+(\d+) kB", fh.read()).group(1)) * 1024  # type: ignore[union-attr]


class HugeNotebook(BaseHTTPRequestHandler):
    """A lab server's contents API answering with a 200 MB notebook model, sent in 1 MB pieces."""

    def do_GET(self):  # type: ignore[no-untyped-def]  # noqa: N802
        head = b'{"type": "notebook", "content": {"cells": [], "nbformat": 4, "pad": "'
        tail = b'"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(head) + SIZE + len(tail)))
        self.end_headers()
        try:
            self.wfile.write(head)
            chunk = b"a" * MB
            for _ in range(SIZE // MB):
                self.wfile.write(chunk)
            self.wfile.write(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading

    def log_message(self, *args):  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def huge_contents_server():  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), HugeNotebook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_huge_notebook_in_the_session_is_refused_unread(
    lab_setup, fake_hub, fake_slurm, huge_contents_server
):
    fake_hub.start_as = "ready"
    session = services.session_open(actor=lab_setup.student, lab=lab_setup.lab)
    session = services.session_start(session_id=session.pk)
    # From here on the real hub client talks HTTP to the (hostile) lab server.
    clients.override("hub", HubClient(huge_contents_server, "token"))
    before = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to now
        fh.write("5")
    with pytest.raises(Exception) as refused:  # noqa: PT011  (which one is asserted below)
        services.session_submit(actor=lab_setup.student, session=session)
    growth = _status("VmHWM") - before
    print(f"submit from session: peak RSS growth {growth / MB:.1f} MB")
    assert growth < 50 * MB, f"grew by {growth / MB:.0f} MB"
    assert isinstance(refused.value, services.SessionRefused)
    assert "MB" in str(refused.value)
    assert not Submission.objects.exists()
