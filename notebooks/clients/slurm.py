"""Slurm accounting / queue reader for the platform. No Django import.

* :meth:`SlurmReader.jobs_since` runs ``sacct -X -a -n -P -S <since> -o <FIELDS>`` and returns
  :class:`JobRecord` objects with ``gpu_seconds = ElapsedRaw x gres/gpu``.
* :meth:`SlurmReader.queue_info` runs ``squeue -j ID -h -o "%T|%r|%S|%N"`` and explains why a
  job is waiting in plain words.

The command prefix is configurable (e.g. ``["ssh", "login1"]`` to run on a login node; env
``ACADEMY_SLURM_COMMAND_PREFIX``). Parsing is in pure functions (:func:`parse_sacct`,
:func:`parse_squeue`, :func:`parse_tres`, :func:`explain_reason`) tested with sample text.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

__all__ = [
    "SACCT_FIELDS",
    "JobRecord",
    "QueueInfo",
    "SlurmError",
    "SlurmReader",
    "explain_reason",
    "parse_sacct",
    "parse_squeue",
    "parse_tres",
]

SACCT_FIELDS = (
    "JobID",
    "User",
    "Account",
    "Partition",
    "State",
    "Start",
    "End",
    "ElapsedRaw",
    "AllocTRES",
    "NodeList",
    "ExitCode",
)
SQUEUE_FORMAT = "%T|%r|%S|%N"


class SlurmError(RuntimeError):
    """A Slurm command failed or could not be run."""


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    user: str
    account: str
    partition: str
    state: str  # first word: COMPLETED, CANCELLED, FAILED, TIMEOUT, RUNNING, PENDING, ...
    state_raw: str  # e.g. "CANCELLED by 1001"
    start: datetime | None
    end: datetime | None
    elapsed_seconds: int
    gpus: int
    tres: dict[str, str] = field(default_factory=dict)
    nodes: str = ""
    exit_code: str = ""  # "<exit status>:<signal>", e.g. "0:0", "1:0", "0:15"

    @property
    def gpu_seconds(self) -> int:
        return self.elapsed_seconds * self.gpus

    @property
    def finished(self) -> bool:
        return self.state not in ("PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED")


@dataclass(frozen=True)
class QueueInfo:
    job_id: str
    state: str  # PENDING, RUNNING, COMPLETING, ... or "GONE" when squeue doesn't know the job
    reason: str  # Slurm's reason code, e.g. "Resources", "AssocGrpGRESMinutes", "None"
    reason_text: str  # plain words for the student
    expected_start: datetime | None  # Slurm's estimate (pending) or the start time (running)
    nodes: str

    @property
    def pending(self) -> bool:
        return self.state in ("PENDING", "CONFIGURING")


def _parse_time(value: str) -> datetime | None:
    value = value.strip()
    if not value or value in ("Unknown", "None", "N/A", "0"):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_tres(text: str) -> dict[str, str]:
    """``"billing=1,cpu=1,gres/gpu=1,mem=1G,node=1"`` -> dict."""
    out: dict[str, str] = {}
    for item in text.strip().split(","):
        key, sep, value = item.partition("=")
        if sep and key:
            out[key.strip()] = value.strip()
    return out


def gpus_from_tres(tres: dict[str, str]) -> int:
    """GPU count: ``gres/gpu`` if present, else the sum of typed ``gres/gpu:<type>`` entries."""

    def as_int(v: str) -> int:
        m = re.match(r"\d+", v)
        return int(m.group()) if m else 0

    if "gres/gpu" in tres:
        return as_int(tres["gres/gpu"])
    return sum(as_int(v) for k, v in tres.items() if k.startswith("gres/gpu:"))


def parse_sacct(text: str) -> list[JobRecord]:
    """Parse ``sacct -X -n -P -o <SACCT_FIELDS>`` output (one job per line)."""
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < 9:
            continue
        job_id, user, account, partition, state, start, end, elapsed, alloc = parts[:9]
        nodes, exit_code = (parts[9:11] + ["", ""])[:2]
        tres = parse_tres(alloc)
        try:
            elapsed_s = int(elapsed)
        except ValueError:
            elapsed_s = 0
        records.append(
            JobRecord(
                job_id=job_id.strip(),
                user=user.strip(),
                account=account.strip(),
                partition=partition.strip(),
                state=(state.split() or [""])[0].rstrip("+"),
                state_raw=state.strip(),
                start=_parse_time(start),
                end=_parse_time(end),
                elapsed_seconds=elapsed_s,
                gpus=gpus_from_tres(tres),
                tres=tres,
                nodes="" if nodes.strip() == "None assigned" else nodes.strip(),
                exit_code=exit_code.strip(),
            )
        )
    return records


# Slurm reason codes -> words a student understands. Prefix matches are tried after exact ones.
_REASONS_EXACT = {
    "None": "",
    "Resources": "Waiting for free GPUs/CPUs: all matching resources are in use.",
    "Priority": "Waiting in the queue: jobs with higher priority are ahead of yours.",
    "Dependency": "Waiting for another job to finish.",
    "BeginTime": "Scheduled to start later.",
    "JobHeldUser": "Held by the user.",
    "JobHeldAdmin": "Held by an administrator.",
    "PartitionDown": "The partition is down for maintenance.",
    "PartitionInactive": "The partition is not accepting jobs right now.",
    "PartitionTimeLimit": "The requested run time is longer than the partition allows.",
    "PartitionNodeLimit": "The job asks for more nodes than the partition allows.",
    "Reservation": "Waiting for a reservation to start.",
    "ReqNodeNotAvail": "The nodes it needs are not available (maintenance or reserved).",
    "NodeDown": "A node it needs is down.",
    "BadConstraints": "The requested resources can never be satisfied.",
    "InvalidAccount": "Your cluster account is not valid; contact support.",
    "InvalidQOS": "Your quality of service is not valid; contact support.",
    "Licenses": "Waiting for software licences.",
    "launch failed requeued held": "The job failed to start and is held; contact support.",
}
_REASONS_PREFIX = (
    ("AssocGrpGRESMinutes", "Your course has used its GPU-time budget."),
    ("AssocGrpGRESRunMinutes", "Your course's running jobs have reached the GPU-time limit."),
    ("AssocGrpGRES", "Your course is already using all GPUs it may use at once."),
    ("AssocGrpCPUMinutes", "Your course has used its CPU-time budget."),
    ("AssocGrpBillingMinutes", "Your course has used its compute budget."),
    ("AssocGrpJobsLimit", "Your course has as many running jobs as allowed."),
    ("AssocMaxJobsLimit", "You have as many running jobs as allowed."),
    ("AssocGrp", "Your course has reached a resource limit."),
    ("AssocMax", "You have reached a resource limit."),
    ("QOSGrpGRESMinutes", "The GPU-time budget of your service level is used up."),
    ("QOSMaxGRESPerUser", "You are already using all GPUs you may use at once."),
    ("QOSMaxJobsPerUser", "You have as many running jobs as allowed."),
    ("QOSMaxWallDuration", "The requested run time is longer than allowed."),
    ("QOS", "Waiting for a limit of your service level (QOS)."),
    ("ReqNodeNotAvail", "The nodes it needs are not available (maintenance or reserved)."),
    ("Reservation", "Waiting for a reservation."),
)


def explain_reason(reason: str) -> str:
    """Slurm pending reason code -> plain words ('' for 'None')."""
    reason = reason.strip()
    if reason in _REASONS_EXACT:
        return _REASONS_EXACT[reason]
    for prefix, text in _REASONS_PREFIX:
        if reason.startswith(prefix):
            return text
    return f"Waiting ({reason})." if reason else ""


def parse_squeue(job_id: str, text: str) -> QueueInfo:
    """Parse one line of ``squeue -j ID -h -o "%T|%r|%S|%N"``; empty text -> state GONE."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    if not line:
        return QueueInfo(str(job_id), "GONE", "", "The job is no longer in the queue.", None, "")
    parts = (line.split("|") + ["", "", "", ""])[:4]
    state, reason, start, nodes = (p.strip() for p in parts)
    return QueueInfo(
        job_id=str(job_id),
        state=state,
        reason=reason,
        reason_text=explain_reason(reason) if state in ("PENDING", "CONFIGURING") else "",
        expected_start=_parse_time(start),
        nodes=nodes,
    )


