"""The session card (htmx partial), its actions, and the GPU burn-down page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from academy.typing import AuthedRequest
from notebooks.models import Lab
from notebooks.selectors import lab_for, lab_for_author
from notebooks.services import NotebookRejected

from . import selectors, services
from .models import LabSession, SessionKind, SessionState


def _card(request: AuthedRequest, lab, session: LabSession | None, error: str = "") -> HttpResponse:  # type: ignore[no-untyped-def]
    if session is not None and session.kind == SessionKind.AUTHOR:
        return _author_card(request, lab, session, error=error)
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


@login_required
@require_GET
def session_card(request: AuthedRequest, lab_id: int) -> HttpResponse:
    lab = lab_for(request.user, lab_id)
    session = services.session_fresh(selectors.latest_session(request.user, lab))
    return _card(request, lab, session)


@login_required
@require_POST
def session_open(request: AuthedRequest, lab_id: int) -> HttpResponse:
    lab = lab_for(request.user, lab_id)
    try:
        session = services.session_open(actor=request.user, lab=lab)
    except services.SessionRefused as exc:
        return _card(request, lab, selectors.latest_session(request.user, lab), error=str(exc))
    return _card(request, lab, session)


def _own_session(request: AuthedRequest, pk: int) -> LabSession:
    try:
        return selectors.session_for(request.user, pk)
    except LabSession.DoesNotExist:
        raise Http404 from None


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


def _author_card(
    request: AuthedRequest,
    lab,  # type: ignore[no-untyped-def]
    session: LabSession | None,
    error: str = "",
    cell_errors: list | None = None,
) -> HttpResponse:
    live = session is not None and session.is_live
    running = session is not None and session.state == SessionState.RUNNING
    return render(
        request,
        "sessions/_author_card.html",
        {
            "lab": lab,
            "session": session,
            "error": error,
            "cell_errors": cell_errors,
            "poll": 3 if live and not running else (30 if live else 0),
            "connect_url": services.connect_url(session) if session and running else "",
        },
    )


def _author_lab(request: AuthedRequest, lab_id: int):  # type: ignore[no-untyped-def]
    try:
        return lab_for_author(request.user, lab_id)
    except Lab.DoesNotExist:
        raise Http404 from None


@login_required
@require_GET
def authoring_card(request: AuthedRequest, lab_id: int) -> HttpResponse:
    lab = _author_lab(request, lab_id)
    session = services.session_fresh(
        selectors.latest_session(request.user, lab, kind=SessionKind.AUTHOR)
    )
    return _author_card(request, lab, session)


@login_required
@require_POST
def authoring_open(request: AuthedRequest, lab_id: int) -> HttpResponse:
    lab = _author_lab(request, lab_id)
    try:
        session = services.session_open(actor=request.user, lab=lab, kind=SessionKind.AUTHOR)
    except services.SessionRefused as exc:
        latest = selectors.latest_session(request.user, lab, kind=SessionKind.AUTHOR)
        return _author_card(request, lab, latest, error=str(exc))
    return _author_card(request, lab, session)


@login_required
@require_POST
def authoring_save(request: AuthedRequest, pk: int) -> HttpResponse:
    session = _own_session(request, pk)
    if session.user_id != request.user.pk or session.kind != SessionKind.AUTHOR:
        raise Http404
    try:
        version = services.authoring_save(actor=request.user, session=session)
    except NotebookRejected as exc:
        return _author_card(
            request,
            session.lab,
            session,
            error=_("The notebook is not valid; nothing was saved."),
            cell_errors=[str(e) for e in exc.cell_errors],
        )
    except (services.SessionRefused, PermissionDenied) as exc:
        return _author_card(request, session.lab, session, error=str(exc) or _("Not allowed."))
    messages.success(request, _("Saved as version %(n)d.") % {"n": version.number})
    response = HttpResponse(status=204)
    response["HX-Redirect"] = reverse("lab-version-detail", args=[session.lab_id, version.number])
    return response


@login_required
@require_GET
def gpu_usage(request: AuthedRequest, run_id: int) -> HttpResponse:
    """Burn-down of the run's GPU budget, overall and per cohort: staff of the run, operators,
    and institution admins (who see only their own people and their institutions' cohorts)."""
    burn = selectors.gpu_burn_down(request.user, run_id)
    if burn is None:
        raise Http404
    chart = {
        "days": burn.days,
        "series": burn.series,
        "budget": float(burn.run.gpu_budget_hours or 0),
        "cohort_budgets": burn.cohort_budgets,
        "labels": {"budget": _("Budget"), "gpu_hours": _("GPU-hours")},
    }
    return render(
        request,
        "sessions/gpu_usage.html",
        {
            "run": burn.run,
            "rows": burn.rows,
            "chart": chart,
            "live": burn.live,
            "total": burn.total,
            "saved": burn.saved_hours,
            "grading_hours": burn.grading_hours,
            "grading_jobs": burn.grading_jobs,
        },
    )
