"""The cohort page (one row per person: enrolments, lessons, labs, grade, programme progress,
GPU-hours, credentials, last activity, at-risk), sortable by every column, searchable and
paginated; its CSV/XLSX download; and the downloads of the dashboard's tables (per cohort, at
risk), which the dashboard links.

Only operators and the institution's admins get here (404 for anyone else); every figure comes
from what the people did as members of this institution (``tracking.selectors``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from academy.models import Cohort, Institution, User
from academy.typing import AuthedRequest
from courses.models import EnrolmentState

from .. import rules, selectors
from ..exports import download, export_format
from ..forms import DashboardFilterForm

PER_PAGE = 50
EXPORT_CHUNK = 500

# The table's columns: sort key and heading (the page and the downloads use the same ones).
COLUMNS: Sequence[tuple[str, Any]] = (
    ("name", gettext_lazy("Name")),
    ("risk", gettext_lazy("At risk")),
    ("login", gettext_lazy("Cluster login")),
    ("email", gettext_lazy("E-mail")),
    ("enrolments", gettext_lazy("Enrolments")),
    ("lessons", gettext_lazy("Lessons")),
    ("labs", gettext_lazy("Labs submitted")),
    ("graded", gettext_lazy("Labs graded")),
    ("grade", gettext_lazy("Grade so far")),
    ("late", gettext_lazy("Late")),
    ("missed", gettext_lazy("Missed deadlines")),
    ("programme", gettext_lazy("Programme progress")),
    ("gpu", gettext_lazy("GPU-hours")),
    ("credentials", gettext_lazy("Credentials")),
    ("activity", gettext_lazy("Last activity")),
)


def _cohort(institution: Institution, pk: int) -> Cohort:
    return get_object_or_404(Cohort, pk=pk, institution=institution)


@dataclass
class Column:
    key: str
    label: str
    url: str
    current: str  # "asc", "desc" or ""


def _columns(sort: str, q: str) -> list[Column]:
    out = []
    for key, label in COLUMNS:
        current = "asc" if sort == key else "desc" if sort == f"-{key}" else ""
        next_sort = f"-{key}" if current == "asc" else key
        params = {"sort": next_sort, **({"q": q} if q else {})}
        out.append(Column(key, str(label), "?" + urlencode(params), current))
    return out


class CountedPaginator(Paginator):
    """Counts the plain rows (``counted``), not the aggregated ones: the same number, without
    computing every person's figures for the count."""

    counted: QuerySet[User] | None = None

    @cached_property
    def count(self) -> int:
        return self.counted.count() if self.counted is not None else super().count


@login_required
def cohort_page(request: AuthedRequest, slug: str, pk: int) -> HttpResponse:
    institution = selectors.tracked_institution(request.user, slug)
    cohort = _cohort(institution, pk)
    sort = selectors.cohort_sort_key(request.GET.get("sort"))
    q = request.GET.get("q", "").strip()[:100]
    policy = rules.policy_for(institution.pk)
    now = timezone.now()
    rows = selectors.cohort_rows(institution, cohort, sort=sort, q=q, now=now, policy=policy)
    paginator = CountedPaginator(rows, PER_PAGE)
    paginator.counted = selectors.cohort_people(institution, cohort, q)
    page = paginator.get_page(request.GET.get("page"))
    people = list(page.object_list)
    selectors.cohort_extras(institution, cohort, people, now, policy)
    keep = {"sort": sort, **({"q": q} if q else {})}
    return render(
        request,
        "tracking/cohort.html",
        {
            "institution": institution,
            "cohort": cohort,
            "page": page,
            "people": people,
            "columns": _columns(sort, q),
            "sort": sort,
            "q": q,
            "keep": urlencode(keep),
        },
    )


# --------------------------------------------------------------------------- downloads


def _programme_text(person: Any) -> str:
    return "; ".join(f"{p.code} {p.items_done}/{p.items_total}" for p in person.programmes)


def _risk_text(person: Any) -> str:
    return "; ".join(f"{code}: {risk.text}" for code, risk in person.risks)


