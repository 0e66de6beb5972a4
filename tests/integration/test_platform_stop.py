"""Stopping is clean: `make run` and `manage.py runplatform` stop on SIGTERM as on Ctrl-C, with
every process they started (web, worker and its pool kernels, beat, the local JupyterHub, its
proxy and the lab servers it started); after a restart, live sessions agree with the hub.

The local hub runs from the test cluster's hub venv and proxy (ops/cluster/up.sh installs them;
`make test` runs it), on free ports, with all state in a temporary ACADEMY_VAR_DIR."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.utils import timezone

from notebooks.clients.hub import HubClient, HubError, HubUnavailable
from notebooks.sessions import clients, services
from notebooks.sessions.models import LabSession, SessionState
from tests.factories import UserFactory

REPO = Path(__file__).resolve().parents[2]
CLUSTER_STATE = Path(os.environ.get("ACADEMY_CLUSTER_STATE", "/var/lib/academy-cluster"))
STOP_BOUND = 45  # seconds from SIGTERM until every process is gone


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def platform_env(var: Path, port: int) -> dict[str, str]:
    """The environment of a fresh `make run`: nothing of the test services leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACADEMY_", "DATABASE_URL", "CELERY_", "DJANGO_LIVE"))
    }
    env.update(
        ACADEMY_VAR_DIR=str(var),
        ACADEMY_PORT=str(port),
        DEBUG="1",
        NOTEBOOK_KERNEL_POOL="1",
        WORKER_LOG_LEVEL="warning",
    )
    return env


