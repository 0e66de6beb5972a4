"""Writes of the labs side.  Each service checks the actor's right, changes state in one
transaction, writes an audit row, and enqueues grading only after commit.

Grading is at-least-once (acks_late, reject_on_worker_lost): ``grading_run_execute`` may run
twice for the same (submission, number), concurrently or after a worker died.  It is safe:
the GradingRun is keyed by (submission, number), a stale number does nothing, and the result
is written by a conditional UPDATE that only the first finisher wins.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from academy.audit import audit
from academy.jobs import enqueue
from academy.models import User
from courses.models import CourseRun, Enrolment
from courses.selectors import can_author_run, can_teach_run
from courses.signals import learning_event

from . import grading, queue
from .models import (
    LAB_SETTINGS,
    Extension,
    GradingOutcome,
    GradingRun,
    GradingRunStatus,
    GradingTicket,
    Lab,
    LabDataFile,
    LabRegrade,
    LabRegradeState,
    LabVersion,
    ManualGrade,
    Submission,
    SubmissionSource,
    SubmissionStatus,
    TicketKind,
    TicketState,
    VersionCheck,
    VersionCheckStatus,
)
from .selectors import LEARNING_STATES, library_labs

log = logging.getLogger(__name__)

LAB_FIELDS = frozenset(LAB_SETTINGS)


def _require(condition: bool) -> None:
    if not condition:
        raise PermissionDenied


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Sent after commit, by name (academy.jobs): this module never imports the tasks module.  The
# message asks a worker to grade the fairest ticket of the queue (notebooks.queue).
GRADE_TASK = "notebooks.tasks.grade_submission"  # as queue.GRADE_TASK


def _max_bytes() -> int:
    return settings.NOTEBOOK_MAX_BYTES


def _data_files(lab_id: int) -> dict[str, bytes]:
    return {d.name: _read(d.file) for d in LabDataFile.objects.filter(lab_id=lab_id)}


def _grade_against(
    version: LabVersion, source: bytes, released: bytes, submission: bytes, data_files: dict
) -> grading.GradeResult:
    """Grade one notebook against a version in the CPU sandbox; an invalid one is a result."""
    try:
        return grading.grade(
            source=source,
            submission=submission,
            released=released,
            data_files=data_files,
            timeout=_grading_timeout(),
            pool=grading_pool(),
        )
    except grading.NotebookInvalid as exc:
        return grading.GradeResult(
            0, float(version.max_score), False, {}, GradingOutcome.INVALID, str(exc)[:500]
        )


def _grading_timeout() -> float:
    return float(settings.NOTEBOOK_GRADING_TIMEOUT)


class SubmissionRateLimited(ValidationError):
    """Too many submissions by one student to one lab in the window; ``retry_after`` is the
    number of seconds until the next one is accepted.  Nothing already submitted is touched."""

    def __init__(self, *, limit: int, window: int, retry_after: int):
        self.retry_after = retry_after
        minutes = max(1, -(-retry_after // 60))
        super().__init__(
            {
                "file": _(
                    "Too many submissions: at most %(n)d to a lab in %(window)d minutes. Your "
                    "earlier submissions are kept; try again in %(minutes)d minutes."
                )
                % {"n": limit, "window": max(1, window // 60), "minutes": minutes}
            },
            code="rate_limited",
        )


def _check_submission_rate(*, lab: Lab, student: User, now: datetime) -> None:
    limit = settings.SUBMISSION_RATE_LIMIT
    window = settings.SUBMISSION_RATE_WINDOW
    if limit <= 0:
        return
    recent = list(
        Submission.objects.filter(
            lab=lab, student=student, submitted_at__gt=now - timedelta(seconds=window)
        )
        .order_by("-submitted_at")
        .values_list("submitted_at", flat=True)[:limit]
    )
    if len(recent) >= limit:
        # The window lets one more in once the oldest of the last ``limit`` has left it.
        free_at = recent[-1] + timedelta(seconds=window)
        retry_after = max(1, int((free_at - now).total_seconds()) + 1)
        raise SubmissionRateLimited(limit=limit, window=window, retry_after=retry_after)


class NotebookRejected(ValidationError):
    """An upload that cannot be used; ``cell_errors`` holds the grader's per-cell errors."""

    def __init__(self, cell_errors: list[grading.CellError]):
        self.cell_errors = cell_errors
        super().__init__([str(e) for e in cell_errors], code="notebook_invalid")


