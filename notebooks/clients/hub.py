"""Small JupyterHub REST client for the platform. No Django import.

Usage::

    hub = HubClient("http://127.0.0.1:8000", token)
    hub.ensure_user("alice")
    opts = {"partition": "gpu", "gpus": 1, "runtime": "01:00:00"}
    state = hub.start_server("alice", "lab-12", opts)
    state.status          # "ready" | "pending" | "stopping" | "stopped"
    state.job_id          # Slurm job id (state.job_id of the hub's spawner state), or None
    hub.add_file("alice", "lab-12", "lab.ipynb", notebook_dict)
    nb = hub.get_file("alice", "lab-12", "lab.ipynb")
    hub.stop_server("alice", "lab-12")

Errors: :class:`HubUnavailable` when the hub can't be reached, times out or answers 5xx (show
"lab service unavailable"); :class:`HubError` (with the hub's ``message``) for 4xx answers, e.g. a
400 for options that fail validation.

The token is the "academy" service token, holding exactly the scopes of the calls below (see the
role ``academy-platform`` in notebooks/hub/jupyterhub_config.py): ``admin:users`` (ensure_user),
``list:users`` (active_servers), ``read:servers`` + ``admin:server_state`` (get_user,
server_state, progress: the Slurm job id is in the server state), ``start:servers``
(start_server), ``delete:servers`` (stop_server), ``access:servers`` (add_file, get_file).
``info()`` needs none.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

__all__ = ["HubClient", "HubError", "HubUnavailable", "ServerState"]


class HubError(Exception):
    """The hub (or the user's server) answered 4xx. ``message`` is the hub's explanation."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class HubUnavailable(Exception):
    """The hub can't be reached, timed out, or answered 5xx."""


@dataclass(frozen=True)
class ServerState:
    """One named server as the platform needs it."""

    status: str  # "ready" | "pending" | "stopping" | "stopped"
    url: str | None = None  # path on the hub, e.g. "/user/alice/lab1/"
    progress_url: str | None = None
    job_id: str | None = None  # Slurm job id (SlurmSpawner only)
    started: str | None = None
    last_activity: str | None = None
    user_options: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def stopped(self) -> bool:
        return self.status == "stopped"

    @classmethod
    def from_model(cls, model: Mapping[str, Any] | None) -> ServerState:
        """Build from one entry of ``GET /hub/api/users/<u>``'s ``servers`` (None = not there)."""
        if not model:
            return cls(status="stopped")
        pending = model.get("pending")
        if pending == "stop":
            status = "stopping"
        elif pending:
            status = "pending"
        elif model.get("ready"):
            status = "ready"
        else:
            status = "stopped"
        job_id = (model.get("state") or {}).get("job_id") or None
        return cls(
            status=status,
            url=model.get("url"),
            progress_url=model.get("progress_url"),
            job_id=str(job_id) if job_id else None,
            started=model.get("started"),
            last_activity=model.get("last_activity"),
            user_options=dict(model.get("user_options") or {}),
            raw=dict(model),
        )


def _q(part: str) -> str:
    return quote(part, safe="")


class HubClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        start_timeout: float = 40.0,
        retries: int = 2,
        session: requests.Session | None = None,
    ):
        """``base_url``: the hub's public URL (proxy), e.g. ``http://127.0.0.1:8000``.

        ``timeout``: read timeout of ordinary calls; ``start_timeout``: of the start POST, which the
        hub holds open up to ~10 s while the spawn runs (then answers 202).
        ``retries``: retries of connection errors / 502-504 for idempotent requests (GET, PUT,
        DELETE); a POST is retried only when the connection could not be made.
        """
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"token {token}"
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.3,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}),
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    # ---- low level ------------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, timeout: float | None = None, **kw
    ) -> requests.Response:
        url = self.base_url + path
        try:
            r = self.session.request(
                method, url, timeout=(5.0, timeout or self.timeout), allow_redirects=False, **kw
            )
        except requests.RequestException as e:
            raise HubUnavailable(f"{method} {path}: {e.__class__.__name__}: {e}") from e
        if r.status_code >= 500:
            raise HubUnavailable(f"{method} {path}: HTTP {r.status_code}: {_message(r)}")
        return r

    def _api(self, method: str, path: str, *, ok=(200,), **kw) -> requests.Response:
        r = self._request(method, "/hub/api" + path, **kw)
        if r.status_code not in ok:
            raise HubError(r.status_code, _message(r))
        return r

    # ---- hub ------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """``GET /hub/api/`` (version); a cheap liveness check."""
        return self._api("GET", "/").json()

    def get_user(self, name: str) -> dict[str, Any] | None:
        r = self._api("GET", f"/users/{_q(name)}", ok=(200, 404))
        return None if r.status_code == 404 else r.json()

    def ensure_user(self, name: str) -> dict[str, Any]:
        """Create the hub user if missing; returns the user model."""
        r = self._api("POST", f"/users/{_q(name)}", ok=(201, 409))
        if r.status_code == 201:
            return r.json()
        user = self.get_user(name)
        if user is None:  # deleted in between
            raise HubError(404, f"user {name} vanished")
        return user

    def active_servers(self, page_size: int = 200) -> list[tuple[str, str, ServerState]]:
        """Every server the hub runs or is starting/stopping, as (user, server name, state).

        ``GET /users?state=active``, page by page (the hub caps a page at 200 users)."""
        out: list[tuple[str, str, ServerState]] = []
        offset = 0
        while True:
            r = self._api(
                "GET",
                f"/users?state=active&offset={offset}&limit={page_size}",
                headers={"Accept": "application/jupyterhub-pagination+json"},
            )
            data = r.json()
            items = data.get("items", []) if isinstance(data, dict) else data
            for user in items:
                for name, model in (user.get("servers") or {}).items():
                    out.append((user["name"], name, ServerState.from_model(model)))
            nxt = (data.get("_pagination") or {}).get("next") if isinstance(data, dict) else None
            if not nxt or not items:
                return out
            offset = int(nxt.get("offset", offset + len(items)))

    def server_state(self, user: str, server_name: str) -> ServerState:
        model = self.get_user(user)
        if model is None:
            return ServerState(status="stopped")
        return ServerState.from_model((model.get("servers") or {}).get(server_name))

    def start_server(
        self, user: str, server_name: str, options: Mapping[str, Any] | None = None
    ) -> ServerState:
        """Start a named server with ``options`` (partition, gpus, cpus, memory, runtime).

        Returns the state right after the hub answered (ready, or pending while Slurm queues the
        job / JupyterLab starts). Starting a server that is already running or pending is not an
        error: its current state is returned. Invalid options -> HubError(400, message).
        """
        body = {"user_options": dict(options or {})}
        r = self._api(
            "POST",
            f"/users/{_q(user)}/servers/{_q(server_name)}",
            ok=(201, 202, 400),
            json=body,
            timeout=self.start_timeout,
        )
        if r.status_code == 400:
            msg = _message(r)
            if "is already running" not in msg and "is pending spawn" not in msg:
                raise HubError(400, msg)
        return self.server_state(user, server_name)

    def stop_server(
        self, user: str, server_name: str, *, remove: bool = False, wait: float = 0
    ) -> ServerState:
        """Stop (cancel the Slurm job of) a named server. Not running -> no error.

        ``remove``: also forget the named server in the hub. ``wait``: poll up to that many
        seconds until it is stopped.
        """
        kw: dict[str, Any] = {"json": {"remove": True}} if remove else {}
        r = self._api(
            "DELETE",
            f"/users/{_q(user)}/servers/{_q(server_name)}",
            ok=(202, 204, 400, 404),
            timeout=self.start_timeout,
            **kw,
        )
        if r.status_code in (400, 404):
            msg = _message(r)
            if r.status_code == 400 and "not running" not in msg and "pending" not in msg:
                raise HubError(400, msg)
        state = self.server_state(user, server_name)
        deadline = time.monotonic() + wait
        while state.status != "stopped" and time.monotonic() < deadline:
            time.sleep(0.5)
            state = self.server_state(user, server_name)
        return state

    def wait_ready(
        self, user: str, server_name: str, timeout: float = 120, interval: float = 1.0
    ) -> ServerState:
        """Poll until the server is ready or stopped (failed), or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.server_state(user, server_name)
            if state.status in ("ready", "stopped") or time.monotonic() >= deadline:
                return state
            time.sleep(interval)

    def progress(self, user: str, server_name: str, wait: float = 2.0) -> list[dict[str, Any]]:
        """Spawn progress events read for at most ``wait`` seconds (from the hub's event stream).

        Each event: ``{"progress": 0-100, "message": str, "ready"?: bool, "failed"?: bool}``.
        Returns [] when the server is not starting.
        """
        path = f"/hub/api/users/{_q(user)}/servers/{_q(server_name)}/progress"
        events: list[dict[str, Any]] = []
        try:
            with self.session.get(
                self.base_url + path, stream=True, timeout=(5.0, wait), allow_redirects=False
            ) as r:
                if r.status_code >= 500:
                    raise HubUnavailable(f"GET {path}: HTTP {r.status_code}")
                if r.status_code != 200:
                    return []
                deadline = time.monotonic() + wait
                # str, not bytes: requests gives every text/* response (an event stream) a charset
                lines = cast("Iterator[str]", r.iter_lines(decode_unicode=True))
                for line in lines:
                    if line and line.startswith("data:"):
                        with contextlib.suppress(ValueError):
                            events.append(json.loads(line[5:].strip()))
                        if events[-1:] and (events[-1].get("ready") or events[-1].get("failed")):
                            break
                    if time.monotonic() >= deadline:
                        break
        except requests.ConnectionError as e:
            if events:
                return events
            raise HubUnavailable(f"GET {path}: {e}") from e
        except requests.Timeout:
            pass  # no further event within `wait`
        return events

    # ---- files in the user's server (Jupyter contents API through the proxy) ---------------------
    def _contents(self, user: str, server_name: str, path: str) -> str:
        clean = "/".join(_q(p) for p in path.strip("/").split("/") if p not in ("", "."))
        if not clean or ".." in path.split("/"):
            raise ValueError(f"bad path {path!r}")
        return f"/user/{_q(user)}/{_q(server_name)}/api/contents/{clean}"

    def _server_call(self, method: str, path: str, ok=(200, 201), **kw) -> requests.Response:
        r = self._request(method, path, **kw)
        if r.status_code in (301, 302, 303, 307, 308, 424):
            # the proxy sent us to the hub: the server is not running
            raise HubError(409, "server is not running")
        if r.status_code not in ok:
            raise HubError(r.status_code, _message(r))
        return r

    def add_file(
        self, user: str, server_name: str, path: str, notebook_json: Mapping[str, Any] | str | bytes
    ) -> dict[str, Any]:
        """Write a notebook (dict or JSON text) into the server at ``path`` (relative to the
        server's root, i.e. the student's home). Parent folders are created. Returns the
        contents model (without content)."""
        nb = (
            json.loads(notebook_json)
            if isinstance(notebook_json, (str, bytes))
            else dict(notebook_json)
        )
        parts = [p for p in path.strip("/").split("/") if p]
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            r = self._server_call(
                "GET", self._contents(user, server_name, d) + "?content=0", ok=(200, 404)
            )
            if r.status_code == 404:
                self._server_call(
                    "PUT", self._contents(user, server_name, d), json={"type": "directory"}
                )
        r = self._server_call(
            "PUT",
            self._contents(user, server_name, path),
            json={"type": "notebook", "format": "json", "content": nb},
        )
        return r.json()

    def add_binary_file(
        self, user: str, server_name: str, path: str, content: bytes
    ) -> dict[str, Any]:
        """Write any file (a lab's data file) into the server at ``path``, whose folder must
        exist (``add_file`` of the notebook beside it creates it).  Sent base64-encoded, whole:
        data files are capped at upload."""
        r = self._server_call(
            "PUT",
            self._contents(user, server_name, path),
            json={
                "type": "file",
                "format": "base64",
                "content": base64.b64encode(content).decode("ascii"),
            },
        )
        return r.json()

    def get_file(
        self, user: str, server_name: str, path: str, *, max_bytes: int | None = None
    ) -> dict[str, Any]:
        """Read a notebook from the server; returns the notebook as a dict (nbformat JSON).

        ``max_bytes``: the notebook is the student's and so is its size.  The answer is read in
        pieces, and one over ``max_bytes`` (plus 1 MB for the model's own fields) is refused
        with HubError 413 before it is held whole (a 200 MB one once grew the web process by
        600 MB)."""
        url = self._contents(user, server_name, path) + "?type=notebook&content=1"
        if max_bytes is None:
            return self._server_call("GET", url).json()["content"]
        cap = max_bytes + 1024 * 1024
        too_big = HubError(413, f"the notebook is larger than {max_bytes // (1024 * 1024)} MB")
        r = self._server_call("GET", url, stream=True)
        with contextlib.closing(r):
            declared = r.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise too_big
            body = bytearray()
            for piece in r.iter_content(64 * 1024):
                body += piece
                if len(body) > cap:
                    raise too_big
        try:
            return json.loads(body)["content"]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise HubError(422, "the notebook is not valid JSON") from None


def _message(r: requests.Response) -> str:
    try:
        data = r.json()
    except ValueError:
        return (r.text or r.reason or "").strip()[:500]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("reason") or data)
    return str(data)
