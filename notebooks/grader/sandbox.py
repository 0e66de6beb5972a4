"""A sandboxed IPython kernel for running untrusted notebook code.

See README.md in this package for the threat model. In short, each kernel:

- is started by a small bootstrap (``_BOOT``) that, when the grader runs as root, moves into
  fresh network and UTS namespaces (loopback only, hostname ``jupyter``), lowers rlimits
  (address space, CPU, processes, file size, open files, no core dumps), sets no_new_privs,
  drops to a dedicated unprivileged uid/gid from a lockable range, and execs the kernel;
- talks to the grader over ZeroMQ ``ipc`` (unix sockets) since it has no usable network;
- runs in a fresh temporary folder with only the lab's data files and a scrubbed environment;
- is killed afterwards together with everything else running under its uid (``kill(-1)`` as
  that uid, then a /proc scan), and its files, including any it left in /tmp, are removed.

Without root, the uid switch, NPROC limit and namespaces are skipped (``isolation`` says so)
and clean-up falls back to the kernel's session id.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
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
    memory_bytes: int = 1 * GiB  # RLIMIT_AS
    cpu_seconds: int = 600  # RLIMIT_CPU of the kernel process
    nproc: int = 128  # RLIMIT_NPROC (per uid; threads count), only when switching uid
    file_bytes: int = 64 * MiB  # RLIMIT_FSIZE
    open_files: int = 256  # RLIMIT_NOFILE
    startup_timeout: float = 60.0
    uid_base: int = 61000  # sandbox uids (and gids) are uid_base .. uid_base+uid_count-1
    uid_count: int = 64
    python: str = sys.executable  # interpreter with ipykernel for the kernel
    tmp_root: str | None = None  # where sandbox folders go (default: the system temp dir)
    isolate_network: bool = True
    # With root: a private mount namespace hides these folders (tmpfs over them) from the
    # kernel; the interpreter's prefixes and the sandbox folder are bound back. /tmp is always
    # replaced by a private tmpfs of tmp_bytes.
    hidden_paths: tuple[str, ...] = (str(_PROJECT_ROOT), "/root", "/home", "/srv")
    expose_paths: tuple[str, ...] = ()  # extra folders the kernel needs (e.g. a lab venv)
    tmp_bytes: int = 256 * MiB
    extra_env: tuple[tuple[str, str], ...] = ()


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


# --- the privileged bootstrap (runs in the child, as root, before exec) ---------------------
_BOOT = r"""
import ctypes, fcntl, json, os, resource, socket, struct, sys
cfg = json.loads(sys.stdin.readline())
code = sys.stdin.read()
report = {"netns": False, "uid": False, "mountns": False}
libc = ctypes.CDLL(None, use_errno=True)
def mount(src, dst, fstype, flags, data):
    if libc.mount(src and src.encode(), dst.encode(), fstype and fstype.encode(), flags,
                  data and data.encode()) != 0:
        raise OSError(ctypes.get_errno(), "mount " + dst)
if cfg["mounts"] is not None:
    # private mount namespace: tmpfs over the covered folders, then the kept ones bound back
    os.unshare(os.CLONE_NEWNS)
    mount(None, "/", None, 16384 | (1 << 18), None)  # MS_REC | MS_PRIVATE
    keep_fds = {k: os.open(k, os.O_PATH | os.O_DIRECTORY) for k in cfg["mounts"]["keep"]}
    for cover, size in cfg["mounts"]["cover"]:
        mount("tmpfs", cover, "tmpfs", 2 | 4, "mode=755,size=%d" % size)  # nosuid, nodev
    for keep, fd in sorted(keep_fds.items(), key=lambda kv: kv[0].count("/")):
        if any(keep == c or keep.startswith(c + "/") for c, _ in cfg["mounts"]["cover"]):
            os.makedirs(keep, exist_ok=True)
            mount("/proc/self/fd/%d" % fd, keep, None, 4096 | 16384, None)  # MS_BIND|MS_REC
        os.close(fd)
    report["mountns"] = True
