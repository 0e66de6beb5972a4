"""The session card (htmx partial), its actions, and the GPU burn-down page."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, CharField, F, Sum, Value, When
from django.db.models.functions import TruncDate
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from academy.models import Membership
from academy.selectors import admin_institution_ids, is_operator
from academy.typing import AuthedRequest
from courses.models import CourseRun
from notebooks.selectors import can_grade_run, lab_for

from . import services
from .models import LIVE_STATES, CohortGpuBudget, GpuUsage, LabSession, SessionState


def _card(request: AuthedRequest, lab, session: LabSession | None, error: str = "") -> HttpResponse:  # type: ignore[no-untyped-def]
    budgets = services.budgets_for(
        user=request.user,
        run=lab.run,
        cohort=session.cohort if session else services._cohort_of(request.user, lab.run),
    )
    live = session is not None and session.is_live
    running = session is not None and session.state == SessionState.RUNNING
    poll = 3 if live and not running else (30 if live else 0)
    return render(
        request,
        "sessions/_card.html",
        {
            "lab": lab,
            "session": session,
            "error": error,
            "budgets": budgets,
            "poll": poll,
            "connect_url": services.connect_url(session) if session and running else "",
            "profile": lab.resource_profile,
            "extend_minutes": settings.SESSION_EXTEND_MINUTES,
        },
    )


def _latest(user, lab) -> LabSession | None:  # type: ignore[no-untyped-def]
    return (
        LabSession.objects.filter(user=user, lab=lab)
        .select_related("user", "lab", "run")
        .order_by("-requested_at")
        .first()
    )


@login_required
@require_GET
def session_card(request: AuthedRequest, lab_id: int) -> HttpResponse:
    lab = lab_for(request.user, lab_id)
    session = _latest(request.user, lab)
    if session is not None and session.is_live:
        stale = session.refreshed_at is None or (
            timezone.now() - session.refreshed_at
            > timedelta(seconds=settings.SESSION_REFRESH_SECONDS)
        )
        if stale:
            session = services.session_refresh(session)
    return _card(request, lab, session)


@login_required
@require_POST
def session_open(request: AuthedRequest, lab_id: int) -> HttpResponse:
    lab = lab_for(request.user, lab_id)
    try:
        session = services.session_open(actor=request.user, lab=lab)
    except services.SessionRefused as exc:
        return _card(request, lab, _latest(request.user, lab), error=str(exc))
    return _card(request, lab, session)


def _own_session(request: AuthedRequest, pk: int) -> LabSession:
    session = get_object_or_404(LabSession.objects.select_related("user", "lab", "run"), pk=pk)
    if session.user_id != request.user.pk and not can_grade_run(request.user, session.run_id):
        raise Http404
    return session


@login_required
@require_POST
def session_stop(request: AuthedRequest, pk: int) -> HttpResponse:
    session = _own_session(request, pk)
    error = ""
    try:
        session = services.session_stop(actor=request.user, session=session)
    except services.SessionRefused as exc:
        error = str(exc)
    return _card(request, session.lab, session, error=error)


@login_required
@require_POST
def session_extend(request: AuthedRequest, pk: int) -> HttpResponse:
    session = _own_session(request, pk)
    error = ""
    try:
        session = services.session_extend(actor=request.user, session=session)
    except services.SessionRefused as exc:
        error = str(exc)
    return _card(request, session.lab, session, error=error)


@login_required
@require_POST
def session_submit(request: AuthedRequest, pk: int) -> HttpResponse:
    session = _own_session(request, pk)
    try:
        submission = services.session_submit(actor=request.user, session=session)
    except (services.SessionRefused, PermissionDenied) as exc:
        return _card(request, session.lab, session, error=str(exc) or _("Not allowed."))
    except ValidationError as exc:
        return _card(request, session.lab, session, error=" ".join(exc.messages))
    messages.success(
        request, _("Submitted from your session (attempt %(n)d).") % {"n": submission.attempt}
    )
    response = HttpResponse(status=204)
    response["HX-Redirect"] = request.build_absolute_uri(f"/labs/{session.lab_id}/")
    return response


@login_required
@require_GET
def gpu_usage(request: AuthedRequest, run_id: int) -> HttpResponse:
    """Burn-down of the run's GPU budget, overall and per cohort: staff of the run, operators,
    and institution admins (who see only their own people and their institutions' cohorts)."""
    run = get_object_or_404(CourseRun.objects.select_related("course"), pk=run_id)
    admin_of = admin_institution_ids(request.user)
    if not (can_grade_run(request.user, run.pk) or is_operator(request.user) or admin_of):
        raise Http404
    usage = GpuUsage.objects.filter(run=run)
    sessions = LabSession.objects.filter(run=run)
    budgets = CohortGpuBudget.objects.filter(run=run).select_related("cohort__institution")
    if not (can_grade_run(request.user, run.pk) or is_operator(request.user)):
        # An institution admin sees their own people only: those with a membership there
        # (memberships exist only once the person accepted).  A cohort stamped on a usage row
        # decides nothing; other institutions' cohorts are not named.
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
            raise Http404
    else:
        usage = usage.annotate(cohort_label=F("cohort__name"))
    daily = (
        usage.exclude(started_at=None)
        .annotate(day=TruncDate("started_at"))
        .values("day", "cohort_label")
        .annotate(s=Sum("gpu_seconds"))
        .order_by("day")
    )
    series: dict[str, dict[str, float]] = {}
    days: list[str] = []
    for row in daily:
        day = row["day"].isoformat()
        if day not in days:
            days.append(day)
        key = row["cohort_label"] or _("No cohort")
        series.setdefault(key, {})[day] = row["s"] / 3600
    cumulative = {}
    for name, per_day in series.items():
        total, points = 0.0, []
        for day in days:
            total += per_day.get(day, 0.0)
            points.append(round(total, 3))
        cumulative[name] = points
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
    live = sessions.filter(state__in=LIVE_STATES).count()
    chart = {
        "days": days,
        "series": cumulative,
        "budget": float(run.gpu_budget_hours or 0),
        "cohort_budgets": by_cohort,
        "labels": {"budget": _("Budget"), "gpu_hours": _("GPU-hours")},
    }
    return render(
        request,
        "sessions/gpu_usage.html",
        {
            "run": run,
            "rows": rows,
            "chart": chart,
            "live": live,
            "total": sum(r["used"] for r in rows),
            "saved": (sessions.aggregate(s=Sum("gpu_seconds_saved"))["s"] or 0) / 3600,
        },
    )
