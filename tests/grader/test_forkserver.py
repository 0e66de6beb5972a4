"""The kernel fork server (notebooks/grader/forkserver.py, _forkserver_main.py).

Every kernel is forked from a server that was started by a clean exec and has imported the
kernel machinery once; that is the path the hostile and isolation suites grade through (their
``pool`` fixture is checked here). A forked kernel starts from the server's state, never from
an earlier kernel's: nothing one submission sets, imports or opens reaches the next, it holds no
descriptor of the server or of the grader, and each kernel has its own PID namespace and uid as
before. These tests need root (CI runs as root): without it they fail, they do not skip.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from notebooks.grader import Limits, forkserver, grade
from notebooks.grader.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
LIMITS = Limits(cell_timeout=10, notebook_timeout=60, interrupt_grace=2, startup_timeout=60)


@pytest.fixture(autouse=True)
def _needs_root():
    if os.geteuid() != 0:
        pytest.fail("the fork server's isolation tests need root (CI runs them as root)")


def _meta(**kw):
    return {
        "nbgrader": {"schema_version": 3, "grade": False, "solution": False, "locked": False, **kw}
    }


def _notebook(answer: str, *checks: str) -> str:
    """An answer cell, then one test cell of 1 point per check."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            textwrap.dedent(answer), metadata=_meta(solution=True, grade_id="answer")
        )
    ]
    nb.cells += [
        nbformat.v4.new_code_cell(
            textwrap.dedent(check), metadata=_meta(grade=True, points=1, grade_id=f"t_{i}")
        )
        for i, check in enumerate(checks)
    ]
    return nbformat.writes(nb)


def _grade(answer: str, *checks: str, pool=None):
    nb = _notebook(answer, *checks)
    result = grade(nb, nb, limits=None if pool else LIMITS, pool=pool)
    text = "".join(
        o.get("text", "") for c in result.notebook.cells if c.cell_type == "code" for o in c.outputs
    )
    return result, text


def _full_marks(result, text: str) -> None:
    cells = {gid: (c.score, c.error) for gid, c in result.cells.items()}
    assert all(score == 1.0 for score, _ in cells.values()), f"{cells}\n{text}"
    assert result.status == "ok", (result.status, text)


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _servers() -> dict[int, forkserver.ForkServer]:
    return {server.pid: server for server in forkserver._servers.values()}


