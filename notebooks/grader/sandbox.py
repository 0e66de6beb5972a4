"""A sandboxed IPython kernel for running untrusted notebook code.

See README.md in this package for the threat model. In short, when the grader runs as root,
each kernel:

- runs in its own cgroup (total memory including its tmpfs, processes and threads, CPU quota)
  and in new mount, PID, IPC, network and UTS namespaces (loopback only, hostname ``jupyter``);
- sees a fresh read-only root with only an allow-list bound into it (/usr, the interpreter's
  prefixes, a few /etc files, a synthesised passwd/group/hosts, null/zero/random devices) and
  one private, size-capped tmpfs for everything writable (working folder, /tmp, /dev/shm);
- lowers rlimits (address space, CPU, processes, file size, open files, no core dumps), sets
  no_new_privs, drops to a dedicated unprivileged uid/gid from a lockable range and loads a
  seccomp filter (no user namespaces, no kernel keyrings);
- talks to the grader over ZeroMQ ``ipc`` (unix sockets in its private tmpfs, reached from
  here through ``/proc/<init>/root``) since it has no usable network;
- is destroyed afterwards by killing its namespace's init: the kernel then kills every process
  in the namespace, and the IPC objects and the tmpfs go with it; the cgroup is removed.

Without root there is none of this but the rlimits (``isolation`` says so): a temporary
folder, and clean-up by the kernel's session id.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import platform
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import zmq
from jupyter_client.blocking import BlockingKernelClient

from . import forkserver

if TYPE_CHECKING:
    from jupyter_client.connect import KernelConnectionInfo

log = logging.getLogger(__name__)

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
GiB = 1024**3
MiB = 1024**2
CHECK_KEY = "x-check"


@dataclass(frozen=True)
class Limits:
    """Resource limits for one grading run (start-up fields apply when the kernel starts)."""

    cell_timeout: float = 30.0  # seconds per cell (wall clock)
    notebook_timeout: float = 300.0  # seconds for the whole notebook
    interrupt_grace: float = 3.0  # after an interrupt, how long to wait before killing
    output_cell_bytes: int = 64 * 1024  # kept per cell
    output_total_bytes: int = 1024 * 1024  # kept per notebook
    flood_bytes: int = 32 * MiB  # received per notebook before the kernel is killed
    max_message_bytes: int = 8 * MiB  # largest single kernel message accepted
    # start-up
    memory_bytes: int = 1 * GiB  # RLIMIT_AS of each process
    total_memory_bytes: int = 2 * GiB  # the cgroup: all processes and the private tmpfs
    cpus: float = 1.0  # the cgroup's CPU quota, in CPUs
    cpu_seconds: int = 600  # RLIMIT_CPU of the kernel process
    nproc: int = 128  # processes and threads: the cgroup's pids.max, and RLIMIT_NPROC per uid
    file_bytes: int = 64 * MiB  # RLIMIT_FSIZE
    open_files: int = 256  # RLIMIT_NOFILE
    startup_timeout: float = 60.0
    uid_base: int = 61000  # sandbox uids (and gids) are uid_base .. uid_base+uid_count-1
    uid_count: int = 64
    python: str = sys.executable  # interpreter with ipykernel for the kernel
    tmp_root: str | None = None  # where sandbox folders go (default: the system temp dir)
    # With root the kernel sees only an allow-list: /usr (and the merged-/usr links), the
    # interpreter's prefixes, expose_paths, etc_files from /etc, a synthesised passwd/group/
    # hosts, /dev's null/zero/full/random/urandom, its own /proc, and one private tmpfs of
    # tmp_bytes for everything writable (the working folder /home/jovyan, /tmp, /var/tmp,
    # /dev/shm). hidden_paths is kept for callers of the former deny-list: nothing outside the
    # allow-list is visible anyway.
    hidden_paths: tuple[str, ...] = (str(_PROJECT_ROOT), "/root", "/home", "/srv")
    expose_paths: tuple[str, ...] = ()  # extra folders the kernel needs (e.g. a lab venv)
    etc_files: tuple[str, ...] = (
        "ld.so.cache",
        "ld.so.conf",
        "ld.so.conf.d",
        "localtime",
        "alternatives",
    )
    tmp_bytes: int = 256 * MiB  # all the kernel can write (data files included)
    cgroup_root: str = "/sys/fs/cgroup"
    cgroup_name: str = "academy-grader"  # parent of the per-grading cgroups
    isolate_network: bool = True  # kept for compatibility: with root there is never a network
    extra_env: tuple[tuple[str, str], ...] = ()
    # Device nodes bound into the kernel's /dev under their own names (read-write), e.g. the
    # GPUs Slurm gave a grading job: /dev/nvidia0, /dev/nvidiactl (notebooks/grader/job.py).
    devices: tuple[str, ...] = ()


@dataclass
class CellRun:
    """What one cell execution produced, as seen from outside the kernel."""

    outputs: list[dict] = field(default_factory=list)
    reply: dict | None = None
    execution_count: int | None = None
    saw_error: bool = False
    saw_stderr: bool = False
    last_result_text: str | None = None
    timed_out: bool = False
    truncated: bool = False
    kernel_died: bool = False
    flooded: bool = False
    stuck: bool = False  # did not answer an interrupt: the kernel must go
    received_bytes: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.reply is not None
            and self.reply.get("status") == "ok"
            and not (self.saw_error or self.saw_stderr or self.timed_out or self.kernel_died)
        )


class SandboxError(RuntimeError):
    pass


# The environment variables that act when an interpreter starts (the fork server's start is
# the kernel's): its server is chosen by them. The per-kernel folders are set after the fork.
_PER_KERNEL_ENV = frozenset({"HOME", "TMPDIR", "IPYTHONDIR", "JUPYTER_RUNTIME_DIR"})


def _server_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in _PER_KERNEL_ENV}


def _read_to_eof(fd: int, deadline: float) -> bytes:
    """What the kernel's processes report on their status pipe, until all have closed it."""
    chunks = []
    try:
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


