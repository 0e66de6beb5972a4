"""The kernel fork server, grader side (the server's own code is ``_forkserver_main.py``).

Starting a kernel used to mean a new interpreter importing ipykernel, IPython and ZeroMQ: about
half a second of CPU per grading, most of what grading a small notebook cost. A fork server
pays that once per grading process: a separate interpreter, started with a clean exec (the
kernel's scrubbed environment, no descriptor of ours but its request socket, cwd ``/``, a
session of its own), imports the kernel machinery and forks a process per kernel, which builds
its sandbox exactly as before (cgroup, namespaces, allow-listed root, rlimits, uid, seccomp)
and starts the kernel without an exec. The server never runs student code and never reads a
request (only the forked child reads its configuration), so every kernel starts from the same
state and a kernel is still never reused.

One server per (process, interpreter, start-up environment), started when first needed and
kept for the life of the process; a process forked from this one (Celery's prefork) starts its
own. The server exits, killing its kernels, when this process's end of its socket closes,
that is when this process ends, however it ends.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ForkServer", "ForkServerError", "KernelProcess", "server_for", "shutdown", "spawn"]

_HERE = Path(__file__).resolve().parent
# One program: the kernel (LabKernel, start_kernel) and then the server, which defines the
# sandbox's start-up and serves; run as __main__ like a kernel started by ``python -c``.
_CODE = (_HERE / "_kernel_main.py").read_text() + "\n" + (_HERE / "_forkserver_main.py").read_text()
_LOADER = "import sys;exec(compile(sys.stdin.read(),'<kernel>','exec'))"


class ForkServerError(RuntimeError):
    """The fork server could not be started or did not answer."""


class KernelProcess:
    """A kernel's first process (the server's child, not ours) as the grader sees it: a pidfd
    to poll and signal (never a pid that could be reused), and the exit status the server
    sends when it reaps it. Quacks like the parts of ``subprocess.Popen`` the sandbox uses."""

    def __init__(self, pid: int, pidfd: int, ctl: socket.socket):
        self.pid = pid
        self.pidfd = pidfd
        self._ctl = ctl
        self.returncode: int | None = None

    def _exited(self, timeout: float) -> bool:
        if self.pidfd < 0:
            return True
        poller = select.poll()
        poller.register(self.pidfd, select.POLLIN)
        return bool(poller.poll(max(0, int(timeout * 1000))))

    def _collect(self, timeout: float = 5.0) -> None:
        """The exit status, from the server (which reaps the process right after it exits)."""
        code = -signal.SIGKILL  # the server is gone: so is the process (PR_SET_PDEATHSIG)
        self._ctl.settimeout(timeout)
        try:
            while True:
                data = self._ctl.recv(4096)
                if not data:
                    break
                msg = json.loads(data)
                if "exit" in msg:
                    code = int(msg["exit"])
                    break
        except (OSError, ValueError):
            pass
        self.returncode = code

    def poll(self) -> int | None:
        if self.returncode is None and self._exited(0):
            self._collect()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not self._exited(3600 * 24 if timeout is None else timeout):
                raise subprocess.TimeoutExpired("kernel", timeout or 0)
            self._collect()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None and self.pidfd >= 0:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.pidfd, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        self._ctl.close()


class ForkServer:
    """A running fork server: ``spawn(cfg)`` forks a kernel configured by ``cfg``."""

    def __init__(self, python: str, env: Mapping[str, str], timeout: float = 60.0):
        self.python = python
        self._lock = threading.Lock()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [python, "-s", "-c", _LOADER, str(theirs.fileno())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=dict(env),
                cwd="/",
                start_new_session=True,
                pass_fds=(theirs.fileno(),),
            )
        except OSError as exc:
            mine.close()
            raise ForkServerError(f"the kernel fork server did not start: {exc}") from exc
        finally:
            theirs.close()
        self._sock = mine
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(_CODE.encode())
            self.proc.stdin.close()
            mine.settimeout(timeout)
            answer = json.loads(mine.recv(4096) or b"{}")
        except (OSError, ValueError) as exc:
            self.close()
            raise ForkServerError(f"the kernel fork server did not start: {exc}") from exc
        finally:
            mine.settimeout(None)
        if "ready" not in answer:
            self.close()
            why = answer.get("error") or f"exit status {self.proc.poll()}"
            raise ForkServerError(f"the kernel fork server did not start: {why}")
        self.pid = int(answer["ready"])

    def alive(self) -> bool:
        return self._sock.fileno() >= 0 and self.proc.poll() is None

    def spawn(self, cfg: Mapping[str, Any], timeout: float = 60.0) -> tuple[KernelProcess, int]:
        """Fork a kernel; return its process and the read end of its report pipe (JSON lines,
        EOF once the kernel listens or failed). The configuration goes through a pipe that
        only the forked child reads."""
        status_r, status_w = os.pipe()
        cfg_r, cfg_w = os.pipe()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            try:
                with self._lock:
                    socket.send_fds(self._sock, [b"k"], [status_w, cfg_r, theirs.fileno()])
            except OSError as exc:
                raise ForkServerError(f"the kernel fork server is gone: {exc}") from exc
            finally:
                os.close(status_w)
                os.close(cfg_r)
                theirs.close()
            with contextlib.suppress(BrokenPipeError):  # the child died: its report says why
                _write_all(cfg_w, json.dumps(cfg).encode())
            os.close(cfg_w)
            cfg_w = -1
            mine.settimeout(timeout)
            try:
                data, fds, _flags, _addr = socket.recv_fds(mine, 4096, 1)
            except OSError as exc:
                raise ForkServerError(f"the kernel fork server did not answer: {exc}") from exc
            answer = json.loads(data or b"{}")
            if "pid" not in answer or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                why = answer.get("error", "no answer")
                raise ForkServerError(f"the kernel fork server could not fork: {why}")
        except BaseException:
            if cfg_w >= 0:
                os.close(cfg_w)
            os.close(status_r)
            mine.close()
            raise
        mine.settimeout(None)
        return KernelProcess(int(answer["pid"]), fds[0], mine), status_r

    def close(self) -> None:
        """Stop the server: it kills the kernels it still has (they are done or abandoned)."""
        self._sock.close()
        with contextlib.suppress(Exception):
            self.proc.wait(5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_lock = threading.Lock()
_servers: dict[tuple[str, tuple[tuple[str, str], ...]], ForkServer] = {}


def server_for(python: str, env: Mapping[str, str], timeout: float = 60.0) -> ForkServer:
    """This process's server for ``python`` started with ``env`` (started now if needed)."""
    key = (python, tuple(sorted(env.items())))
    with _lock:
        server = _servers.get(key)
        if server is not None and not server.alive():
            server.close()
            server = None
        if server is None:
            server = _servers[key] = ForkServer(python, env, timeout)
        return server


def spawn(
    python: str, env: Mapping[str, str], cfg: Mapping[str, Any], timeout: float = 60.0
) -> tuple[KernelProcess, int]:
    """Fork a kernel from this process's server (restarted once if it has gone away)."""
    end = time.monotonic() + timeout
    for attempt in (1, 2):
        server = server_for(python, env, timeout)
        try:
            return server.spawn(cfg, max(1.0, end - time.monotonic()))
        except ForkServerError:
            if attempt == 2 or server.alive():
                raise
            with _lock:
                if _servers.get((python, tuple(sorted(env.items())))) is server:
                    del _servers[(python, tuple(sorted(env.items())))]
            server.close()
    raise AssertionError("unreachable")


def shutdown() -> None:
    """Stop this process's servers (at exit; tests)."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.close()


def _forget_after_fork() -> None:
    # A process forked from this one (without exec) must not keep our servers alive by holding
    # their sockets, nor share them: it starts its own when it needs one.
    global _lock
    _lock = threading.Lock()
    for server in _servers.values():
        server._sock.close()
    _servers.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(shutdown)
