"""Hostile submissions: each exploit must score what it deserves (0 here), leave nothing running
and not disturb the grading of the next, honest submission.

Every answer below is wrong (``add`` returns 0) unless the exploit works: a working exploit
either hides the failing tests or "earns" the right answer (``add`` becomes correct only if
the attack found a secret, reached the network or detected the grader).
"""

from __future__ import annotations

import os
import socket
import textwrap

import nbformat
import pytest

from notebooks.grader import Limits, grade
from notebooks.grader.sandbox import _proc_ids

LIMITS = Limits(
    cell_timeout=3,
    notebook_timeout=20,
    interrupt_grace=1.5,
    memory_bytes=768 * 1024**2,
    flood_bytes=4 * 1024**2,
    nproc=64,
)
WRONG = "\ndef add(a, b):\n    return 0\n"
IF_FOUND = "\ndef add(a, b):\n    return a + b if FOUND else 0\n"


def _meta(**kw):
    return {
        "nbgrader": {"schema_version": 3, "grade": False, "solution": False, "locked": False, **kw}
    }


def lab(answer: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import math", metadata=_meta(locked=True, grade_id="setup")),
        nbformat.v4.new_code_cell(
            "### BEGIN SOLUTION\ndef add(a, b):\n    return a + b\n### END SOLUTION",
            metadata=_meta(solution=True, grade_id="answer"),
        ),
        nbformat.v4.new_code_cell(
            "assert add(1, 2) == 3", metadata=_meta(grade=True, points=1, grade_id="t_assert")
        ),
        nbformat.v4.new_code_cell(
            "import unittest\nunittest.TestCase().assertEqual(add(2, 2), 4)\n"
            "### BEGIN HIDDEN TESTS\nif add(5, 5) != 10:\n    raise AssertionError('hidden')\n"
            "### END HIDDEN TESTS",
            metadata=_meta(grade=True, points=1, grade_id="t_unittest"),
        ),
    ]
    if answer is not None:
        nb.cells[1].source = textwrap.dedent(answer)
    return nbformat.writes(nb)


SOURCE = lab(None)

EXPLOITS = {
    "input_transformers_cleanup": "get_ipython().input_transformers_cleanup.append("
    "lambda lines: ['pass\\n'])" + WRONG,
    "input_transformers_post": "get_ipython().input_transformers_post.append("
    "lambda lines: ['pass\\n'])" + WRONG,
    "ast_transformers": """
        import ast
        class Strip(ast.NodeTransformer):
            def visit_Module(self, node):
                node.body = []
                return node
        get_ipython().ast_transformers.append(Strip())
        """
    + WRONG,
    "showtraceback_and_excepthook": """
        import sys, IPython.core.interactiveshell as s
        s.InteractiveShell.showtraceback = lambda *a, **k: None
        get_ipython().showtraceback = lambda *a, **k: None
        sys.excepthook = lambda *a: None
        """
    + WRONG,
    "custom_exception_handler": "get_ipython().set_custom_exc((Exception,), "
    "lambda *a, **k: None)" + WRONG,
    "stderr_and_displayhook": """
        import io, sys
        sys.stderr = io.StringIO(); sys.displayhook = lambda v: None
        """
    + WRONG,
    "assertion_helpers": """
        import builtins, unittest
        unittest.TestCase.assertEqual = lambda *a, **k: None
        unittest.case.TestCase.assertEqual = lambda *a, **k: None
        class Nothing(Exception):
            pass
        builtins.AssertionError = Nothing
        """
    + WRONG,
    "pre_run_cell_hook": """
        import ast
        class Strip(ast.NodeTransformer):
            def visit_Assert(self, node):
                return None
        def again(*a):
            get_ipython().ast_transformers.append(Strip())
        get_ipython().events.register('pre_run_cell', again)
        """
    + WRONG,
    "fake_execute_handler": """
        k = get_ipython().kernel
        def fake(stream, ident, parent):
            k.session.send(stream, 'execute_reply',
                           {'status': 'ok', 'execution_count': 1, 'user_expressions': {}},
                           parent, ident=ident)
        k.shell_handlers['execute_request'] = fake
        """
    + WRONG,
    "repatching_thread": """
        import threading, time
        def loop():
            while True:
                get_ipython().input_transformers_cleanup[:] = [lambda lines: ['pass\\n']]
                time.sleep(0.0005)
        threading.Thread(target=loop, daemon=True).start()
        """
    + WRONG,
    "shadow_unittest_module": """
        import sys, types
        fake = types.ModuleType('unittest')
        class TestCase:
            def assertEqual(self, *a): pass
        fake.TestCase = TestCase
        sys.modules['unittest'] = fake
        """
    + WRONG,
    "os_exit": "import os\nos._exit(0)" + WRONG,
    "sys_exit": "import sys\nsys.exit(0)" + WRONG,
    "infinite_loop_ignoring_interrupts": """
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            pass
        """,
    "fork_bomb_and_daemons": """
        import os, subprocess, time
        subprocess.Popen(['sleep', '300'], start_new_session=True)
        for _ in range(500):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(300)
                os._exit(0)
        """
    + WRONG,
    "memory_bomb": """
        hog = []
        while True:
            hog.append(bytearray(50 * 1024 * 1024))
        """,
    "output_flood": "import sys\nwhile True:\n    print('x' * 10000, flush=True)",
    "output_flood_unflushed": "while True:\n    print('x' * 100000)",
    "huge_file": """
        import os
        with open('big.bin', 'wb') as f:
            for _ in range(200):
                f.write(b'0' * (1024 * 1024))
        """
    + WRONG,
    "read_grader_environ_and_cmdline": """
        import os
        FOUND = False
        for pid in os.listdir('/proc'):
            for name in ('environ', 'cmdline'):
                try:
                    if b'HOSTILE_SECRET_VALUE' in open(f'/proc/{pid}/{name}', 'rb').read():
                        FOUND = True
                except OSError:
                    pass
        """
    + IF_FOUND,
    "read_own_environment": """
        import os
        FOUND = any(k in os.environ for k in ('DATABASE_URL', 'HOSTILE_SECRET', 'SECRET_KEY'))
        """
    + IF_FOUND,
    "detect_the_grader": """
        import os, socket
        seen = (os.getcwd() + socket.gethostname() + repr(dict(os.environ))).lower()
        FOUND = any(w in seen for w in ('grader', 'academy', 'autograd', 'pytest', 'work/main'))
        """
    + IF_FOUND,
    "network_to_database": """
        import socket
        FOUND = False
        try:
            socket.create_connection(('127.0.0.1', PORT), timeout=1).close()
            FOUND = True
        except OSError:
            pass
        """
    + IF_FOUND,
    "read_tests_from_disk": """
        import glob
        FOUND = False
        for path in glob.glob('/work/**/*.ipynb', recursive=True) + glob.glob('/tmp/**/*.ipynb',
                                                                            recursive=True):
            try:
                FOUND = FOUND or 'HIDDEN TESTS' in open(path).read()
            except OSError:
                pass
        """
    + IF_FOUND,
}