# pivot_root has no libc wrapper; other machines fall back to chroot (the uid cannot undo it).
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}


def _write(path: Path, value: object) -> None:
    path.write_text(str(value))


class _Cgroup:
    """The cgroup of one grading: total memory, process count and CPU of everything the kernel
    starts. cgroup v2 when the host mounts it with the memory and pids controllers, else v1
    (memory, pids, and cpu when present). Raises OSError when neither can be used."""

    def __init__(self, limits: Limits):
        self.dirs: list[Path] = []
        root = Path(limits.cgroup_root)
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        period = 100_000
        quota = max(1000, int(limits.cpus * period))
        try:
            controllers = (root / "cgroup.controllers").read_text().split()
        except OSError:
            controllers = []
        if {"memory", "pids"} <= set(controllers):
            self.version = "v2"
            parent = root / limits.cgroup_name
            parent.mkdir(exist_ok=True)
            enable = " ".join(f"+{c}" for c in ("memory", "pids", "cpu") if c in controllers)
            _write(root / "cgroup.subtree_control", enable)
            _write(parent / "cgroup.subtree_control", enable)
            _sweep(parent)
            d = parent / name
            d.mkdir()
            self.dirs.append(d)
            _write(d / "memory.max", limits.total_memory_bytes)
            if (d / "memory.swap.max").exists():
                _write(d / "memory.swap.max", 0)
            _write(d / "pids.max", limits.nproc)
            if (d / "cpu.max").exists():
                _write(d / "cpu.max", f"{quota} {period}")
            return
        self.version = "v1"
        try:
            for controller in ("memory", "pids", "cpu"):
                base = root / controller
                if not (base / "cgroup.procs").exists():
                    if controller == "cpu":
                        continue
                    raise OSError(f"no cgroup v2 and no v1 {controller} controller under {root}")
                parent = base / limits.cgroup_name
                parent.mkdir(exist_ok=True)
                _sweep(parent)
                d = parent / name
                d.mkdir()
                self.dirs.append(d)
                if controller == "memory":
                    _write(d / "memory.limit_in_bytes", limits.total_memory_bytes)
                    if (d / "memory.memsw.limit_in_bytes").exists():
                        _write(d / "memory.memsw.limit_in_bytes", limits.total_memory_bytes)
                elif controller == "pids":
                    _write(d / "pids.max", limits.nproc)
                else:
                    _write(d / "cpu.cfs_period_us", period)
                    _write(d / "cpu.cfs_quota_us", quota)
        except OSError:
            self.destroy()
            raise

    @property
    def procs(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
        return found

    def destroy(self, deadline: float = 5.0) -> list[int]:
        """Kill whatever is left in the cgroup and remove it; return pids that would not die."""
        end = time.monotonic() + deadline
        left = self.pids()
        while left:
            if self.version == "v2" and (self.dirs[0] / "cgroup.kill").exists():
                with contextlib.suppress(OSError):
                    _write(self.dirs[0] / "cgroup.kill", 1)
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > end:
                return sorted(left)
            time.sleep(0.02)
            left = self.pids()
        for d in reversed(self.dirs):
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)  # the last task is still being torn down
        self.dirs = []
        return []