def _round(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.01"))


COHORT_HEADER = (
    gettext_lazy("Last name"),
    gettext_lazy("First name"),
    gettext_lazy("Cluster login"),
    gettext_lazy("E-mail"),
    gettext_lazy("Enrolments"),
    gettext_lazy("States"),
    gettext_lazy("Lessons completed"),
    gettext_lazy("Lessons in all"),
    gettext_lazy("Labs submitted"),
    gettext_lazy("Labs graded"),
    gettext_lazy("Labs in all"),
    gettext_lazy("Grade so far (%)"),
    gettext_lazy("Late submissions"),
    gettext_lazy("Missed deadlines"),
    gettext_lazy("Programme progress (%)"),
    gettext_lazy("Programmes"),
    gettext_lazy("GPU-hours"),
    gettext_lazy("Credentials"),
    gettext_lazy("Last activity"),
    gettext_lazy("Enrolments at risk"),
    gettext_lazy("Reasons"),
)


# The aggregated columns of ``selectors.cohort_rows`` that the download reads.
_ROW_FIELDS = (
    "pk",
    "last_name",
    "first_name",
    "username",
    "email",
    "n_enrolments",
    *(f"n_{state}" for state in EnrolmentState.values),
    "lessons_done",
    "lessons_total",
    "labs_submitted",
    "labs_graded",
    "labs_total",
    "grade",
    "late",
    "missed",
    "programme_progress",
    "gpu_hours",
    "n_credentials",
    "last_activity",
    "at_risk",
)


def cohort_table(
    institution: Institution, cohort: Cohort, *, sort: str, q: str
) -> Iterator[list[Any]]:
    """The cohort table's rows as the page orders them, read in chunks (the extras for each
    chunk at once) as plain values, not model instances: memory stays flat however large the
    cohort, and 50,000 rows stay quick."""
    now = timezone.now()
    policy = rules.policy_for(institution.pk)
    rows = selectors.cohort_rows(institution, cohort, sort=sort, q=q, now=now, policy=policy)
    chunk: list[Any] = []

    def flush() -> Iterator[list[Any]]:
        selectors.cohort_extras(institution, cohort, chunk, now, policy)
        for p in chunk:
            yield [
                p.last_name,
                p.first_name,
                p.username,
                p.email,
                p.n_enrolments,
                p.states_text,
                p.lessons_done,
                p.lessons_total,
                p.labs_submitted,
                p.labs_graded,
                p.labs_total,
                _round(p.grade),
                p.late,
                p.missed,
                p.programme_progress,
                _programme_text(p),
                p.gpu_hours,
                p.n_credentials,
                p.last_activity,
                p.at_risk,
                _risk_text(p),
            ]

    for values in rows.values(*_ROW_FIELDS).iterator(chunk_size=EXPORT_CHUNK):
        chunk.append(SimpleNamespace(**values))
        if len(chunk) == EXPORT_CHUNK:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


@login_required
def cohort_export(request: AuthedRequest, slug: str, pk: int) -> HttpResponseBase:
    institution = selectors.tracked_institution(request.user, slug)
    cohort = _cohort(institution, pk)
    fmt = export_format(request.GET.get("format"))
    sort = selectors.cohort_sort_key(request.GET.get("sort"))
    q = request.GET.get("q", "").strip()[:100]
    return download(
        fmt,
        f"cohort-{cohort.pk}",
        [str(h) for h in COHORT_HEADER],
        cohort_table(institution, cohort, sort=sort, q=q),
        title=cohort.name,
    )


DASHBOARD_COHORT_HEADER = (
    gettext_lazy("Cohort"),
    gettext_lazy("Intake year"),
    gettext_lazy("People"),
    gettext_lazy("Enrolments"),
    gettext_lazy("Active"),
    gettext_lazy("Completion rate (%)"),
    gettext_lazy("Pass rate (%)"),
    gettext_lazy("Average grade (%)"),
    gettext_lazy("Programme progress (%)"),
    gettext_lazy("GPU-hours used"),
    gettext_lazy("GPU-hours budget"),
    gettext_lazy("Last activity"),
)

AT_RISK_HEADER = (
    gettext_lazy("Last name"),
    gettext_lazy("First name"),
    gettext_lazy("Cluster login"),
    gettext_lazy("E-mail"),
    gettext_lazy("Cohort"),
    gettext_lazy("Course"),
    gettext_lazy("Run"),
    gettext_lazy("State"),
    gettext_lazy("Grade so far (%)"),
    gettext_lazy("Missed deadlines"),
    gettext_lazy("Last activity"),
    gettext_lazy("Reasons"),
)


def _dashboard_filters(request: AuthedRequest, institution: Institution) -> selectors.Filters:
    """The dashboard's filters from the same query string (defaults when none or invalid)."""
    bound = any(
        request.GET.get(k) for k in ("cohort", "programme", "course", "run", "start", "end")
    )
    default = selectors.Filters.default()
    form = DashboardFilterForm(
        request.GET if bound else None,
        institution=institution,
        initial={"start": default.start, "end": default.end},
    )
    return form.filters()


def dashboard_cohort_table(
    institution: Institution, filters: selectors.Filters
) -> Iterator[list[Any]]:
    figures = selectors.dashboard(institution, filters)
    for row in figures.cohorts:
        yield [
            row.cohort.name,
            row.cohort.intake_year,
            row.people,
            row.enrolments,
            row.active,
            row.completion_rate,
            row.pass_rate,
            row.average_grade,
            row.programme_progress,
            row.gpu_used,
            row.gpu_budget,
            row.last_activity,
        ]


def at_risk_table(institution: Institution, filters: selectors.Filters) -> Iterator[list[Any]]:
    """Every enrolment at risk (not only the dashboard's first ones), in chunks."""
    policy = rules.policy_for(institution.pk)
    now = timezone.now()
    candidates = (
        selectors._candidates(institution, filters, policy, now)
        .select_related("user", "cohort", "run__course")
        .order_by("last_activity_at", "user__last_name", "pk")
    )
    for snap in candidates.iterator(chunk_size=EXPORT_CHUNK):
        reasons = rules.risks(snap, policy, snap.run.pass_mark, now)
        if not reasons:
            continue
        yield [
            snap.user.last_name,
            snap.user.first_name,
            snap.user.username,
            snap.user.email,
            snap.cohort.name if snap.cohort else "",
            snap.run.course.code,
            snap.run.title,
            snap.state,
            snap.grade,
            snap.missed_deadlines,
            snap.last_activity_at,
            "; ".join(r.text for r in reasons),
        ]


@login_required
def dashboard_export(request: AuthedRequest, slug: str) -> HttpResponseBase:
    """``?table=cohorts`` (the default) or ``?table=risk``, ``?format=csv|xlsx``, and the
    dashboard's own filters."""
    institution = selectors.tracked_institution(request.user, slug)
    fmt = export_format(request.GET.get("format"))
    filters = _dashboard_filters(request, institution)
    if request.GET.get("table") == "risk":
        return download(
            fmt,
            f"{institution.slug}-at-risk",
            [str(h) for h in AT_RISK_HEADER],
            at_risk_table(institution, filters),
            title=_("At risk"),
        )
    return download(
        fmt,
        f"{institution.slug}-cohorts",
        [str(h) for h in DASHBOARD_COHORT_HEADER],
        dashboard_cohort_table(institution, filters),
        title=_("Cohorts"),
    )


urlpatterns = [
    path(
        "institutions/<slug:slug>/tracking/cohorts/<int:pk>/",
        cohort_page,
        name="tracking-cohort",
    ),
    path(
        "institutions/<slug:slug>/tracking/cohorts/<int:pk>/export/",
        cohort_export,
        name="tracking-cohort-export",
    ),
    path(
        "institutions/<slug:slug>/tracking/export/",
        dashboard_export,
        name="tracking-dashboard-export",
    ),
]