Runner = Callable[[Sequence[str], float], str]


def _subprocess_runner(cmd: Sequence[str], timeout: float) -> str:
    try:
        p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SlurmError(f"{shlex.join(cmd)}: {e}") from e
    if p.returncode != 0:
        raise SlurmError(f"{shlex.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


class SlurmReader:
    def __init__(
        self,
        command_prefix: Sequence[str] | str = (),
        *,
        timeout: float = 30.0,
        runner: Runner | None = None,
    ):
        """``command_prefix``: prepended to every command, e.g. ``"ssh login1"`` (str is split
        shell-like). ``runner(cmd, timeout) -> stdout`` can be replaced in tests."""
        self.prefix = (
            shlex.split(command_prefix) if isinstance(command_prefix, str) else list(command_prefix)
        )
        self.timeout = timeout
        self.runner = runner or _subprocess_runner

    def _run(self, *args: str) -> str:
        return self.runner([*self.prefix, *args], self.timeout)

    def jobs_since(
        self,
        since: datetime | date | str,
        *,
        users: Sequence[str] = (),
        job_ids: Sequence[str] = (),
    ) -> list[JobRecord]:
        """All jobs (every user) that started/ran since ``since``, one record per job (-X)."""
        if isinstance(since, datetime):
            since_s = since.strftime("%Y-%m-%dT%H:%M:%S")
        elif isinstance(since, date):
            since_s = since.isoformat()
        else:
            since_s = str(since)
        args = ["sacct", "-X", "-a", "-n", "-P", "-S", since_s, "-o", ",".join(SACCT_FIELDS)]
        if users:
            args += ["-u", ",".join(users)]
        if job_ids:
            args += ["-j", ",".join(str(j) for j in job_ids)]
        return parse_sacct(self._run(*args))

    def job(self, job_id: str | int) -> JobRecord | None:
        """The accounting record of one job (None if sacct doesn't know it)."""
        records = self.jobs_since("2000-01-01", job_ids=[str(job_id)])
        return next((r for r in records if r.job_id == str(job_id)), None)

    def queue_info(self, job_id: str | int) -> QueueInfo:
        """State, pending reason (in plain words) and expected start of a queued/running job."""
        try:
            out = self._run("squeue", "-j", str(job_id), "-h", "-o", SQUEUE_FORMAT)
        except SlurmError as e:
            if "Invalid job id" in str(e):  # squeue forgets finished jobs after MinJobAge
                out = ""
            else:
                raise
        return parse_squeue(str(job_id), out)


_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")


def _check_name(name: str) -> str:
    if not _JOB_NAME.fullmatch(name):
        raise SlurmError(f"bad job name: {name!r}")
    return name


def submit_batch(reader: SlurmReader, script: str) -> str:
    """``sbatch --parsable <script>`` (a path the submit host can read: the grading spool);
    returns the job id.  The script's ``#SBATCH`` lines say everything else."""
    out = reader._run("sbatch", "--parsable", script).strip()
    job_id = out.split(";")[0].strip()
    if not job_id.isdigit():
        raise SlurmError(f"sbatch answered {out!r}, not a job id")
    return job_id


def find_job_by_name(reader: SlurmReader, name: str, since: datetime | date | str) -> str | None:
    """The newest job named ``name`` (queued, running, or finished since ``since``): how a
    resubmission finds the job a first delivery already submitted."""
    _check_name(name)
    out = reader._run("squeue", "-h", "--name", name, "-o", "%i")
    ids = [ln.strip() for ln in out.splitlines() if ln.strip().isdigit()]
    if not ids:
        if isinstance(since, datetime):
            since = since.strftime("%Y-%m-%dT%H:%M:%S")
        out = reader._run(
            "sacct", "-X", "-a", "-n", "-P", "--name", name, "-S", str(since), "-o", "JobID"
        )
        ids = [ln.strip() for ln in out.splitlines() if ln.strip().isdigit()]
    return max(ids, key=int) if ids else None


def cancel_job(reader: SlurmReader, job_id: str | int) -> None:
    if not str(job_id).isdigit():
        raise SlurmError(f"bad job id: {job_id!r}")
    reader._run("scancel", str(int(job_id)))


def extend_job(reader: SlurmReader, job_id: str | int, minutes: int) -> None:
    """Add ``minutes`` to a running job's time limit (``scontrol update``; needs Slurm operator
    rights: root or SlurmUser on the host that runs it, e.g. through the command prefix)."""
    if not str(job_id).isdigit() or not 0 < int(minutes) <= 24 * 60:
        raise SlurmError(f"bad job id or minutes: {job_id!r}, {minutes!r}")
    reader._run("scontrol", "update", f"JobId={int(job_id)}", f"TimeLimit=+{int(minutes)}")