@pytest.fixture(scope="module")
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize("name", sorted(EXPLOITS))
def test_exploit_scores_zero_and_leaves_nothing(name, pool, listener, monkeypatch, tmp_path):
    monkeypatch.setenv("HOSTILE_SECRET", "HOSTILE_SECRET_VALUE")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:HOSTILE_SECRET_VALUE@127.0.0.1/db")
    (tmp_path / "source.ipynb").write_text(SOURCE)  # a source lying on disk
    answer = EXPLOITS[name].replace("PORT", str(listener))
    result = grade(SOURCE, lab(answer), limits=LIMITS, pool=pool)
    assert result.summary()["cells"] == {
        "t_assert": {"score": 0.0, "max_score": 1.0},
        "t_unittest": {"score": 0.0, "max_score": 1.0},
    }, {gid: c.error for gid, c in result.cells.items()}
    uid = result.isolation.get("sandbox_uid")
    if uid is not None:
        assert _proc_ids("uid", uid) == []
    assert not result.isolation.get("survivors")


EXPECTED_STATUS = {
    "os_exit": "crashed",
    "infinite_loop_ignoring_interrupts": "timeout",
    "memory_bomb": "memory_limit",
    "output_flood": "output_limit",
}


@pytest.mark.parametrize("name", sorted(EXPECTED_STATUS))
def test_limits_are_reported(name, pool):
    result = grade(SOURCE, lab(EXPLOITS[name]), limits=LIMITS, pool=pool)
    assert result.status == EXPECTED_STATUS[name]


def test_hiding_sys_monitoring_neither_breaks_grading_nor_keeps_a_tool(pool):
    """The kernel's guard keeps its own reference to ``sys.monitoring``: a right answer that
    also registers a monitoring tool and hides the module still gets full marks."""
    answer = """
        import sys
        sys.monitoring.use_tool_id(4, "spy")
        sys.monitoring = None

        def add(a, b):
            return a + b
    """
    result = grade(SOURCE, lab(answer), limits=LIMITS, pool=pool)
    assert result.summary()["cells"] == {
        "t_assert": {"score": 1.0, "max_score": 1.0},
        "t_unittest": {"score": 1.0, "max_score": 1.0},
    }, {gid: c.error for gid, c in result.cells.items()}


def test_the_right_answer_still_gets_full_marks_after_all_that(pool):
    result = grade(SOURCE, lab("def add(a, b):\n    return a + b\n"), limits=LIMITS, pool=pool)
    assert (result.score, result.max_score, result.status) == (2.0, 2.0, "ok")


def test_the_kernel_is_isolated_when_root(pool):
    if os.geteuid() != 0:
        pytest.fail("isolation needs root (CI runs as root)")
    result = grade(SOURCE, lab(WRONG), limits=LIMITS, pool=pool)
    iso = result.isolation
    wanted = ("uid", "netns", "mountns", "pidns", "ipcns", "allow_list", "seccomp")
    assert all(iso[k] for k in wanted), iso
    assert iso["cgroup"] in ("v1", "v2"), iso
