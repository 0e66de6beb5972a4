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


# --- the bootstrap (runs in the child before exec; as root it builds the sandbox) -----------
# Without root (cfg["root"] is None) it only lowers rlimits and execs the kernel. As root:
#   P (this process, still in the grader's PID namespace) joins the grading's cgroup, unshares
#   mount, PID, IPC, network and UTS namespaces and forks
#   C, PID 1 of the new PID namespace: builds a fresh root (a read-only tmpfs holding read-only
#   binds of the allow-listed paths, a synthesised /etc, a minimal /dev, a new /proc, and one
#   size-capped tmpfs for everything writable), pivots into it and forks
#   K, which lowers rlimits, drops to the sandbox uid and execs the kernel.
# C relays SIGINT to K, reaps orphans and exits like K; when C dies the kernel kills every
# process of the namespace, and the namespaces (IPC objects, tmpfs contents) go with them.
# P relays signals to C and exits like it, so the grader sees the kernel's exit status.
_BOOT = r"""
import ctypes, fcntl, json, os, resource, signal, socket, struct, sys
cfg = json.loads(sys.stdin.readline())
code = sys.stdin.read()
libc = ctypes.CDLL(None, use_errno=True)
status = cfg["status_fd"]
def say(**kw):
    os.write(status, (json.dumps(kw) + "\n").encode())
def check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))
def mount(src, dst, fstype=None, flags=0, data=None):
    check(libc.mount(src and src.encode(), dst.encode(), fstype and fstype.encode(),
                     ctypes.c_ulong(flags), data and data.encode()), "mount " + dst)
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, REC, PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
def seccomp():
    # What the namespaces do not cover, denied with libseccomp (through ctypes): new user
    # namespaces (capabilities over new mounts, more kernel to attack) and the kernel keyrings
    # (they belong to the uid, so a key would outlive the grading). clone3 answers ENOSYS so
    # that libc falls back to clone, whose flags a filter can inspect. False: no libseccomp.
    try:
        sc = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        return False
    class Cmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
    sc.seccomp_init.restype = ctypes.c_void_p
    sc.seccomp_init.argtypes = [ctypes.c_uint32]
    sc.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    sc.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                          ctypes.c_uint, ctypes.POINTER(Cmp)]
    sc.seccomp_load.argtypes = [ctypes.c_void_p]
    sc.seccomp_release.argtypes = [ctypes.c_void_p]
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    newuser = Cmp(0, 7, 0x10000000, 0x10000000)  # SCMP_CMP_MASKED_EQ: arg0 has CLONE_NEWUSER
    ctx = sc.seccomp_init(allow)
    if not ctx:
        raise OSError("seccomp_init failed")
    for name, action, cmp in (("unshare", eperm, newuser), ("clone", eperm, newuser),
                              ("clone3", enosys, None), ("add_key", enosys, None),
                              ("request_key", enosys, None), ("keyctl", enosys, None)):
        nr = sc.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            continue  # not a system call on this machine
        rc = sc.seccomp_rule_add_array(ctx, action, nr, 1 if cmp else 0,
                                       ctypes.byref(cmp) if cmp else None)
        if rc < 0:
            raise OSError(-rc, "seccomp rule for " + name)
    rc = sc.seccomp_load(ctx)
    sc.seccomp_release(ctx)
    if rc < 0:
        raise OSError(-rc, "seccomp_load")
    return True
def kernel():
    for name, value in cfg["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    if cfg["uid"] is not None:
        # The OOM killer takes the student's processes before the relays (and the host's).
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("500")
        os.setgroups([])
        os.setgid(cfg["uid"])
        os.setuid(cfg["uid"])
    filtered = seccomp()
    os.chdir(cfg["cwd"])
    os.umask(0o077)
    r, w = os.pipe()
    os.write(w, code.encode())
    os.close(w)
    os.dup2(r, 0)
    os.close(r)
    say(uid=cfg["uid"] is not None, seccomp=filtered)
    os.close(status)
    os.execve(cfg["python"], cfg["argv"], cfg["env"])
def exit_like(st):
    os._exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))
def build_root(R):
    new = R["stage"]
    mount(None, "/", None, REC | PRIVATE)
    mount("tmpfs", new, "tmpfs", NOSUID | NODEV, "mode=755,size=4m")
    w = new + "/.w"
    os.mkdir(w)
    mount("tmpfs", w, "tmpfs", NOSUID | NODEV, "mode=755,size=%d" % R["disk_bytes"])
    uid = cfg["uid"]
    for name, mode, owned in (("home", 0o700, True), ("tmp", 0o1777, False),
                              ("shm", 0o1777, False), ("kernel", 0o700, True)):
        os.mkdir(w + "/" + name)
        os.chmod(w + "/" + name, mode)
        if owned:
            os.chown(w + "/" + name, uid, uid)
    with open(w + "/kernel/kernel.json", "w") as f:
        f.write(R["connection"])
    os.chown(w + "/kernel/kernel.json", uid, uid)
    def bind(src, dst, ro=True, rec=True):
        if os.path.isdir(src) and not os.path.islink(src):
            os.makedirs(new + dst, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(new + dst), exist_ok=True)
            open(new + dst, "a").close()
        mount(src, new + dst, None, BIND | (REC if rec else 0))
        if ro:
            mount(None, new + dst, None, REMOUNT | BIND | RDONLY | NOSUID | NODEV)
    # The writable places first, then the allow-list: an allowed path that lies under one of them
    # (a checkout and its venv under /tmp, say) is bound on top, read-only, instead of hidden.
    for src, dst in (("home", "/home/jovyan"), ("tmp", "/tmp"), ("tmp", "/var/tmp"),
                     ("shm", "/dev/shm"), ("kernel", "/run/kernel")):
        bind(w + "/" + src, dst, ro=False, rec=False)
    for kind, path, target in R["paths"]:
        if kind == "link":
            os.makedirs(os.path.dirname(new + path), exist_ok=True)
            os.symlink(target, new + path)
        else:
            bind(path, path)
    os.makedirs(new + "/etc", exist_ok=True)
    for name, text in R["etc"].items():
        with open(new + "/etc/" + name, "w") as f:
            f.write(text)
    for dev in ("null", "zero", "full", "random", "urandom"):
        bind("/dev/" + dev, "/dev/" + dev, ro=False, rec=False)
    for dev in R.get("devices", []):
        bind(dev, "/dev/" + os.path.basename(dev), ro=False, rec=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, new + "/dev/" + name)
    check(libc.umount2((w).encode(), 2), "umount scratch")  # MNT_DETACH: the binds keep it
    os.rmdir(w)
    os.makedirs(new + "/proc")
    mount("proc", new + "/proc", "proc", NOSUID | NODEV | NOEXEC, "hidepid=2")  # not even PID 1
    os.chdir(new)
    if R["pivot_root"] is not None:
        check(libc.syscall(R["pivot_root"], b".", b"."), "pivot_root")
        check(libc.umount2(b".", 2), "umount old root")
    else:
        os.chroot(".")
    os.chdir("/")
    mount(None, "/", None, REMOUNT | BIND | RDONLY | NOSUID | NODEV)
def network():
    try:
        socket.sethostname("jupyter")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ifreq = fcntl.ioctl(s, 0x8913, struct.pack("16sh22x", b"lo", 0))  # SIOCGIFFLAGS
        flags = struct.unpack("16sh", ifreq[:18])[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh22x", b"lo", flags | 1))
        s.close()
        return True
    except OSError as exc:
        say(netns_error=str(exc))
        return False
R = cfg["root"]
if R is None:
    kernel()
# SIGKILL when the grader's thread that started us dies (a crashed worker leaves no kernel);
# C has the same tie to us, and the namespace dies with C.
libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG
if os.getppid() != cfg["grader_pid"]:
    os._exit(70)
try:
    for procs in R["cgroup_procs"]:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    os.unshare(os.CLONE_NEWNS | os.CLONE_NEWPID | os.CLONE_NEWIPC | os.CLONE_NEWNET
               | os.CLONE_NEWUTS)
except OSError as exc:
    say(error="sandbox set-up failed: cgroup or namespaces: %s" % exc)
    os._exit(70)
init = os.fork()
if init:
    def relay(sig, frame):
        os.kill(init, sig)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, relay)
    say(init_pid=init)
    os.close(status)
    while True:
        pid, st = os.waitpid(init, 0)
        if pid == init:
            exit_like(st)
try:
    libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG: SIGKILL when the relay goes
    build_root(R)
    netns = network()
except BaseException as exc:
    say(error="sandbox set-up failed: %s" % exc)
    os._exit(70)
kid = os.fork()
if kid == 0:
    kernel()
def relay(sig, frame):
    os.kill(kid, sig)
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, relay)
say(mountns=True, pidns=True, ipcns=True, netns=netns, allow_list=True)
os.close(status)
os.close(0)
while True:
    pid, st = os.waitpid(-1, 0)
    if pid == kid:
        exit_like(st)
"""