_swept: dict[Path, float] = {}


def _sweep(parent: Path) -> None:
    """Remove empty cgroups left by worker processes that have died (once a minute at most)."""
    now, last = time.monotonic(), _swept.get(parent)
    if last is not None and now - last < 60.0:
        return
    _swept[parent] = now
    for d in parent.iterdir():
        owner = d.name.partition("-")[0]
        if not d.is_dir() or not owner.isdigit() or Path(f"/proc/{owner}").exists():
            continue
        with contextlib.suppress(OSError):
            d.rmdir()


_BUSY = b"busy"


class _UidSlot:
    """Exclusive use of one sandbox uid across processes (an flock on a root-only file)."""

    uid: int
    unclean: bool
    _fd: int | None

    def __init__(self, limits: Limits):
        lock_dir = Path(limits.tmp_root or tempfile.gettempdir()) / ".nb-slots"
        lock_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(lock_dir, 0o700)
        for uid in range(limits.uid_base, limits.uid_base + limits.uid_count):
            fd = os.open(lock_dir / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            # The file says "busy" from here until a clean release. Found so, its last holder
            # ended without cleaning up (a worker that crashed): its processes may remain.
            self.unclean = os.pread(fd, len(_BUSY), 0) == _BUSY
            os.pwrite(fd, _BUSY, 0)
            return
        raise SandboxError("all sandbox uids are busy; raise Limits.uid_count")

    def release(self) -> None:
        """Unlock the uid, known to have no process left."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def _proc_ids(field_name: str, value: int) -> list[int]:
    """Pids whose real uid (``uid``) or session id (``sid``) is ``value``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if field_name == "uid":
                with open(f"/proc/{entry.name}/status") as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            if int(line.split()[1]) == value:
                                found.append(int(entry.name))
                            break
            else:
                with open(f"/proc/{entry.name}/stat") as f:
                    stat = f.read()
                fields = stat[stat.rindex(")") + 2 :].split()
                if int(fields[3]) == value and fields[0] != "Z":
                    found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def kill_uid(uid: int, python: str = sys.executable, deadline: float = 5.0) -> list[int]:
    """Kill every process of ``uid`` (which must be a dedicated sandbox uid); return leftovers."""
    end = time.monotonic() + deadline
    while True:
        # kill(-1) from a process running as that uid reaches all its processes in one call,
        # so a fork bomb cannot outrun it.
        subprocess.run(
            ["/bin/kill", "-KILL", "-1"],
            user=uid,
            group=uid,
            extra_groups=[],
            env={},
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        left = [p for p in _proc_ids("uid", uid) if not _is_zombie(p)]
        if not left or time.monotonic() > end:
            return left
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2] in "ZX"
    except OSError:
        return True


def kill_session(sid: int, deadline: float = 5.0) -> list[int]:
    end = time.monotonic() + deadline
    while True:
        with contextlib.suppress(OSError):
            os.killpg(sid, signal.SIGKILL)
        left = _proc_ids("sid", sid)
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)


