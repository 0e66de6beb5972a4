"""Every knob is declared once, in academy/settings.py, from the environment, and documented in
the README; the code reads it as ``settings.X``.  A scan of the source (AST, not grep, so
comments and strings do not count) keeps it so."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import global_settings, settings

ROOT = Path(__file__).resolve().parent.parent.parent
APPS = ("academy", "courses", "notebooks")
SETTINGS_FILE = Path("academy/settings.py")

# Files that may touch the environment, and why.
ENVIRONMENT_ALLOWED = {
    SETTINGS_FILE: "the one place knobs are read",
    # Before Django is configured: names the settings module (a write, not a knob).
    Path("academy/celery.py"): "sets DJANGO_SETTINGS_MODULE before Django starts",
    Path("academy/wsgi.py"): "sets DJANGO_SETTINGS_MODULE before Django starts",
    Path("academy/asgi.py"): "sets DJANGO_SETTINGS_MODULE before Django starts",
    # Runs inside JupyterHub's process, which has no Django (ops/cluster/README.md).
    Path("notebooks/hub/jupyterhub_config.py"): "the hub's configuration, no Django there",
    Path("notebooks/hub/options.py"): "the hub's spawner limits, no Django there",
}
# Files that may copy the whole environment (``dict(os.environ)``) but read no variable of it.
ENVIRONMENT_COPIED = {
    Path("academy/management/commands/runplatform.py"): "passes it to the processes it starts",
}
# The grader library has no Django inside: its limits are arguments (notebooks/grader/).
DJANGO_FREE = Path("notebooks/grader")


def _sources() -> list[Path]:
    files = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts or rel.is_relative_to(DJANGO_FREE):
                continue
            files.append(rel)
    return files


def _environment_reads(tree: ast.AST, *, copy_allowed: bool = False) -> list[int]:
    copies = {
        id(node.args[0])
        for node in ast.walk(tree)
        if copy_allowed
        and isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and len(node.args) == 1
    }
    lines = []
    for node in ast.walk(tree):
        if id(node) in copies:
            continue
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "getenv", "environb", "getenvb"}
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ) or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in {"environ", "getenv", "environb", "getenvb"} for a in node.names)
        ):
            lines.append(node.lineno)
    return lines


def _settings_getattr(tree: ast.AST) -> list[int]:
    """``getattr(settings, ...)`` in any form: a default hides an undeclared or drifted knob."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"getattr", "hasattr"}
        and node.args
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "settings"
    ]


def _settings_names(tree: ast.AST) -> set[str]:
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "settings"
        and node.attr.isupper()
    }


def test_the_scan_sees_the_files():
    files = _sources()
    assert Path("notebooks/sessions/services.py") in files
    assert Path("courses/bulk.py") in files
    assert not any(f.is_relative_to(DJANGO_FREE) for f in files)


def test_nothing_outside_settings_reads_the_environment():
    offenders = []
    for rel in _sources():
        if rel in ENVIRONMENT_ALLOWED:
            continue
        tree = ast.parse((ROOT / rel).read_text(), str(rel))
        reads = _environment_reads(tree, copy_allowed=rel in ENVIRONMENT_COPIED)
        offenders += [f"{rel}:{line}" for line in reads]
    assert offenders == []


def test_the_allow_list_has_no_stale_entries():
    for rel in [*ENVIRONMENT_ALLOWED, *ENVIRONMENT_COPIED]:
        assert (ROOT / rel).exists(), rel


def test_no_setting_is_read_with_a_default():
    offenders = []
    for rel in _sources():
        if rel == SETTINGS_FILE:
            continue
        tree = ast.parse((ROOT / rel).read_text(), str(rel))
        offenders += [f"{rel}:{line}" for line in _settings_getattr(tree)]
    assert offenders == []


def test_every_setting_the_code_reads_is_declared():
    """``settings.X`` names a setting of academy/settings.py or one of Django's own."""
    declared = {
        target.id
        for node in ast.parse((ROOT / SETTINGS_FILE).read_text()).body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    undeclared = []
    for rel in _sources():
        tree = ast.parse((ROOT / rel).read_text(), str(rel))
        for name in _settings_names(tree):
            if name not in declared and not hasattr(global_settings, name):
                undeclared.append(f"{rel}: {name}")
    assert undeclared == []


def test_every_environment_variable_is_in_the_readme():
    tree = ast.parse((ROOT / SETTINGS_FILE).read_text())
    readers = {"env", "env_bool", "env_int", "env_list", "_rate"}
    names = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in readers
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert {"COURSES_BULK_MAX_BYTES", "NOTEBOOK_KERNEL_POOL", "ACADEMY_PORT"} <= names
    readme = (ROOT / "README.md").read_text()
    assert sorted(n for n in names if f"`{n}`" not in readme) == []


def test_one_beat_schedule_in_settings():
    """The schedule is one literal in settings.py, which Celery reads (academy/celery.py)."""
    tree = ast.parse((ROOT / SETTINGS_FILE).read_text())
    touches = [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and node.id == "CELERY_BEAT_SCHEDULE")
    ]
    assert len(touches) == 1
    for rel in _sources():
        if rel != SETTINGS_FILE:
            assert "beat_schedule" not in (ROOT / rel).read_text(), rel
    from academy.celery import app

    assert app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE
    assert {"worker-heartbeat", "sessions-refresh", "gpu-usage-sync"} <= set(app.conf.beat_schedule)
