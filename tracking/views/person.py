"""A person as the institution sees them: only their enrolments attributed to it (a run they
take as another institution's member never shows), the programmes they follow through its
cohorts, the credentials earned there, and their daily activity over twelve weeks (a chart,
with the same numbers as a table); the runs table as CSV or XLSX.

404 for anyone who is not a member of the institution, and for anyone who may not follow it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from academy.models import Institution, User
from academy.typing import AuthedRequest

from .. import rules, selectors
from ..exports import download, export_format


def _person(institution: Institution, user_id: int) -> User:
    try:
        return selectors.tracked_person(institution, user_id)
    except User.DoesNotExist:
        raise Http404 from None


@login_required
def person_page(request: AuthedRequest, slug: str, user_id: int) -> HttpResponse:
    institution = selectors.tracked_institution(request.user, slug)
    person = _person(institution, user_id)
    view = selectors.person_view(institution, person)
    return render(
        request,
        "tracking/person.html",
        {
            "institution": institution,
            "person": person,
            "view": view,
            "chart": view.chart_data(),
            "chart_labels": {"events": _("Events")},
        },
    )


RUNS_HEADER = (
    gettext_lazy("Course"),
    gettext_lazy("Run"),
    gettext_lazy("Cohort"),
    gettext_lazy("State"),
    gettext_lazy("Lessons completed"),
    gettext_lazy("Lessons in all"),
    gettext_lazy("Labs submitted"),
    gettext_lazy("Labs graded"),
    gettext_lazy("Labs in all"),
    gettext_lazy("Late submissions"),
    gettext_lazy("Missed deadlines"),
    gettext_lazy("Grade so far (%)"),
    gettext_lazy("Passed"),
    gettext_lazy("GPU-hours"),
    gettext_lazy("Last activity"),
    gettext_lazy("At risk"),
)


def runs_table(institution: Institution, person: User) -> Iterator[list[Any]]:
    policy = rules.policy_for(institution.pk)
    now = timezone.now()
    for snap in selectors.person_runs(institution, person).iterator(chunk_size=500):
        yield [
            snap.run.course.code,
            snap.run.title,
            snap.cohort.name if snap.cohort else "",
            snap.state,
            snap.lessons_done,
            snap.lessons_total,
            snap.labs_submitted,
            snap.labs_graded,
            snap.labs_total,
            snap.late_submissions,
            snap.missed_deadlines,
            snap.grade,
            snap.passed,
            snap.gpu_hours,
            snap.last_activity_at,
            "; ".join(r.text for r in rules.risks(snap, policy, snap.run.pass_mark, now)),
        ]


@login_required
def person_export(request: AuthedRequest, slug: str, user_id: int) -> HttpResponseBase:
    institution = selectors.tracked_institution(request.user, slug)
    person = _person(institution, user_id)
    fmt = export_format(request.GET.get("format"))
    return download(
        fmt,
        f"{institution.slug}-{person.username}-runs",
        [str(h) for h in RUNS_HEADER],
        runs_table(institution, person),
        title=person.username,
    )


urlpatterns = [
    path(
        "institutions/<slug:slug>/tracking/people/<int:user_id>/",
        person_page,
        name="tracking-person",
    ),
    path(
        "institutions/<slug:slug>/tracking/people/<int:user_id>/export/",
        person_export,
        name="tracking-person-export",
    ),
]
