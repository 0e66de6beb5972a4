"""Pages of the course side: catalogue."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language_info
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from academy.typing import AuthedRequest

from .. import selectors, services
from ..markdown import render_markdown
from ..models import (
    CourseRun,
    Enrolment,
    EnrolmentState,
    Level,
    Sector,
)
from ._common import PAGE_SIZE, _errors


def _language_name(code: str) -> str:
    """A course language by its name in the reader's language; a code Django does not know
    stays as it is."""
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


@login_required
def catalogue(request: AuthedRequest) -> HttpResponse:
    filters = selectors.CatalogueFilters.from_query(request.GET)
    courses = selectors.catalogue(request.user, **filters.as_kwargs())
    page = Paginator(courses, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "courses/catalogue.html",
        {
            "page": page,
            "filters": filters,
            "sectors": Sector.choices,
            "levels": Level.choices,
            "languages": [(c, _language_name(c)) for c in selectors.course_languages()],
            "query": query.urlencode(),
            "sector_labels": dict(Sector.choices),
        },
    )


@login_required
def course_detail(request: AuthedRequest, code: str) -> HttpResponse:
    course = get_object_or_404(selectors.courses_for(request.user), code=code)
    page = selectors.course_page(request.user, course)
    return render(
        request,
        "courses/course_detail.html",
        {
            "course": course,
            "description": render_markdown(course.description),
            "runs": page.runs,
            "prerequisites": page.prerequisites,
            "recommended": page.recommended,
            "sector_labels": dict(Sector.choices),
        },
    )


def _visible_run(request: AuthedRequest, pk: int) -> CourseRun:
    return get_object_or_404(selectors.runs_for(request.user), pk=pk)


@login_required
@require_POST
def run_enrol(request: AuthedRequest, pk: int) -> HttpResponse:
    run = _visible_run(request, pk)
    try:
        enrolment = services.enrolment_request(
            run=run, user=request.user, invite_code=request.POST.get("invite_code", "")
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        texts: dict[str, str] = {
            EnrolmentState.ACTIVE: _("You are enrolled."),
            EnrolmentState.WAITLISTED: _("The run is full: you are number %(n)s on the waitlist.")
            % {"n": selectors.waitlist_rank(enrolment)},
            EnrolmentState.PENDING: _("Your request is waiting for approval."),
        }
        messages.success(request, texts[enrolment.state])
    return redirect("course-detail", code=run.course.code)


@login_required
@require_POST
def run_withdraw(request: AuthedRequest, pk: int) -> HttpResponse:
    run = _visible_run(request, pk)
    enrolment = get_object_or_404(Enrolment, run=run, user=request.user)
    try:
        services.enrolment_withdraw(enrolment=enrolment, actor=request.user)
        messages.success(request, _("You have left this run."))
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return redirect("course-detail", code=run.course.code)