def _descriptors(pid: int | str) -> dict[str, str]:
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (our own listing's descriptor)
    return found


def test_the_hostile_suites_kernels_are_forked_from_a_clean_server(pool):
    """The ``pool`` of the hostile and isolation suites: its kernels' first process is a child
    of a fork server, an interpreter exec'd with the kernel's scrubbed environment (none of the
    grader's, which holds DATABASE_URL here) and no descriptor of the grader's."""
    sandbox = pool.acquire()
    try:
        assert sandbox.isolation["forked"] is True
        server_pid = int(_status(sandbox.proc.pid)["PPid"])
        server = _servers()[server_pid]
        assert server.python == LIMITS.python == sys.executable
        cmdline = Path(f"/proc/{server_pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[1:3] == [b"-s", b"-c"], cmdline
        assert b"exec(compile(sys.stdin.read()" in cmdline[3], cmdline
        environ = dict(
            item.split(b"=", 1)
            for item in Path(f"/proc/{server_pid}/environ").read_bytes().split(b"\0")
            if b"=" in item
        )
        assert "DATABASE_URL" in os.environ
        assert b"DATABASE_URL" not in environ and environ[b"USER"] == b"jovyan", environ
        # Its descriptors: /dev/null on 0-2, its request socket, and for each kernel it has
        # forked and not yet reaped a pidfd and the socket back to the grader. No file, no pipe.
        # The pool starts a replacement as soon as one is taken: while the server takes that
        # request it briefly holds the request's two pipes (closed once it has forked), so
        # look once the pool is full again.
        deadline = time.monotonic() + 60
        while (pool._starting or pool._ready.qsize() < pool.size) and time.monotonic() < deadline:
            time.sleep(0.05)
        for fd, target in _descriptors(server_pid).items():
            assert target == "/dev/null" or target.startswith(("socket:", "anon_inode:[pidfd]")), (
                fd,
                target,
            )
    finally:
        sandbox.close()


def test_a_kernel_sees_nothing_of_the_previous_submission(pool):
    """What one submission sets (globals, builtins, an imported module, a patched preloaded
    module, environment, files, a child process) is not in the next kernel, whose random
    generator is not the previous one's either."""
    first, text = _grade(
        """
        import builtins, colorsys, math, os, subprocess, sys, types
        LEFT_OVER = "left over"
        builtins.LEFT_OVER_BUILTIN = 1
        math.LEFT_OVER = 1
        sys.modules["left_over_module"] = types.ModuleType("left_over_module")
        os.environ["LEFT_OVER_ENV"] = "1"
        open("/tmp/left-over", "w").write("x")
        open("left-over", "w").write("x")
        subprocess.Popen(["sleep", "600"], start_new_session=True)
        import random
        print(os.readlink("/proc/self/ns/pid"), os.getuid(), os.getpid(), random.random())
        """,
        "assert 'colorsys' in sys.modules and LEFT_OVER",
        pool=pool,
    )
    _full_marks(first, text)
    second, text2 = _grade(
        """
        import os, random, sys
        print(os.readlink("/proc/self/ns/pid"), os.getuid(), os.getpid(), random.random())
        """,
        "assert 'LEFT_OVER' not in globals()",
        "import builtins, math; assert not hasattr(builtins, 'LEFT_OVER_BUILTIN')",
        "import math; assert not hasattr(math, 'LEFT_OVER')",
        "assert 'colorsys' not in sys.modules and 'left_over_module' not in sys.modules",
        "assert 'LEFT_OVER_ENV' not in os.environ",
        # (not "empty": a checkout under /tmp has its interpreter's mount point there)
        "assert 'left-over' not in os.listdir('/tmp') + os.listdir('.'), os.listdir('/tmp')",
        "assert [p for p in os.listdir('/proc') if p.isdigit()] == [str(os.getpid())]",
        pool=pool,
    )
    _full_marks(second, text2)
    (ns1, uid1, pid1, random1), (ns2, uid2, pid2, random2) = text.split(), text2.split()
    assert ns1 != ns2  # a PID namespace of its own, as before
    assert random1 != random2  # the random module is seeded afresh in each fork
    assert int(pid1) < 10 and int(pid2) < 10  # the kernel is near the bottom of it
    for uid, result in ((uid1, first), (uid2, second)):
        assert int(uid) == result.isolation["sandbox_uid"]
        assert LIMITS.uid_base <= int(uid) < LIMITS.uid_base + LIMITS.uid_count


def test_a_kernel_holds_no_descriptor_of_the_server_or_the_grader(pool):
    """The forked process closes everything but its own report and configuration pipes before
    anything else; the kernel ends up with the /dev/null of 0-2 (ipykernel then puts pipes of
    its own on 1 and 2) and what it opened itself."""
    sandbox = pool.acquire()  # one more kernel in the server: its pidfd and socket exist now
    try:
        server_pid = int(_status(sandbox.proc.pid)["PPid"])
        outside = {
            target
            for pid in (server_pid, os.getpid())
            for target in _descriptors(pid).values()
            if target.startswith(("socket:", "pipe:", "anon_inode:"))
        }
        result, text = _grade(
            """
            import json, os
            FDS = {}
            for fd in os.listdir("/proc/self/fd"):
                try:
                    FDS[fd] = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    pass
            print(json.dumps(FDS))
            """,
            "assert FDS['0'] == '/dev/null', FDS",
            pool=pool,
        )
        _full_marks(result, text)
        inside = set(json.loads(text).values())
        # Socket and pipe names are inode numbers, unique on the machine; anonymous inodes
        # (pidfd, eventfd, epoll) are compared by kind only, so only pidfds are looked at.
        shared = {t for t in inside & outside if not t.startswith("anon_inode:")}
        assert shared == set(), shared
        assert "anon_inode:[pidfd]" not in inside, inside
    finally:
        sandbox.close()


def _wait_gone(pids: list[int], timeout: float = 30.0) -> list[int]:
    end = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]
        if not alive or time.monotonic() > end:
            return alive
        time.sleep(0.1)


def _zombie(pid: int) -> bool:
    try:
        return _status(pid)["State"].startswith(("Z", "X"))
    except OSError:
        return True


HOLD_A_KERNEL = """
import json, sys, time
from notebooks.grader import Limits, forkserver
from notebooks.grader.sandbox import Sandbox
sandbox = Sandbox(Limits(startup_timeout=60)).start()
server = next(iter(forkserver._servers.values()))
print(json.dumps([server.pid, sandbox.proc.pid, sandbox.init_pid]), flush=True)
time.sleep(600)
"""


def test_the_server_and_its_kernels_die_with_the_grading_process():
    """A worker killed outright (SIGKILL, no clean-up) leaves no server and no kernel behind:
    the server sees its socket close and kills its children, which die with it anyway."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_KERNEL],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        server, first, init = json.loads(proc.stdout.readline())
        assert all(Path(f"/proc/{p}").exists() for p in (server, first, init))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert _wait_gone([server, first, init]) == []


FORK_AND_GRADE = """
import json, os, sys
from notebooks.grader import Limits, forkserver
from notebooks.grader.sandbox import Sandbox
Sandbox(Limits(startup_timeout=60)).start().close()
parent_server = next(iter(forkserver._servers.values())).pid
r, w = os.pipe()
child = os.fork()
if child == 0:  # as Celery's prefork pool does: the child starts a server of its own
    sandbox = Sandbox(Limits(startup_timeout=60)).start()
    os.write(w, json.dumps(next(iter(forkserver._servers.values())).pid).encode())
    sandbox.close()
    forkserver.shutdown()
    os._exit(0)
os.close(w)
child_server = json.loads(os.read(r, 100))
os.waitpid(child, 0)
sandbox = Sandbox(Limits(startup_timeout=60)).start()  # the parent's server still serves
print(json.dumps([parent_server, child_server, sandbox.isolation["forked"]]))
sandbox.close()
"""


def test_a_forked_grading_process_starts_its_own_server():
    out = subprocess.run(
        [sys.executable, "-c", FORK_AND_GRADE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    parent_server, child_server, forked = json.loads(out.stdout.splitlines()[-1])
    assert parent_server != child_server and forked is True


def test_a_sandbox_started_without_a_pool_is_forked_too():
    sandbox = Sandbox(LIMITS).start()
    try:
        server_pid = int(_status(sandbox.proc.pid)["PPid"])
        assert server_pid in _servers()
        run = sandbox.execute("print(6 * 7)", timeout=10)
        assert run.ok and run.outputs[0]["text"] == "42\n"
    finally:
        sandbox.close()
    assert sandbox.proc.returncode is not None
