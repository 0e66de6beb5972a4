"""Lab sessions: open (after the budget check), follow, extend, stop, submit from the session;
GPU usage from Slurm's accounting; idle culling.

The hub is called from Celery tasks and from the short status refresh only; the web request
that opens a lab just records the request and returns (the hub holds a spawn POST open for up
to ~10 s)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from academy.audit import audit
from academy.jobs import enqueue
from academy.models import Cohort, User
from courses.models import CourseRun, Enrolment
from courses.selectors import can_author_run, can_teach_run
from courses.signals import learning_event
from notebooks.clients.hub import HubError, HubUnavailable, ServerState
from notebooks.clients.slurm import QueueInfo, SlurmError, extend_job
from notebooks.grading import NotebookInvalid, notebook_diff
from notebooks.models import Lab, LabDataFile, LabVersion, SubmissionSource
from notebooks.selectors import LEARNING_STATES
from notebooks.services import lab_version_upload, submission_create

from . import clients
from .models import (
    LIVE_STATES,
    CohortGpuBudget,
    GpuUsage,
    LabSession,
    SessionKind,
    SessionState,
    StrayServer,
)

logger = logging.getLogger(__name__)
# Stored in English and translated when shown (the card renders it with {% translate %}).
# How long a claimed start may wait for the hub's answer before the session counts as not started:
# well past the start request's own time-out (HubClient.start_timeout, 40 s) and a user creation.
START_ANSWER_BOUND = 120

UNAVAILABLE = gettext_noop(
    "The lab service is unavailable at the moment. Please try again in a few minutes."
)


class SessionRefused(Exception):
    """The session may not start (or be extended); the message is for the student."""


def server_name_for(lab: Lab, kind: str = SessionKind.WORK) -> str:
    return f"edit-{lab.pk}" if kind == SessionKind.AUTHOR else f"lab-{lab.pk}"


def notebook_path_for(lab: Lab) -> str:
    return f"academy/{slugify(lab.title) or 'lab'}-{lab.pk}.ipynb"


def author_folder_for(lab: Lab) -> str:
    """Where an authoring session holds the lab's source and its data files (the grader runs a
    notebook in the folder of its data files, so they sit together)."""
    return f"academy-authoring/{slugify(lab.title) or 'lab'}-{lab.pk}"


def author_notebook_path_for(lab: Lab) -> str:
    return f"{author_folder_for(lab)}/{slugify(lab.title) or 'lab'}.ipynb"


def session_notebook_path(session: LabSession) -> str:
    if session.kind == SessionKind.AUTHOR:
        return session.notebook_path or author_notebook_path_for(session.lab)
    return notebook_path_for(session.lab)


# ---- budgets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    label: str
    limit_seconds: int | None  # None: no limit
    used_seconds: int

    @property
    def left_seconds(self) -> int | None:
        return (
            None if self.limit_seconds is None else max(0, self.limit_seconds - self.used_seconds)
        )

    @property
    def left_hours(self) -> float | None:
        left = self.left_seconds
        return None if left is None else left / 3600

    @property
    def limit_hours(self) -> float | None:
        return None if self.limit_seconds is None else self.limit_seconds / 3600


def _hours_to_seconds(hours: Decimal | None) -> int | None:
    return None if hours is None else int(Decimal(hours) * 3600)


def _used_seconds(usage_filter: Q, session_filter: Q) -> int:
    """GPU-seconds recorded by Slurm, plus what live sessions without a record yet reserve."""
    recorded = GpuUsage.objects.filter(usage_filter).aggregate(s=Sum("gpu_seconds"))["s"] or 0
    reserved = 0
    for gpus, minutes in (
        LabSession.objects.filter(session_filter, state__in=LIVE_STATES)
        .filter(usage__isnull=True)
        .values_list("gpus", "walltime_minutes")
    ):
        reserved += gpus * minutes * 60
    return int(recorded) + reserved


def budgets_for(*, user: User, run: CourseRun, cohort: Cohort | None) -> list[Budget]:
    budgets = [
        Budget(
            _("your GPU time in this course"),
            _hours_to_seconds(run.gpu_hours_per_student),
            _used_seconds(Q(run=run, user=user), Q(run=run, user=user)),
        ),
        Budget(
            _("the course's GPU budget"),
            _hours_to_seconds(run.gpu_budget_hours),
            _used_seconds(Q(run=run), Q(run=run)),
        ),
    ]
    if cohort is not None:
        cohort_budget = CohortGpuBudget.objects.filter(run=run, cohort=cohort).first()
        if cohort_budget is not None:
            budgets.append(
                Budget(
                    _("your cohort's GPU budget"),
                    _hours_to_seconds(cohort_budget.gpu_hours),
                    _used_seconds(Q(run=run, cohort=cohort), Q(run=run, cohort=cohort)),
                )
            )
    return budgets


def _check_budget(*, user: User, run: CourseRun, cohort: Cohort | None, gpu_seconds: int) -> None:
    if gpu_seconds <= 0:
        return
    for budget in budgets_for(user=user, run=run, cohort=cohort):
        left = budget.left_seconds
        if left is not None and gpu_seconds > left:
            raise SessionRefused(
                _(
                    "Not enough GPU time: this session needs %(need).1f GPU-hours, %(what)s has "
                    "%(left).1f left."
                )
                % {"need": gpu_seconds / 3600, "what": budget.label, "left": left / 3600}
            )


def _cohort_of(user: User, run: CourseRun) -> Cohort | None:
    enrolment = Enrolment.objects.filter(run=run, user=user).select_related("cohort").first()
    if enrolment is not None and enrolment.cohort is not None:
        return enrolment.cohort
    return user.cohorts.order_by("-intake_year").first()


# ---- opening -----------------------------------------------------------------------------------


def session_open(*, actor: User, lab: Lab, kind: str = SessionKind.WORK) -> LabSession:
    """Record the request for a session (checked: access, release, profile, budget) and enqueue
    the spawn after commit.  An already live session is returned as it is.

    ``kind=AUTHOR`` ("Edit in JupyterLab"): an author of the run (``can_author_run``) gets a
    server of their own, ``edit-<lab>``, with the lab's resource profile and their GPU time
    counted like any session; the latest source version and the data files are put in (released
    or not), and the hub enables nbgrader's create-assignment toolbar there only."""
    run = lab.run
    base_version = None
    if kind == SessionKind.AUTHOR:
        if not can_author_run(actor, run.pk):
            raise PermissionDenied
        is_student = False
        base_version = lab.versions.order_by("-number").first()
    else:
        is_student = Enrolment.objects.filter(
            run=run, user=actor, state__in=LEARNING_STATES
        ).exists()
        if not (is_student or can_teach_run(actor, run.pk)):
            raise PermissionDenied
        if lab.released_version_id is None:
            raise SessionRefused(_("This lab is not released yet."))
    profile = lab.resource_profile
    if profile is None:
        raise SessionRefused(_("This lab has no resource profile; ask the course staff."))
    cohort = _cohort_of(actor, run)
    if profile.allowed_runs.exists() and not profile.allowed_runs.filter(pk=run.pk).exists():
        raise SessionRefused(_("This lab's resource profile is not available to this course."))
    if profile.allowed_cohorts.exists() and not (
        cohort is not None and profile.allowed_cohorts.filter(pk=cohort.pk).exists()
    ):
        raise SessionRefused(_("This lab's resource profile is not available to your cohort."))
    live = LabSession.objects.filter(user=actor, lab=lab, kind=kind, state__in=LIVE_STATES).first()
    if live is not None:
        return live
    walltime = profile.max_walltime_minutes
    try:
        with transaction.atomic():
            # Serialise budget checks of one run: two clicks cannot both spend the last hour.
            CourseRun.objects.select_for_update().get(pk=run.pk)
            _check_budget(
                user=actor, run=run, cohort=cohort, gpu_seconds=profile.gpus * walltime * 60
            )
            session = LabSession.objects.create(
                user=actor,
                lab=lab,
                run=run,
                cohort=cohort,
                server_name=server_name_for(lab, kind),
                kind=kind,
                base_version=base_version,
                notebook_path=author_notebook_path_for(lab) if kind == SessionKind.AUTHOR else "",
                partition=profile.partition,
                gpus=profile.gpus,
                cpus=profile.cpus,
                memory_gb=profile.memory_gb,
                walltime_minutes=walltime,
            )
            audit(
                actor,
                "session.open",
                session,
                institution=cohort.institution if cohort else None,
                lab=lab.pk,
                gpus=profile.gpus,
                partition=profile.partition,
                kind=kind,
            )
            enqueue("labsessions.start", session.pk, on_failure=lambda: _not_sent(session.pk))
            if is_student:
                learning_event.send(
                    sender=LabSession,
                    user=actor,
                    kind="session_started",
                    run=run,
                    object_id=session.pk,
                )
    except IntegrityError:
        # A concurrent request created the live session first.
        return LabSession.objects.get(user=actor, lab=lab, kind=kind, state__in=LIVE_STATES)
    return session


def _not_sent(session_id: int) -> None:
    """The broker could not take the start: the request fails at once, saying why."""
    LabSession.objects.filter(pk=session_id, state=SessionState.REQUESTED).update(
        state=SessionState.FAILED,
        failure_reason=UNAVAILABLE,
        ended_at=timezone.now(),
        ended_reason="failed",
    )


def hub_options(session: LabSession) -> dict[str, object]:
    minutes = session.walltime_minutes
    return {
        "partition": session.partition,
        "gpus": session.gpus,
        "cpus": session.cpus,
        "memory": f"{session.memory_gb}G",
        "runtime": f"{minutes // 60:02d}:{minutes % 60:02d}:00",
    }


def session_start(*, session_id: int) -> LabSession | None:
    """Ask the hub for the named server (idempotent: only a REQUESTED session is started)."""
    claimed = LabSession.objects.filter(pk=session_id, state=SessionState.REQUESTED).update(
        state=SessionState.STARTING, refreshed_at=timezone.now()
    )
    session = LabSession.objects.select_related("user", "lab").get(pk=session_id)
    if not claimed:
        return session
    hub = clients.hub()
    t0 = time.monotonic()
    try:
        hub.ensure_user(session.user.username)
        state = hub.start_server(session.user.username, session.server_name, hub_options(session))
    except HubUnavailable as exc:
        logger.error("hub unavailable while starting session %s: %s", session.pk, exc)
        return _fail(session, UNAVAILABLE)
    except HubError as exc:
        logger.warning("hub refused session %s: %s", session.pk, exc)
        return _fail(session, _("The cluster refused the session: %(msg)s") % {"msg": exc.message})
    logger.info(
        "session %s: hub answered %s in %.2f s", session.pk, state.status, time.monotonic() - t0
    )
    session.hub_answered_at = timezone.now()
    LabSession.objects.filter(pk=session.pk).update(hub_answered_at=session.hub_answered_at)
    return _apply(session, state)


def _fail(session: LabSession, reason: str) -> LabSession:
    LabSession.objects.filter(pk=session.pk, state__in=LIVE_STATES).update(
        state=SessionState.FAILED,
        failure_reason=reason[:500],
        ended_at=timezone.now(),
        ended_reason="failed",
    )
    session.refresh_from_db()
    return session


# ---- following ---------------------------------------------------------------------------------


def _queue_info(job_id: str) -> QueueInfo | None:
    if not job_id:
        return None
    try:
        return clients.slurm().queue_info(job_id)
    except SlurmError as exc:
        logger.warning("squeue failed for job %s: %s", job_id, exc)
        return None


def _apply(session: LabSession, state: ServerState) -> LabSession:
    """Fold the hub's view (and Slurm's queue) into the session row."""
    now = timezone.now()
    fields: dict[str, object] = {"refreshed_at": now}
    if state.job_id:
        fields["slurm_job_id"] = state.job_id
    if state.last_activity:
        fields["last_activity_at"] = parse_datetime(state.last_activity)
    job_id = state.job_id or session.slurm_job_id
    if state.ready:
        info = _queue_info(job_id)
        started = (
            session.started_at or (parse_datetime(state.started) if state.started else None) or now
        )
        fields.update(
            state=SessionState.RUNNING,
            server_url=state.url or "",
            pending_reason="",
            expected_start=None,
            started_at=started,
            ends_at=started + timedelta(minutes=session.walltime_minutes),
        )
        if info is not None and info.nodes:
            fields["node"] = info.nodes
    elif state.pending:
        info = _queue_info(job_id)
        if info is not None and info.pending:
            expected = info.expected_start
            if expected is not None and timezone.is_naive(expected):
                expected = expected.astimezone()  # Slurm prints the cluster's local time
            fields.update(
                state=SessionState.QUEUED, pending_reason=info.reason_text, expected_start=expected
            )
        else:
            fields.update(state=SessionState.STARTING, pending_reason="", expected_start=None)
            if info is not None and info.nodes:
                fields["node"] = info.nodes
    elif state.status == "stopping":
        fields["state"] = SessionState.STOPPING
    elif session.state == SessionState.STARTING and session.hub_answered_at is None:
        # The worker's start request has not been answered yet: the hub cannot know the server.
        # A worker that died asking leaves the session to the start request's own time-out.
        claimed = session.refreshed_at or session.requested_at
        if now - claimed > timedelta(seconds=START_ANSWER_BOUND):
            fields.update(
                state=SessionState.FAILED,
                failure_reason=gettext_noop(
                    "The session did not start: the cluster did not answer in time."
                ),
                ended_at=now,
                ended_reason="failed",
            )
        else:
            fields.pop("refreshed_at")  # the claim's time stays the start of the wait
    else:  # stopped: the hub no longer runs it
        if session.state == SessionState.STOPPING:
            fields.update(state=SessionState.ENDED, ended_at=now)
        elif session.state in LIVE_STATES:
            reason = gettext_noop("The session ended unexpectedly.")
            record = None
            if job_id:
                try:
                    record = clients.slurm().job(job_id)
                except SlurmError:
                    record = None
            if record is not None and record.state == "TIMEOUT":
                fields.update(state=SessionState.ENDED, ended_at=now, ended_reason="walltime")
            else:
                if record is not None:
                    reason = _("The job ended on the cluster (%(state)s).") % {
                        "state": record.state_raw
                    }
                fields.update(
                    state=SessionState.FAILED,
                    failure_reason=reason,
                    ended_at=now,
                    ended_reason="failed",
                )
    # Only a live row changes: a refresh racing a stop cannot resurrect an ended session.
    LabSession.objects.filter(pk=session.pk, state__in=LIVE_STATES).update(**fields)
    session.refresh_from_db()
    if session.state == SessionState.RUNNING and session.files_placed_at is None:
        _place_files(session)
    return session


def session_fresh(session: LabSession | None) -> LabSession | None:
    """The session as a card shows it: a live one whose state was last read from the hub more
    than SESSION_REFRESH_SECONDS ago is read again (a card polls; the hub is asked at most once
    per period per session)."""
    if session is None or not session.is_live:
        return session
    if session.refreshed_at is not None and timezone.now() - session.refreshed_at <= timedelta(
        seconds=settings.SESSION_REFRESH_SECONDS
    ):
        return session
    return session_refresh(session)


def session_refresh(session: LabSession) -> LabSession:
    if not session.is_live or session.state == SessionState.REQUESTED:
        return session
    try:
        state = clients.hub().server_state(session.user.username, session.server_name)
    except HubUnavailable as exc:
        logger.error("hub unavailable while refreshing session %s: %s", session.pk, exc)
        return session
    return _apply(session, state)


def _place_author_files(session: LabSession) -> None:
    """An authoring session starts from the version it was opened on (an empty notebook for a
    lab without one) and the lab's data files, beside it.  What an earlier authoring session
    left unsaved in the folder is replaced: "Save as new version" is how work is kept."""
    lab = session.lab
    hub = clients.hub()
    version = session.base_version
    if version is not None:
        with version.source.open("rb") as fh:
            notebook = fh.read()
    else:
        notebook = json.dumps(EMPTY_NOTEBOOK).encode()
    path = session_notebook_path(session)
    folder = path.rsplit("/", 1)[0]
    hub.add_file(session.user.username, session.server_name, path, notebook)
    for data in LabDataFile.objects.filter(lab=lab):
        with data.file.open("rb") as fh:
            hub.add_binary_file(
                session.user.username, session.server_name, f"{folder}/{data.name}", fh.read()
            )


EMPTY_NOTEBOOK = {
    "cells": [],
    "metadata": {
        "kernelspec": {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def _place_files(session: LabSession) -> None:
    """Put the student version into the server, unless the student's own work is already there
    (their home directory persists between sessions); an authoring session gets the source."""
    lab = session.lab
    path = notebook_path_for(lab)
    hub = clients.hub()
    if session.kind == SessionKind.AUTHOR:
        try:
            _place_author_files(session)
        except (HubError, HubUnavailable) as exc:
            logger.warning("could not place files for session %s: %s", session.pk, exc)
            return
        LabSession.objects.filter(pk=session.pk).update(files_placed_at=timezone.now())
        session.files_placed_at = timezone.now()
        return
    try:
        try:
            hub.get_file(session.user.username, session.server_name, path)
            exists = True
        except HubError as exc:
            if exc.status != 404:
                raise
            exists = False
        if not exists:
            version = lab.released_version
            assert version is not None  # session_open refuses unreleased labs; releases stay
            with version.student.open("rb") as fh:
                hub.add_file(session.user.username, session.server_name, path, fh.read())
    except (HubError, HubUnavailable) as exc:
        logger.warning("could not place files for session %s: %s", session.pk, exc)
        return
    LabSession.objects.filter(pk=session.pk).update(files_placed_at=timezone.now())
    session.files_placed_at = timezone.now()


def connect_url(session: LabSession) -> str:
    base = settings.HUB_PUBLIC_URL
    url = session.server_url or f"/user/{session.user.username}/{session.server_name}/"
    link = f"{base}{url.rstrip('/')}/lab/tree/{session_notebook_path(session)}"
    # JupyterLab restores the tabs of the user's last workspace, which all their servers share
    # (one home): an authoring session opens on this lab's source alone, never on another
    # lab's notebook left open in an earlier session.
    return f"{link}?reset" if session.kind == SessionKind.AUTHOR else link


# ---- stopping, extending, submitting -----------------------------------------------------------


def _can_act(actor: User, session: LabSession) -> bool:
    return session.user_id == actor.pk or can_teach_run(actor, session.run_id)


def session_stop(*, actor: User | None, session: LabSession, reason: str = "stopped") -> LabSession:
    if actor is not None and not _can_act(actor, session):
        raise PermissionDenied
    if not session.is_live:
        return session
    LabSession.objects.filter(pk=session.pk, state__in=LIVE_STATES).update(
        state=SessionState.STOPPING, ended_reason=reason
    )
    try:
        state = clients.hub().stop_server(session.user.username, session.server_name, wait=15)
    except HubUnavailable as exc:
        logger.error("hub unavailable while stopping session %s: %s", session.pk, exc)
        raise SessionRefused(UNAVAILABLE) from None
    session.refresh_from_db()
    session = _apply(session, state)
    audit(actor, "session.stop", session, reason=reason)
    return session


def session_extend(*, actor: User, session: LabSession, minutes: int | None = None) -> LabSession:
    """Add ``minutes`` to a running session's wall time, budget permitting.

    No Slurm call is made while a row lock is held (a slow ``scontrol`` would hold every other
    open and extend of the run waiting): a first short transaction locks the run (budgets are
    decided under it) and the session, checks, and records the extension as the intent (wall
    time and end moved: the budget counts it at once, so concurrent clicks and opens see it);
    then Slurm is asked; a second short transaction takes the intent back if Slurm refused.
    Concurrent clicks are serialised by the session's lock: each is checked against the wall
    time the previous ones left, and each asks Slurm for its own minutes (``TimeLimit=+N``)."""
    if not _can_act(actor, session):
        raise PermissionDenied
    minutes = minutes or settings.SESSION_EXTEND_MINUTES
    with transaction.atomic():
        CourseRun.objects.select_for_update().get(pk=session.run_id)
        locked = (
            LabSession.objects.select_for_update(of=("self",))
            .select_related("lab__resource_profile", "user", "run", "cohort")
            .get(pk=session.pk)
        )
        if locked.state != SessionState.RUNNING or not locked.slurm_job_id:
            raise SessionRefused(_("Only a running session can be extended."))
        profile = locked.lab.resource_profile
        limit = profile.max_walltime_minutes * 2 if profile else locked.walltime_minutes
        if locked.walltime_minutes + minutes > limit:
            raise SessionRefused(_("This session cannot be extended any further."))
        _check_budget(
            user=locked.user,
            run=locked.run,
            cohort=locked.cohort,
            gpu_seconds=locked.gpus * minutes * 60,
        )
        job_id = locked.slurm_job_id
        LabSession.objects.filter(pk=locked.pk).update(
            walltime_minutes=F("walltime_minutes") + minutes,
            ends_at=(locked.ends_at or timezone.now()) + timedelta(minutes=minutes),
        )
    try:
        extend_job(clients.slurm(), job_id, minutes)
    except BaseException as exc:
        # Whatever stopped the call, the intent is taken back: this click's minutes only
        # (others may have been added meanwhile).
        with transaction.atomic():
            LabSession.objects.filter(pk=session.pk).update(
                walltime_minutes=F("walltime_minutes") - minutes,
                ends_at=F("ends_at") - timedelta(minutes=minutes),
            )
        if not isinstance(exc, SlurmError):
            raise
        logger.error("could not extend job %s: %s", job_id, exc)
        raise SessionRefused(UNAVAILABLE) from None
    audit(actor, "session.extend", session, minutes=minutes)
    session.refresh_from_db()
    return session


def session_submit(*, actor: User, session: LabSession):  # type: ignore[no-untyped-def]
    """Pull the notebook from the running server and submit it like an upload."""
    if session.user_id != actor.pk or session.kind != SessionKind.WORK:
        raise PermissionDenied
    if session.state != SessionState.RUNNING:
        raise SessionRefused(_("The session is not running."))
    try:
        notebook = clients.hub().get_file(
            actor.username,
            session.server_name,
            notebook_path_for(session.lab),
            max_bytes=int(settings.NOTEBOOK_MAX_BYTES),
        )
    except HubUnavailable:
        raise SessionRefused(UNAVAILABLE) from None
    except HubError as exc:
        if exc.status == 413:
            raise SessionRefused(
                _(
                    "The notebook in your session is larger than %(size)s. Clear large outputs, "
                    "save it and submit again."
                )
                % {"size": filesizeformat(settings.NOTEBOOK_MAX_BYTES)}
            ) from None
        raise SessionRefused(
            _("Could not read the notebook from your session: %(msg)s") % {"msg": exc.message}
        ) from None
    content = json.dumps(notebook).encode()
    return submission_create(
        actor=actor, lab=session.lab, content=content, source=SubmissionSource.SESSION
    )


def authoring_save(*, actor: User, session: LabSession) -> LabVersion:
    """ "Save as new version": pull the source from the authoring session through the contents
    API and store it as the lab's next immutable version (validated by the grader first: a
    NotebookRejected carries every per-cell error and nothing is stored).  A notebook whose
    cells are the same as the latest version's is refused: there is nothing to save."""
    if session.user_id != actor.pk or session.kind != SessionKind.AUTHOR:
        raise PermissionDenied
    if not can_author_run(actor, session.run_id):
        raise PermissionDenied
    if session.state != SessionState.RUNNING:
        raise SessionRefused(_("The session is not running."))
    try:
        notebook = clients.hub().get_file(
            actor.username,
            session.server_name,
            session_notebook_path(session),
            max_bytes=int(settings.NOTEBOOK_MAX_BYTES),
        )
    except HubUnavailable:
        raise SessionRefused(UNAVAILABLE) from None
    except HubError as exc:
        if exc.status == 413:
            raise SessionRefused(
                _("The notebook is larger than %(size)s. Clear large outputs, save, try again.")
                % {"size": filesizeformat(settings.NOTEBOOK_MAX_BYTES)}
            ) from None
        raise SessionRefused(
            _("Could not read the notebook from your session: %(msg)s") % {"msg": exc.message}
        ) from None
    content = json.dumps(notebook, indent=1, ensure_ascii=False).encode()
    latest = session.lab.versions.order_by("-number").first()
    if latest is not None:
        with latest.source.open("rb") as fh:
            previous = fh.read()
        try:
            unchanged = notebook_diff(previous, content).is_empty
        except NotebookInvalid:
            unchanged = False  # the upload's validation says what is wrong
        if unchanged:
            raise SessionRefused(
                _("Nothing changed since version %(n)d: save the notebook in JupyterLab first.")
                % {"n": latest.number}
            )
    version = lab_version_upload(actor=actor, lab=session.lab, content=content)
    # The next save is compared with what this one stored.
    LabSession.objects.filter(pk=session.pk).update(base_version=version)
    session.base_version = version
    return version


# ---- periodic work -----------------------------------------------------------------------------


def refresh_live_sessions(limit: int = 200) -> int:
    sessions = (
        LabSession.objects.filter(state__in=LIVE_STATES)
        .exclude(state=SessionState.REQUESTED)
        .select_related("user", "lab__released_version")
        .order_by("refreshed_at")[:limit]
    )
    count = 0
    for session in sessions:
        session_refresh(session)
        count += 1
    return count


def cull_idle_sessions(now: datetime | None = None) -> int:
    """Stop running sessions idle for SESSION_IDLE_MINUTES; record the GPU time saved."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.SESSION_IDLE_MINUTES)
    culled = 0
    for session in LabSession.objects.filter(state=SessionState.RUNNING).select_related(
        "user", "lab"
    ):
        last = session.last_activity_at or session.started_at
        if last is None or last > cutoff:
            continue
        saved = 0
        if session.ends_at is not None:
            saved = max(0, int((session.ends_at - now).total_seconds())) * session.gpus
        try:
            session_stop(actor=None, session=session, reason="idle")
        except SessionRefused:
            continue
        LabSession.objects.filter(pk=session.pk).update(gpu_seconds_saved=saved)
        audit(None, "session.cull_idle", session, gpu_seconds_saved=saved)
        culled += 1
    return culled


def _aware(moment: datetime | None) -> datetime | None:
    """sacct prints the cluster's local time without a zone."""
    if moment is not None and timezone.is_naive(moment):
        return moment.astimezone()
    return moment


def reconcile_sessions(*, hub_available: bool = True) -> int:
    """At start-up of the platform: every live session agrees with the hub.  A session whose
    server the hub no longer runs (stopped with the platform, or the hub restarted without it)
    is ended; the others are refreshed.  ``hub_available=False``: no hub is configured, so no
    session can be running.  Sessions still waiting for their start task are left to it.
    Returns how many sessions were ended."""
    ended = 0
    live = (
        LabSession.objects.filter(state__in=LIVE_STATES)
        .exclude(state=SessionState.REQUESTED)
        .select_related("user", "lab__released_version")
    )
    for session in live:
        if hub_available:
            state = clients.hub().server_state(session.user.username, session.server_name)
            if not state.stopped:
                _apply(session, state)
                continue
        if LabSession.objects.filter(pk=session.pk, state__in=LIVE_STATES).update(
            state=SessionState.ENDED, ended_at=timezone.now(), ended_reason="stopped"
        ):
            audit(None, "session.reconcile", session, hub_available=hub_available)
            ended += 1
    return ended


def sweep_stray_servers(*, only_users: Collection[str] | None = None) -> int:
    """Stop every server on the hub that is not a live Academy session; record each one (its GPU
    time follows from sacct in :func:`sync_usage`) and audit it.  Returns how many were stopped.

    Nobody but Academy may start servers (the hub's roles), so a stray comes from a hub admin, a
    server left from before the lock-down, or a session row that was lost.  A session row is
    live before Academy asks the hub for its server and stays live until the hub has stopped it,
    so a server Academy is starting or stopping is never taken for a stray.  ``only_users``
    limits the sweep to those hub users (tests on a shared hub)."""
    try:
        servers = clients.hub().active_servers()
    except (HubUnavailable, HubError) as exc:
        logger.error("hub unavailable for the stray-server sweep: %s", exc)
        return 0
    stopped = 0
    for hub_user, server_name, state in servers:
        if only_users is not None and hub_user not in only_users:
            continue
        if state.status in ("stopping", "stopped"):
            continue
        if LabSession.objects.filter(
            user__username=hub_user, server_name=server_name, state__in=LIVE_STATES
        ).exists():
            continue
        stray = StrayServer.objects.filter(
            hub_user=hub_user,
            server_name=server_name,
            job_id=state.job_id or "",
            stopped_at__isnull=True,
        ).first() or StrayServer(
            hub_user=hub_user,
            server_name=server_name,
            job_id=state.job_id or "",
            user=User.objects.filter(username=hub_user).first(),
        )
        try:
            after = clients.hub().stop_server(hub_user, server_name, wait=15)
        except (HubUnavailable, HubError) as exc:
            stray.stop_error = str(exc)[:300]
            stray.save()
            logger.error("could not stop stray server %s/%s: %s", hub_user, server_name, exc)
            continue
        if after.stopped:
            stray.stopped_at = timezone.now()
            stray.stop_error = ""
        stray.save()
        audit(
            None,
            "session.stray_stopped",
            stray,
            hub_user=hub_user,
            server=server_name,
            job_id=stray.job_id,
            stopped=after.stopped,
        )
        logger.warning(
            "stopped stray server %s/%s (job %s): not an Academy session",
            hub_user,
            server_name,
            stray.job_id or "-",
        )
        stopped += 1
    return stopped


def _sync_stray_usage(since: datetime) -> int:
    strays = {
        s.job_id: s
        for s in StrayServer.objects.filter(found_at__gte=since, finished=False).exclude(job_id="")
    }
    if not strays:
        return 0
    count = 0
    for record in clients.slurm().jobs_since(since, job_ids=list(strays)):
        stray = strays.get(record.job_id)
        if stray is None:
            continue
        StrayServer.objects.filter(pk=stray.pk).update(
            partition=record.partition,
            state=record.state,
            gpus=record.gpus,
            elapsed_seconds=record.elapsed_seconds,
            gpu_seconds=record.gpu_seconds,
            started_at=_aware(record.start),
            ended_at=_aware(record.end),
            # sacct shows an empty partition for a moment after the job ends: read it again
            finished=record.finished and bool(record.partition),
        )
        count += 1
    return count


def sync_usage(days: int = 14) -> int:
    """Upsert GpuUsage from sacct for jobs of Academy's sessions, joined through the job id;
    fill in the GPU time of stray servers the sweep stopped."""
    since = timezone.now() - timedelta(days=days)
    count = _sync_stray_usage(since)
    sessions = {
        s.slurm_job_id: s
        for s in LabSession.objects.filter(requested_at__gte=since)
        .exclude(slurm_job_id="")
        .filter(Q(usage__isnull=True) | Q(usage__finished=False))
    }
    if not sessions:
        return count
    records = clients.slurm().jobs_since(since, job_ids=list(sessions))
    for record in records:
        session = sessions.get(record.job_id)
        if session is None:
            continue
        GpuUsage.objects.update_or_create(
            job_id=record.job_id,
            defaults={
                "session": session,
                "user_id": session.user_id,
                "run_id": session.run_id,
                "cohort_id": session.cohort_id,
                "partition": record.partition or session.partition,
                "state": record.state,
                "gpus": record.gpus,
                "elapsed_seconds": record.elapsed_seconds,
                "gpu_seconds": record.gpu_seconds,
                "started_at": _aware(record.start),
                "ended_at": _aware(record.end),
                "finished": record.finished,
            },
        )
        count += 1
    return count
