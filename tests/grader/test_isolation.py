"""The sandbox contains the student's code completely (issue 9, item 7).

Each test grades a notebook through the real sandbox: the answer cell is a probe that tries to
reach something outside, and a test cell asserts from inside that it could not. The grading
host's side is checked afterwards from here (nothing survives). These tests need root (CI runs as
root): without it they fail, they do not skip.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from notebooks.grader import KernelPool, Limits, SandboxError, grade

MiB = 1024**2
PG_SOCKET = "/var/run/postgresql/.s.PGSQL.5432"
BASE = Limits(
    cell_timeout=20,
    notebook_timeout=90,
    interrupt_grace=2,
    memory_bytes=2048 * MiB,
    startup_timeout=60,
)


@pytest.fixture(autouse=True)
def _needs_root():
    if os.geteuid() != 0:
        pytest.fail("the sandbox isolation tests need root (CI runs them as root)")


def _meta(**kw):
    return {
        "nbgrader": {"schema_version": 3, "grade": False, "solution": False, "locked": False, **kw}
    }


def lab(probe: str, *checks: str) -> tuple[str, str]:
    """(source, submission): the submission's answer is ``add`` plus the probe; each check is a
    test cell of 1 point run after it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import math", metadata=_meta(locked=True, grade_id="setup")),
        nbformat.v4.new_code_cell(
            "### BEGIN SOLUTION\ndef add(a, b):\n    return a + b\n### END SOLUTION",
            metadata=_meta(solution=True, grade_id="answer"),
        ),
        nbformat.v4.new_code_cell(
            "assert add(1, 2) == 3", metadata=_meta(grade=True, points=1, grade_id="t_add")
        ),
    ]
    for i, check in enumerate(checks):
        nb.cells.append(
            nbformat.v4.new_code_cell(
                textwrap.dedent(check), metadata=_meta(grade=True, points=1, grade_id=f"t_{i}")
            )
        )
    source = nbformat.writes(nb)
    nb.cells[1].source = "def add(a, b):\n    return a + b\n" + textwrap.dedent(probe)
    return source, nbformat.writes(nb)


def run(probe: str, *checks: str, limits: Limits = BASE, pool: KernelPool | None = None):
    source, submission = lab(probe, *checks)
    result = grade(source, submission, limits=None if pool else limits, pool=pool)
    outputs = "\n".join(
        f"--- cell {i}:\n" + "".join(o.get("text", "") or str(o.get("data", o)) for o in c.outputs)
        for i, c in enumerate(result.notebook.cells)
        if c.cell_type == "code"
    )
    return result, outputs


def assert_full_marks(result, outputs: str) -> None:
    cells = {gid: (c.score, c.error) for gid, c in result.cells.items()}
    assert all(score == 1.0 for score, _ in cells.values()), f"{cells}\n{outputs}"
    assert result.status == "ok", (result.status, outputs)


def test_host_unix_sockets_are_unreachable(pool):
    """PostgreSQL's socket (a superuser when pg_hba trusts local), munge's, MariaDB's."""
    assert os.path.exists(PG_SOCKET), "the test needs PostgreSQL's unix socket on the host"
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(PG_SOCKET)  # reachable from the grader: the sandbox is what stops it
    probe = f"""
        import glob, socket
        REACHED = []
        paths = {[PG_SOCKET, "/run/munge/munge.socket.2", "/run/mysqld/mysqld.sock"]!r}
        paths += glob.glob('/run/**/*.sock*', recursive=True)
        paths += glob.glob('/var/run/**/.s.*', recursive=True)
        paths += glob.glob('/tmp/**/*Socket*', recursive=True)
        for path in paths:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(1)
                    s.connect(path)
                    REACHED.append(path)
            except OSError as exc:
                print(path, exc)
        """
    result, out = run(probe, "assert REACHED == [], REACHED", pool=pool)
    assert_full_marks(result, out)
    iso = result.isolation
    assert iso.get("pidns") and iso.get("ipcns") and iso.get("mountns") and iso.get("cgroup"), iso


def test_host_processes_and_command_lines_are_invisible():
    marker = "host-marker-" + secrets.token_hex(6)
    host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", marker])
    try:
        probe = f"""
            import os
            SEEN, PIDS = [], []
            for pid in os.listdir('/proc'):
                if not pid.isdigit():
                    continue
                PIDS.append(int(pid))
                try:
                    cmd = open(f'/proc/{{pid}}/cmdline', 'rb').read()
                except OSError:
                    continue
                if {marker.encode()!r} in cmd or b'pytest' in cmd or b'postgres' in cmd:
                    SEEN.append((pid, cmd[:80]))
            print(sorted(PIDS))
            """
        result, out = run(
            probe,
            "assert SEEN == [], SEEN",
            f"assert {host.pid} not in PIDS and {os.getpid()} not in PIDS and len(PIDS) < 20",
        )
    finally:
        host.kill()
        host.wait()
    assert_full_marks(result, out)


def _host_shm_keys() -> set[int]:
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return {int(line.split()[0]) for line in lines if line.strip()}


