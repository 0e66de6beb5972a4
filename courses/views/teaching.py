"""Pages of the course side: teaching (the runs one teaches, rosters, enrolment decisions)."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from academy.exports import csv_row
from academy.models import Cohort, Institution
from academy.typing import AuthedRequest

from .. import selectors, services
from ..models import (
    CourseRun,
    Enrolment,
    EnrolmentState,
)
from ._common import ROSTER_PAGE_SIZE, _errors


def _taught_run(request: AuthedRequest, pk: int) -> CourseRun:
    run = get_object_or_404(CourseRun.objects.select_related("course"), pk=pk)
    if not selectors.can_teach_run(request.user, run):
        raise Http404
    return run


def _authored_run(request: AuthedRequest, pk: int) -> CourseRun:
    """The run, if the user may change its seats, codes, grading policy and content."""
    run = get_object_or_404(CourseRun.objects.select_related("course"), pk=pk)
    if not selectors.can_author_run(request.user, run):
        raise Http404
    return run


@login_required
def teaching(request: AuthedRequest) -> HttpResponse:
    return render(
        request,
        "courses/teaching.html",
        {
            "runs": selectors.instructor_runs(request.user),
        },
    )


@login_required
def roster(request: AuthedRequest, pk: int) -> HttpResponse:
    run = _taught_run(request, pk)
    filters = selectors.RosterFilters.from_query(request.GET)
    page = Paginator(selectors.roster(run, **filters.as_kwargs()), ROSTER_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    cohort_ids = Enrolment.objects.filter(run=run, cohort__isnull=False).values("cohort_id")
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "run": run,
        "page": page,
        "filters": filters,
        "states": EnrolmentState.choices,
        "cohorts": Cohort.objects.filter(id__in=cohort_ids).select_related("institution"),
        "institutions": Institution.objects.filter(cohorts__id__in=cohort_ids).distinct(),
        "counts": selectors.roster_state_counts(run),
        "query": query.urlencode(),
        "next_path": request.get_full_path(),
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "roster-table":
        return render(request, "courses/roster.html#table", context)
    return render(request, "courses/roster.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def roster_rows(run: CourseRun, filters: selectors.RosterFilters) -> Iterator[str]:
    """The roster as CSV lines, read with a server-side cursor in chunks: memory stays flat
    whatever the number of enrolments."""
    writer = csv.writer(_Echo())
    yield writer.writerow(
        [
            _("username"),
            _("first name"),
            _("last name"),
            _("e-mail"),
            _("cohort"),
            _("state"),
            _("waitlist position"),
            _("requested"),
        ]
    )
    rows = selectors.roster(run, **filters.as_kwargs()).values_list(
        "user__username",
        "user__first_name",
        "user__last_name",
        "user__email",
        "cohort__name",
        "state",
        "waitlist_position",
        "requested_at",
    )
    for row in rows.iterator(chunk_size=2000):
        # Names and cohort names are people's text: no cell may start a formula.
        yield writer.writerow(csv_row([*row[:7], row[7].isoformat(timespec="seconds")]))


@login_required
def roster_export(request: AuthedRequest, pk: int) -> StreamingHttpResponse:
    run = _taught_run(request, pk)
    response = StreamingHttpResponse(
        roster_rows(run, selectors.RosterFilters.from_query(request.GET)),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = (
        f'attachment; filename="roster-{run.course.code}-{run.pk}-{stamp}.csv"'
    )
    return response


ENROLMENT_ACTIONS = {
    "approve": lambda e, actor, reason: services.enrolment_approve(enrolment=e, actor=actor),
    "waitlist": lambda e, actor, reason: services.enrolment_waitlist(enrolment=e, actor=actor),
    "reject": lambda e, actor, reason: services.enrolment_reject(
        enrolment=e, actor=actor, reason=reason
    ),
    "remove": lambda e, actor, reason: services.enrolment_remove(
        enrolment=e, actor=actor, reason=reason
    ),
}


@login_required
@require_POST
def enrolment_decide(request: AuthedRequest, pk: int) -> HttpResponse:
    """One form per roster row; the button pressed names the action."""
    return enrolment_action(request, pk, request.POST.get("action", ""))


@login_required
@require_POST
def enrolment_action(request: AuthedRequest, pk: int, action: str) -> HttpResponse:
    if action not in ENROLMENT_ACTIONS:
        raise Http404
    enrolment = get_object_or_404(selectors.enrolments_for(request.user), pk=pk)
    try:
        ENROLMENT_ACTIONS[action](enrolment, request.user, request.POST.get("reason", ""))
        messages.success(
            request,
            _("Done: %(user)s is now %(state)s.")
            % {"user": enrolment.user, "state": Enrolment.objects.get(pk=pk).get_state_display()},
        )
    except PermissionDenied:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    next_url = request.POST.get("next", "")
    if next_url.startswith("/") and not next_url.startswith("//"):
        return redirect(next_url)
    return redirect("home")
