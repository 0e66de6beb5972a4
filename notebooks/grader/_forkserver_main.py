# The kernel fork server. NOT imported by the grader: its text, after _kernel_main.py's, is fed
# on stdin to an interpreter the grader starts with a clean exec (the kernel's scrubbed
# environment, no descriptor but its request socket, cwd /, a session of its own) and run as
# ``__main__``, as the kernel used to be. See "Kernel fork server" in README.md.
#
# The server imports the kernel machinery once (ipykernel, IPython, ZeroMQ: about half a
# second of CPU that every kernel used to pay) and then forks one process per kernel. It never
# reads a request: a request is three descriptors (a pipe to read the kernel's configuration
# from, a pipe to report on, a socket back to the grader), and only the forked child reads the
# configuration. So nothing of one kernel (its key, uid, paths) is ever in the server's memory,
# where the kernels forked after it would find it; and the server runs no student code, so
# every kernel starts from the same state: the modules imported here, nothing else.
#
# For each request:
#   P (forked from the server, still in the grader's namespaces) closes every other
#   descriptor, starts a session, joins the grading's cgroup, unshares mount, PID, IPC,
#   network and UTS namespaces and forks
#   C, PID 1 of the new PID namespace: builds a fresh root (a read-only tmpfs holding read-only
#   binds of the allow-listed paths, a synthesised /etc, a minimal /dev, a new /proc, and one
#   size-capped tmpfs for everything writable), pivots into it and forks
#   K, which lowers rlimits, drops to the sandbox uid, loads the seccomp filter, takes the
#   kernel's environment and argv and starts the IPython kernel (no exec: the modules are
#   already imported). It reports once its sockets are bound, so the grader connects at once.
# C relays SIGINT to K, reaps orphans and exits like K; when C dies the kernel kills every
# process of the namespace, and the namespaces (IPC objects, tmpfs contents) go with them.
# P relays signals to C and exits like it; the server reaps P and sends the grader its exit
# status. P and C die with their parents (PR_SET_PDEATHSIG); the server exits, killing its
# children, when the grader's end of the request socket closes (the grader process died or
# closed it). Without root (cfg["root"] is None) P only lowers rlimits and becomes the kernel.
import contextlib
import ctypes
import fcntl
import gc
import importlib
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import threading

_libc = ctypes.CDLL(None, use_errno=True)
_RDONLY, _NOSUID, _NODEV, _NOEXEC, _REMOUNT, _BIND, _REC, _PRIVATE = (
    1,
    2,
    4,
    8,
    32,
    4096,
    16384,
    1 << 18,
)
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS = 1, 38
# Modules every kernel imports on its way to its first cell, beyond those of the kernel code
# (ipykernel.ipkernel and ipykernel.kernelapp): imported here once. None starts a thread.
_SERVER_IMPORTS = (
    "IPython.core.completer",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.formatters",
    "IPython.core.history",
    "IPython.core.magics",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "bdb",
    "cmd",
    "comm",
    "faulthandler",
    "ipykernel.comm",
    "ipykernel.control",
    "ipykernel.debugger",
    "ipykernel.displayhook",
    "ipykernel.eventloops",
    "ipykernel.heartbeat",
    "ipykernel.iostream",
    "ipykernel.jsonutil",
    "ipykernel.parentpoller",
    "ipykernel.zmqshell",
    "jupyter_client.session",
    "math",
    "pdb",
    "tornado.platform.asyncio",
    "unittest",
    "unittest.case",
)
# Imported by every kernel's snapshot when installed (_kernel_main's _PRELOAD), so imported
# here when they are. numpy seeds its global generator at import: each kernel reseeds it.
_SERVER_OPTIONAL_IMPORTS = ("numpy", "numpy.testing", "pandas.testing")


