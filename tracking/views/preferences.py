"""An institution admin's weekly digest: on or off, per institution (the link at the foot of
every digest comes here).  Only the institution's own admins: the digest goes to them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from academy.models import Institution
from academy.selectors import is_institution_admin
from academy.typing import AuthedRequest

from .. import digest


@login_required
@require_http_methods(["GET", "POST"])
def digest_preference(request: AuthedRequest, slug: str) -> HttpResponse:
    institution = Institution.objects.filter(slug=slug).first()
    if institution is None or not is_institution_admin(request.user, institution.pk):
        raise Http404
    if request.method == "POST":
        choice = request.POST.get("weekly_digest")
        if choice not in ("on", "off"):
            messages.error(request, _("Choose whether to receive the weekly digest."))
            return redirect("tracking-digest", slug=institution.slug)
        digest.set_preference(actor=request.user, institution=institution, weekly=choice == "on")
        messages.success(
            request,
            _("You will receive the weekly digest.")
            if choice == "on"
            else _("You will no longer receive the weekly digest."),
        )
        return redirect("tracking-digest", slug=institution.slug)
    return render(
        request,
        "tracking/digest_preference.html",
        {
            "institution": institution,
            "preference": digest.preference_for(request.user, institution),
        },
    )


urlpatterns = [
    path("institutions/<slug:slug>/tracking/digest/", digest_preference, name="tracking-digest"),
]