_KERNEL_CODE = (Path(__file__).with_name("_kernel_main.py")).read_text()


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


def _sweep(parent: Path) -> None:
    """Remove empty cgroups left by worker processes that have died."""
    for d in parent.iterdir():
        owner = d.name.partition("-")[0]
        if not d.is_dir() or not owner.isdigit() or Path(f"/proc/{owner}").exists():
            continue
        with contextlib.suppress(OSError):
            d.rmdir()


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
        status_r, status_w = os.pipe()
        conn = "/run/kernel/kernel.json" if root else str(conn_file)
        cfg = {
            "rlimits": rlimits,
            "uid": self.uid,
            "cwd": "/home/jovyan" if root else str(self.workdir),
            "python": lim.python,
            # No IPython history: its database and saving thread would be one more thing
            # student code could exhaust (a thread, files, disk) before a test cell runs.
            "argv": [
                lim.python,
                "-s",
                "-c",
                "import sys;exec(compile(sys.stdin.read(),'<kernel>','exec'))",
                "-f",
                conn,
                "--HistoryManager.enabled=False",
            ],
            "env": self._env(),
            "status_fd": status_w,
            "grader_pid": os.getpid(),
            "root": self._root_plan(info) if root else None,
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
            with contextlib.suppress(Exception):
                self.proc.kill()
            with contextlib.suppress(Exception):
                self.proc.wait(5)
        if self._cgroup is not None:
            left += self._cgroup.destroy()
            self._cgroup = None
        # Belt and braces: nothing of the uid should exist outside the namespace.
        if self.uid is not None and [p for p in _proc_ids("uid", self.uid) if not _is_zombie(p)]:
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