class _Status:
    """The pipe on which P, C and K report to the grader (JSON lines; EOF when all closed)."""

    def __init__(self, fd):
        self.fd = fd

    def say(self, **kw):
        if self.fd is not None:
            os.write(self.fd, (json.dumps(kw) + "\n").encode())

    def close(self):
        # Once closed its number may be reused (by the kernel's sockets): never written again.
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


def _check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _mount(src, dst, fstype=None, flags=0, data=None):
    _check(
        _libc.mount(
            src and src.encode(),
            dst.encode(),
            fstype and fstype.encode(),
            ctypes.c_ulong(flags),
            data and data.encode(),
        ),
        "mount " + dst,
    )


def _seccomp():
    # What the namespaces do not cover, denied with libseccomp (through ctypes): new user
    # namespaces (capabilities over new mounts, more kernel to attack) and the kernel keyrings
    # (they belong to the uid, so a key would outlive the grading). clone3 answers ENOSYS so
    # that libc falls back to clone, whose flags a filter can inspect. False: no libseccomp.
    try:
        sc = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        return False

    class Cmp(ctypes.Structure):
        _fields_ = [
            ("arg", ctypes.c_uint),
            ("op", ctypes.c_int),
            ("a", ctypes.c_uint64),
            ("b", ctypes.c_uint64),
        ]

    sc.seccomp_init.restype = ctypes.c_void_p
    sc.seccomp_init.argtypes = [ctypes.c_uint32]
    sc.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    sc.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(Cmp),
    ]
    sc.seccomp_load.argtypes = [ctypes.c_void_p]
    sc.seccomp_release.argtypes = [ctypes.c_void_p]
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    newuser = Cmp(0, 7, 0x10000000, 0x10000000)  # SCMP_CMP_MASKED_EQ: arg0 has CLONE_NEWUSER
    ctx = sc.seccomp_init(allow)
    if not ctx:
        raise OSError("seccomp_init failed")
    for name, action, cmp in (
        ("unshare", eperm, newuser),
        ("clone", eperm, newuser),
        ("clone3", enosys, None),
        ("add_key", enosys, None),
        ("request_key", enosys, None),
        ("keyctl", enosys, None),
    ):
        nr = sc.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            continue  # not a system call on this machine
        rc = sc.seccomp_rule_add_array(
            ctx, action, nr, 1 if cmp else 0, ctypes.byref(cmp) if cmp else None
        )
        if rc < 0:
            raise OSError(-rc, "seccomp rule for " + name)
    rc = sc.seccomp_load(ctx)
    sc.seccomp_release(ctx)
    if rc < 0:
        raise OSError(-rc, "seccomp_load")
    return True


def _kernel(cfg, status):
    """K: limits, uid, seccomp, then the kernel itself (never returns)."""
    for name, value in cfg["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if cfg["uid"] is not None:
        # The OOM killer takes the student's processes before the relays (and the host's).
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("500")
        os.setgroups([])
        os.setgid(cfg["uid"])
        os.setuid(cfg["uid"])
    filtered = _seccomp()
    os.chdir(cfg["cwd"])
    os.umask(0o077)
    status.say(uid=cfg["uid"] is not None, seccomp=filtered)
    # What an exec would have given the kernel: its own environment and argv, and import
    # caches that know nothing of the server's view of the file system (its cwd was the host's
    # root; the kernel's is its working folder).
    os.environ.clear()
    os.environ.update(cfg["env"])
    sys.argv[:] = cfg["argv"]
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()

    def ready():
        status.say(listening=True)
        status.close()

    try:
        # start_kernel is defined by _kernel_main.py's text, which precedes this one.
        globals()["start_kernel"](cfg["connection_file"], cfg["config"], ready)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            status.say(kernel_error=f"{type(exc).__name__}: {exc}"[:500])
        os._exit(1)
    os._exit(0)


def _exit_like(st):
    os._exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))


