"""Validation of the ``user_options`` a lab server is started with.

Pure Python, no JupyterHub / batchspawner / Django import: the hub config imports it (hub venv,
Python 3.11) and so do the unit tests and the platform (platform venv, Python 3.12).

``user_options`` is raw, untrusted JSON from the REST API or the spawn form. Everything that ends up
in the Slurm batch script is derived from the *validated* values returned by
:func:`validate_options` -- never from the raw dict (see pitfall 1 in the recipe: batchspawner
renders ``user_options`` straight into ``#SBATCH`` lines).

Accepted keys (all optional)::

    partition  str   one of the configured partitions            (default: first partition)
    gpus       int   0..max GPUs of that partition (0 on "cpu")   (default 0)
    cpus       int   1..max_cpus                                  (default 1)
    memory     str|int  "<n>M" / "<n>G" or an int of MiB, <= max_memory_mb (default: Slurm's)
    runtime    str   "HH:MM:SS" (also "MM:SS"), 1 s .. max_runtime (default: default_runtime)

Any other key is rejected (400), so a client cannot sneak ``prologue``, ``srun``, ``options``, ...
into the batch script even if the renderer were ever changed back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ALLOWED_KEYS = frozenset({"partition", "gpus", "cpus", "memory", "runtime"})

_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_INT_RE = re.compile(r"[0-9]{1,6}")
_RUNTIME_RE = re.compile(r"(?:([0-9]{1,3}):)?([0-5]?[0-9]):([0-5][0-9])")
_MEMORY_RE = re.compile(r"([0-9]{1,7})([MG]?)")


SERVER_NAME_PATTERN = r"(?:lab|edit)-[0-9]{1,12}"
# An instructor editing a lab's source (Academy's "Edit in JupyterLab"): the hub gives these
# servers the authoring Jupyter config (nbgrader's create-assignment toolbar), no other server.
AUTHORING_SERVER_PATTERN = r"edit-[0-9]{1,12}"


def is_authoring_server(name: str) -> bool:
    return isinstance(name, str) and re.fullmatch(AUTHORING_SERVER_PATTERN, name) is not None


def apply_authoring_config(spawner: Any, authoring_config_dir: str | None) -> None:
    """An authoring server (``edit-<lab>``) reads the authoring Jupyter config first: its
    labconfig enables nbgrader's create-assignment plugin, which the hub venv's own config
    disables for every server (ops/cluster/up.sh).  Lab servers never get it."""
    env = dict(spawner.environment or {})
    if authoring_config_dir and is_authoring_server(spawner.name):
        env["JUPYTER_CONFIG_PATH"] = authoring_config_dir
    else:
        env.pop("JUPYTER_CONFIG_PATH", None)
    spawner.environment = env


class OptionsError(ValueError):
    """The options are invalid; the message is safe to show to the user."""


def parse_runtime(value: str) -> int:
    """``"HH:MM:SS"`` or ``"MM:SS"`` -> seconds. Raises OptionsError."""
    m = _RUNTIME_RE.fullmatch(value) if isinstance(value, str) else None
    if not m:
        raise OptionsError("runtime must look like HH:MM:SS")
    hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_runtime(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def parse_memory_mb(value: str | int) -> int:
    """``"4G"`` / ``"512M"`` / ``"512"`` / ``512`` -> MiB. Raises OptionsError."""
    if isinstance(value, bool):
        raise OptionsError("memory must look like 4G or 512M")
    if isinstance(value, int):
        mb = value
    else:
        m = _MEMORY_RE.fullmatch(value) if isinstance(value, str) else None
        if not m:
            raise OptionsError("memory must look like 4G or 512M")
        mb = int(m.group(1)) * (1024 if m.group(2) == "G" else 1)
    if mb < 1:
        raise OptionsError("memory must be at least 1M")
    return mb


def _as_int(name: str, value: Any) -> int:
    # bool is an int subclass: reject it explicitly; accept digit-only strings (form posts)
    if isinstance(value, bool):
        raise OptionsError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    raise OptionsError(f"{name} must be an integer")


@dataclass(frozen=True)
class Limits:
    """What a student may ask for. ``partitions`` maps partition name -> max GPUs per job."""

    partitions: Mapping[str, int] = field(default_factory=lambda: {"cpu": 0, "gpu": 4})
    max_cpus: int = 2
    max_memory_mb: int = 16 * 1024
    max_runtime: int = 8 * 3600
    default_runtime: int = 3600
    default_partition: str = "cpu"
    # Names of the servers the hub starts: Academy names each lab session ``lab-<lab id>`` and
    # each authoring session ``edit-<lab id>``; the unnamed default server and any other name
    # are refused (nobody else starts servers).
    server_name_pattern: str = SERVER_NAME_PATTERN

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """Read limits from the ACADEMY_HUB_* variables (see ops/cluster/README.md)."""
        env = os.environ if env is None else env
        partitions = parse_partitions(env.get("ACADEMY_HUB_PARTITIONS", "cpu:0,gpu:4"))
        default_partition = env.get("ACADEMY_HUB_DEFAULT_PARTITION") or next(iter(partitions))
        if default_partition not in partitions:
            raise ValueError(
                f"ACADEMY_HUB_DEFAULT_PARTITION={default_partition!r} not in partitions"
            )
        return cls(
            partitions=partitions,
            max_cpus=int(env.get("ACADEMY_HUB_MAX_CPUS", "2")),
            max_memory_mb=parse_memory_mb(env.get("ACADEMY_HUB_MAX_MEMORY", "16G")),
            max_runtime=parse_runtime(env.get("ACADEMY_HUB_MAX_RUNTIME", "08:00:00")),
            default_runtime=parse_runtime(env.get("ACADEMY_HUB_DEFAULT_RUNTIME", "01:00:00")),
            default_partition=default_partition,
            server_name_pattern=env.get("ACADEMY_HUB_SERVER_NAME_PATTERN") or SERVER_NAME_PATTERN,
        )


def parse_partitions(spec: str) -> dict[str, int]:
    """``"cpu:0,gpu:4"`` -> ``{"cpu": 0, "gpu": 4}`` (order kept)."""
    out: dict[str, int] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, gpus = item.partition(":")
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"bad partition name {name!r}")
        out[name] = int(gpus or 0)
    if not out:
        raise ValueError("no partitions configured")
    return out


@dataclass(frozen=True)
class ValidatedOptions:
    partition: str
    gpus: int
    cpus: int
    memory_mb: int | None
    runtime_seconds: int

    @property
    def runtime(self) -> str:
        return format_runtime(self.runtime_seconds)

    def slurm_req(self) -> dict[str, str]:
        """Values for batchspawner's ``req_*`` traits (strings, safe to render)."""
        return {
            "partition": self.partition,
            "gres": f"gpu:{self.gpus}" if self.gpus else "",
            "nprocs": str(self.cpus),
            "memory": f"{self.memory_mb}M" if self.memory_mb else "",
            "runtime": self.runtime,
        }


