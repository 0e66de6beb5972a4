"""Fakes of the hub and Slurm clients for unit tests (the integration tests use the real ones)."""

from __future__ import annotations

from datetime import UTC, datetime

from notebooks.clients.hub import HubError, HubUnavailable, ServerState
from notebooks.clients.slurm import JobRecord, QueueInfo


class FakeHub:
    def __init__(self) -> None:
        self.servers: dict[tuple[str, str], dict] = {}
        self.files: dict[tuple[str, str, str], object] = {}
        self.users: set[str] = set()
        self.down = False
        self.starts: list[tuple[str, str, dict]] = []
        self.next_job = 100
        self.start_as = "pending"

    def _check(self) -> None:
        if self.down:
            raise HubUnavailable("connection refused")

    def ensure_user(self, name: str) -> dict:
        self._check()
        self.users.add(name)
        return {"name": name}

    def start_server(self, user: str, server: str, options: dict) -> ServerState:
        self._check()
        if set(options) - {"partition", "gpus", "cpus", "memory", "runtime"}:
            raise HubError(400, "unknown option")
        self.starts.append((user, server, options))
        self.next_job += 1
        self.servers[(user, server)] = {
            "status": self.start_as,
            "job_id": str(self.next_job),
            "url": f"/user/{user}/{server}/",
        }
        return self.server_state(user, server)

    def server_state(self, user: str, server: str) -> ServerState:
        self._check()
        model = self.servers.get((user, server))
        if model is None:
            return ServerState(status="stopped")
        return ServerState(
            status=model["status"],
            url=model["url"],
            job_id=model["job_id"],
            started=datetime.now(UTC).isoformat(),
            last_activity=model.get("last_activity"),
        )

    def stop_server(
        self, user: str, server: str, wait: float = 0, remove: bool = False
    ) -> ServerState:
        self._check()
        self.servers.pop((user, server), None)
        return ServerState(status="stopped")

    def active_servers(self) -> list[tuple[str, str, ServerState]]:
        self._check()
        return [(u, n, self.server_state(u, n)) for (u, n) in list(self.servers)]

    def get_file(self, user: str, server: str, path: str, *, max_bytes=None):  # type: ignore[no-untyped-def]
        self._check()
        try:
            return self.files[(user, server, path)]
        except KeyError:
            raise HubError(404, "No such file") from None

    def add_file(self, user: str, server: str, path: str, nb) -> dict:  # type: ignore[no-untyped-def]
        self._check()
        import json

        self.files[(user, server, path)] = json.loads(nb) if isinstance(nb, (bytes, str)) else nb
        return {"path": path}

    def add_binary_file(self, user: str, server: str, path: str, content: bytes) -> dict:
        self._check()
        self.files[(user, server, path)] = content
        return {"path": path}


class FakeSlurm:
    def __init__(self) -> None:
        self.queue: dict[str, QueueInfo] = {}
        self.records: list[JobRecord] = []
        self.extended: list[tuple[str, int]] = []

    def queue_info(self, job_id: str) -> QueueInfo:
        return self.queue.get(str(job_id)) or QueueInfo(
            str(job_id), "RUNNING", "None", "", None, "gpu-node-1"
        )

    def job(self, job_id: str) -> JobRecord | None:
        return next((r for r in self.records if r.job_id == str(job_id)), None)

    def jobs_since(self, since, job_ids=(), users=()):  # type: ignore[no-untyped-def]
        return [r for r in self.records if not job_ids or r.job_id in job_ids]

    def _run(self, *args: str) -> str:
        if args[:2] == ("scontrol", "update"):
            self.extended.append((args[2].split("=")[1], int(args[3].split("+")[1])))
        return ""