def _build_root(cfg, R):
    new = R["stage"]
    _mount(None, "/", None, _REC | _PRIVATE)
    _mount("tmpfs", new, "tmpfs", _NOSUID | _NODEV, "mode=755,size=4m")
    w = new + "/.w"
    os.mkdir(w)
    _mount("tmpfs", w, "tmpfs", _NOSUID | _NODEV, f"mode=755,size={R['disk_bytes']}")
    uid = cfg["uid"]
    for name, mode, owned in (
        ("home", 0o700, True),
        ("tmp", 0o1777, False),
        ("shm", 0o1777, False),
        ("kernel", 0o700, True),
    ):
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
        _mount(src, new + dst, None, _BIND | (_REC if rec else 0))
        if ro:
            _mount(None, new + dst, None, _REMOUNT | _BIND | _RDONLY | _NOSUID | _NODEV)

    # The writable places first, then the allow-list: an allowed path that lies under one of
    # them (a checkout and its venv under /tmp, say) is bound on top, read-only, not hidden.
    for src, dst in (
        ("home", "/home/jovyan"),
        ("tmp", "/tmp"),  # noqa: S108 - the sandbox's own, on its private tmpfs
        ("tmp", "/var/tmp"),  # noqa: S108
        ("shm", "/dev/shm"),  # noqa: S108
        ("kernel", "/run/kernel"),
    ):
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
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, new + "/dev/" + name)
    _check(_libc.umount2(w.encode(), 2), "umount scratch")  # MNT_DETACH: the binds keep it
    os.rmdir(w)
    os.makedirs(new + "/proc")
    # hidepid=2: not even PID 1 is visible to the kernel's uid
    _mount("proc", new + "/proc", "proc", _NOSUID | _NODEV | _NOEXEC, "hidepid=2")
    os.chdir(new)
    if R["pivot_root"] is not None:
        _check(_libc.syscall(R["pivot_root"], b".", b"."), "pivot_root")
        _check(_libc.umount2(b".", 2), "umount old root")
    else:
        os.chroot(".")
    os.chdir("/")
    _mount(None, "/", None, _REMOUNT | _BIND | _RDONLY | _NOSUID | _NODEV)


def _network(status):
    try:
        socket.sethostname("jupyter")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ifreq = fcntl.ioctl(s, 0x8913, struct.pack("16sh22x", b"lo", 0))  # SIOCGIFFLAGS
        flags = struct.unpack("16sh", ifreq[:18])[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh22x", b"lo", flags | 1))
        s.close()
        return True
    except OSError as exc:
        status.say(netns_error=str(exc))
        return False


def _relay_to(pid):
    def relay(sig, frame):
        os.kill(pid, sig)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, relay)


def _boot(cfg, status, server_pid):
    """P: from the fork to the kernel (never returns)."""
    # SIGKILL when the server dies; C has the same tie to P, and the namespace dies with C.
    _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != server_pid:
        os._exit(70)
    R = cfg["root"]
    if R is None:
        _kernel(cfg, status)
    try:
        for procs in R["cgroup_procs"]:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        os.unshare(
            os.CLONE_NEWNS | os.CLONE_NEWPID | os.CLONE_NEWIPC | os.CLONE_NEWNET | os.CLONE_NEWUTS
        )
    except OSError as exc:
        status.say(error=f"sandbox set-up failed: cgroup or namespaces: {exc}")
        os._exit(70)
    init = os.fork()
    if init:
        _relay_to(init)
        status.say(init_pid=init)
        status.close()
        while True:
            pid, st = os.waitpid(init, 0)
            if pid == init:
                _exit_like(st)
    try:
        _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)  # when the relay P goes
        _build_root(cfg, R)
        netns = _network(status)
    except BaseException as exc:
        status.say(error=f"sandbox set-up failed: {exc}")
        os._exit(70)
    kid = os.fork()
    if kid == 0:
        _kernel(cfg, status)
    _relay_to(kid)
    status.say(mountns=True, pidns=True, ipcns=True, netns=netns, allow_list=True)
    status.close()
    while True:
        pid, st = os.waitpid(-1, 0)
        if pid == kid:
            _exit_like(st)


