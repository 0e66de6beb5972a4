"""Unit tests of HubClient against a tiny fake hub (http.server in a thread); no JupyterHub."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notebooks.clients.hub import HubClient, HubError, HubUnavailable, ServerState


class FakeHub(BaseHTTPRequestHandler):
    calls: list = []

    def log_message(self, *a):
        pass

    def _send(self, code, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def do_GET(self):
        FakeHub.calls.append(("GET", self.path, self.headers.get("Authorization")))
        if self.path == "/hub/api/users/alice":
            self._send(
                200,
                {
                    "name": "alice",
                    "servers": {
                        "lab1": {
                            "ready": True,
                            "pending": None,
                            "url": "/user/alice/lab1/",
                            "state": {"job_id": "42"},
                            "user_options": {"partition": "gpu"},
                        }
                    },
                },
            )
        elif self.path.startswith("/hub/api/users?state=active&offset="):
            # two active users, one per page, in the hub's pagination format
            offset = int(self.path.split("offset=")[1].split("&")[0])
            users = [
                {"name": "alice", "servers": {"lab-1": {"ready": True, "state": {"job_id": "7"}}}},
                {"name": "bob", "servers": {"lab-2": {"pending": "spawn"}}},
            ]
            page = users[offset : offset + 1]
            more = offset + 1 < len(users)
            self._send(
                200,
                {
                    "items": page,
                    "_pagination": {
                        "offset": offset,
                        "limit": 1,
                        "total": 2,
                        "next": {"offset": offset + 1, "limit": 1} if more else None,
                    },
                },
            )
        elif self.path == "/hub/api/users/ghost":
            self._send(404, {"status": 404, "message": "Not found"})
        elif self.path == "/hub/api/flaky":
            self._send(503, {"message": "busy"})
        elif self.path.startswith("/user/alice/down/"):
            self.send_response(302)
            self.send_header("Location", "/hub/user/alice/down/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(500, {"message": "boom"})

    def do_POST(self):
        FakeHub.calls.append(("POST", self.path, self._body()))
        if self.path == "/hub/api/users/alice":
            self._send(409, {"status": 409, "message": "User alice already exists"})
        elif self.path == "/hub/api/users/alice/servers/bad":
            self._send(400, {"status": 400, "message": "gpus must be 0..0 on partition cpu"})
        elif self.path == "/hub/api/users/alice/servers/lab1":
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(500, {"message": "boom"})


@pytest.fixture(scope="module")
def fake_hub():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_state_and_token(fake_hub):
    hub = HubClient(fake_hub, "s3cret")
    st = hub.server_state("alice", "lab1")
    assert (st.status, st.url, st.job_id, st.ready) == ("ready", "/user/alice/lab1/", "42", True)
    assert FakeHub.calls[-1][2] == "token s3cret"
    assert hub.server_state("alice", "other").status == "stopped"
    assert hub.server_state("ghost", "lab1").status == "stopped"


def test_ensure_user_existing(fake_hub):
    assert HubClient(fake_hub, "t").ensure_user("alice")["name"] == "alice"


def test_start_posts_user_options_and_400_is_huberror(fake_hub):
    hub = HubClient(fake_hub, "t")
    st = hub.start_server("alice", "lab1", {"partition": "gpu", "gpus": 1})
    assert (
        "POST",
        "/hub/api/users/alice/servers/lab1",
        {"user_options": {"partition": "gpu", "gpus": 1}},
    ) in FakeHub.calls
    assert st.status == "ready"
    with pytest.raises(HubError) as exc:
        hub.start_server("alice", "bad", {"partition": "cpu", "gpus": 1})
    assert exc.value.status == 400 and exc.value.message == "gpus must be 0..0 on partition cpu"


def test_5xx_is_unavailable_after_retries(fake_hub):
    hub = HubClient(fake_hub, "t", retries=1)
    n = len(FakeHub.calls)
    with pytest.raises(HubUnavailable):
        hub._api("GET", "/flaky")
    # one retry of a 503 on a GET
    assert [c[1] for c in FakeHub.calls[n:]] == ["/hub/api/flaky", "/hub/api/flaky"]
    n = len(FakeHub.calls)
    with pytest.raises(HubUnavailable):
        hub.start_server("alice", "crash")
    assert len(FakeHub.calls) == n + 1  # a start POST is never retried


def test_server_not_running_redirect(fake_hub):
    with pytest.raises(HubError) as exc:
        HubClient(fake_hub, "t").get_file("alice", "down", "x.ipynb")
    assert exc.value.status == 409


def test_connection_refused_is_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    hub = HubClient(f"http://127.0.0.1:{port}", "t", retries=1, timeout=2)
    with pytest.raises(HubUnavailable):
        hub.ensure_user("alice")
    with pytest.raises(HubUnavailable):
        hub.server_state("alice", "lab1")


def test_bad_paths_rejected(fake_hub):
    hub = HubClient(fake_hub, "t")
    with pytest.raises(ValueError):
        hub.get_file("alice", "lab1", "../../etc/passwd")
    assert (
        hub._contents("alice", "lab1", "labs/a b.ipynb")
        == "/user/alice/lab1/api/contents/labs/a%20b.ipynb"
    )


def test_server_state_from_model():
    assert ServerState.from_model({"pending": "spawn", "ready": False}).status == "pending"
    assert ServerState.from_model({"pending": "stop", "ready": True}).status == "stopping"
    assert ServerState.from_model({"ready": False, "pending": None}).status == "stopped"
    assert ServerState.from_model(None).job_id is None


def test_active_servers_reads_every_page(fake_hub):
    hub = HubClient(fake_hub, "t")
    servers = hub.active_servers(page_size=1)
    assert [(u, n, s.status, s.job_id) for u, n, s in servers] == [
        ("alice", "lab-1", "ready", "7"),
        ("bob", "lab-2", "pending", None),
    ]