def _first_link(path: str) -> str | None:
    """The first component of ``path`` (absolute) that is a symbolic link, if one is."""
    current = ""
    for part in PurePosixPath(os.path.abspath(path)).parts[1:]:
        current += "/" + part
        if os.path.islink(current):
            return current
    return None


def _text_size(content: dict) -> int:
    if "text" in content:
        return len(content["text"])
    if "data" in content:
        return sum(
            len(v) if isinstance(v, str) else len(json.dumps(v)) for v in content["data"].values()
        )
    if "traceback" in content:
        return sum(len(t) for t in content["traceback"])
    return 0


class Sandbox:
    """One sandboxed kernel. Never reused: ``close()`` destroys it."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.isolation: dict[str, Any] = {}
        self.proc: forkserver.KernelProcess | None = None
        self.kc: BlockingKernelClient | None = None
        self._slot: _UidSlot | None = None
        self._cgroup: _Cgroup | None = None
        self._cgroup_error: str | None = None
        self.init_pid: int | None = None  # PID 1 of the kernel's namespace, as seen from here
        self._init_fd: int | None = None
        self._ctx: zmq.Context | None = None
        self.base: Path | None = None
        self.workdir: Path | None = None
        self.uid: int | None = None
        self.dead = False
        self.received_bytes = 0
        self.started_at = 0.0

    # -- life cycle --------------------------------------------------------------------
    def start(self) -> Sandbox:
        lim = self.limits
        root = os.geteuid() == 0
        try:
            if root:
                self._slot = _UidSlot(lim)
                self.uid = self._slot.uid
                if self._slot.unclean:
                    kill_uid(self.uid, lim.python)  # leftovers of a crashed worker
            # As root this is only the (empty, root-only) mount point of the new root; without
            # root it holds the working folder and the kernel's runtime files.
            self.base = Path(tempfile.mkdtemp(dir=lim.tmp_root))
            os.chmod(self.base, 0o700)
            info: KernelConnectionInfo = {
                "transport": "ipc",
                "ip": "/run/kernel/k",
                "shell_port": 1,
                "iopub_port": 2,
                "stdin_port": 3,
                "control_port": 4,
                "hb_port": 5,
                "key": secrets.token_hex(32),
                "signature_scheme": "hmac-sha256",
                "kernel_name": "python3",
            }
            if root:
                try:
                    self._cgroup = _Cgroup(lim)
                except OSError as exc:
                    log.warning("grading without a cgroup: %s", exc)
                    self._cgroup_error = str(exc)
                self._launch(info, None)
                assert self.init_pid is not None
                # The kernel's private root, seen from here through its init process.
                inner = Path(f"/proc/{self.init_pid}/root")
                self.workdir = inner / "home" / "jovyan"
                info = {**info, "ip": str(inner / "run" / "kernel" / "k")}
            else:
                self.workdir = self.base / "lab"
                runtime = self.base / "r"
                for d in (self.workdir, runtime):
                    d.mkdir(mode=0o700)
                info = {**info, "ip": str(runtime / "k")}
                conn_file = runtime / "kernel.json"
                conn_file.write_text(json.dumps(info))
                os.chmod(conn_file, 0o600)
                self._launch(info, conn_file)
            self._connect(info)
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        self.started_at = time.monotonic()
        return self

    def _env(self) -> dict[str, str]:
        assert self.base is not None  # set by start() before the launch
        if self.uid is not None:
            home, tmp, runtime = "/home/jovyan", "/tmp", "/run/kernel"  # noqa: S108
        else:
            home = tmp = str(self.base / "lab")
            runtime = str(self.base / "r")
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": tmp,
            "USER": "jovyan",
            "LOGNAME": "jovyan",
            "LANG": "C.UTF-8",
            "SHELL": "/bin/bash",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "IPYTHONDIR": runtime + "/ipython",
            "JUPYTER_RUNTIME_DIR": runtime,
        }
        env.update(dict(self.limits.extra_env))
        return env

    def _launch(self, info: KernelConnectionInfo, conn_file: Path | None) -> None:
        lim = self.limits
        root = self.uid is not None
        rlimits = {
            "RLIMIT_AS": lim.memory_bytes,
            "RLIMIT_CPU": lim.cpu_seconds,
            "RLIMIT_FSIZE": lim.file_bytes,
            "RLIMIT_NOFILE": lim.open_files,
            "RLIMIT_CORE": 0,
        }
        if root:
            rlimits["RLIMIT_NPROC"] = lim.nproc
        conn = "/run/kernel/kernel.json" if root else str(conn_file)
        env = self._env()
        cfg = {
            "rlimits": rlimits,
            "uid": self.uid,
            "cwd": "/home/jovyan" if root else str(self.workdir),
            # No exec happens (the kernel is forked): this is what its sys.argv says, as when
            # it was started by ``python -c ... -f <connection file>``.
            "argv": ["-c", "-f", conn],
            "connection_file": conn,
            # No IPython history: its database and saving thread would be one more thing
            # student code could exhaust (a thread, files, disk) before a test cell runs.
            "config": {"HistoryManager": {"enabled": False}},
            "env": env,
            "root": self._root_plan(info) if root else None,
        }
        deadline = time.monotonic() + lim.startup_timeout
        try:
            self.proc, status_r = forkserver.spawn(
                lim.python, _server_env(env), cfg, timeout=lim.startup_timeout
            )
        except forkserver.ForkServerError as exc:
            raise SandboxError(str(exc)) from exc
        raw = _read_to_eof(status_r, deadline)
        report: dict[str, Any] = {}
        for line in raw.splitlines():
            with contextlib.suppress(ValueError):
                report.update(json.loads(line))
        self.init_pid = report.pop("init_pid", None)
        if self.init_pid is not None:
            with contextlib.suppress(OSError):
                self._init_fd = os.pidfd_open(self.init_pid)
        if "error" in report or not report.get("uid") and root or not raw:
            code = self.proc.wait(5)
            raise SandboxError(report.get("error") or f"the sandbox did not start (exit {code})")
        if "listening" not in report:
            if self.proc.poll() is None:
                raise SandboxError("the kernel did not start in time")
            why = report.get("kernel_error") or f"exit {self.proc.returncode}"
            raise SandboxError(f"the kernel exited at start-up ({why})")
        self.isolation = {
            "uid": bool(report.get("uid")),
            "netns": bool(report.get("netns")),
            "mountns": bool(report.get("mountns")),
            "pidns": bool(report.get("pidns")),
            "ipcns": bool(report.get("ipcns")),
            "allow_list": bool(report.get("allow_list")),
            "seccomp": bool(report.get("seccomp")),
            "cgroup": self._cgroup.version if self._cgroup else False,
            "rlimits": sorted(rlimits),
            "forked": True,  # from the kernel fork server (forkserver.py): the only way
        }
        if self._cgroup_error:
            self.isolation["cgroup_error"] = self._cgroup_error
        if "netns_error" in report:
            self.isolation["netns_error"] = report["netns_error"]

    def _root_plan(self, info: KernelConnectionInfo) -> dict:
        """What the bootstrap needs to build the kernel's root: the allow-list, /etc, sizes."""
        lim = self.limits
        assert self.uid is not None and self.base is not None
        wanted: list[str] = ["/usr", *lim.expose_paths]
        pythons = {os.path.abspath(lim.python), os.path.realpath(lim.python)}
        if os.path.realpath(lim.python) == os.path.realpath(sys.executable):
            wanted += [sys.prefix, sys.base_prefix]
        for exe in pythons:  # the interpreter's prefix (a venv's, and its base's)
            wanted.append(str(Path(exe).parent.parent))
        paths: list[tuple[str, str, str]] = []
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):  # merged /usr: keep the links, /usr is bound
                paths.append(("link", top, os.readlink(top)))
            elif os.path.isdir(top):
                wanted.append(top)
        for name in lim.etc_files:
            path = os.path.join("/etc", name)
            if os.path.islink(path):
                paths.append(("link", path, os.readlink(path)))
            elif os.path.exists(path):
                wanted.append(path)
        kept: list[str] = []
        for path in sorted({os.path.realpath(p) for p in wanted if os.path.exists(p)}):
            if path == "/" or any(path.startswith(k.rstrip("/") + "/") for k in kept):
                continue
            kept.append(path)
        paths += [("bind", p, p) for p in kept]

        def bound(path: str) -> bool:
            return any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept)

        # A path reached through a symbolic link (a venv at /opt/venv -> /srv/venvs/3.12, say)
        # is bound at its real place; the link is made too, so that the path the kernel knows
        # (sys.executable, sys.prefix, sys.path) exists inside.
        made = {path for _kind, path, _target in paths}
        for link in sorted({link for p in wanted if (link := _first_link(p)) is not None}):
            if link not in made and not bound(link) and bound(os.path.realpath(link)):
                paths.append(("link", link, os.path.realpath(link)))
        uid = self.uid
        etc = {
            "passwd": "root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"jovyan:x:{uid}:{uid}:jovyan:/home/jovyan:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            "group": f"root:x:0:\njovyan:x:{uid}:\nnogroup:x:65534:\n",
            "hosts": "127.0.0.1\tlocalhost jupyter\n::1\tlocalhost\n",
            "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
        }
        return {
            "stage": str(self.base),
            "disk_bytes": lim.tmp_bytes,
            "connection": json.dumps(info),
            "paths": paths,
            "etc": etc,
            "devices": [d for d in lim.devices if os.path.exists(d)],
            "cgroup_procs": self._cgroup.procs if self._cgroup else [],
            "pivot_root": _PIVOT_ROOT.get(platform.machine()),
        }

    def _connect(self, info: KernelConnectionInfo) -> None:
        self._ctx = zmq.Context()
        self._ctx.setsockopt(zmq.MAXMSGSIZE, self.limits.max_message_bytes)
        self._ctx.setsockopt(zmq.RCVHWM, 1000)
        self._ctx.setsockopt(zmq.LINGER, 0)
        kc = BlockingKernelClient(context=self._ctx)
        kc.load_connection_info(info)
        kc.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)  # noqa: S604
        self.kc = kc

    def _wait_ready(self) -> None:
        """The kernel listens (it said so): wait until our IOPub subscription has reached it,
        so that no output of the first cell is lost. ipykernel's IOPub greets each new
        subscriber (``iopub_welcome``); a kernel that does not is subscribed once we see the
        status of a request of ours. The kernel takes its pristine snapshot when the first
        request runs (before any of its code): no warm-up request is needed."""
        assert self.kc is not None and self.proc is not None
        end = time.monotonic() + self.limits.startup_timeout
        msg_id = None
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SandboxError(f"the kernel exited at start-up (code {self.proc.returncode})")
            step_end = time.monotonic() + 0.5
            while time.monotonic() < step_end:
                try:
                    msg = self.kc.iopub_channel.get_msg(timeout=0.1)
                except Exception:  # noqa: BLE001, S112 - queue.Empty
                    continue
                if msg["msg_type"] == "iopub_welcome" or (
                    msg_id is not None and msg["parent_header"].get("msg_id") == msg_id
                ):
                    return
            msg_id = self.kc.kernel_info()
        raise SandboxError("the kernel did not start in time")

    def add_files(self, files: Mapping[str, bytes | str | os.PathLike]) -> None:
        """Copy the lab's data files into the kernel's working folder."""
        assert self.workdir is not None
        for name, content in files.items():
            rel = PurePosixPath(name)
            if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                raise ValueError(f"bad data file name {name!r}")
            dest = self.workdir.joinpath(*rel.parts)
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, bytes | str) and not isinstance(content, os.PathLike):
                    data = content.encode() if isinstance(content, str) else content
                    dest.write_bytes(data)
                else:
                    shutil.copyfile(content, dest)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                raise SandboxError(
                    "the lab's data files do not fit in the sandbox's private disk "
                    f"(Limits.tmp_bytes = {self.limits.tmp_bytes} bytes)"
                ) from exc
            if self.uid is not None:
                for p in [dest, *dest.relative_to(self.workdir).parents]:
                    target = self.workdir / p
                    os.chown(target, self.uid, self.uid)

    # -- execution ---------------------------------------------------------------------
    def execute(
        self,
        code: str,
        *,
        timeout: float,
        nonce: str | None = None,
        silent: bool = False,
        cell_cap: int | None = None,
        total_left: int | None = None,
        flood_left: int | None = None,
    ) -> CellRun:
        """Run one cell; never raises for anything the student's code does."""
        run = CellRun()
        if self.dead or self.kc is None or self.proc is None or self.proc.poll() is not None:
            run.kernel_died = True
            self.dead = True
            return run
        lim = self.limits
        cap = min(
            cell_cap or lim.output_cell_bytes, total_left if total_left is not None else 1 << 62
        )
        flood = flood_left if flood_left is not None else lim.flood_bytes
        content = {
            "code": code,
            "silent": silent,
            "store_history": not silent,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": False,
        }
        metadata = {CHECK_KEY: nonce} if nonce else {}
        msg = self.kc.session.msg("execute_request", content, metadata=metadata)
        msg_id = msg["header"]["msg_id"]
        self.kc.shell_channel.send(msg)
        shell_sock, iopub_sock = self.kc.shell_channel.socket, self.kc.iopub_channel.socket
        poller = zmq.Poller()
        poller.register(shell_sock, zmq.POLLIN)
        poller.register(iopub_sock, zmq.POLLIN)
        deadline = time.monotonic() + timeout
        interrupted_at: float | None = None
        idle = False
        kept = 0
        idle_wait_end: float | None = None
        while True:
            now = time.monotonic()
            if run.reply is not None and (idle or (idle_wait_end and now > idle_wait_end)):
                break
            if run.reply is None and now > deadline and interrupted_at is None:
                run.timed_out = True
                interrupted_at = now
                self.proc.send_signal(signal.SIGINT)
            if (
                interrupted_at is not None
                and run.reply is None
                and now > interrupted_at + lim.interrupt_grace
            ):
                run.stuck = True
                break
            if self.proc.poll() is not None:
                run.kernel_died = True
                self.dead = True
                break
            events = dict(poller.poll(100))
            if shell_sock in events:
                reply = self.kc.shell_channel.get_msg(timeout=0)
                if reply["parent_header"].get("msg_id") == msg_id:
                    run.reply = reply["content"]
                    run.execution_count = run.reply.get("execution_count")
                    idle_wait_end = time.monotonic() + 2.0
            if iopub_sock in events:
                for _ in range(100):
                    if not iopub_sock.poll(0):
                        break
                    m = self.kc.iopub_channel.get_msg(timeout=0)
                    if m["parent_header"].get("msg_id") != msg_id:
                        continue
                    mtype, c = m["msg_type"], m["content"]
                    if mtype == "status":
                        idle = idle or c.get("execution_state") == "idle"
                        continue
                    size = _text_size(c)
                    run.received_bytes += size
                    self.received_bytes += size
                    if mtype == "error":
                        run.saw_error = True
                    elif mtype == "stream" and c.get("name") == "stderr":
                        run.saw_stderr = True
                    elif mtype == "execute_result":
                        run.last_result_text = str(c.get("data", {}).get("text/plain", ""))[:200]
                    elif mtype == "clear_output":
                        run.outputs.clear()
                        kept = 0
                        continue
                    if mtype not in ("stream", "display_data", "execute_result", "error"):
                        continue
                    kept = self._keep(run, mtype, c, kept, cap)
                if run.received_bytes > flood:
                    run.flooded = True
                    break
        return run

    @staticmethod
    def _keep(run: CellRun, mtype: str, c: dict, kept: int, cap: int) -> int:
        room = cap - kept
        size = _text_size(c)
        if mtype == "stream":
            text = c.get("text", "")
            if room <= 0:
                run.truncated = True
                return kept
            if len(text) > room:
                text = text[:room] + "\n[output truncated]\n"
                run.truncated = True
            last = run.outputs[-1] if run.outputs else None
            if last and last["output_type"] == "stream" and last["name"] == c.get("name"):
                last["text"] += text
            else:
                run.outputs.append(
                    {"output_type": "stream", "name": c.get("name", "stdout"), "text": text}
                )
            return kept + len(text)
        if mtype == "error":
            tb = [t[:4000] for t in c.get("traceback", [])[-20:]]
            run.outputs.append(
                {
                    "output_type": "error",
                    "ename": str(c.get("ename", ""))[:200],
                    "evalue": str(c.get("evalue", ""))[:2000],
                    "traceback": tb,
                }
            )
            return kept + sum(map(len, tb))
        if size > room:
            run.truncated = True
            data = {"text/plain": "[output too large: not kept]"}
        else:
            data = c.get("data", {})
        out = {"output_type": mtype, "data": data, "metadata": c.get("metadata", {})}
        if mtype == "execute_result":
            out["execution_count"] = c.get("execution_count")
        run.outputs.append(out)
        return kept + min(size, room)

    def close(self) -> list[int]:
        """Kill the kernel and everything it started; remove its files. Returns survivors."""
        left: list[int] = []
        self.dead = True
        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
            self.kc = None
        if self._ctx is not None:
            with contextlib.suppress(Exception):
                self._ctx.destroy(linger=0)
            self._ctx = None
        if self._init_fd is not None:
            # The namespace's init: when it dies the kernel kills every process in the PID
            # namespace (none can leave it), and the IPC namespace and private mounts go too.
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._init_fd, signal.SIGKILL)
            os.close(self._init_fd)
            self._init_fd = None
        if self.proc is not None:
            if self.uid is None:
                left = kill_session(self.proc.pid)
            elif self.init_pid is not None:
                # The relay exits once it has reaped the init, which exits once the kernel has
                # killed and reaped the namespace: then the cgroup is empty, with no polling.
                with contextlib.suppress(Exception):
                    self.proc.wait(5)
            with contextlib.suppress(Exception):
                self.proc.kill()
            with contextlib.suppress(Exception):
                self.proc.wait(5)
            self.proc.close()
        emptied = False
        if self._cgroup is not None:
            stuck = self._cgroup.destroy()
            left += stuck
            emptied = not stuck
            self._cgroup = None
        # Belt and braces: nothing of the uid should exist outside the namespace. An emptied
        # cgroup proves it (every process of the sandbox starts in it and none can leave it:
        # moving one takes root and a cgroup file system the sandbox has not got); without
        # one, look through /proc.
        if (
            self.uid is not None
            and not emptied
            and [p for p in _proc_ids("uid", self.uid) if not _is_zombie(p)]
        ):
            left += kill_uid(self.uid, self.limits.python)
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
        if self._slot is not None and not left:
            self._slot.release()  # a uid with survivors stays locked until this process ends
            self._slot = None
        return left

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