def _child(status_fd, cfg_r, server_pid):
    """The forked child: keep only its own descriptors, read its configuration, boot."""
    status = _Status(status_fd)
    try:
        os.setsid()
        keep = sorted({0, 1, 2, status_fd, cfg_r})
        for low, high in zip(keep, [*keep[1:], os.sysconf("SC_OPEN_MAX")], strict=True):
            os.closerange(low + 1, high)
        chunks = []
        while chunk := os.read(cfg_r, 1 << 16):
            chunks.append(chunk)
        os.close(cfg_r)
        cfg = json.loads(b"".join(chunks))
        del chunks
        _boot(cfg, status, server_pid)
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            status.say(error=f"kernel start-up failed: {type(exc).__name__}: {exc}"[:500])
    os._exit(70)


def _send(fd, obj, fds=()):
    """One message to the grader on a per-kernel socket (which may be gone)."""
    sock = socket.socket(fileno=fd)
    try:
        socket.send_fds(sock, [json.dumps(obj).encode()], list(fds))
    except OSError:
        pass
    finally:
        sock.detach()


def _serve(request_fd):
    sock = socket.socket(fileno=request_fd)
    try:
        for name in _SERVER_IMPORTS + _SERVER_OPTIONAL_IMPORTS:
            with contextlib.suppress(ImportError):  # not in this version: nor in the kernel
                importlib.import_module(name)
        if "numpy" in sys.modules:
            os.register_at_fork(after_in_child=sys.modules["numpy"].random.seed)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)  # the kernel code came on stdin: nothing more to read there
        os.close(null)
        if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
            raise RuntimeError("a thread started while importing: forking is unsafe")
        # Everything imported so far lives as long as every kernel: keep the collector off it
        # (fewer pages copied after each fork).
        gc.collect()
        gc.freeze()
    except BaseException as exc:
        sock.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]}).encode())
        os._exit(1)
    server_pid = os.getpid()
    sock.send(json.dumps({"ready": server_pid}).encode())
    kids: dict[int, tuple[int, int]] = {}  # pidfd -> (pid, the grader's socket for that kernel)
    poller = select.poll()
    poller.register(request_fd, select.POLLIN)
    while True:
        for fd, _event in poller.poll():
            if fd != request_fd:
                pid, ctl = kids.pop(fd)
                poller.unregister(fd)
                os.close(fd)
                _, st = os.waitpid(pid, 0)
                _send(ctl, {"exit": os.waitstatus_to_exitcode(st)})
                os.close(ctl)
                continue
            try:
                msg, fds, _flags, _addr = socket.recv_fds(sock, 16, 3)
            except OSError:
                msg, fds = b"", []
            if not msg:  # the grader is gone: so are its kernels
                for pidfd, (pid, _ctl) in kids.items():
                    with contextlib.suppress(OSError):
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    with contextlib.suppress(OSError):
                        os.waitpid(pid, 0)
                os._exit(0)
            if len(fds) != 3:
                for extra in fds:
                    os.close(extra)
                continue
            status_fd, cfg_r, ctl = fds
            try:
                pid = os.fork()
            except OSError as exc:
                for extra in (status_fd, cfg_r):
                    os.close(extra)
                _send(ctl, {"error": f"fork failed: {exc}"})
                os.close(ctl)
                continue
            if pid == 0:
                kids.clear()  # nothing of the other kernels stays in this one
                del sock, poller
                _child(status_fd, cfg_r, server_pid)
            os.close(status_fd)
            os.close(cfg_r)
            pidfd = os.pidfd_open(pid)
            _send(ctl, {"pid": pid}, [pidfd])
            kids[pidfd] = (pid, ctl)
            poller.register(pidfd, select.POLLIN)


_serve(int(sys.argv[1]))