# ------------------------------------------------------------------------------ labs


def _check_lab_fields(lab: Lab) -> None:
    if lab.category is not None and lab.category.run_id != lab.run_id:
        raise ValidationError({"category": _("The category belongs to another run.")})
    lab.full_clean(exclude=["released_version"])


def lab_create(*, actor: User, run: CourseRun, **fields: Any) -> Lab:
    _require(can_author_run(actor, run.pk))
    unknown = set(fields) - LAB_FIELDS
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}")
    lab = Lab(run=run, created_by=actor, **fields)
    _check_lab_fields(lab)
    with transaction.atomic():
        lab.save()
        audit(actor, "lab.create", lab)
    return lab


def lab_update(*, actor: User, lab: Lab, **fields: Any) -> Lab:
    _require(can_author_run(actor, lab.run_id))
    unknown = set(fields) - LAB_FIELDS
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}")
    changes = {k: str(v) for k, v in fields.items() if getattr(lab, k) != v}
    for key, value in fields.items():
        setattr(lab, key, value)
    _check_lab_fields(lab)
    with transaction.atomic():
        lab.save()
        audit(actor, "lab.update", lab, changes=changes)
    return lab


def lab_version_upload(*, actor: User, lab: Lab, content: bytes) -> LabVersion:
    """Store a new immutable source version and its student version.

    The grader validates it first; when invalid, NotebookRejected carries every per-cell error
    and nothing is stored."""
    _require(can_author_run(actor, lab.run_id))
    try:
        warnings = grading.validate(content, max_bytes=_max_bytes())
        student = grading.release(content).encode()
        cells = grading.graded_cells(content)
    except grading.NotebookInvalid as exc:
        raise NotebookRejected(exc.errors) from None
    max_score = sum(Decimal(str(c["points"])) for c in cells)
    with transaction.atomic():
        # The lab row lock numbers versions without gaps or duplicates.
        Lab.objects.select_for_update().filter(pk=lab.pk).first()
        number = (lab.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = LabVersion(
            lab=lab,
            number=number,
            source_sha256=_sha256(content),
            student_sha256=_sha256(student),
            max_score=max_score,
            cells=cells,
            warnings=[str(w) for w in warnings],
            created_by=actor,
        )
        version.source.save("source.ipynb", ContentFile(content), save=False)
        version.student.save("student.ipynb", ContentFile(student), save=False)
        version.save()
        audit(actor, "lab.version_upload", lab, version=number, sha256=version.source_sha256)
    return version


class ReleaseBlocked(ValidationError):
    """The version's latest check did not pass: a release needs an override with a reason."""


def release_block_reason(version: LabVersion) -> str:
    """Why releasing ``version`` needs an override ("" when it does not): its latest "Test this
    version" did not pass, could not run, or has not finished.  A version never tested is not
    blocked (uploads from before the check existed, the API); its page says it is untested."""
    check = version.checks.order_by("-requested_at", "-id").first()
    if check is None or check.passed:
        return ""
    if check.status == VersionCheckStatus.FAILED:
        return _("The test of this version could not run.")
    if not check.is_final:
        return _("The test of this version has not finished.")
    return _(
        "The solution of this version does not score full marks, or its student version "
        "does not run cleanly."
    )


def lab_release(
    *, actor: User, lab: Lab, version: LabVersion | None = None, override_reason: str = ""
) -> Lab:
    """Give students a version (the latest by default).  Re-releasing a fixed version is how
    a test is corrected; regrade afterwards to apply it to earlier submissions.

    A version whose test did not pass (``release_block_reason``) is released only with an
    ``override_reason``, which the audit row keeps."""
    _require(can_author_run(actor, lab.run_id))
    version = version or lab.versions.order_by("-number").first()
    if version is None or version.lab_id != lab.pk:
        raise ValidationError(_("Upload a source notebook before releasing the lab."))
    blocked = release_block_reason(version)
    override_reason = override_reason.strip()[:500]
    if blocked and not override_reason:
        raise ReleaseBlocked(
            _("%(why)s Release it anyway only with a reason for the override.") % {"why": blocked},
            code="release_blocked",
        )
    with transaction.atomic():
        lab.released_version = version
        lab.released_at = timezone.now()
        lab.save(update_fields=["released_version", "released_at"])
        if blocked:
            audit(
                actor,
                "lab.release_override",
                lab,
                version=version.number,
                reason=override_reason,
                blocked=blocked,
            )
        audit(actor, "lab.release", lab, version=version.number)
    return lab


# ------------------------------------------------------------------ "Test this version"

CHECK_TASK = "notebooks.tasks.check_version"


def version_check_request(*, actor: User, version: LabVersion) -> VersionCheck:
    """Queue a check of ``version`` (grading runs in a worker, never in the request)."""
    _require(can_author_run(actor, version.lab.run_id))
    with transaction.atomic():
        active = (
            VersionCheck.objects.select_for_update()
            .filter(
                version=version,
                status__in=[VersionCheckStatus.QUEUED, VersionCheckStatus.RUNNING],
            )
            .first()
        )
        if active is not None:
            return active  # one test of a version at a time (a GPU job each, on the cluster)
        check = VersionCheck.objects.create(version=version, requested_by=actor)
        if Lab.objects.filter(pk=version.lab_id, grading_profile__isnull=False).exists():
            # Tested on the cluster (``cluster_grading.check_job_start``): the job's name is
            # kept before any job is submitted.
            check.job_name = check_job_name(check.pk)
            check.save(update_fields=["job_name"])
        audit(actor, "lab.version_check", version.lab, version=version.number, check=check.pk)
        enqueue(
            CHECK_TASK,
            check.pk,
            on_failure=lambda: version_check_fail(
                check_id=check.pk, reason="the job queue is unavailable"
            ),
        )
    return check


def check_job_name(check_id: int) -> str:
    """The Slurm job name of a version check on the cluster, drawn once with the check (a
    redelivery, or the poll taking over a stalled check, finds the job under it)."""
    return f"academy-check-{check_id}-{secrets.token_hex(3)}"


def version_check_execute(*, check_id: int) -> VersionCheck | None:
    """Grade the source's solution and the student version of the check's version.
    Idempotent: only a queued (or a redelivered running) check is run, and the result is
    written once; raises GraderUnavailable when the sandbox fails (the task retries)."""
    claimed = VersionCheck.objects.filter(
        pk=check_id, status__in=[VersionCheckStatus.QUEUED, VersionCheckStatus.RUNNING]
    ).update(status=VersionCheckStatus.RUNNING)
    check = VersionCheck.objects.select_related("version").filter(pk=check_id).first()
    if not claimed or check is None:
        return check
    version = check.version
    if check.job_name:
        return check  # a test on the cluster: ``cluster_grading.check_job_start`` submits it
    source = _read(version.source)
    student = _read(version.student)
    data_files = _data_files(version.lab_id)
    solution, released = (
        _grade_against(version, source, student, submission, data_files)
        for submission in (source, student)
    )
    version_check_record(check_id=check_id, solution=solution, student=released)
    check.refresh_from_db()
    return check


def version_check_record(
    *, check_id: int, solution: grading.GradeResult, student: grading.GradeResult
) -> bool:
    """Write a running check's verdict from its two gradings (once: False when it was no
    longer running)."""
    problems, warnings = grading.check_verdict(solution, student)
    return bool(
        VersionCheck.objects.filter(pk=check_id, status=VersionCheckStatus.RUNNING).update(
            status=VersionCheckStatus.DONE,
            solution=grading.result_as_dict(solution),
            student=grading.result_as_dict(student),
            passed=not problems,
            problems=problems,
            warnings=warnings,
            finished_at=timezone.now(),
        )
    )


def version_check_fail(*, check_id: int, reason: str) -> None:
    """The infrastructure kept failing: the check says so (and blocks the release)."""
    VersionCheck.objects.filter(
        pk=check_id, status__in=[VersionCheckStatus.QUEUED, VersionCheckStatus.RUNNING]
    ).update(
        status=VersionCheckStatus.FAILED,
        passed=False,
        reason=reason[:500],
        finished_at=timezone.now(),
    )


# ------------------------------------------------------------------------ the library


def lab_copy(*, actor: User, lab: Lab, run: CourseRun) -> Lab:
    """Copy a library lab (its settings, latest version and data files) into ``run``, as an
    unreleased lab with version 1.  The actor must see the lab in their library and author the
    run.  The grading category is matched by name in the target run (or left empty)."""
    _require(can_author_run(actor, run.pk))
    if not library_labs(actor).filter(pk=lab.pk).exists():
        raise Lab.DoesNotExist
    latest = lab.versions.order_by("-number").first()
    if latest is None:
        raise ValidationError(_("This lab has no version to copy."))
    fields = {name: getattr(lab, name) for name in LAB_SETTINGS}
    fields["category"] = (
        run.categories.filter(name=lab.category.name).first() if lab.category else None
    )
    source, student = _read(latest.source), _read(latest.student)
    data = [(d.name, d.sha256, d.size, _read(d.file)) for d in lab.data_files.all()]
    copy = Lab(run=run, created_by=actor, copied_from=lab, **fields)
    _check_lab_fields(copy)
    with transaction.atomic():
        copy.save()
        version = LabVersion(
            lab=copy,
            number=1,
            source_sha256=latest.source_sha256,
            student_sha256=latest.student_sha256,
            max_score=latest.max_score,
            cells=latest.cells,
            warnings=latest.warnings,
            created_by=actor,
        )
        version.source.save("source.ipynb", ContentFile(source), save=False)
        version.student.save("student.ipynb", ContentFile(student), save=False)
        version.save()
        for name, sha256, size, content in data:
            item = LabDataFile(lab=copy, name=name, sha256=sha256, size=size)
            item.file.save(name, ContentFile(content), save=False)
            item.save()
        audit(
            actor,
            "lab.copy",
            copy,
            source_lab=lab.pk,
            source_run=lab.run_id,
            source_version=latest.number,
            data_files=len(data),
        )
    return copy


def lab_data_file_add(*, actor: User, lab: Lab, name: str, content: bytes) -> LabDataFile:
    _require(can_author_run(actor, lab.run_id))
    safe = Path(name).name
    if not safe or safe.startswith(".") or safe.endswith(".ipynb"):
        raise ValidationError({"name": _("Give the data file a plain name (not a notebook).")})
    with transaction.atomic():
        LabDataFile.objects.filter(lab=lab, name=safe).delete()
        data = LabDataFile(lab=lab, name=safe, sha256=_sha256(content), size=len(content))
        data.file.save(safe, ContentFile(content), save=False)
        data.save()
        audit(actor, "lab.data_file_add", lab, name=safe, sha256=data.sha256)
    return data


def extension_grant(*, actor: User, lab: Lab, student: User, due_at: datetime) -> Extension:
    _require(can_author_run(actor, lab.run_id))
    with transaction.atomic():
        ext, _created = Extension.objects.update_or_create(
            lab=lab, student=student, defaults={"due_at": due_at, "granted_by": actor}
        )
        audit(
            actor, "lab.extension_grant", lab, student=student.username, due_at=due_at.isoformat()
        )
    return ext


# ----------------------------------------------------------------------- submissions


def late_seconds(*, lab: Lab, student: User, at: datetime) -> int:
    ext = (
        Extension.objects.filter(lab=lab, student=student).values_list("due_at", flat=True).first()
    )
    due = max(lab.due_at, ext) if ext else lab.due_at
    return max(0, int((at - due).total_seconds()))


def submission_create(
    *,
    actor: User,
    lab: Lab,
    content: bytes,
    source: str = SubmissionSource.UPLOAD,
) -> Submission:
    """A student's submission (an upload, or a pull from the running session).

    Stamped with the server's clock; the attempt number and lateness are computed here.
    Grading is enqueued after commit."""
    now = timezone.now()
    if lab.released_version_id is None or (lab.opens_at and now < lab.opens_at):
        raise ValidationError({"file": _("This lab is not open for submissions.")})
    if not Enrolment.objects.filter(
        run_id=lab.run_id, user=actor, state__in=LEARNING_STATES
    ).exists():
        raise PermissionDenied
    if source not in SubmissionSource.values:
        raise ValidationError({"source": _("Unknown submission source.")})
    # Refused before the notebook is even parsed; checked again under the lab's lock below.
    _check_submission_rate(lab=lab, student=actor, now=now)
    try:
        grading.parse(content, max_bytes=_max_bytes())
    except grading.NotebookInvalid as exc:
        raise NotebookRejected(exc.errors) from None
    with transaction.atomic():
        Lab.objects.select_for_update().filter(pk=lab.pk).first()
        # Under the lab's row lock, so concurrent submissions cannot all slip under the limit.
        _check_submission_rate(lab=lab, student=actor, now=now)
        attempt = (
            Submission.objects.filter(lab=lab, student=actor).aggregate(n=Max("attempt"))["n"] or 0
        ) + 1
        if lab.attempt_limit and attempt > lab.attempt_limit:
            raise ValidationError(
                {"file": _("You have used all %(n)d attempts.") % {"n": lab.attempt_limit}}
            )
        sub = Submission(
            lab=lab,
            student=actor,
            attempt=attempt,
            sha256=_sha256(content),
            size=len(content),
            source=source,
            submitted_at=now,
            late_seconds=late_seconds(lab=lab, student=actor, at=now),
        )
        sub.file.save("submission.ipynb", ContentFile(content), save=False)
        sub.save()
        audit(
            actor,
            "submission.create",
            sub,
            attempt=attempt,
            sha256=sub.sha256,
            late_seconds=sub.late_seconds,
            source=source,
        )
        learning_event.send(
            sender=Submission, user=actor, kind="lab_submitted", run=lab.run, object_id=lab.pk
        )
        queue.ticket_create(submission=sub, kind=TicketKind.SUBMISSION, number=sub.grading_number)
        superseded = queue.supersede_queued(lab=lab, student_id=actor.pk, newer=sub)
        if superseded:
            audit(None, "submission.superseded", sub, submissions=superseded)
        enqueue(GRADE_TASK, sub.pk, sub.grading_number)
    return sub


def submission_regrade(*, actor: User, submission: Submission) -> Submission:
    """Grade again (with the lab's released version), keeping the earlier runs as history.

    The regrade waits in the queue like a new submission (ahead of whole-lab regrades); the
    submission keeps its score until a worker takes it.  Already waiting: nothing more to do."""
    _require(can_author_run(actor, submission.lab.run_id))
    with transaction.atomic():
        sub = Submission.objects.select_for_update().select_related("lab").get(pk=submission.pk)
        waiting = GradingTicket.objects.filter(submission=sub, state=TicketState.QUEUED).exists()
        if not waiting:
            ticket = queue.ticket_create(submission=sub, kind=TicketKind.REGRADE)
            audit(actor, "submission.regrade", sub, number=sub.grading_number + 1)
            enqueue(GRADE_TASK, *queue.message_args(ticket))
    submission.refresh_from_db()
    return submission


class RegradeUnderWay(ValidationError):
    def __init__(self) -> None:
        super().__init__(
            _("A regrade of this lab is under way: wait for it or cancel it first."),
            code="regrade_under_way",
        )


def lab_regrade(*, actor: User, lab: Lab) -> LabRegrade:
    """Regrade the lab in the background: each student's latest submission (the one that
    counts) is queued behind new submissions, and keeps its score until a worker takes it;
    a cancelled regrade therefore leaves every score as it was or as regraded, never none.
    Submissions already waiting in the queue are graded with the released version anyway,
    superseded ones were never graded: neither is queued again."""
    _require(can_author_run(actor, lab.run_id))
    with transaction.atomic():
        Lab.objects.select_for_update().filter(pk=lab.pk).first()
        if LabRegrade.objects.filter(lab=lab, state=LabRegradeState.RUNNING).exists():
            raise RegradeUnderWay
        latest = Submission.objects.filter(lab=lab, student=OuterRef("student")).order_by(
            "-attempt"
        )
        subs = list(
            Submission.objects.filter(lab=lab, attempt=Subquery(latest.values("attempt")[:1]))
            .exclude(status=SubmissionStatus.SUPERSEDED)
            .exclude(tickets__state=TicketState.QUEUED)
            .select_related("lab")
            .order_by("submitted_at", "pk")
        )
        regrade = LabRegrade.objects.create(lab=lab, requested_by=actor, total=len(subs))
        now = timezone.now()
        GradingTicket.objects.bulk_create(
            GradingTicket(
                submission=sub,
                lab_id=lab.pk,
                run_id=lab.run_id,
                kind=TicketKind.REGRADE,
                priority=queue.PRIORITY_LAB_REGRADE,
                regrade=regrade,
                queued_at=now,
                token_sent_at=now,
            )
            for sub in subs
        )
        if not subs:
            regrade.state, regrade.finished_at = LabRegradeState.DONE, now
            regrade.save(update_fields=["state", "finished_at"])
        audit(actor, "lab.regrade", lab, submissions=len(subs), regrade=regrade.pk)
        for sub in subs:
            enqueue(GRADE_TASK, sub.pk, sub.grading_number + 1)
    return regrade


def lab_regrade_cancel(*, actor: User, regrade: LabRegrade) -> int:
    """Cancel a lab's regrade: the submissions not yet taken by a worker keep their score (they
    were never touched); the ones being graded finish with the new one.  Returns the number
    of regrades dropped."""
    _require(can_author_run(actor, regrade.lab.run_id))
    with transaction.atomic():
        locked = LabRegrade.objects.select_for_update().get(pk=regrade.pk)
        if locked.state != LabRegradeState.RUNNING:
            return 0
        # Waits for a claim under way on these rows; a ticket claimed meanwhile is left to it.
        waiting = list(
            GradingTicket.objects.select_for_update()
            .filter(regrade=locked, state=TicketState.QUEUED)
            .values_list("pk", flat=True)
        )
        now = timezone.now()
        dropped = GradingTicket.objects.filter(pk__in=waiting, state=TicketState.QUEUED).update(
            state=TicketState.CANCELLED, finished_at=now, note="the regrade was cancelled"
        )
        locked.state, locked.finished_at, locked.cancelled_by = (
            LabRegradeState.CANCELLED,
            now,
            actor,
        )
        locked.save(update_fields=["state", "finished_at", "cancelled_by"])
        audit(actor, "lab.regrade_cancel", regrade.lab, regrade=locked.pk, dropped=dropped)
    regrade.refresh_from_db()
    return dropped


@dataclass
class ExecuteResult:
    ran: bool
    status: str


def grading_run_execute(*, submission_id: int, number: int, worker: str = "") -> ExecuteResult:
    """Grade one submission for grading run ``number``.  Idempotent; raises
    GraderUnavailable on infrastructure failure (the task retries)."""
    now = timezone.now()
    with transaction.atomic():
        sub = (
            Submission.objects.select_for_update(of=("self",))
            .select_related("lab__released_version")
            .filter(pk=submission_id)
            .first()
        )
        if sub is None or sub.grading_number != number:
            return ExecuteResult(False, "stale")
        run = GradingRun.objects.filter(submission=sub, number=number).first()
        if run is not None and run.status != GradingRunStatus.RUNNING:
            return ExecuteResult(False, "done")  # a redelivery after the result was written
        version = run.lab_version if run else sub.lab.released_version
        if version is None:
            sub.status, sub.reason = SubmissionStatus.FAILED, "the lab has no released version"
            sub.save(update_fields=["status", "reason", "updated_at"])
            return ExecuteResult(False, sub.status)
        if run is None:
            run = GradingRun.objects.create(submission=sub, number=number, lab_version=version)
        # deliveries > 1 records that a worker died (or a retry happened) during this run.
        GradingRun.objects.filter(pk=run.pk).update(
            deliveries=F("deliveries") + 1, started_at=now, worker=worker[:200]
        )
        Submission.objects.filter(pk=sub.pk).update(
            status=SubmissionStatus.RUNNING, reason="", updated_at=now
        )
        lab_id = sub.lab_id
    # The grading itself runs outside any transaction: it can take a minute, and holding a row
    # lock that long would block the student's page and the instructor's regrade.
    source = _read(version.source)
    content = _read(sub.file)
    released = _read(version.student)
    result = _grade_against(version, source, released, content, _data_files(lab_id))
    return _record_result(run_id=run.pk, submission_id=submission_id, number=number, result=result)


_POOL: Any = None


def grading_pool() -> Any:
    """This worker process's kernel pool (kernels started ahead of need, one per grading,
    never reused), or None: the pool exists only in a Celery worker child that started it
    (``notebooks.worker``, when NOTEBOOK_KERNEL_POOL > 0); web processes and eager tasks
    grade with a kernel started on demand."""
    return _POOL


def grading_pool_start() -> Any:
    """Create this process's pool (after the fork), when NOTEBOOK_KERNEL_POOL > 0."""
    global _POOL
    size = settings.NOTEBOOK_KERNEL_POOL
    if size <= 0 or _POOL is not None:
        return _POOL
    from notebooks.grader.pool import KernelPool

    _POOL = KernelPool(size=size, limits=grading.sandbox_limits(_grading_timeout()))
    return _POOL


def grading_pool_close() -> None:
    global _POOL
    pool, _POOL = _POOL, None
    if pool is not None:
        pool.close()


def _read(field: Any) -> bytes:
    with field.open("rb") as fh:
        return fh.read()


def _record_result(
    *, run_id: int, submission_id: int, number: int, result: grading.GradeResult
) -> ExecuteResult:
    now = timezone.now()
    with transaction.atomic():
        # The conditional UPDATE: of two concurrent executions only one records its result.
        won = GradingRun.objects.filter(pk=run_id, status=GradingRunStatus.RUNNING).update(
            status=GradingRunStatus.DONE,
            outcome=result.outcome,
            score=Decimal(str(result.score)),
            max_score=Decimal(str(result.max_score)),
            needs_manual=result.needs_manual,
            cells=result.cells,
            reason=result.reason,
            finished_at=now,
        )
        sub = Submission.objects.select_for_update().filter(pk=submission_id).first()
        if not won or sub is None or sub.grading_number != number:
            return ExecuteResult(False, "lost")
        sub.latest_run_id = run_id
        sub.auto_score = Decimal(str(result.score))
        sub.max_score = Decimal(str(result.max_score))
        sub.reason = result.reason if result.outcome != GradingOutcome.OK else ""
        _rescore(sub)
        audit(
            None,
            "submission.graded",
            sub,
            number=number,
            score=str(sub.score),
            outcome=result.outcome,
        )
    return ExecuteResult(True, sub.status)


def grading_run_fail(*, submission_id: int, number: int, reason: str) -> None:
    """The infrastructure kept failing (retries exhausted): record it, visibly."""
    with transaction.atomic():
        GradingRun.objects.filter(
            submission_id=submission_id, number=number, status=GradingRunStatus.RUNNING
        ).update(
            status=GradingRunStatus.FAILED,
            outcome=GradingOutcome.ERROR,
            reason=reason[:500],
            finished_at=timezone.now(),
        )
        sub = (
            Submission.objects.select_for_update()
            .filter(pk=submission_id, grading_number=number)
            .exclude(status__in=[SubmissionStatus.GRADED, SubmissionStatus.NEEDS_MANUAL])
            .first()
        )
        if sub is None:
            return
        if sub.latest_run_id is not None:
            # A regrade that failed: the earlier result stands (a score is never lost).
            sub.reason = (_("Regrading failed: %(reason)s") % {"reason": reason})[:500]
            _rescore(sub)
            return
        sub.status, sub.reason = SubmissionStatus.FAILED, reason[:500]
        sub.save(update_fields=["status", "reason", "updated_at"])


def grading_run_record(
    *, submission_id: int, number: int, result: grading.GradeResult
) -> ExecuteResult:
    """Record a result graded elsewhere (a grading job on the cluster: notebooks.cluster_grading)
    for run ``number``; the same conditional UPDATE as here, so a run gets one result."""
    run_id = (
        GradingRun.objects.filter(submission_id=submission_id, number=number)
        .values_list("pk", flat=True)
        .first()
    )
    if run_id is None:
        return ExecuteResult(False, "lost")
    return _record_result(run_id=run_id, submission_id=submission_id, number=number, result=result)


def _rescore(sub: Submission) -> None:
    """Recompute score and status from the latest run and the manual grades (locked row)."""
    assert sub.latest_run_id is not None  # both callers have just given it a run
    run = GradingRun.objects.get(pk=sub.latest_run_id)
    manual = {m.grade_id: m.score for m in ManualGrade.objects.filter(submission=sub)}
    total = Decimal(0)
    pending = False
    for gid, cell in run.cells.items():
        if gid in manual:
            total += manual[gid]
        elif cell.get("score") is None:
            pending = True
        else:
            total += Decimal(str(cell["score"]))
    if not run.cells:
        total = run.score or Decimal(0)
    sub.score = total
    if run.outcome in (GradingOutcome.INVALID, GradingOutcome.ERROR) and not run.cells:
        sub.status = SubmissionStatus.FAILED
    else:
        sub.status = SubmissionStatus.NEEDS_MANUAL if pending else SubmissionStatus.GRADED
    sub.save(
        update_fields=[
            "latest_run",
            "auto_score",
            "max_score",
            "score",
            "status",
            "reason",
            "updated_at",
        ]
    )


def manual_grade_save(
    *, actor: User, submission: Submission, grade_id: str, score: Decimal, comment: str = ""
) -> ManualGrade:
    _require(can_teach_run(actor, submission.lab.run_id))
    with transaction.atomic():
        sub = Submission.objects.select_for_update().get(pk=submission.pk)
        run = sub.latest_run
        cell = (run.cells if run else {}).get(grade_id)
        if cell is None:
            raise ValidationError({"grade_id": _("No such graded cell in this submission.")})
        max_score = Decimal(str(cell.get("max_score", 0)))
        if score < 0 or score > max_score:
            raise ValidationError(
                {"score": _("Give a score from 0 to %(max)s.") % {"max": max_score}}
            )
        previous = ManualGrade.objects.filter(submission=sub, grade_id=grade_id).first()
        grade, _created = ManualGrade.objects.update_or_create(
            submission=sub,
            grade_id=grade_id,
            defaults={
                "score": score,
                "comment": comment,
                "grader": actor,
                "graded_at": timezone.now(),
            },
        )
        _rescore(sub)
        audit(
            actor,
            "submission.manual_grade",
            sub,
            grade_id=grade_id,
            score=str(score),
            previous=str(previous.score) if previous else None,
        )
    submission.refresh_from_db()
    return grade


def lab_feedback_release(*, actor: User, lab: Lab) -> int:
    """Release the feedback of every graded submission of the lab (and of later ones)."""
    _require(can_author_run(actor, lab.run_id))
    with transaction.atomic():
        n = Submission.objects.filter(lab=lab, feedback_released=False).update(
            feedback_released=True
        )
        lab.feedback_released_at = timezone.now()
        lab.save(update_fields=["feedback_released_at"])
        audit(actor, "lab.feedback_release", lab, submissions=n)
    return n
