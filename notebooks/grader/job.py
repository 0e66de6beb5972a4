"""The grading job on a compute node: ``python -m notebooks.grader job <folder>``.

Academy (``notebooks.cluster_grading``) writes a folder in the shared grading spool and submits
a Slurm batch job that runs this.  No database, no Django, no network needed: everything comes
from the folder and goes back into it.

The folder holds ``job.json`` (the limits and the GPU device folder), ``source.ipynb``,
``submission.ipynb``, ``released.ipynb`` and ``data/<name>`` (the lab's data files).  This writes
``result.json`` (atomically: a temporary name, then a rename), either::

    {"result": <GradeResult.to_dict() without the executed notebook>, "node": ..., "gpus": ...}

or ``{"invalid": "<why>", ...}`` for a submission that is not a valid notebook, or, for a
version check (``"check": <id>`` in ``job.json``, no ``submission.ipynb``: "Test this version"
of a lab graded on the cluster), the two gradings of the source's solution and the released
student version::

    {"check": {"solution": {"result": ...}, "student": {"result": ...}}, "node": ..., ...}

or, when the grading infrastructure failed (the sandbox did not start, an unreadable input)::

    {"error": "<why>", "node": ...}

The kernel runs in the same sandbox as on the web tier's workers (``Sandbox``: namespaces, no
network, allow-listed root, sandbox uid, cgroup and rlimits); the sandbox needs root, so the job
runs as root or through a sudo rule to this entry point (ops/cluster/README.md).  Slurm's
``CUDA_VISIBLE_DEVICES`` (and ``GPU_DEVICE_ORDINAL``) reach the kernel, and the device nodes of
the GPUs Slurm gave the job (``SLURM_JOB_GPUS``, under ``gpu_device_dir``) plus the NVIDIA
control devices are bound into the kernel's ``/dev``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any, TextIO

from .grade import grade
from .sandbox import Limits, SandboxError
from .validate import NotebookInvalid

__all__ = ["EXIT_INFRASTRUCTURE", "gpu_devices", "gpu_env", "run_job"]

EXIT_INFRASTRUCTURE = 3
PASSED_ENV = ("CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL")
CONTROL_DEVICES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
# Limits fields job.json may set (simple values only; tuples arrive as lists).
LIMIT_FIELDS = frozenset(Limits.__dataclass_fields__) - {"python", "extra_env", "devices"}


def gpu_devices(env: dict[str, str], device_dir: str) -> tuple[str, ...]:
    """The device nodes of the GPUs Slurm allocated (``SLURM_JOB_GPUS``: global indices, comma
    separated), and the control devices present in ``device_dir``; nothing without GPUs."""
    indices = [i.strip() for i in env.get("SLURM_JOB_GPUS", "").split(",") if i.strip()]
    if not indices:
        return ()
    found = [os.path.join(device_dir, f"nvidia{i}") for i in indices if i.isdigit()]
    found += [os.path.join(device_dir, name) for name in CONTROL_DEVICES]
    return tuple(p for p in found if os.path.exists(p))


def gpu_env(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((k, env[k]) for k in PASSED_ENV if k in env)


def _limits(spec: dict[str, Any], env: dict[str, str]) -> Limits:
    kwargs: dict[str, Any] = {}
    for key, value in (spec.get("limits") or {}).items():
        if key in LIMIT_FIELDS:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    return Limits(
        **kwargs,
        extra_env=gpu_env(env),
        devices=gpu_devices(env, str(spec.get("gpu_device_dir") or "/dev")),
    )


def _write_result(folder: Path, data: dict[str, Any]) -> None:
    tmp = folder / f".result.{os.getpid()}.json"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, folder / "result.json")


def run_job(folder: str, *, env: dict[str, str] | None = None, err: TextIO = sys.stderr) -> int:
    """Grade the job folder; 0 when a result (of any outcome) was written, 3 when the
    infrastructure failed (``result.json`` then says why and Academy retries per its policy)."""
    env = dict(os.environ if env is None else env)
    path = Path(folder)
    node = socket.gethostname()
    try:
        spec = json.loads((path / "job.json").read_text())
        source = (path / "source.ipynb").read_bytes()
        # a version check grades the source and the student version: it has no submission
        submission = None if spec.get("check") else (path / "submission.ipynb").read_bytes()
        released_path = path / "released.ipynb"
        released = released_path.read_bytes() if released_path.exists() else None
        data_dir = path / "data"
        data_files = (
            {p.name: p.read_bytes() for p in sorted(data_dir.iterdir()) if p.is_file()}
            if data_dir.is_dir()
            else {}
        )
        limits = _limits(spec, env)
    except (OSError, ValueError, TypeError) as exc:
        err.write(f"error: unusable job folder {folder}: {exc}\n")
        _write_result(path, {"error": f"unusable job folder: {exc}", "node": node})
        return EXIT_INFRASTRUCTURE
    gpus = {k: v for k, v in env.items() if k in PASSED_ENV or k == "SLURM_JOB_GPUS"}
    # A version check ("Test this version") grades the source's own solution and the released
    # student version; a grading job grades the one submission.
    parts = {"solution": source, "student": released} if spec.get("check") else None
    try:
        if parts is not None:
            graded = {
                name: _grade_one(source, notebook, limits, data_files, released, err)
                for name, notebook in parts.items()
            }
            out: dict[str, Any] = {"check": graded}
        else:
            out = _grade_one(source, submission, limits, data_files, released, err)
    except SandboxError as exc:
        err.write(f"error: the sandbox failed: {exc}\n")
        _write_result(path, {"error": f"the sandbox failed on {node}: {exc}", "node": node})
        return EXIT_INFRASTRUCTURE
    _write_result(path, {**out, "node": node, "gpus": gpus, "devices": list(limits.devices)})
    return 0


def _grade_one(
    source: bytes,
    notebook: bytes | None,
    limits: Limits,
    data_files: dict[str, bytes],
    released: bytes | None,
    err: TextIO,
) -> dict[str, Any]:
    """``{"result": ...}`` or, for a notebook that is not valid, ``{"invalid": why}``."""
    if notebook is None:
        return {"invalid": "the job folder has no notebook to grade"}
    try:
        result = grade(
            source,
            notebook,
            limits=limits,
            data_files=data_files or None,
            released_nb=released,
        )
    except NotebookInvalid as exc:
        return {"invalid": str(exc)[:500]}
    err.write(f"graded: {result.score:g} / {result.max_score:g} ({result.status})\n")
    return {"result": result.to_dict()}
