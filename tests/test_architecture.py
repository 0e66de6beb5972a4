"""The dependency rules of the apps, read from the source (issue 10, item 6):

- background work starts one way, ``academy.jobs.enqueue`` (after commit, surviving a broker
  outage): nothing else calls ``.delay``/``.apply_async``/``send_task``, and no module imports a
  tasks module (tasks import services, never the other way round);
- the project package ``academy`` does not import the course side (it sends signals instead),
  except its URL root, which wires the apps together;
- no import hides inside a function to dodge a cycle; the few function-local imports left have a
  reason other than a cycle, listed here.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from academy.celery import app
from academy.jobs import task_named

ROOT = Path(__file__).resolve().parent.parent
APPS = ("academy", "courses", "notebooks", "programmes", "credentials", "tracking")
# Not Django code: the grader is a library run in the sandbox, the hub config runs in JupyterHub.
OUTSIDE = ("notebooks/grader/", "notebooks/hub/", "/migrations/")

# Function-local imports with a reason that is not an import cycle.  A new one needs a reason.
LOCAL_IMPORTS_ALLOWED = {
    # Django connects receivers in AppConfig.ready, once the models are loaded.
    ("courses/apps.py", "courses.receivers"),
    ("programmes/apps.py", "programmes.receivers"),
    ("credentials/apps.py", "credentials.receivers"),
    ("credentials/apps.py", "credentials.checks"),
    ("tracking/apps.py", "tracking.receivers"),
    ("notebooks/apps.py", "notebooks.receivers"),
    # The grader (nbclient, kernels, seccomp) is loaded by the grading worker only.
    ("notebooks/grading.py", "notebooks.grader.sandbox"),
    ("notebooks/grading.py", "notebooks.grader.grade"),
    ("notebooks/services.py", "notebooks.grader.pool"),
    # WeasyPrint takes about a second to import: only the PDF certificate's view loads it.
    ("credentials/views/downloads.py", "credentials.pdf"),
    # A management command loads the lab-session side only for the stop it performs.
    ("academy/management/commands/runplatform.py", "notebooks.clients.hub"),
    ("academy/management/commands/runplatform.py", "notebooks.sessions"),
    ("academy/management/commands/runplatform.py", "psutil"),
}


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for app_name in APPS:
        for path in sorted((ROOT / app_name).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if any(part in "/" + rel for part in OUTSIDE) or rel == "academy/settings.py":
                continue
            yield rel, ast.parse(path.read_text(), rel)


def _package(rel: str) -> str:
    parts = rel.removesuffix(".py").split("/")
    return ".".join(parts if parts[-1] == "__init__" else parts[:-1]).removesuffix(".__init__")


def _imports(rel: str, node: ast.AST) -> Iterator[str]:
    """The absolute names ``node`` imports (``from . import x`` counts as ``pkg.x``)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = _package(rel).split(".")
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        if node.module:
            yield base
        yield from (f"{base}.{alias.name}" for alias in node.names)


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks (imports there never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _all_imports() -> Iterator[tuple[str, int, str, bool]]:
    """(module path, line, imported name, inside a function) for every run-time import."""
    for rel, tree in _modules():
        skipped = _type_checking_blocks(tree)
        local: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        local.add(inner.lineno)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and node.lineno not in skipped:
                for name in _imports(rel, node):
                    yield rel, node.lineno, name, node.lineno in local


def test_the_scan_sees_the_imports_it_pins():
    """The rules below would pass on an empty scan: it must see known imports."""
    names = {(rel, name) for rel, _line, name, _local in _all_imports()}
    assert ("notebooks/tasks.py", "notebooks.services") in names
    assert ("courses/receivers.py", "academy.signals.invitation_accepted") in names
    assert ("courses/apps.py", "courses.receivers") in names


def test_no_module_imports_a_tasks_module():
    offenders = [
        f"{rel}:{line} imports {name}"
        for rel, line, name, _local in _all_imports()
        if "tasks" in name.split(".")[1:]
    ]
    assert offenders == [], "enqueue by name with academy.jobs.enqueue instead"


def test_only_academy_jobs_sends_tasks():
    offenders = []
    for rel, tree in _modules():
        if rel == "academy/jobs.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {
                "delay",
                "apply_async",
                "send_task",
            }:
                offenders.append(f"{rel}:{node.lineno} .{node.attr}")
    assert offenders == [], "use academy.jobs.enqueue (after commit, broker outage guarded)"


def test_academy_does_not_import_the_course_side():
    offenders = [
        f"{rel}:{line} imports {name}"
        for rel, line, name, _local in _all_imports()
        if rel.startswith("academy/") and rel != "academy/urls.py"
        if name == "courses" or name.startswith("courses.")
    ]
    assert offenders == [], "send a signal (academy.signals) that courses receives"


def test_no_function_local_imports_beyond_the_listed_reasons():
    found = {(rel, name, line) for rel, line, name, local in _all_imports() if local}
    unexplained = sorted(
        f"{rel}:{line} imports {name}"
        for rel, name, line in found
        if not any(
            rel == allowed_rel and (name == prefix or name.startswith(prefix + "."))
            for allowed_rel, prefix in LOCAL_IMPORTS_ALLOWED
        )
    )
    assert unexplained == [], "import at the top of the module (fix the dependency direction)"


def test_academy_loads_without_the_course_side(tmp_path):
    """At run time too: every academy module imports with the course side (courses, notebooks,
    programmes, credentials, tracking) not installed."""
    upper = "('courses', 'notebooks', 'programmes', 'credentials', 'tracking')"
    (tmp_path / "academy_alone.py").write_text(
        "from academy.settings import *  # noqa: F403\n"
        "INSTALLED_APPS = [a for a in INSTALLED_APPS  # noqa: F405\n"
        f"    if not a.startswith({upper})]\n"
    )
    script = (
        "import importlib, pkgutil, sys, django\n"
        "django.setup()\n"
        "import academy\n"
        "for m in pkgutil.iter_modules(academy.__path__):\n"
        "    if m.name not in ('urls', 'settings', 'asgi', 'wsgi'):\n"
        "        importlib.import_module('academy.' + m.name)\n"
        "print(sorted(k for k in sys.modules\n"
        f"    if k.split('.')[0] in {upper}))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "academy_alone",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_every_task_name_enqueued_is_a_registered_task():
    """Names are strings now: a typo would only show when the worker refuses the message."""
    names = set()
    for rel, tree in _modules():
        if rel == "academy/jobs.py":  # the helper itself passes its argument on
            continue
        constants = {
            target.id: node.value.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"enqueue", "send"}
                and node.args
            ):
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    names.add(first.value)
                elif isinstance(first, ast.Name) and first.id in constants:
                    names.add(constants[first.id])
                else:
                    pytest.fail(f"{rel}:{node.lineno}: name the task with a constant")
    assert names >= {
        "academy.tasks.send_invitation_email",
        "courses.tasks.send_enrolment_email",
        "notebooks.tasks.grade_submission",
        "labsessions.start",
    }
    for name in names:
        assert task_named(name).name == name
    # The beat schedule names registered tasks too.
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks
