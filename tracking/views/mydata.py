"""Portability: a signed-in person downloads everything Academy holds about them, as one JSON
file (``GET /account/data/``, streamed: each section is written as it is read, with a bounded
number of rows in memory, whatever the history's size).

The file is an object whose first key, ``about``, says what each section holds; then:

- ``profile``: the account (login, names, e-mail, language, when joined, last sign-in).
- ``memberships``, ``cohorts``, ``invitations``: institutions, roles, cohorts; invitations
  addressed to the person's e-mail.
- ``enrolments``: every course run enrolment, with its state and cohort.
- ``lesson_completions``: lessons marked done.
- ``submissions``: notebooks handed in (metadata: lab, attempt, time, lateness, status, size,
  hash; scores and feedback once released to the person, as their pages show them; not the
  notebook files, which they download from the lab's page).
- ``extensions``: deadline extensions granted to the person.
- ``enrolment_snapshots``: where each enrolment stands as institutions see it (grade so far,
  trend, lessons, labs, GPU-hours, last activity) and which institution it is attributed to.
- ``lab_sessions`` and ``gpu_usage``: JupyterHub sessions and the Slurm jobs' GPU time.
- ``programmes``: programmes followed, progress, completion records with their evidence.
- ``credentials``: every credential issued, with the signed document exactly as issued.
- ``learning_events`` (the raw events still kept, ``ACTIVITY_RETENTION_DAYS``) and
  ``daily_activity`` (their daily roll-ups).
- ``digest_preferences``: weekly digest choices (institution admins).

Nothing about anyone else: other people appear only as what the person's own rows name (the
institution, a run's title), never by name or e-mail.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from academy.models import Invitation, Membership, User
from academy.typing import AuthedRequest
from courses.models import Enrolment, LessonCompletion
from credentials.models import Credential
from notebooks.models import Extension, Submission
from notebooks.sessions.models import GpuUsage, LabSession
from programmes.models import Allocation

from ..models import DailyActivity, DigestPreference, EnrolmentSnapshot, LearningEvent

FORMAT_VERSION = 1
CHUNK = 500

ABOUT = {
    "format": "Academy personal data export",
    "version": FORMAT_VERSION,
    "sections": {
        "profile": "Your account.",
        "memberships": "Institutions you belong to and your role at each.",
        "cohorts": "Cohorts you are a member of.",
        "invitations": "Invitations sent to your e-mail address.",
        "enrolments": "Your course run enrolments.",
        "lesson_completions": "Lessons you marked as done.",
        "submissions": (
            "Notebooks you handed in: metadata; scores once released to you. The notebooks "
            "themselves are downloaded from each lab's page."
        ),
        "extensions": "Deadline extensions granted to you.",
        "enrolment_snapshots": (
            "Where each enrolment stands as your institution sees it, and which institution "
            "it is attributed to (null: none)."
        ),
        "lab_sessions": "Your JupyterHub lab sessions.",
        "gpu_usage": "GPU time of your lab sessions' Slurm jobs.",
        "programmes": "Programmes you follow, your progress and completion records.",
        "credentials": "Credentials issued to you, each with the signed document as issued.",
        "learning_events": (
            "What you did in your runs, one row each, kept for "
            f"{settings.ACTIVITY_RETENTION_DAYS} days."
        ),
        "daily_activity": "The daily summaries of those events.",
        "digest_preferences": "Your weekly digest choices (institution admins).",
    },
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _dump(value: Any) -> str:
    return json.dumps(value, default=_plain, ensure_ascii=False)


def _rows(queryset: QuerySet[Any], *fields: str) -> Iterator[dict[str, Any]]:
    """``values()`` of the queryset, read in chunks."""
    yield from queryset.order_by("pk").values(*fields).iterator(chunk_size=CHUNK)


def _array(items: Iterable[Any]) -> Iterator[str]:
    yield "["
    first = True
    for item in items:
        yield ("" if first else ",\n") + _dump(item)
        first = False
    yield "]"


def _submissions(user: User) -> Iterator[dict[str, Any]]:
    rows = Submission.objects.filter(student=user).select_related("lab__run__course")
    for s in rows.order_by("pk").iterator(chunk_size=CHUNK):
        released = s.feedback_released
        yield {
            "id": s.pk,
            "lab": s.lab.title,
            "lab_id": s.lab_id,
            "run": s.lab.run_id,
            "course": s.lab.run.course.code,
            "attempt": s.attempt,
            "submitted_at": s.submitted_at,
            "late_seconds": s.late_seconds,
            "source": s.source,
            "status": s.status,
            "size": s.size,
            "sha256": s.sha256,
            "feedback_released": released,
            "score": s.score if released else None,
            "max_score": s.max_score if released else None,
        }


def _programmes(user: User) -> Iterator[dict[str, Any]]:
    rows = Allocation.objects.filter(user=user).select_related(
        "programme", "version", "cohort", "completion"
    )
    for a in rows.order_by("pk").iterator(chunk_size=CHUNK):
        completion = getattr(a, "completion", None)
        yield {
            "programme": a.programme.code,
            "version": a.version.number,
            "state": a.state,
            "source": a.source,
            "cohort": a.cohort.name if a.cohort else None,
            "items_done": a.items_done,
            "items_total": a.items_total,
            "credits_earned": a.credits_earned,
            "progress": a.progress,
            "computed_at": a.computed_at,
            "created_at": a.created_at,
            "completion": None
            if completion is None
            else {
                "completed_at": completion.completed_at,
                "credits": completion.credits,
                "evidence": completion.evidence,
                "needs_review": completion.needs_review,
                "review_reason": completion.review_reason,
            },
        }


def _credentials(user: User) -> Iterator[dict[str, Any]]:
    for c in Credential.objects.filter(user=user).order_by("pk").iterator(chunk_size=CHUNK):
        yield {
            "id": c.uuid,
            "kind": c.kind,
            "title": c.title,
            "issued_at": c.issued_at,
            "valid_until": c.valid_until,
            "state": c.state,
            "revoked_at": c.revoked_at,
            "revocation_reason": c.revocation_reason,
            "suspended_at": c.suspended_at,
            "suspension_reason": c.suspension_reason,
            "document": c.document,
        }


def sections(user: User) -> list[tuple[str, Iterable[Any]]]:
    """Each section's name and rows (lazy: read while the response is written)."""
    return [
        (
            "memberships",
            _rows(
                Membership.objects.filter(user=user),
                "institution__slug",
                "institution__name",
                "role",
                "created_at",
            ),
        ),
        (
            "cohorts",
            _rows(
                user.cohorts.all(),
                "institution__slug",
                "name",
                "programme",
                "intake_year",
                "starts_on",
                "ends_on",
            ),
        ),
        (
            "invitations",
            _rows(
                Invitation.objects.filter(email__iexact=user.email),
                "institution__slug",
                "role",
                "cohort__name",
                "created_at",
                "accepted_at",
                "declined_at",
            ),
        ),
        (
            "enrolments",
            _rows(
                Enrolment.objects.filter(user=user),
                "id",
                "run_id",
                "run__course__code",
                "run__title",
                "state",
                "cohort__name",
                "requested_at",
                "state_changed_at",
                "reason",
                "waitlist_position",
            ),
        ),
        (
            "lesson_completions",
            _rows(
                LessonCompletion.objects.filter(user=user),
                "lesson_id",
                "lesson__title",
                "lesson__module__run_id",
                "completed_at",
            ),
        ),
        ("submissions", _submissions(user)),
        (
            "extensions",
            _rows(
                Extension.objects.filter(student=user),
                "lab_id",
                "lab__title",
                "due_at",
                "created_at",
            ),
        ),
        (
            "enrolment_snapshots",
            _rows(
                EnrolmentSnapshot.objects.filter(user=user),
                "enrolment_id",
                "run_id",
                "run__course__code",
                "cohort__name",
                "institution__slug",
                "state",
                "lessons_done",
                "lessons_total",
                "labs_total",
                "labs_submitted",
                "labs_graded",
                "late_submissions",
                "missed_deadlines",
                "grade",
                "grade_trend",
                "passed",
                "gpu_hours",
                "last_activity_at",
                "waitlisted_since",
                "computed_at",
            ),
        ),
        (
            "lab_sessions",
            _rows(
                LabSession.objects.filter(user=user),
                "id",
                "lab_id",
                "lab__title",
                "run_id",
                "partition",
                "gpus",
                "cpus",
                "memory_gb",
                "walltime_minutes",
                "state",
                "requested_at",
                "started_at",
                "ended_at",
                "ended_reason",
            ),
        ),
        (
            "gpu_usage",
            _rows(
                GpuUsage.objects.filter(user=user),
                "job_id",
                "run_id",
                "run__course__code",
                "partition",
                "state",
                "gpus",
                "elapsed_seconds",
                "gpu_seconds",
                "started_at",
                "ended_at",
                "finished",
            ),
        ),
        ("programmes", _programmes(user)),
        ("credentials", _credentials(user)),
        (
            "learning_events",
            _rows(
                LearningEvent.objects.filter(user=user),
                "occurred_at",
                "kind",
                "run_id",
                "object_id",
                "institution__slug",
            ),
        ),
        (
            "daily_activity",
            _rows(
                DailyActivity.objects.filter(user=user),
                "day",
                "run_id",
                "institution__slug",
                "lessons_viewed",
                "lessons_completed",
                "labs_opened",
                "labs_submitted",
                "sessions_started",
                "events",
                "last_at",
            ),
        ),
        (
            "digest_preferences",
            _rows(
                DigestPreference.objects.filter(user=user),
                "institution__slug",
                "weekly_digest",
                "last_sent_at",
            ),
        ),
    ]


def profile(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "preferred_language": user.preferred_language,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "is_operator": user.is_staff,
    }


def export(user: User) -> Iterator[str]:
    """The whole file, piece by piece."""
    about = {**ABOUT, "generated_at": timezone.now(), "site": settings.SITE_URL}
    yield '{"about": ' + _dump(about)
    yield ',\n"profile": ' + _dump(profile(user))
    for name, rows in sections(user):
        yield f',\n"{name}": '
        yield from _array(rows)
    yield "}\n"


@login_required
@require_GET
def my_data(request: AuthedRequest) -> StreamingHttpResponse:
    user = request.user
    name = f"academy-{user.username}-{timezone.localdate():%Y-%m-%d}.json"
    response = StreamingHttpResponse(export(user), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [
    path("account/data/", my_data, name="my-data"),
]
