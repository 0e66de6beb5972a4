"""Reads of lab sessions and GPU usage, scoped to the acting user.

Who sees what: a session, its owner and the staff of its run (``can_teach_run``, operators
included); a run's GPU burn-down, the run's staff and operators (everything) and institution
admins (their own people, and their institutions' cohorts only).  What a user may not see is
reported as not found (``None`` or ``DoesNotExist``), never as an HTTP error: pages and the API
decide the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Case, CharField, Count, F, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from academy.models import Membership, User
from academy.selectors import admin_institution_ids
from courses.models import CourseRun
from courses.selectors import can_teach_run
from notebooks.models import GradingJob, Lab, VersionCheck

from .models import LIVE_STATES, CohortGpuBudget, GpuUsage, LabSession, SessionKind


def latest_session(user: User, lab: Lab, kind: str = SessionKind.WORK) -> LabSession | None:
    """The user's most recent session of the lab (live or not) of that kind."""
    return (
        LabSession.objects.filter(user=user, lab=lab, kind=kind)
        .select_related("user", "lab", "run", "base_version")
        .order_by("-requested_at")
        .first()
    )


def session_for(user: User, pk: int) -> LabSession:
    """A session its owner or a staff member of its run may act on; ``LabSession.DoesNotExist``
    otherwise (an outsider learns nothing, not even that it exists)."""
    session = LabSession.objects.select_related("user", "lab", "run").filter(pk=pk).first()
    if session is None or (session.user_id != user.pk and not can_teach_run(user, session.run_id)):
        raise LabSession.DoesNotExist
    return session


@dataclass(frozen=True)
class BurnDown:
    """A run's GPU usage as its usage page shows it: hours per cohort, cumulative per day."""

    run: CourseRun
    rows: list[dict[str, Any]]  # cohort, used (GPU-hours), budget (GPU-hours or None)
    days: list[str]  # ISO dates with usage, in order
    series: dict[str, list[float]]  # cohort -> cumulative GPU-hours on each of ``days``
    cohort_budgets: dict[str, float]
    live: int  # sessions live now
    saved_hours: float  # GPU-hours saved by idle culling
    # Grading jobs on the cluster: charged to the run's grading, not to anyone's GPU time
    # (staff and operators only; an institution admin sees 0).
    grading_hours: float = 0.0
    grading_jobs: int = 0

    @property
    def total(self) -> float:
        return sum(r["used"] for r in self.rows)


def gpu_burn_down(user: User, run_id: int) -> BurnDown | None:
    """The run's GPU burn-down as ``user`` may see it, or None when they may see none of it.

    The run's staff and operators (``can_teach_run``) see everything.  An institution admin
    sees only their own people: those with a membership there (memberships exist only once the
    person accepted); a cohort stamped on a usage row decides nothing, and other institutions'
    cohorts are not named.  A constant number of queries whatever the number of sessions (pinned in
    tests/sessions/test_extend_and_usage.py)."""
    run = CourseRun.objects.select_related("course").filter(pk=run_id).first()
    if run is None:
        return None
    sees_all = can_teach_run(user, run.pk)  # operators included
    admin_of = admin_institution_ids(user)
    if not sees_all and not admin_of:
        return None
    usage = GpuUsage.objects.filter(run=run)
    sessions = LabSession.objects.filter(run=run)
    budgets = CohortGpuBudget.objects.filter(run=run).select_related("cohort__institution")
    if sees_all:
        usage = usage.annotate(cohort_label=F("cohort__name"))
    else:
        own = Membership.objects.filter(institution_id__in=admin_of).values("user_id")
        usage = usage.filter(user_id__in=own).annotate(
            cohort_label=Case(
                When(cohort__institution_id__in=admin_of, then=F("cohort__name")),
                default=Value(None),
                output_field=CharField(),
            )
        )
        sessions = sessions.filter(user_id__in=own)
        budgets = budgets.filter(cohort__institution_id__in=admin_of)
        if not budgets.exists() and not usage.exists():
            return None
    daily = (
        usage.exclude(started_at=None)
        .annotate(day=TruncDate("started_at"))
        .values("day", "cohort_label")
        .annotate(s=Sum("gpu_seconds"))
        .order_by("day")
    )
    per_cohort: dict[str, dict[str, float]] = {}
    days: list[str] = []
    for row in daily:
        day = row["day"].isoformat()
        if day not in days:
            days.append(day)
        key = row["cohort_label"] or _("No cohort")
        per_cohort.setdefault(key, {})[day] = row["s"] / 3600
    series = {}
    for name, per_day in per_cohort.items():
        total, points = 0.0, []
        for day in days:
            total += per_day.get(day, 0.0)
            points.append(round(total, 3))
        series[name] = points
    by_cohort = {b.cohort.name: float(b.gpu_hours) for b in budgets}
    totals = usage.values("cohort_label").annotate(s=Sum("gpu_seconds")).order_by("cohort_label")
    rows = [
        {
            "cohort": t["cohort_label"] or _("No cohort"),
            "used": t["s"] / 3600,
            "budget": by_cohort.get(t["cohort_label"]),
        }
        for t in totals
    ]
    grading = tests = {"s": 0, "n": 0}
    if sees_all:
        grading = GradingJob.objects.filter(run=run).aggregate(s=Sum("gpu_seconds"), n=Count("pk"))
        # "Test this version" jobs of the run's labs graded on the cluster count as grading
        tests = (
            VersionCheck.objects.filter(version__lab__run=run)
            .exclude(job_id="")
            .aggregate(s=Sum("gpu_seconds"), n=Count("pk"))
        )
    return BurnDown(
        grading_hours=((grading["s"] or 0) + (tests["s"] or 0)) / 3600,
        grading_jobs=(grading["n"] or 0) + (tests["n"] or 0),
        run=run,
        rows=rows,
        days=days,
        series=series,
        cohort_budgets=by_cohort,
        live=sessions.filter(state__in=LIVE_STATES).count(),
        saved_hours=(sessions.aggregate(s=Sum("gpu_seconds_saved"))["s"] or 0) / 3600,
    )