def validate_server_name(name: str, limits: Limits | None = None) -> None:
    """Refuse a server whose name Academy would not give (including the unnamed default)."""
    limits = limits or Limits()
    if not isinstance(name, str) or not re.fullmatch(limits.server_name_pattern, name):
        raise OptionsError(
            "this hub starts only lab sessions opened from Academy "
            f"(server names matching {limits.server_name_pattern})"
        )


def validate_options(options: Any, limits: Limits | None = None) -> ValidatedOptions:
    """Validate raw ``user_options``; return clean values or raise :class:`OptionsError`."""
    limits = limits or Limits()
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise OptionsError("options must be an object")
    unknown = sorted(str(k)[:40] for k in options if k not in ALLOWED_KEYS)
    if unknown:
        raise OptionsError(
            f"unknown option(s): {', '.join(unknown)}; allowed: {', '.join(sorted(ALLOWED_KEYS))}"
        )

    partition = options.get("partition", limits.default_partition)
    if not isinstance(partition, str) or partition not in limits.partitions:
        raise OptionsError(f"partition must be one of: {', '.join(limits.partitions)}")

    max_gpus = limits.partitions[partition]
    gpus = _as_int("gpus", options.get("gpus", 0))
    if not 0 <= gpus <= max_gpus:
        raise OptionsError(f"gpus must be 0..{max_gpus} on partition {partition}")

    cpus = _as_int("cpus", options.get("cpus", 1))
    if not 1 <= cpus <= limits.max_cpus:
        raise OptionsError(f"cpus must be 1..{limits.max_cpus}")

    memory_mb = None
    if options.get("memory") not in (None, ""):
        memory_mb = parse_memory_mb(options["memory"])
        if memory_mb > limits.max_memory_mb:
            raise OptionsError(f"memory must be at most {limits.max_memory_mb}M")

    runtime_raw = options.get("runtime")
    runtime = limits.default_runtime if runtime_raw in (None, "") else parse_runtime(runtime_raw)
    if not 1 <= runtime <= limits.max_runtime:
        raise OptionsError(
            f"runtime must be between 00:00:01 and {format_runtime(limits.max_runtime)}"
        )

    return ValidatedOptions(partition, gpus, cpus, memory_mb, runtime)


def options_from_form(formdata: Mapping[str, list[str]]) -> dict[str, str]:
    """Spawn-form data -> user_options: first value of each allowed field, nothing else.

    (JupyterHub's "simple" handler would also keep ``_xsrf`` and any other posted field.)
    """
    return {k: v[0] for k, v in formdata.items() if k in ALLOWED_KEYS and v and v[0] != ""}
