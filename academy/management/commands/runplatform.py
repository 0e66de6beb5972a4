"""Run web, Celery worker and beat (and the local JupyterHub) together in the foreground.

Ctrl-C, SIGTERM (also from `make`, which forwards it) and SIGHUP stop everything: web, worker and
beat first, then every lab server of the local hub (through its API), then the hub, then whatever
process of the hub is still alive.  At start-up, once the hub answers, live lab sessions are
reconciled with it, so no card says "running" for a server that is gone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from academy.demo import DEMO_ACCOUNTS, DEMO_PASSWORD

# Seconds each stage of the shutdown may take before the next, harder, step.
STOP_SERVERS_SECONDS = 20
STOP_CHILDREN_SECONDS = 15


def local_hub_state() -> Path:
    """Where ops/local-hub.sh keeps the local hub (the same default as the script)."""
    return Path(settings.ACADEMY_LOCAL_HUB_STATE)


class Command(BaseCommand):
    help = "Start the web server, a Celery worker and Celery beat (the embedded default)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--host", default=settings.ACADEMY_HOST)
        parser.add_argument("--port", type=int, default=settings.ACADEMY_PORT)

    def handle(self, *args, host: str, port: int, **options) -> None:  # type: ignore[no-untyped-def]
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "academy"]
        web = (
            [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"]
            if settings.DEBUG
            else [python, "-m", "gunicorn", "academy.wsgi", "-b", f"{host}:{port}", "-w", "2"]
        )
        # Beat sends the live-session refresh every few seconds: at "info" its lines would bury
        # everything else, so worker and beat log warnings unless WORKER_LOG_LEVEL says more.
        level = settings.WORKER_LOG_LEVEL
        commands = {
            "web": web,
            "worker": [*celery, "worker", "-l", level, "-c", "2", "-n", "academy@%h"],
            "beat": [*celery, "beat", "-l", level],
        }
        # The children inherit this process's environment (they read their own settings from
        # it), plus the local hub's address and token below.
        env = dict(os.environ)
        hub_env = local_hub_state() / "academy.env"
        local_hub = settings.ACADEMY_LOCAL_HUB and hub_env.exists()
        if local_hub:
            # The local JupyterHub (ops/local-hub.sh) and how web and worker reach it.
            commands["hub"] = ["bash", str(Path(settings.BASE_DIR) / "ops" / "local-hub.sh")]
            for line in hub_env.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.startswith("ACADEMY_HUB_"):
                    env.setdefault(key, value)
        hub = self._hub_client(env)
        # The hub runs in a session of its own: Ctrl-C (SIGINT to the terminal's process group)
        # stops web, worker and beat at once, while the hub must stay up until its lab servers
        # have been stopped through its API (see _shutdown).
        children = {
            name: subprocess.Popen(cmd, env=env, start_new_session=(name == "hub"))
            for name, cmd in commands.items()
        }
        url = f"http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nAcademy is starting at {url}"))
        self.stdout.write(f"Demo accounts (password '{DEMO_PASSWORD}'):")
        for username, role in DEMO_ACCOUNTS:
            self.stdout.write(f"  {username:<12} {role}")
        self.stdout.write("Health: " + url + "healthz    API docs: " + url + "api/v1/docs/")
        if local_hub:
            self.stdout.write(f"Lab sessions: local JupyterHub at {env['ACADEMY_HUB_URL']}/")
        else:
            self.stdout.write(
                "Lab sessions: no JupyterHub configured "
                "(see README, 'Running it on a real cluster')."
            )
        self.stdout.write("Press Ctrl-C to stop.\n")
        self.stdout.flush()
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, stop)
        reconcile_until = time.monotonic() + 120
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with code {child.returncode}; stopping.")
                        stopping = True
                if (
                    reconcile_until
                    and not stopping
                    and (self._reconcile(hub) or time.monotonic() > reconcile_until)
                ):
                    reconcile_until = 0
                time.sleep(0.5)
        finally:
            # Further signals (a second Ctrl-C, make's SIGTERM after the terminal's SIGINT) must
            # not cut the shutdown short: that is how lab servers used to outlive make run.
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            self._shutdown(children, hub if local_hub else None)
            self.stdout.write("Academy stopped.")

    def _hub_client(self, env: dict[str, str]):  # type: ignore[no-untyped-def]
        from notebooks.clients.hub import HubClient

        token = env.get("ACADEMY_HUB_API_TOKEN", "")
        if not token:
            return None
        return HubClient(env.get("ACADEMY_HUB_URL", settings.HUB_URL), token, timeout=5, retries=0)

    def _reconcile(self, hub) -> bool:  # type: ignore[no-untyped-def]
        """Once the hub answers (or at once without a hub): live sessions agree with it.
        True when done."""
        from notebooks.clients.hub import HubError, HubUnavailable
        from notebooks.sessions import clients, services

        if hub is not None:
            try:
                hub.info()
            except (HubUnavailable, HubError):  # not up yet (its proxy answers 404 until then)
                return False
            clients.override("hub", hub)
        try:
            ended = services.reconcile_sessions(hub_available=hub is not None)
        except Exception as exc:  # noqa: BLE001 - start-up goes on; the refresh task retries
            self.stderr.write(f"Could not reconcile lab sessions with the hub: {exc}")
            return True
        finally:
            clients.override("hub", None)
        if ended:
            self.stdout.write(f"Lab sessions: {ended} no longer on the hub, marked ended.")
        return True

    def _shutdown(self, children: dict[str, subprocess.Popen], hub) -> None:  # type: ignore[no-untyped-def,type-arg]
        hub_proc = children.get("hub")
        others = [child for name, child in children.items() if name != "hub"]
        for child in others:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        # The hub's own processes (proxy, local lab servers: each in its own session), noted
        # now so that none is left behind if the hub dies before stopping them.
        hub_tree = _descendants(hub_proc.pid) if hub_proc and hub_proc.poll() is None else []
        if hub is not None and hub_proc is not None and hub_proc.poll() is None:
            self._stop_lab_servers(hub)
        if hub_proc is not None and hub_proc.poll() is None:
            hub_proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_CHILDREN_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        _end(hub_tree)

    def _stop_lab_servers(self, hub) -> None:  # type: ignore[no-untyped-def]
        from notebooks.clients.hub import HubError, HubUnavailable

        try:
            servers = hub.active_servers()
            for user, name, _state in servers:
                hub.stop_server(user, name)
            deadline = time.monotonic() + STOP_SERVERS_SECONDS
            while servers and time.monotonic() < deadline:
                time.sleep(0.5)
                servers = hub.active_servers()
        except (HubError, HubUnavailable) as exc:
            self.stderr.write(f"Could not stop the lab servers through the hub: {exc}")
            return
        if servers:
            self.stderr.write(f"{len(servers)} lab server(s) did not stop in time.")
        else:
            self.stdout.write("Lab servers stopped.")


def _descendants(pid: int) -> list:  # type: ignore[type-arg]
    import psutil  # installed with ipykernel, which grading needs

    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).children(recursive=True)
    return []


def _end(processes: list) -> None:  # type: ignore[type-arg]
    """SIGTERM, then SIGKILL, whatever of ``processes`` still runs."""
    import psutil

    alive = [p for p in processes if p.is_running()]
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(alive, timeout=5)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=5)
