"""The institution's tracking dashboard: who needs attention first, then each cohort's figures
and the weekly trends, narrowed by cohort, programme, course, run and period."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext as _

from academy.selectors import admin_institution_ids
from academy.typing import AuthedRequest

from .. import rules, selectors
from ..forms import DashboardFilterForm

FILTER_KEYS = ("cohort", "programme", "course", "run", "start", "end")


def _exists(name: str, args: list[object]) -> bool:
    try:
        reverse(name, args=args)
    except NoReverseMatch:
        return False
    return True


def _person_url(slug: str, user_id: int) -> str | None:
    """The person page's address (the cohort pages' ``tracking-person``), when it exists."""
    try:
        return reverse("tracking-person", args=[slug, user_id])
    except NoReverseMatch:
        return None


@login_required
def dashboard(request: AuthedRequest, slug: str) -> HttpResponse:
    institution = selectors.tracked_institution(request.user, slug)
    bound = any(request.GET.get(k) for k in FILTER_KEYS)
    default = selectors.Filters.default()
    form = DashboardFilterForm(
        request.GET if bound else None,
        institution=institution,
        initial={"start": default.start, "end": default.end},
    )
    filters = form.filters()
    policy = rules.policy_for(institution.pk)
    risky, risky_total = selectors.at_risk(institution, filters, policy=policy)
    for item in risky:
        item.url = _person_url(slug, item.snapshot.user_id)
    figures = selectors.dashboard(institution, filters)
    trends = selectors.trends(institution, filters)
    return render(
        request,
        "tracking/dashboard.html",
        {
            "institution": institution,
            "form": form,
            "filters": filters,
            "policy": policy,
            "at_risk": risky,
            "at_risk_total": risky_total,
            "figures": figures,
            "trends": trends,
            "chart": trends.chart_data(),
            "chart_labels": {
                "active": _("Active learners"),
                "completed": _("Completed"),
                "passed": _("Passed"),
                "gpu": _("GPU-hours"),
            },
            "cohort_pages": _exists("tracking-cohort", [slug, 0]),
            # the digest is an admin's own choice: operators who are not admins have none
            "may_choose_digest": institution.pk in admin_institution_ids(request.user),
            "export_query": request.GET.urlencode(),
        },
    )


urlpatterns = [
    path("institutions/<slug:slug>/tracking/", dashboard, name="tracking-dashboard"),
]
