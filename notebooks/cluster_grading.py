"""Grading on the cluster (issue 14, item 4): a lab with a grading profile is graded as a Slurm
batch job on the profile's partition, with its GPUs, CPUs, memory and wall time.

The life of one grading run (``GradingRun``: submission + number) on the cluster:

1. ``grading_job_start`` (the Celery task ``grade_submission``, at-least-once): the run's row and
   a ``GradingJob`` row (attempt 1) are created under the submission's lock; the job folder is
   written in the spool (``GRADING_SPOOL``: the source, the submission, the released version,
   the data files, the limits, the batch script) and the job is submitted with ``sbatch``
   through the Slurm client the sessions use.  The job's name is derived from the run and the
   attempt (``academy-grade-<submission>-<number>-<attempt>-<tag>``): before submitting, the job row
   is locked and Slurm is asked for a job of that name, so a redelivered task (or the poll after
   a worker died between ``sbatch`` and the commit) adopts the job instead of submitting twice.
   The task then returns: no worker process waits for the job.
2. ``poll`` (the beat task ``poll_grading_jobs``, every ``ACADEMY_GRADING_POLL_SECONDS``):
   ``squeue`` per active job.  Pending: the submission shows "Queued on the cluster" with
   Slurm's reason in plain words (``notebooks.clients.slurm.explain_reason``, the sessions'
   map); running: "Grading" and the node; gone from the queue: ``finish``.
3. ``finish``: sacct's record (state, exit code, node, elapsed, GPUs) and the job folder's
   ``result.json`` (written on the node by ``python -m notebooks.grader job``).  A result is
   recorded through ``services.grading_run_record`` (the same conditional UPDATE as the CPU
   path: one result per run, whoever finishes first).  A Slurm time limit is a result too
   (outcome "time limit", never retried: the notebook is too slow).  A job that ended without a
   result (cancelled, node failure, failed to start, the sandbox failed) is retried as a new
   attempt up to ``ACADEMY_GRADING_MAX_ATTEMPTS``, then the run fails visibly with the reason.
   A job of a stale run (regraded meanwhile) is cancelled and abandoned.
4. GPU-seconds (ElapsedRaw x gres/gpu from sacct) stay on the ``GradingJob`` row, charged to the
   course run's grading (the burn-down's "grading" line), never to the student's GPU time.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from academy.audit import audit

from . import grading, services
from .clients.slurm import (
    JobRecord,
    SlurmError,
    cancel_job,
    find_job_by_name,
    submit_batch,
)
from .models import (
    GRADING_JOB_ACTIVE,
    GradingJob,
    GradingJobState,
    GradingOutcome,
    GradingRun,
    GradingRunStatus,
    LabDataFile,
    ResourceProfile,
    Submission,
    SubmissionStatus,
    VersionCheck,
    VersionCheckStatus,
)
from .sessions import clients

log = logging.getLogger(__name__)

MiB = 1024**2
GiB = 1024**3
# A job Slurm knows neither in the queue nor in accounting this long after its submission is
# lost (accounting can lag a few seconds behind the end of a job).
LOST_AFTER = timedelta(minutes=2)
# A job row left without a Slurm job id (the worker died before sbatch answered) this long is
# submitted by the poll.
SUBMIT_STALLED_AFTER = timedelta(seconds=30)
# Slurm end states that are the notebook's doing: a result, never retried.
RESULT_STATES = {
    "TIMEOUT": (GradingOutcome.TIMEOUT, "the grading job reached its time limit"),
    "OUT_OF_MEMORY": (GradingOutcome.MEMORY, "the grading job ran out of memory"),
}
# Slurm end states in plain words, for a job that ended without a result.
_ENDED = {
    "CANCELLED": "the job was cancelled",
    "NODE_FAIL": "the node failed",
    "BOOT_FAIL": "the node failed to start",
    "FAILED": "the job failed",
    "PREEMPTED": "the job was preempted",
    "DEADLINE": "the job missed its deadline",
    "REVOKED": "the job was revoked",
    "COMPLETED": "the job ended without a result",
}


def job_name(submission_id: int, number: int, attempt: int) -> str:
    """The Slurm job name of one attempt: the run and the attempt, plus a random tag drawn once
    with the row (a redelivery reads the same row), so that another Academy (staging, a test
    database) numbering its submissions from 1 on the same cluster never shares a name."""
    return f"academy-grade-{submission_id}-{number}-{attempt}-{secrets.token_hex(3)}"


def graded_on_cluster(submission_id: int) -> bool:
    return Submission.objects.filter(pk=submission_id, lab__grading_profile__isnull=False).exists()


def spool_folder(name: str) -> Path:
    """The folder of the job named ``name`` (a grading job or a version check) in the spool."""
    return Path(settings.GRADING_SPOOL) / name


# ----------------------------------------------------------------------------- submission


def grading_job_start(*, submission_id: int, number: int) -> str:
    """Start grading run ``number`` of a cluster-graded submission: create the run and its
    first job, submit it.  Idempotent (a redelivery finds the job); raises GraderUnavailable
    when Slurm or the spool fails (the task retries, then fails the run visibly)."""
    now = timezone.now()
    with transaction.atomic():
        sub = (
            Submission.objects.select_for_update(of=("self",))
            .select_related("lab__released_version", "lab__grading_profile")
            .filter(pk=submission_id)
            .first()
        )
        if sub is None or sub.grading_number != number:
            return "stale"
        run = GradingRun.objects.filter(submission=sub, number=number).first()
        if run is not None and run.status != GradingRunStatus.RUNNING:
            return "done"
        version = run.lab_version if run else sub.lab.released_version
        profile = sub.lab.grading_profile
        if version is None or profile is None:
            sub.status, sub.reason = SubmissionStatus.FAILED, "the lab has no released version"
            if profile is None:
                sub.reason = "the lab is no longer graded on the cluster"
            sub.save(update_fields=["status", "reason", "updated_at"])
            return sub.status
        if run is None:
            run = GradingRun.objects.create(
                submission=sub, number=number, lab_version=version, started_at=now
            )
        GradingRun.objects.filter(pk=run.pk).update(deliveries=F("deliveries") + 1, worker="slurm")
        job = GradingJob.objects.filter(submission=sub, number=number).order_by("-attempt").first()
        if job is None:
            job = GradingJob.objects.create(
                submission=sub,
                number=number,
                attempt=1,
                run_id=sub.lab.run_id,
                profile=profile,
                name=job_name(sub.pk, number, 1),
                partition=profile.partition,
                gpus=profile.gpus,
            )
            Submission.objects.filter(pk=sub.pk).update(
                status=SubmissionStatus.QUEUED,
                reason=_("Waiting for the cluster."),
                updated_at=now,
            )
        elif not job.is_active:
            return "done"
    _submit(job.pk)
    return "submitted"


def _submit(job_pk: int) -> GradingJob:
    """Write the job's folder and submit it, unless Slurm already has a job of its name.
    The job row stays locked meanwhile, so two deliveries cannot both submit."""
    with transaction.atomic():
        job = (
            GradingJob.objects.select_for_update(of=("self",))
            .select_related("submission__lab", "profile")
            .get(pk=job_pk)
        )
        if job.job_id or job.state != GradingJobState.SUBMITTING:
            return job
        run = GradingRun.objects.select_related("lab_version").get(
            submission_id=job.submission_id, number=job.number
        )
        try:
            found, job_id = _find_or_submit(
                job.name, job.submitted_at, lambda: _write_folder(job, run)
            )
        except (OSError, SlurmError) as exc:
            raise grading.GraderUnavailable(f"submitting the grading job failed: {exc}") from exc
        job.job_id, job.state = job_id, GradingJobState.PENDING
        job.save(update_fields=["job_id", "state"])
        audit(
            None,
            "submission.grading_job_submitted",
            job.submission,
            number=job.number,
            attempt=job.attempt,
            job_id=job_id,
            adopted=bool(found),
        )
    return job


def _limits(profile: ResourceProfile | None) -> dict[str, Any]:
    minutes = profile.max_walltime_minutes if profile else 10
    cpus = profile.cpus if profile else 1
    memory = (profile.memory_gb if profile else 2) * GiB
    seconds = max(5, minutes * 60 - settings.GRADING_MARGIN_SECONDS)
    # What the grader itself needs stays out of the kernel's share of the job's memory.
    kernel_memory = max(512 * MiB, memory - 512 * MiB)
    return {
        "cell_timeout": seconds,
        "notebook_timeout": seconds,
        "cpus": float(cpus),
        "cpu_seconds": int(seconds * cpus) + 60,
        "memory_bytes": kernel_memory,
        "total_memory_bytes": kernel_memory,
    }


def _find_or_submit(
    name: str, since: datetime, write: Callable[[], Path]
) -> tuple[str | None, str]:
    """(the job Slurm already has under ``name``, or None; the job id).  Only when Slurm has
    none is the folder written (``write``, which returns the batch script) and submitted: a job
    adopted after a worker died keeps its inputs and any result it already wrote."""
    slurm = clients.slurm()
    # sacct reads times in the cluster's local time; nothing older than the row is ours
    found = find_job_by_name(
        slurm, name, (since - timedelta(minutes=1)).astimezone().replace(tzinfo=None)
    )
    return found, found or submit_batch(slurm, str(write()))


def _write_spool(
    name: str,
    files: dict[str, Any],
    lab_id: int,
    spec: dict[str, Any],
    profile: ResourceProfile | None,
    minutes: int | None = None,
) -> Path:
    """The job folder ``$GRADING_SPOOL/<name>``: the notebooks (``files``: name -> file field),
    the lab's data files, ``job.json`` (the profile's limits plus ``spec``) and the batch
    script, which this returns; an earlier ``result.json`` goes."""
    folder = spool_folder(name)
    (folder / "data").mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for filename, field in files.items():
        _copy(field, folder / filename)
    for data in LabDataFile.objects.filter(lab_id=lab_id):
        _copy(data.file, folder / "data" / Path(data.name).name)
    spec = {"limits": _limits(profile), "gpu_device_dir": settings.GRADING_GPU_DEVICE_DIR, **spec}
    (folder / "job.json").write_text(json.dumps(spec))
    (folder / "result.json").unlink(missing_ok=True)
    script = folder / "job.sh"
    script.write_text(batch_script(name, profile, folder, minutes=minutes))
    return script


def _write_folder(job: GradingJob, run: GradingRun) -> Path:
    version = run.lab_version
    files = {
        "source.ipynb": version.source,
        "released.ipynb": version.student,
        "submission.ipynb": job.submission.file,
    }
    spec = {"submission": job.submission_id, "number": job.number, "attempt": job.attempt}
    return _write_spool(job.name, files, job.submission.lab_id, spec, job.profile)


def _copy(field: Any, target: Path) -> None:
    with field.open("rb") as src:
        target.write_bytes(src.read())


def batch_script(
    name: str, profile: ResourceProfile | None, folder: Path, *, minutes: int | None = None
) -> str:
    """The batch script: the profile's resources (``minutes`` replaces its wall time), no
    requeue (Academy retries), no environment of the submitting worker (``--export=NONE``: its
    secrets stay here)."""
    minutes = minutes or (profile.max_walltime_minutes if profile else 10)
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --partition={profile.partition if profile else 'cpu'}",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        f"#SBATCH --cpus-per-task={profile.cpus if profile else 1}",
        f"#SBATCH --mem={profile.memory_gb if profile else 2}G",
        f"#SBATCH --time={minutes}",
        f"#SBATCH --output={folder}/slurm.out",
        "#SBATCH --no-requeue",
        "#SBATCH --export=NONE",
    ]
    if profile and profile.gpus:
        lines.append(f"#SBATCH --gres=gpu:{profile.gpus}")
    if settings.GRADING_ACCOUNT:
        lines.append(f"#SBATCH --account={settings.GRADING_ACCOUNT}")
    if settings.GRADING_QOS:
        lines.append(f"#SBATCH --qos={settings.GRADING_QOS}")
    lines += ["set -u"]
    if settings.GRADING_JOB_PROLOGUE:
        lines.append(settings.GRADING_JOB_PROLOGUE)
    lines += [
        f"cd {shlex.quote(str(settings.GRADING_CODE_DIR))}",
        f"exec {settings.GRADING_JOB_COMMAND} {shlex.quote(str(folder))}",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- polling


def poll() -> int:
    """One pass over the grading jobs: submit stalled ones, follow queued and running ones,
    finish ended ones, fill in late accounting.  Returns the number of jobs looked at."""
    now = timezone.now()
    seen = 0
    for pk in GradingJob.objects.filter(
        state=GradingJobState.SUBMITTING, job_id="", submitted_at__lt=now - SUBMIT_STALLED_AFTER
    ).values_list("pk", flat=True):
        try:
            _submit(pk)
        except grading.GraderUnavailable as exc:
            log.warning("grading job %s: %s", pk, exc)
        seen += 1
    for job in GradingJob.objects.filter(
        state__in=[GradingJobState.PENDING, GradingJobState.RUNNING]
    ).exclude(job_id=""):
        try:
            refresh(job)
        except SlurmError as exc:
            log.warning("grading job %s (%s): %s", job.name, job.job_id, exc)
        seen += 1
    for job in GradingJob.objects.filter(
        accounted=False, ended_at__gte=now - timedelta(days=1)
    ).exclude(state__in=GRADING_JOB_ACTIVE):
        try:
            record = clients.slurm().job(job.job_id) if job.job_id else None
        except SlurmError:
            continue
        if record is not None:
            _account(job, record)
            GradingJob.objects.filter(pk=job.pk).update(
                **{f: getattr(job, f) for f in _ACCOUNTING_FIELDS}
            )
    for check in (
        VersionCheck.objects.filter(
            status__in=[VersionCheckStatus.QUEUED, VersionCheckStatus.RUNNING]
        )
        .exclude(job_name="")
        .select_related("version")
    ):
        try:
            check_refresh(check)
        except SlurmError as exc:
            log.warning("version check job %s (%s): %s", check.job_name, check.job_id, exc)
        except Exception:  # one bad row must not stop the poll following the others
            log.exception("version check %s: the poll failed", check.pk)
        seen += 1
    return seen


def refresh(job: GradingJob) -> None:
    """Follow one submitted job: queued (with the reason), running (with the node), ended."""
    sub = Submission.objects.filter(pk=job.submission_id).only("grading_number").first()
    slurm = clients.slurm()
    if sub is None or sub.grading_number != job.number:
        _abandon(job)
        return
    info = slurm.queue_info(job.job_id)
    now = timezone.now()
    if info.pending:
        words = info.reason_text or _("Waiting for the cluster.")
        GradingJob.objects.filter(pk=job.pk, state__in=GRADING_JOB_ACTIVE).update(
            state=GradingJobState.PENDING, pending_reason=words[:300]
        )
        Submission.objects.filter(pk=job.submission_id, grading_number=job.number).exclude(
            status__in=[SubmissionStatus.GRADED, SubmissionStatus.NEEDS_MANUAL]
        ).update(
            status=SubmissionStatus.QUEUED,
            reason=(_("Queued on the cluster: %(reason)s") % {"reason": words})[:500],
            updated_at=now,
        )
    elif info.state in ("RUNNING", "SUSPENDED", "RESIZING"):
        GradingJob.objects.filter(pk=job.pk, state__in=GRADING_JOB_ACTIVE).update(
            state=GradingJobState.RUNNING,
            pending_reason="",
            node=info.nodes[:200],
            started_at=job.started_at or _aware(info.expected_start) or now,
        )
        Submission.objects.filter(pk=job.submission_id, grading_number=job.number).exclude(
            status__in=[SubmissionStatus.GRADED, SubmissionStatus.NEEDS_MANUAL]
        ).update(
            status=SubmissionStatus.RUNNING,
            reason=_("Running on the cluster."),
            updated_at=now,
        )
    else:  # COMPLETING, an end state, or GONE (squeue forgot it)
        finish(job)


def _abandon(job: GradingJob) -> None:
    with transaction.atomic():
        locked = (
            GradingJob.objects.select_for_update(skip_locked=True)
            .filter(pk=job.pk, state__in=GRADING_JOB_ACTIVE)
            .first()
        )
        if locked is None:
            return
        if locked.job_id:
            try:
                cancel_job(clients.slurm(), locked.job_id)
            except SlurmError as exc:
                log.warning("cancelling stale grading job %s: %s", locked.job_id, exc)
        locked.state, locked.reason = GradingJobState.ABANDONED, "the run was superseded"
        locked.ended_at = timezone.now()
        locked.save(update_fields=["state", "reason", "ended_at"])


_ACCOUNTING_FIELDS = (
    "slurm_state",
    "exit_code",
    "node",
    "partition",
    "gpus",
    "elapsed_seconds",
    "gpu_seconds",
    "started_at",
    "ended_at",
    "accounted",
)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _account(job: GradingJob, record: JobRecord) -> None:
    job.slurm_state = record.state[:40]
    job.exit_code = record.exit_code[:20]
    job.node = (record.nodes or job.node)[:200]
    job.partition = record.partition or job.partition
    job.gpus = record.gpus or job.gpus
    job.elapsed_seconds = record.elapsed_seconds
    job.gpu_seconds = record.gpu_seconds
    job.started_at = _aware(record.start) or job.started_at
    job.ended_at = _aware(record.end) or job.ended_at or timezone.now()
    # sacct shows an empty partition for a moment after the job ends: read it again later
    job.accounted = record.finished and bool(record.partition)


def _read_result(name: str) -> dict[str, Any] | None:
    """The ``result.json`` of the job folder ``name``, or None (none yet, or unreadable)."""
    try:
        data = json.loads((spool_folder(name) / "result.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe(record: JobRecord | None, data: dict[str, Any] | None) -> str:
    if data and data.get("error"):
        return str(data["error"])[:300]
    if record is None:
        return "Slurm lost the job (neither queued nor in accounting)"
    words = _ENDED.get(record.state, f"the job ended ({record.state})")
    return f"{words} (exit {record.exit_code or '?'})"


def finish(job: GradingJob) -> str:
    """The job left the queue: record its result, or retry it, or fail the run visibly."""
    slurm = clients.slurm()
    record = slurm.job(job.job_id)
    if record is not None and not record.finished:
        return "running"  # squeue forgot it before sacct caught up: next poll
    data = _read_result(job.name)
    if record is None and data is None and timezone.now() - job.submitted_at < LOST_AFTER:
        return "waiting"
    retry_pk: int | None = None
    with transaction.atomic():
        locked = (
            GradingJob.objects.select_for_update(skip_locked=True)
            .filter(pk=job.pk, state__in=GRADING_JOB_ACTIVE)
            .first()
        )
        if locked is None:
            return "busy"
        job = locked
        if record is not None:
            _account(job, record)
        else:
            job.ended_at = timezone.now()
        result = _result_of(job, record, data)
        if result is not None:
            job.state = GradingJobState.COLLECTED
            job.save(update_fields=["state", *_ACCOUNTING_FIELDS])
            services.grading_run_record(
                submission_id=job.submission_id, number=job.number, result=result
            )
            outcome = "collected"
        else:
            job.reason = _describe(record, data)[:500]
            if job.attempt < settings.GRADING_MAX_ATTEMPTS:
                job.state = GradingJobState.RETRIED
                job.save(update_fields=["state", "reason", *_ACCOUNTING_FIELDS])
                retry = GradingJob.objects.create(
                    submission_id=job.submission_id,
                    number=job.number,
                    attempt=job.attempt + 1,
                    run_id=job.run_id,
                    profile=job.profile,
                    name=job_name(job.submission_id, job.number, job.attempt + 1),
                    partition=job.partition,
                    gpus=job.profile.gpus if job.profile else job.gpus,
                )
                retry_pk = retry.pk
                Submission.objects.filter(pk=job.submission_id, grading_number=job.number).update(
                    status=SubmissionStatus.QUEUED,
                    reason=(_("Retrying on the cluster (%(why)s).") % {"why": job.reason})[:500],
                    updated_at=timezone.now(),
                )
                outcome = "retried"
            else:
                job.state = GradingJobState.FAILED
                job.save(update_fields=["state", "reason", *_ACCOUNTING_FIELDS])
                services.grading_run_fail(
                    submission_id=job.submission_id,
                    number=job.number,
                    reason=(
                        f"grading on the cluster failed after {job.attempt} attempts: {job.reason}"
                    ),
                )
                outcome = "failed"
        audit(
            None,
            f"submission.grading_job_{outcome}",
            job.submission,
            number=job.number,
            attempt=job.attempt,
            job_id=job.job_id,
            slurm_state=job.slurm_state,
            reason=job.reason,
        )
    if retry_pk is not None:
        try:
            _submit(retry_pk)
        except grading.GraderUnavailable as exc:  # the poll submits it later
            log.warning("resubmitting grading job %s: %s", retry_pk, exc)
    return outcome


def _result_of(
    job: GradingJob, record: JobRecord | None, data: dict[str, Any] | None
) -> grading.GradeResult | None:
    """The grading result the job produced, or None when it produced none (retry)."""
    max_score = float(
        GradingRun.objects.filter(submission_id=job.submission_id, number=job.number)
        .values_list("lab_version__max_score", flat=True)
        .first()
        or Decimal(0)
    )
    result = _part_result(data, max_score)
    if result is not None:
        return result
    if record is not None and record.state in RESULT_STATES:
        outcome, words = RESULT_STATES[record.state]
        minutes = job.profile.max_walltime_minutes if job.profile else 0
        reason = f"{words} ({minutes} min)" if outcome == GradingOutcome.TIMEOUT else words
        return grading.GradeResult(0, max_score, False, {}, outcome, reason)
    return None


# ----------------------------------------------------------------- "Test this version" on Slurm


def check_job_start(*, check_id: int) -> VersionCheck | None:
    """Submit a version check of a lab graded on the cluster as one Slurm job on the lab's
    grading profile: the source's solution and the student version are graded there, one after
    the other, with the profile's GPUs, as submissions will be (each grading gets a
    submission's time: the job gets twice the profile's wall time).  Idempotent: the check row
    is locked and Slurm asked for a job of its name (saved with the check) before anything is
    submitted.  Raises GraderUnavailable when Slurm or the spool fails (the task retries, then
    fails the check visibly; the poll takes over a check left without a job)."""
    with transaction.atomic():
        check = (
            VersionCheck.objects.select_for_update(of=("self",))
            .select_related("version__lab__grading_profile")
            .filter(pk=check_id, status__in=[VersionCheckStatus.QUEUED, VersionCheckStatus.RUNNING])
            .exclude(job_name="")
            .first()
        )
        if check is None or check.job_id:
            return check
        version, profile = check.version, check.version.lab.grading_profile
        if profile is None:
            services.version_check_fail(
                check_id=check.pk,
                reason="the lab is no longer graded on the cluster: test this version again",
            )
            return check
        files = {"source.ipynb": version.source, "released.ipynb": version.student}

        def write() -> Path:
            spec = {"check": check.pk}
            minutes = 2 * profile.max_walltime_minutes
            return _write_spool(check.job_name, files, version.lab_id, spec, profile, minutes)

        try:
            found, check.job_id = _find_or_submit(check.job_name, check.requested_at, write)
        except (OSError, SlurmError) as exc:
            raise grading.GraderUnavailable(f"submitting the test job failed: {exc}") from exc
        check.status = VersionCheckStatus.RUNNING
        check.save(update_fields=["job_id", "status"])
        audit(
            None,
            "lab.version_check_job_submitted",
            version.lab,
            version=version.number,
            check=check.pk,
            job_id=check.job_id,
            adopted=bool(found),
        )
    return check


def check_refresh(check: VersionCheck) -> str:
    """Follow a check's job: queued (with Slurm's reason), running (the node), ended (record
    the verdict, or fail the check with the reason: no automatic retry, "Test again" is one
    click).  A check left without a job (its task's worker died) is submitted here."""
    now = timezone.now()
    if not check.job_id:
        if check.requested_at < now - SUBMIT_STALLED_AFTER:
            try:
                check_job_start(check_id=check.pk)
            except grading.GraderUnavailable as exc:
                log.warning("version check %s: %s", check.pk, exc)
        return "submitting"
    running = VersionCheck.objects.filter(pk=check.pk, status=VersionCheckStatus.RUNNING)
    slurm = clients.slurm()
    info = slurm.queue_info(check.job_id)
    if info.pending:
        words = info.reason_text or _("Waiting for the cluster.")
        running.update(pending_reason=words[:300])
        return "pending"
    if info.state in ("RUNNING", "SUSPENDED", "RESIZING"):
        running.update(pending_reason="", node=info.nodes[:200])
        return "running"
    record = slurm.job(check.job_id)
    if record is not None and not record.finished:
        return "running"  # squeue forgot it before sacct caught up: next poll
    data = _read_result(check.job_name)
    if data is None:
        if record is None and now - check.requested_at < LOST_AFTER:
            return "waiting"  # neither queued nor in accounting yet
        ended = _aware(record.end) if record is not None else None
        if (
            record is not None
            and record.state == "COMPLETED"
            and ended
            and now - ended < LOST_AFTER
        ):
            return "waiting"  # the result may not show on the shared spool yet
    running.update(
        pending_reason="",
        node=(
            (record.nodes if record else "") or str((data or {}).get("node") or "") or check.node
        )[:200],
        gpu_seconds=record.gpu_seconds if record is not None else 0,
    )
    parts = (data or {}).get("check")
    parts = parts if isinstance(parts, dict) else {}
    max_score = float(check.version.max_score)
    solution, student = (_part_result(parts.get(n), max_score) for n in ("solution", "student"))
    if solution is not None and student is not None:
        services.version_check_record(check_id=check.pk, solution=solution, student=student)
        return "done"
    why = _describe(record, data)
    if record is not None and record.state in RESULT_STATES:  # the time limit, the memory
        why = RESULT_STATES[record.state][1]
    services.version_check_fail(check_id=check.pk, reason=f"the test job on the cluster: {why}")
    return "failed"


def _part_result(entry: Any, max_score: float) -> grading.GradeResult | None:
    if not isinstance(entry, dict):
        return None
    if isinstance(entry.get("result"), dict):
        return grading.result_from_grader(entry["result"])
    if entry.get("invalid"):
        return grading.GradeResult(
            0, max_score, False, {}, GradingOutcome.INVALID, str(entry["invalid"])[:500]
        )
    return None


# ------------------------------------------------------------------------------ the spool


def spool_sweep(now: datetime | None = None) -> int:
    """Remove the folders of grading and test jobs that ended more than
    ``GRADING_SPOOL_KEEP_HOURS`` ago (their inputs hold solutions and hidden tests).  Reads
    the spool, not the tables, so the cost follows what is there; a folder this database does
    not know (another Academy sharing the spool) is left alone.  Returns the folders removed."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.GRADING_SPOOL_KEEP_HOURS)
    spool = Path(settings.GRADING_SPOOL)
    try:
        names = [p.name for p in spool.iterdir() if p.is_dir()]
    except FileNotFoundError:
        return 0
    removed = 0
    for i in range(0, len(names), 500):
        batch = names[i : i + 500]
        done = set(
            GradingJob.objects.filter(name__in=batch, ended_at__lt=cutoff)
            .exclude(state__in=GRADING_JOB_ACTIVE)
            .values_list("name", flat=True)
        ) | set(
            VersionCheck.objects.filter(
                job_name__in=batch,
                status__in=[VersionCheckStatus.DONE, VersionCheckStatus.FAILED],
                finished_at__lt=cutoff,
            ).values_list("job_name", flat=True)
        )
        for name in done:
            shutil.rmtree(spool_folder(name), ignore_errors=True)
            removed += 1
    return removed
