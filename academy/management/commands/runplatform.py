"""Run web, Celery worker and beat together in the foreground; Ctrl-C stops all three."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from academy.demo import DEMO_ACCOUNTS, DEMO_PASSWORD


class Command(BaseCommand):
    help = "Start the web server, a Celery worker and Celery beat (the embedded default)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--host", default=os.environ.get("ACADEMY_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("ACADEMY_PORT", "8300")))

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
        level = os.environ.get("WORKER_LOG_LEVEL", "warning")
        commands = {
            "web": web,
            "worker": [*celery, "worker", "-l", level, "-c", "2", "-n", "academy@%h"],
            "beat": [*celery, "beat", "-l", level],
        }
        env = dict(os.environ)
        hub_env = Path(settings.VAR_DIR) / "hub" / "academy.env"
        local_hub = os.environ.get("ACADEMY_LOCAL_HUB", "1") == "1" and hub_env.exists()
        if local_hub:
            # The local JupyterHub (ops/local-hub.sh) and how web and worker reach it.
            commands["hub"] = ["bash", str(Path(settings.BASE_DIR) / "ops" / "local-hub.sh")]
            for line in hub_env.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.startswith("ACADEMY_HUB_"):
                    env.setdefault(key, value)
        children = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
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
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with code {child.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
            self.stdout.write("Academy stopped.")
