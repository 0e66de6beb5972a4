"""Pages of the course side: dashboard."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from academy import selectors as people
from academy.typing import AuthedRequest

from .. import selectors
from ..models import (
    EnrolmentState,
)


@login_required
def dashboard(request: AuthedRequest) -> HttpResponse:
    user = request.user
    enrolments = selectors.student_enrolments(user)
    progress = selectors.progress_for(user, [e.run_id for e in enrolments]) if enrolments else {}
    for e in enrolments:
        done, total = progress.get(e.run_id, (0, 0))
        e.progress = (done, total, round(100 * done / total) if total else 0)  # type: ignore[attr-defined]
    teaching = (
        list(selectors.instructor_runs(user))
        if selectors.staff_run_ids(user) or (people.is_operator(user))
        else []
    )
    queue = (
        list(selectors.approval_queue(user)[:20])
        if teaching or people.admin_institution_ids(user)
        else []
    )
    return render(
        request,
        "courses/dashboard.html",
        {
            "enrolments": enrolments,
            "deadlines": selectors.upcoming_deadlines(user, enrolments),
            "teaching": teaching,
            "queue": queue,
            "by_cohort": selectors.institution_enrolments_by_cohort(user),
            "states": EnrolmentState,
        },
    )