if cfg["isolate_network"]:
    try:
        os.unshare(os.CLONE_NEWNET | os.CLONE_NEWUTS)
        report["netns"] = True
        socket.sethostname("jupyter")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ifreq = fcntl.ioctl(s, 0x8913, struct.pack("16sh22x", b"lo", 0))  # SIOCGIFFLAGS
        flags = struct.unpack("16sh", ifreq[:18])[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh22x", b"lo", flags | 1))
        s.close()
    except OSError as exc:
        report["netns_error"] = str(exc)
for name, value in cfg["rlimits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
if cfg["uid"] is not None:
    os.setgroups([])
    os.setgid(cfg["uid"])
    os.setuid(cfg["uid"])
    report["uid"] = True
os.chdir(cfg["cwd"])
os.umask(0o077)
r, w = os.pipe()
os.write(w, code.encode())
os.close(w)
os.dup2(r, 0)
os.close(r)
os.write(cfg["status_fd"], json.dumps(report).encode())
os.close(cfg["status_fd"])
os.execve(cfg["python"], [cfg["python"], "-s", "-c",
          "import sys;exec(compile(sys.stdin.read(),'<kernel>','exec'))", "-f", cfg["conn"]],
          cfg["env"])
"""

_KERNEL_CODE = (Path(__file__).with_name("_kernel_main.py")).read_text()


class _UidSlot:
    """Exclusive use of one sandbox uid across processes (an flock on a root-only file)."""

    uid: int
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
            return
        raise SandboxError("all sandbox uids are busy; raise Limits.uid_count")

    def release(self) -> None:
        if self._fd is not None:
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
        self.proc: subprocess.Popen | None = None
        self.kc: BlockingKernelClient | None = None
        self._slot: _UidSlot | None = None
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
                kill_uid(self.uid, lim.python)  # leftovers of a crashed worker
            self.base = Path(tempfile.mkdtemp(dir=lim.tmp_root))
            os.chmod(self.base, 0o711 if root else 0o700)
            self.workdir = self.base / "lab"
            runtime = self.base / "r"
            for d in (self.workdir, runtime):
                d.mkdir(mode=0o700)
                if root:
                    assert self.uid is not None
                    os.chown(d, self.uid, self.uid)
            conn_file = runtime / "kernel.json"
            info: KernelConnectionInfo = {
                "transport": "ipc",
                "ip": str(runtime / "k"),
                "shell_port": 1,
                "iopub_port": 2,
                "stdin_port": 3,
                "control_port": 4,
                "hb_port": 5,
                "key": secrets.token_hex(32),
                "signature_scheme": "hmac-sha256",
                "kernel_name": "python3",
            }
            conn_file.write_text(json.dumps(info))
            if root:
                assert self.uid is not None
                os.chown(conn_file, self.uid, self.uid)
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
        work = str(self.workdir)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": work,
            "TMPDIR": work,
            "USER": "jovyan",
            "LOGNAME": "jovyan",
            "LANG": "C.UTF-8",
            "SHELL": "/bin/bash",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "IPYTHONDIR": str(self.base / "r" / "ipython"),
            "JUPYTER_RUNTIME_DIR": str(self.base / "r"),
        }
        env.update(dict(self.limits.extra_env))
        return env

    def _launch(self, info: KernelConnectionInfo, conn_file: Path) -> None:
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
        status_r, status_w = os.pipe()
        cfg = {
            "isolate_network": lim.isolate_network and root,
            "rlimits": rlimits,
            "uid": self.uid,
            "cwd": str(self.workdir),
            "python": lim.python,
            "conn": str(conn_file),
            "env": self._env(),
            "status_fd": status_w,
            "mounts": self._mount_plan() if root else None,
        }
        self.proc = subprocess.Popen(
            [lim.python, "-I", "-S", "-c", _BOOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={},
            cwd="/",
            start_new_session=True,
            pass_fds=(status_w,),
        )
        os.close(status_w)
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cfg) + "\n" + _KERNEL_CODE).encode())
        self.proc.stdin.close()
        with os.fdopen(status_r, "rb") as f:
            raw = f.read()
        try:
            self.isolation = json.loads(raw) if raw else {}
        except ValueError:
            self.isolation = {}
        if not raw:
            raise SandboxError(f"the sandbox did not start (exit code {self.proc.wait(5)})")
        self.isolation.setdefault("uid", False)
        self.isolation["rlimits"] = sorted(rlimits)

    def _mount_plan(self) -> dict:
        lim = self.limits
        keep = {os.path.realpath(p) for p in (*lim.expose_paths, str(self.base))}
        if os.path.realpath(lim.python) == os.path.realpath(sys.executable):
            keep |= {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
        keep.add(os.path.dirname(os.path.realpath(lim.python)))
        covers = {os.path.realpath(p) for p in lim.hidden_paths if os.path.isdir(p)}
        covers.add(os.path.realpath(tempfile.gettempdir()))
        for k in keep:  # folders the sandbox uid could not traverse
            parts = Path(k).parts
            for i in range(2, len(parts)):
                anc = os.path.join(*parts[:i])
                if not os.stat(anc).st_mode & 0o001:
                    covers.add(anc)
                    break
        covers = {c for c in covers if c != "/"}
        top = sorted(c for c in covers if not any(c.startswith(o + "/") for o in covers))
        cover = [
            (c, lim.tmp_bytes if c == os.path.realpath(tempfile.gettempdir()) else MiB) for c in top
        ]
        return {"keep": sorted(keep), "cover": cover}

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
        assert self.kc is not None and self.proc is not None
        end = time.monotonic() + self.limits.startup_timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SandboxError(f"the kernel exited at start-up (code {self.proc.returncode})")
            msg_id = self.kc.kernel_info()
            step_end = time.monotonic() + 1.0
            while time.monotonic() < step_end:
                try:
                    msg = self.kc.iopub_channel.get_msg(timeout=0.2)
                except Exception:  # noqa: BLE001, S112 - queue.Empty
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    self._drain_shell()
                    # Warm up: the first execution takes the kernel's pristine snapshot.
                    run = self.execute("", silent=True, timeout=self.limits.startup_timeout)
                    if run.reply is None:
                        raise SandboxError("the kernel did not answer its first request")
                    return
        raise SandboxError("the kernel did not start in time")

    def _drain_shell(self) -> None:
        assert self.kc is not None
        with contextlib.suppress(Exception):
            while True:
                self.kc.shell_channel.get_msg(timeout=0.05)

    def add_files(self, files: Mapping[str, bytes | str | os.PathLike]) -> None:
        """Copy the lab's data files into the kernel's working folder."""
        assert self.workdir is not None
        for name, content in files.items():
            rel = PurePosixPath(name)
            if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                raise ValueError(f"bad data file name {name!r}")
            dest = self.workdir.joinpath(*rel.parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes | str) and not isinstance(content, os.PathLike):
                data = content.encode() if isinstance(content, str) else content
                dest.write_bytes(data)
            else:
                shutil.copyfile(content, dest)
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
                with contextlib.suppress(OSError):
                    os.kill(self.proc.pid, signal.SIGINT)
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
        if self.uid is not None:
            left = kill_uid(self.uid, self.limits.python)
        if self.proc is not None:
            if self.uid is None:
                left = kill_session(self.proc.pid)
            with contextlib.suppress(Exception):
                self.proc.kill()
            with contextlib.suppress(Exception):
                self.proc.wait(5)
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
        if self.uid is not None:
            _remove_files_of(self.uid)
        if self._slot is not None and not left:
            self._slot.release()  # a uid with survivors stays locked until this process ends
            self._slot = None
        return left

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _remove_files_of(uid: int) -> None:
    """Remove what the sandbox uid left in the world-writable temp folders."""
    for folder in {tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"}:  # noqa: S108
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue
