"""Issuing, revoking and suspending credentials; publishing the status lists; bulk jobs.

Who may do what is checked here (``selectors.can_manage_*``); the views and the API only
translate.  Every change is audited.  Issuing is idempotent: a person holds at most one
credential per run and per programme completion (database constraints), and asking again
returns the one they hold.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from academy.audit import audit
from academy.jobs import enqueue
from academy.models import User
from courses.models import CourseRun, Enrolment, EnrolmentState
from notebooks.selectors import RunResult, finished_results
from programmes.models import Completion, EscoSkill, Programme

from . import keys, selectors, signing, statuslist
from .models import (
    STATUS_LIST_SIZE,
    Credential,
    CredentialKind,
    IssuanceJob,
    JobStatus,
    StatusList,
    StatusPurpose,
)

# People handled between two progress writes of a bulk job.
JOB_BATCH = 50


class NotEligible(Exception):
    """Issuing was refused; the message says why, in words for the person asking."""


# --------------------------------------------------------------------------- addresses


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def credential_url(credential: Credential) -> str:
    """The credential's id: its public page, where anyone can check it."""
    return absolute(reverse("credential-public", args=[credential.uuid]))


def status_list_url(number: int, purpose: str) -> str:
    return absolute(reverse("credential-status-list", args=[number, purpose]))


# --------------------------------------------------------------------------- eligibility


def _results_by_run(user: User) -> dict[int, RunResult]:
    return {r.run_id: r for r in finished_results([user.pk])}


def run_refusal(user: User, run: CourseRun, result: RunResult | None) -> str | None:
    """Why this person may not (yet) have the run's certificate, or None if they may."""
    names = {"run": f"{run.course.code} {run.title}", "person": str(user)}
    if result is not None:
        if result.passed:
            return None
        if result.grade is None:
            return _("%(run)s: nothing was graded and staff did not mark it completed") % names
        return _("%(run)s: grade %(grade)s%% is below the pass mark of %(mark)s%%") % {
            **names,
            "grade": f"{result.grade:.2f}",
            "mark": f"{run.pass_mark:.2f}",
        }
    enrolled = Enrolment.objects.filter(
        run=run, user=user, state__in=[EnrolmentState.ACTIVE, EnrolmentState.COMPLETED]
    ).exists()
    if not enrolled:
        return _("%(person)s is not enrolled in %(run)s") % names
    return _("%(run)s has not ended and was not marked completed") % names


def completion_refusal(completion: Completion) -> str | None:
    if completion.needs_review:
        return _("The programme completion is flagged for review: %(reason)s") % {
            "reason": completion.review_reason
        }
    return None


# --------------------------------------------------------------------------- issuing


class _Slots:
    """Draws free (list, index) slots: random positions, so that a list's order tells nothing
    about who was issued when; a list is filled to half, then the next one is used.  Loaded
    once (two queries), so a bulk job draws thousands without asking the database again."""

    def __init__(self) -> None:
        self.number = (
            Credential.objects.order_by("-status_list")
            .values_list("status_list", flat=True)
            .first()
            or 1
        )
        self._load()

    def _load(self) -> None:
        self.used = set(
            Credential.objects.filter(status_list=self.number).values_list(
                "status_index", flat=True
            )
        )

    def draw(self) -> tuple[int, int]:
        while len(self.used) >= STATUS_LIST_SIZE // 2:
            self.number += 1
            self._load()
        rng = random.SystemRandom()
        while True:
            index = rng.randrange(STATUS_LIST_SIZE)
            if index not in self.used:
                self.used.add(index)
                return self.number, index


def _esco(
    *, course_id: int | None = None, programme_id: int | None = None
) -> list[tuple[str, str]]:
    if course_id is not None:
        skills = EscoSkill.objects.filter(outcomes__course_id=course_id)
    else:
        skills = EscoSkill.objects.filter(outcomes__programme_id=programme_id or 0)
    return sorted({(s.uri, s.label) for s in skills})


def _valid_until(issued_at: datetime) -> datetime | None:
    years = settings.CREDENTIAL_VALID_YEARS
    return issued_at + timedelta(days=round(365.25 * years)) if years > 0 else None


@dataclass
class _Achievement:
    kind: str
    title: str
    title_sr: str
    achievement_id: str
    description: str
    criteria: str
    credits: Decimal | None
    eqf_level: int | None
    esco: list[tuple[str, str]]
    achievement_type: str
    evidence: str
    activity_end: datetime | None
    credits_earned: Decimal | None
    creator: dict | None


def _run_achievement(run: CourseRun, result: RunResult) -> _Achievement:
    course = run.course
    grade = "—" if result.grade is None else f"{result.grade:.2f}%"
    return _Achievement(
        kind=CredentialKind.COURSE,
        title=course.title,
        title_sr="",
        achievement_id=absolute(reverse("course-detail", args=[course.code])),
        description=course.summary or course.title,
        criteria=(
            f"Passed a run of {course.code} under the run's grading policy "
            f"(pass mark {run.pass_mark:.2f}%), graded Jupyter labs included."
        ),
        credits=course.ects,
        eqf_level=course.eqf_level,
        esco=_esco(course_id=course.pk),
        achievement_type="Course",
        evidence=f"{course.code} {run.title}: grade {grade}, passed; finished "
        f"{result.finished_at:%Y-%m-%d}.",
        activity_end=result.finished_at,
        credits_earned=course.ects,
        creator=None,
    )


def _completion_achievement(completion: Completion) -> _Achievement:
    programme = completion.allocation.programme
    lines = []
    for item in completion.evidence:
        grade = f"{Decimal(item['grade']):.2f}%" if item.get("grade") else "—"
        lines.append(
            f"{item.get('course_code', '')} {item.get('run_title', '')}: grade {grade}, "
            f"finished {str(item.get('finished_at', ''))[:10]}."
        )
    creator = None
    owner = programme.owner
    if owner is not None:
        creator = {
            "id": absolute(reverse("institution-detail", args=[owner.slug])),
            "type": ["Profile"],
            "name": owner.name,
        }
    return _Achievement(
        kind=CredentialKind.PROGRAMME,
        title=programme.title,
        title_sr=programme.title_sr,
        achievement_id=absolute(reverse("programme-detail", args=[programme.code])),
        description=programme.description[:2000] or programme.title,
        criteria=(
            f"Completed version {completion.version.number} of the programme {programme.code}: "
            "every requirement of its curriculum, each course passed under its run's grading "
            "policy."
        ),
        credits=programme.ects or None,
        eqf_level=programme.eqf_level,
        esco=_esco(programme_id=programme.pk),
        achievement_type="Certificate",
        evidence=" ".join(lines),
        activity_end=completion.completed_at,
        credits_earned=completion.credits,
        creator=creator,
    )


def _build(
    user: User, achievement: _Achievement, slot: tuple[int, int], credential: Credential
) -> dict:
    issuer = keys.issuer()
    now = credential.issued_at
    number, index = slot
    status = [
        statuslist.entry(list_url=status_list_url(number, purpose), purpose=purpose, index=index)
        for purpose in (StatusPurpose.REVOCATION, StatusPurpose.SUSPENSION)
    ]
    unsigned = signing.build_credential(
        credential_id=credential_url(credential),
        issuer_id=issuer.did,
        issuer_name=issuer.name,
        issuer_url=issuer.url,
        achievement_id=achievement.achievement_id,
        name=achievement.title,
        description=achievement.description,
        criteria=achievement.criteria,
        recipient_email=user.email,
        salt=secrets.token_hex(16),
        valid_from=now,
        valid_until=credential.valid_until,
        credits=achievement.credits,
        eqf_level=achievement.eqf_level,
        esco_skills=achievement.esco,
        achievement_type=achievement.achievement_type,
        evidence=achievement.evidence,
        creator=achievement.creator,
        credits_earned=achievement.credits_earned,
        activity_end=achievement.activity_end,
        credential_status=status,
    )
    return signing.sign(
        unsigned,
        private_key_multibase=issuer.secret,
        verification_method=issuer.key_id,
        created=now,
    )


def _create(
    user: User,
    achievement: _Achievement,
    *,
    run: CourseRun | None = None,
    completion: Completion | None = None,
    actor: User | None = None,
    job: IssuanceJob | None = None,
    slots: _Slots | None = None,
) -> Credential:
    now = timezone.now().replace(microsecond=0)
    slot = (slots or _Slots()).draw()
    programme = completion.allocation.programme if completion is not None else None
    credential = Credential(
        user=user,
        kind=achievement.kind,
        run=run,
        completion=completion,
        programme=programme,
        institution=programme.owner if programme is not None else None,
        title=achievement.title[:300],
        title_sr=achievement.title_sr[:300],
        issued_at=now,
        valid_until=_valid_until(now),
        issued_by=actor,
        job=job,
        status_list=slot[0],
        status_index=slot[1],
        key_id=keys.issuer().key_id,
    )
    credential.document = _build(user, achievement, slot, credential)
    with transaction.atomic():
        credential.save()
        audit(
            actor,
            "credential.issue",
            credential,
            institution=credential.institution,
            holder=user.username,
            kind=credential.kind,
            source=f"run {run.pk}"
            if run is not None
            else f"completion {getattr(completion, 'pk', '')}",
        )
    return credential


def _existing(user: User, *, run: CourseRun | None = None, completion: Completion | None = None):
    qs = Credential.objects.filter(user=user)
    if run is not None:
        return qs.filter(run=run).first()
    return qs.filter(completion=completion).first()


def _create_once(user: User, achievement: _Achievement, **kwargs) -> tuple[Credential, bool]:  # type: ignore[no-untyped-def]
    """Create, or return the credential a concurrent issuer just created (the constraints)."""
    for _attempt in range(3):
        try:
            return _create(user, achievement, **kwargs), True
        except IntegrityError:
            found = _existing(user, run=kwargs.get("run"), completion=kwargs.get("completion"))
            if found is not None:
                return found, False
            # else: two issuers drew the same status slot; draw again
    raise NotEligible(_("Could not find a free status list slot; try again."))


def issue_for_run(
    *, actor: User | None, user: User, run: CourseRun, job: IssuanceJob | None = None
) -> tuple[Credential, bool]:
    """The person's certificate for a passed run: (credential, whether it is new).  Refused
    with the reason (NotEligible) when they have not passed it.  ``actor`` None: the system."""
    if actor is not None and actor != user and not selectors.can_issue_for_run(actor, run):
        raise PermissionDenied
    found = _existing(user, run=run)
    if found is not None:
        return found, False
    result = _results_by_run(user).get(run.pk)
    refusal = run_refusal(user, run, result)
    if refusal is not None:
        raise NotEligible(refusal)
    assert result is not None
    return _create_once(user, _run_achievement(run, result), run=run, actor=actor, job=job)


def issue_for_completion(
    *, actor: User | None, completion: Completion, job: IssuanceJob | None = None
) -> tuple[Credential, bool]:
    user = completion.allocation.user
    programme = completion.allocation.programme
    if (
        actor is not None
        and actor != user
        and not selectors.can_issue_for_programme(actor, programme)
    ):
        raise PermissionDenied
    found = _existing(user, completion=completion)
    if found is not None:
        return found, False
    refusal = completion_refusal(completion)
    if refusal is not None:
        raise NotEligible(refusal)
    return _create_once(
        user, _completion_achievement(completion), completion=completion, actor=actor, job=job
    )


@dataclass(frozen=True)
class Due:
    """Something a person has earned and does not hold yet (the wallet offers to claim it)."""

    kind: str
    title: str
    run: CourseRun | None = None
    completion: Completion | None = None


@dataclass
class _Earned:
    """What people earned and do not hold: passed results (with their runs) and completions
    not flagged for review.  A constant number of queries for any number of people."""

    results: list[RunResult]
    runs: dict[int, CourseRun]
    completions: list[Completion]


def _earned(user_ids: list[int]) -> _Earned:
    held_runs = set(
        Credential.objects.filter(user_id__in=user_ids, run__isnull=False).values_list(
            "user_id", "run_id"
        )
    )
    results = [
        r for r in finished_results(user_ids) if r.passed and (r.user_id, r.run_id) not in held_runs
    ]
    runs = CourseRun.objects.select_related("course").in_bulk({r.run_id for r in results})
    completions = list(
        Completion.objects.filter(
            allocation__user_id__in=user_ids, needs_review=False, credential__isnull=True
        ).select_related("allocation__user", "allocation__programme__owner", "version")
    )
    return _Earned(results, runs, completions)


def due_for(user: User) -> list[Due]:
    """What this person has earned and not been issued: passed runs, reviewed completions."""
    earned = _earned([user.pk])
    out = [
        Due(CredentialKind.COURSE, earned.runs[r.run_id].course.title, run=earned.runs[r.run_id])
        for r in earned.results
    ]
    out += [
        Due(CredentialKind.PROGRAMME, c.allocation.programme.title, completion=c)
        for c in earned.completions
    ]
    return out


def issue_due(user_ids: Iterable[int]) -> int:
    """Issue everything these people have earned and do not hold (the system issues; used
    after progress recomputes and by the sweep of runs that ended).  Returns how many.
    Eligibility is read once for everyone, as a bulk job does, not person by person."""
    ids = sorted(set(user_ids))
    earned = _earned(ids)
    users = User.objects.in_bulk({r.user_id for r in earned.results})
    slots = _Slots()
    issued = 0
    for result in earned.results:
        run = earned.runs[result.run_id]
        _credential, new = _create_once(
            users[result.user_id], _run_achievement(run, result), run=run, slots=slots
        )
        issued += new
    for completion in earned.completions:
        _credential, new = _create_once(
            completion.allocation.user,
            _completion_achievement(completion),
            completion=completion,
            slots=slots,
        )
        issued += new
    return issued


def issue_runs_ended(*, hours: int = 2) -> int:
    """The periodic sweep: issue for everyone in runs that ended in the last ``hours`` and
    for enrolments staff marked completed in that window."""
    now = timezone.now()
    since = now - timedelta(hours=hours)
    people = set(
        Enrolment.objects.filter(
            run__ends_at__range=(since, now),
            state__in=[EnrolmentState.ACTIVE, EnrolmentState.COMPLETED],
        ).values_list("user_id", flat=True)
    ) | set(
        Enrolment.objects.filter(
            state=EnrolmentState.COMPLETED, state_changed_at__gte=since
        ).values_list("user_id", flat=True)
    )
    return issue_due(sorted(people))


def issue_after_commit(user_ids: Iterable[int]) -> None:
    ids = sorted(set(user_ids))
    if ids:
        enqueue("credentials.tasks.issue_due", ids)


# --------------------------------------------------------------------------- revocation


def _status_bits(number: int, purpose: str) -> list[int]:
    flag = "revoked_at" if purpose == StatusPurpose.REVOCATION else "suspended_at"
    return list(
        Credential.objects.filter(status_list=number, **{f"{flag}__isnull": False}).values_list(
            "status_index", flat=True
        )
    )


def publish_status_list(number: int, purpose: str) -> StatusList:
    """(Re)build and sign one status list from the credentials' rows."""
    issuer = keys.issuer()
    now = timezone.now().replace(microsecond=0)
    url = status_list_url(number, purpose)
    unsigned = statuslist.list_credential(
        list_url=url,
        issuer_id=issuer.did,
        purpose=purpose,
        encoded=statuslist.encode(_status_bits(number, purpose), STATUS_LIST_SIZE),
        valid_from=signing.xsd_datetime(now),
    )
    document = signing.sign(
        unsigned,
        private_key_multibase=issuer.secret,
        verification_method=issuer.key_id,
        created=now,
    )
    row, _created = StatusList.objects.update_or_create(
        number=number, purpose=purpose, defaults={"document": document, "updated_at": now}
    )
    return row


def status_list(number: int, purpose: str) -> StatusList | None:
    """The published list, built on first request; None for a list that holds no credential."""
    if purpose not in StatusPurpose.values:
        return None
    row = StatusList.objects.filter(number=number, purpose=purpose).first()
    if row is not None and row.document:
        return row
    if not Credential.objects.filter(status_list=number).exists():
        return None
    return publish_status_list(number, purpose)


def _check_manage(actor: User, credential: Credential) -> None:
    if not selectors.can_manage_credential(actor, credential):
        raise PermissionDenied


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValueError(_("Give a reason: the holder will see it."))
    return reason[:500]


def revoke(*, actor: User, credential: Credential, reason: str) -> Credential:
    """Revoke for good (the status list's revocation bit); the holder sees the reason."""
    _check_manage(actor, credential)
    reason = _clean_reason(reason)
    with transaction.atomic():
        credential = Credential.objects.select_for_update().get(pk=credential.pk)
        if credential.revoked_at is not None:
            return credential
        credential.revoked_at = timezone.now()
        credential.revoked_by = actor
        credential.revocation_reason = reason
        credential.save(update_fields=["revoked_at", "revoked_by", "revocation_reason"])
        publish_status_list(credential.status_list, StatusPurpose.REVOCATION)
        audit(
            actor,
            "credential.revoke",
            credential,
            institution=credential.institution,
            reason=reason,
        )
    return credential


def suspend(*, actor: User, credential: Credential, reason: str) -> Credential:
    _check_manage(actor, credential)
    reason = _clean_reason(reason)
    with transaction.atomic():
        credential = Credential.objects.select_for_update().get(pk=credential.pk)
        if credential.revoked_at is not None:
            raise ValueError(_("A revoked credential cannot be suspended."))
        if credential.suspended_at is not None:
            return credential
        credential.suspended_at = timezone.now()
        credential.suspended_by = actor
        credential.suspension_reason = reason
        credential.save(update_fields=["suspended_at", "suspended_by", "suspension_reason"])
        publish_status_list(credential.status_list, StatusPurpose.SUSPENSION)
        audit(
            actor,
            "credential.suspend",
            credential,
            institution=credential.institution,
            reason=reason,
        )
    return credential


def reinstate(*, actor: User, credential: Credential) -> Credential:
    """Lift a suspension (a revocation is final)."""
    _check_manage(actor, credential)
    with transaction.atomic():
        credential = Credential.objects.select_for_update().get(pk=credential.pk)
        if credential.suspended_at is None:
            return credential
        if credential.revoked_at is not None:
            raise ValueError(_("A revoked credential cannot be reinstated."))
        credential.suspended_at = None
        credential.suspended_by = None
        credential.suspension_reason = ""
        credential.save(update_fields=["suspended_at", "suspended_by", "suspension_reason"])
        publish_status_list(credential.status_list, StatusPurpose.SUSPENSION)
        audit(actor, "credential.reinstate", credential, institution=credential.institution)
    return credential


# --------------------------------------------------------------------------- bulk jobs


def start_job(
    *, actor: User, run: CourseRun | None = None, programme: Programme | None = None
) -> IssuanceJob:
    """Queue issuing for everyone who passed the run (or completed the programme)."""
    if run is not None:
        if not selectors.can_issue_for_run(actor, run):
            raise PermissionDenied
        job = IssuanceJob(kind=CredentialKind.COURSE, run=run, created_by=actor)
    elif programme is not None:
        if not selectors.can_issue_for_programme(actor, programme):
            raise PermissionDenied
        job = IssuanceJob(kind=CredentialKind.PROGRAMME, programme=programme, created_by=actor)
    else:
        raise ValueError("a run or a programme")
    with transaction.atomic():
        job.save()
        audit(actor, "credential.bulk_issue", job, target_kind=job.kind)
        enqueue("credentials.tasks.run_job", job.pk, on_failure=lambda: _job_failed(job.pk))
    return job


def _job_failed(job_id: int) -> None:
    IssuanceJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.FAILED,
        error=_("The task queue could not be reached; start the job again."),
    )


def run_job(job_id: int) -> IssuanceJob:
    """The job's work (the worker).  Safe to run twice: issued people are skipped."""
    job = IssuanceJob.objects.select_related("run__course", "programme").get(pk=job_id)
    if job.status == JobStatus.DONE:
        return job
    job.status, job.started_at = JobStatus.RUNNING, timezone.now()
    job.processed = job.issued = job.skipped = job.ineligible = 0
    try:
        if job.run is not None:
            _job_run(job, job.run)
        else:
            assert job.programme is not None
            _job_programme(job, job.programme)
    except Exception as error:
        job.status, job.error = JobStatus.FAILED, f"{type(error).__name__}: {error}"[:2000]
        job.finished_at = timezone.now()
        job.save()
        raise
    job.status, job.finished_at = JobStatus.DONE, timezone.now()
    job.save()
    return job


def _progress(job: IssuanceJob) -> None:
    job.save(
        update_fields=[
            "status",
            "started_at",
            "total",
            "processed",
            "issued",
            "skipped",
            "ineligible",
        ]
    )


def _job_run(job: IssuanceJob, run: CourseRun) -> None:
    user_ids = list(
        Enrolment.objects.filter(
            run=run, state__in=[EnrolmentState.ACTIVE, EnrolmentState.COMPLETED]
        ).values_list("user_id", flat=True)
    )
    job.total = len(user_ids)
    _progress(job)
    held = set(Credential.objects.filter(run=run).values_list("user_id", flat=True))
    slots = _Slots()
    users = User.objects.in_bulk(user_ids)
    for start in range(0, len(user_ids), JOB_BATCH):
        batch = user_ids[start : start + JOB_BATCH]
        results = {r.user_id: r for r in finished_results(batch) if r.run_id == run.pk}
        for user_id in batch:
            result = results.get(user_id)
            if user_id in held:
                job.skipped += 1
            elif result is None or not result.passed:
                job.ineligible += 1
            else:
                _credential, new = _create_once(
                    users[user_id], _run_achievement(run, result), run=run, job=job, slots=slots
                )
                job.issued += new
                job.skipped += not new
            job.processed += 1
        _progress(job)


def _job_programme(job: IssuanceJob, programme: Programme) -> None:
    completions = list(
        Completion.objects.filter(allocation__programme=programme)
        .select_related("allocation__user", "allocation__programme__owner", "version")
        .order_by("pk")
    )
    job.total = len(completions)
    _progress(job)
    held = set(
        Credential.objects.filter(completion__in=completions).values_list(
            "completion_id", flat=True
        )
    )
    slots = _Slots()
    for start in range(0, len(completions), JOB_BATCH):
        for completion in completions[start : start + JOB_BATCH]:
            if completion.pk in held:
                job.skipped += 1
            elif completion_refusal(completion) is not None:
                job.ineligible += 1
            else:
                _credential, new = _create_once(
                    completion.allocation.user,
                    _completion_achievement(completion),
                    completion=completion,
                    job=job,
                    slots=slots,
                )
                job.issued += new
                job.skipped += not new
            job.processed += 1
        _progress(job)
