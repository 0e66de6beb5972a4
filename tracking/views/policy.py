"""An institution's at-risk thresholds: edited by its admins (and operators), audited."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from academy.audit import audit
from academy.typing import AuthedRequest

from .. import rules, selectors
from ..forms import PolicyForm


@login_required
@require_http_methods(["GET", "POST"])
def policy(request: AuthedRequest, slug: str) -> HttpResponse:
    institution = selectors.tracked_institution(request.user, slug)
    current = rules.policy_for(institution.pk)
    form = PolicyForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        if form.has_changed() or current.pk is None:
            with transaction.atomic():
                saved = form.save()
                audit(
                    request.user,
                    "tracking.policy_change",
                    saved,
                    institution=institution,
                    **{name: str(form.cleaned_data[name]) for name in form.fields},
                )
            messages.success(request, _("At-risk thresholds saved."))
        return redirect("tracking-dashboard", slug=institution.slug)
    return render(request, "tracking/policy.html", {"institution": institution, "form": form})


urlpatterns = [
    path("institutions/<slug:slug>/tracking/settings/", policy, name="tracking-policy"),
]