def wait_for_line(log: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not seen; output:\n{log.read_text(errors='replace')[-3000:]}")


def kill_tree(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """Teardown after a failure: the hub runs in a session of its own, so killing the process
    group is not enough."""
    if proc.poll() is not None:
        return
    for p in psutil.Process(proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            p.kill()
    os.killpg(proc.pid, signal.SIGKILL)


def stop_and_assert_all_gone(proc: subprocess.Popen, log: Path) -> float:  # type: ignore[type-arg]
    tree = psutil.Process(proc.pid).children(recursive=True)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    try:
        _, alive = psutil.wait_procs([psutil.Process(proc.pid), *tree], timeout=STOP_BOUND)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, (
            [(p.pid, " ".join(p.cmdline())[:120]) for p in alive],
            log.read_text(errors="replace")[-3000:],
        )
    finally:
        for p in tree:  # never leave anything behind, even when the assertion failed
            if p.is_running():
                p.kill()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return time.monotonic() - t0


@pytest.mark.integration
def test_runplatform_stops_on_sigterm_with_the_lab_servers_of_its_local_hub(tmp_path):
    for part in ("venv/bin/jupyterhub", "node_modules/.bin/configurable-http-proxy"):
        if not (CLUSTER_STATE / part).exists():
            pytest.fail(f"{CLUSTER_STATE / part} is missing: run ops/cluster/up.sh (make test)")
    var = tmp_path / "var"
    (var / "hub").mkdir(parents=True)
    (var / "hub" / "venv").symlink_to(CLUSTER_STATE / "venv")
    (var / "hub" / "node_modules").symlink_to(CLUSTER_STATE / "node_modules")
    port, hub_port = free_port(), free_port()
    env = platform_env(var, port)
    env.update(
        ACADEMY_LOCAL_HUB_STATE=str(var / "hub"),
        ACADEMY_LOCAL_HUB_PORT=str(hub_port),
        ACADEMY_LOCAL_HUB_PROXY_API_PORT=str(free_port()),
        ACADEMY_LOCAL_HUB_API_PORT=str(free_port()),
    )
    subprocess.run(["bash", "ops/local-hub.sh", "--setup"], cwd=REPO, env=env, check=True)
    python = str(REPO / ".venv" / "bin" / "python")
    subprocess.run(
        [python, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=REPO, env=env, check=True
    )
    # A session left "running" by an earlier run of the platform: its server is gone.
    subprocess.run([python, "manage.py", "seed_demo"], cwd=REPO, env=env, check=True)
    shell = (
        "from academy.models import User; from notebooks.models import Lab; "
        "from notebooks.sessions.models import LabSession; "
        "lab = Lab.objects.order_by('pk').first(); "
        "LabSession.objects.create(user=User.objects.get(username='student'), lab=lab, "
        "run=lab.run, server_name=f'lab-{lab.pk}', partition='cpu', walltime_minutes=30, "
        "state='running')"
    )
    subprocess.run([python, "manage.py", "shell", "-c", shell], cwd=REPO, env=env, check=True)
    log = tmp_path / "runplatform.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [python, "manage.py", "runplatform"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_line(log, "Press Ctrl-C", proc, 60)
        token = (var / "hub" / "api-token").read_text().strip()
        hub = HubClient(f"http://127.0.0.1:{hub_port}", token)
        deadline = time.monotonic() + 90
        while True:
            try:
                hub.info()
                break
            except (HubUnavailable, HubError):  # the proxy answers 404 until the hub is up
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        wait_for_line(log, "1 no longer on the hub, marked ended", proc, 60)
        hub.ensure_user("labuser")
        hub.start_server("labuser", "lab-1", {"partition": "cpu", "runtime": "00:10:00"})
        assert hub.wait_ready("labuser", "lab-1", timeout=90).ready, log.read_text()[-3000:]
        tree = psutil.Process(proc.pid).children(recursive=True)
        lab = [p for p in tree if "jupyterhub-singleuser" in " ".join(p.cmdline())]
        assert lab, [" ".join(p.cmdline())[:100] for p in tree]
        elapsed = stop_and_assert_all_gone(proc, log)
        print(f"\nrunplatform with a local hub and one lab server: all stopped {elapsed:.1f} s")
        assert "Lab servers stopped." in log.read_text()
        state = subprocess.run(
            [
                python,
                "manage.py",
                "shell",
                "-c",
                "from notebooks.sessions.models import LabSession; "
                "print(LabSession.objects.get().state)",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert state[-1:] == ["ended"], state
        with socket.socket() as s:  # the hub's proxy let go of its port
            assert s.connect_ex(("127.0.0.1", hub_port)) != 0
    finally:
        kill_tree(proc)


@pytest.mark.integration
def test_make_run_stops_on_sigterm(tmp_path):
    env = platform_env(tmp_path / "var", free_port())
    env["ACADEMY_LOCAL_HUB"] = "0"
    log = tmp_path / "make-run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["make", "run"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_line(log, "Press Ctrl-C", proc, 180)
        time.sleep(5)  # the worker forks its pool and starts its kernels
        tree = psutil.Process(proc.pid).children(recursive=True)
        assert any("celery" in " ".join(p.cmdline()) for p in tree), tree
        elapsed = stop_and_assert_all_gone(proc, log)
        print(f"\nmake run: everything stopped {elapsed:.1f} s after SIGTERM to make")
    finally:
        kill_tree(proc)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_after_a_restart_live_sessions_agree_with_the_hub(lab_setup):
    """A session the hub no longer runs reads as ended, not running (real hub)."""
    if not settings.HUB_API_TOKEN:
        pytest.fail("ACADEMY_HUB_API_TOKEN is not set: the hub stack is not up")
    clients.hub().info()
    student = UserFactory(username=f"rc{uuid.uuid4().hex[:8]}")
    clients.hub().ensure_user(student.username)
    session = LabSession.objects.create(
        user=student,
        lab=lab_setup.lab,
        run=lab_setup.run,
        server_name=services.server_name_for(lab_setup.lab),
        partition="gpu",
        gpus=1,
        walltime_minutes=10,
        state=SessionState.RUNNING,
        started_at=timezone.now(),
        server_url="/user/x/lab-1/",
    )
    waiting = LabSession.objects.create(
        user=lab_setup.student,
        lab=lab_setup.lab,
        run=lab_setup.run,
        server_name=services.server_name_for(lab_setup.lab),
        partition="gpu",
        gpus=1,
        walltime_minutes=10,
        state=SessionState.REQUESTED,
    )
    assert services.reconcile_sessions() == 1
    session.refresh_from_db()
    waiting.refresh_from_db()
    assert session.state == SessionState.ENDED and session.ended_at is not None
    assert waiting.state == SessionState.REQUESTED  # its start task is still to come