def test_nothing_survives_a_grading():
    """SysV shared memory, files in /run/lock, /tmp, /var/tmp and /dev/shm, daemons."""
    token = secrets.token_hex(6)
    key = int(token[:7], 16)
    places = ["/run/lock", "/tmp", "/var/tmp", "/dev/shm"]  # noqa: S108
    probe = f"""
        import ctypes, os, time
        libc = ctypes.CDLL(None, use_errno=True)
        SHM = libc.shmget({key}, 1 << 20, 0o1000 | 0o666)  # IPC_CREAT
        WROTE = []
        for folder in {places!r}:
            try:
                with open(os.path.join(folder, 'left-{token}'), 'w') as f:
                    f.write('x')
                WROTE.append(folder)
            except OSError as exc:
                print(folder, exc)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv('/bin/sleep', ['sleep', '300'])
            os._exit(0)
        time.sleep(0.2)
        print('shm', SHM, 'wrote', WROTE)
        """
    result, out = run(probe, "assert SHM >= 0 and '/tmp' in WROTE and '/dev/shm' in WROTE")
    assert_full_marks(result, out)  # the student may use all of these while grading...
    assert key not in _host_shm_keys(), "the student's SysV shared memory outlived the grading"
    left = [p for p in places if os.path.exists(os.path.join(p, f"left-{token}"))]
    assert left == [], f"the student's files outlived the grading in {left}"
    uid = result.isolation.get("sandbox_uid")
    survivors = subprocess.run(
        ["pgrep", "-u", str(uid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert survivors == [], "the student's processes outlived the grading"


def test_memory_is_capped_for_the_whole_grading_not_per_process():
    """Four children of 400 MiB each, held at once: the total cap (1 GiB) lets at most two."""
    limits = replace(BASE, total_memory_bytes=1024 * MiB)
    probe = """
        import os, time
        r, w = os.pipe()
        kids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                os.close(r)
                try:
                    hog = bytearray(b'\\x01') * (400 * 1024 * 1024)  # touched, resident
                    os.write(w, b'1')
                    time.sleep(60)
                finally:
                    os._exit(0)
            kids.append(pid)
        os.close(w)
        end = time.monotonic() + 10
        reported = 0
        os.set_blocking(r, False)
        while time.monotonic() < end and reported < 4:
            try:
                reported += len(os.read(r, 16))
            except BlockingIOError:
                time.sleep(0.1)
        time.sleep(1)
        RSS = 0
        for pid in kids:
            try:
                for line in open(f'/proc/{pid}/status'):
                    if line.startswith('VmRSS:'):
                        RSS += int(line.split()[1]) * 1024
            except OSError:
                pass
        for pid in kids:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except OSError:
                pass
        print('reported', reported, 'resident MiB', RSS >> 20)
        """
    result, out = run(probe, "assert RSS <= 1024 * 1024 * 1024, RSS >> 20", limits=limits)
    assert_full_marks(result, out)


def test_process_count_is_capped():
    limits = replace(BASE, nproc=48)
    probe = """
        import os, threading, time
        KIDS, THREADS = [], 0
        for _ in range(300):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            KIDS.append(pid)
        for pid in KIDS:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        stop = threading.Event()
        for _ in range(300):
            try:
                threading.Thread(target=stop.wait, daemon=True).start()
            except RuntimeError:
                break
            THREADS += 1
        stop.set()
        print('processes', len(KIDS), 'threads', THREADS)
        """
    result, out = run(probe, "assert len(KIDS) < 48 and THREADS < 48", limits=limits)
    assert_full_marks(result, out)


def test_cpu_is_capped_for_the_whole_grading():
    """Two busy children for 6 s under a quota of a tenth of a CPU: about 0.6 CPU-seconds
    (unlimited, 12 on an idle machine of 2 cores)."""
    limits = replace(BASE, cpus=0.1)
    probe = """
        import os, time
        kids = []
        for _ in range(2):
            pid = os.fork()
            if pid == 0:
                end = time.monotonic() + 6
                while time.monotonic() < end:
                    pass
                os._exit(0)
            kids.append(pid)
        for pid in kids:
            os.waitpid(pid, 0)
        CPU = os.times().children_user + os.times().children_system
        print('CPU seconds of the children', CPU)
        """
    result, out = run(probe, "assert CPU <= 0.9, CPU", limits=limits)
    assert_full_marks(result, out)


def test_disk_writes_are_capped_in_total():
    """Many files, each under the per-file limit, in every writable place: 64 MiB in all."""
    limits = replace(BASE, tmp_bytes=64 * MiB, file_bytes=16 * MiB)
    probe = """
        import os
        WRITTEN = 0
        chunk = b'0' * (1024 * 1024)
        for n, folder in enumerate(('.', '/tmp', '/var/tmp', '/dev/shm')):
            for i in range(12):
                try:
                    name = os.path.join(folder, f'fill{n}-{i}.bin')
                    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                except OSError:
                    continue
                try:
                    for _ in range(15):
                        WRITTEN += os.write(fd, chunk)  # what the file system took
                except OSError:
                    pass
                os.close(fd)
        print('written MiB', WRITTEN >> 20)
        """
    result, out = run(probe, "assert WRITTEN <= 64 * 1024 * 1024, WRITTEN >> 20", limits=limits)
    assert_full_marks(result, out)


def test_files_outside_the_allow_list_are_not_there():
    """Configuration files, service state and the project itself: only the Python runtime and
    the lab's data are visible."""
    probe = """
        import os
        LEAKED = []
        try:
            text = open('/etc/passwd').read()
            LEAKED += [f'/etc/passwd names {u}' for u in ('postgres', 'munge', 'mysql', 'slurm')
                       if u + ':' in text]
        except OSError:
            pass
        for path in ('/etc/postgresql', '/etc/munge', '/etc/slurm', '/etc/mysql', '/etc/shadow',
                     '/etc/hostname', '/etc/ssh', '/etc/os-release', '/etc/crontab',
                     '/var/lib/postgresql', '/var/log', '/var/run/postgresql', '/run/munge',
                     '/opt', '/srv', '/mnt', '/root/.bashrc', '/work/main/README.md',
                     '/work/main/academy', '/sys/fs/cgroup', '/boot'):
            if os.path.exists(path):
                LEAKED.append(path)
        ETC = sorted(os.listdir('/etc'))
        print('etc', ETC)
        with open('data.csv') as f:
            DATA = f.read()
        """
    source, submission = lab(probe, "assert LEAKED == [], LEAKED", "assert DATA == 'a,b\\n1,2\\n'")
    result = grade(source, submission, limits=BASE, data_files={"data.csv": "a,b\n1,2\n"})
    out = "".join(o.get("text", "") for o in result.notebook.cells[1].outputs)
    assert_full_marks(result, out)


def test_exhausting_resources_in_one_cell_still_gives_full_marks_later():
    """Disk, threads, processes and file descriptors exhausted (and kept), memory exhausted
    (and given back): the grader's own per-cell machinery needs none of them."""
    limits = replace(BASE, memory_bytes=1024 * MiB, nproc=64, tmp_bytes=64 * MiB, open_files=128)
    probe = """
        import os, threading, time
        stop = threading.Event()
        THREADS, KIDS, FDS = [], [], []
        WRITTEN = 0
        try:
            with open('fill.bin', 'wb') as f:
                for _ in range(200):  # at most 200 MiB, in case nothing caps it
                    f.write(b'0' * (1024 * 1024))
                    f.flush()
                    WRITTEN += 1
        except OSError:
            pass
        try:
            hog = []
            while True:
                hog.append(bytearray(b'\\x01') * (64 * 1024 * 1024))
        except MemoryError:
            del hog
        while len(KIDS) < 500:
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(300)
                os._exit(0)
            KIDS.append(pid)
        for pid in KIDS[::2]:  # room for threads too
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        while len(THREADS) < 500:
            try:
                t = threading.Thread(target=stop.wait, daemon=True)
                t.start()
                THREADS.append(t)
            except RuntimeError:
                break
        while len(FDS) < 10000:
            try:
                FDS.append(os.open('/dev/null', os.O_RDONLY))
            except OSError:
                break
        print(len(THREADS), 'threads', len(KIDS), 'processes', len(FDS), 'fds', WRITTEN, 'MiB')
        """
    checks = [
        "assert add(2, 3) == 5",
        "import unittest\nunittest.TestCase().assertEqual(add(2, 2), 4)",
        "print('the grader still works')\nassert add(-1, 1) == 0",
        "assert sum(add(i, i) for i in range(100)) == 9900",
    ]
    started = time.monotonic()
    result, out = run(probe, *checks, limits=limits)
    assert_full_marks(result, out)
    assert time.monotonic() - started < 80


def test_data_files_larger_than_the_private_disk_are_refused_clearly():
    source, submission = lab("")
    with pytest.raises(SandboxError, match="do not fit"):
        grade(
            source,
            submission,
            limits=replace(BASE, tmp_bytes=4 * MiB),
            data_files={"big.bin": b"0" * (8 * MiB)},
        )


def test_no_user_namespaces_or_kernel_keys():
    """A user namespace gives the student code capabilities over new mounts and more of the
    kernel to attack; the kernel keyrings belong to the uid, not to the grading, so a key
    stored by one grading could be read by the next one given the same sandbox uid."""
    probe = """
        import ctypes, subprocess
        USERNS = subprocess.run(['/usr/bin/unshare', '-U', 'true'], capture_output=True)
        print(USERNS)
        libc = ctypes.CDLL(None, use_errno=True)
        # add_key("user", ..., KEY_SPEC_USER_KEYRING) on x86_64
        KEY = libc.syscall(248, b'user', b'left-for-the-next', b'secret', 6, -4)
        print('add_key', KEY, ctypes.get_errno())
        """
    result, out = run(probe, "assert USERNS.returncode != 0 and KEY < 0, (USERNS, KEY)")
    assert_full_marks(result, out)
