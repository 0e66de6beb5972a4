"""The holder's wallet: their credentials with downloads, a share link and "Add to LinkedIn",
and what they have earned but not been issued yet, to claim."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from academy.models import User
from academy.typing import AuthedRequest
from courses.models import CourseRun
from programmes.models import Completion, localised

from .. import keys, selectors, services
from ..models import Credential

PDF_LANGUAGES = ("en", "sr", "sr-latn")
LINKEDIN_ADD = "https://www.linkedin.com/profile/add"


def pdf_language(user: User) -> str:
    """The certificate's language: the person's preferred one, else the page's."""
    for language in (user.preferred_language, get_language()):
        language = (language or "").lower()
        if language in PDF_LANGUAGES:
            return language
    return "en"


def linkedin_url(credential: Credential, url: str, organisation: str) -> str:
    """LinkedIn's "Add licence or certification" form, filled in."""
    issued = timezone.localtime(credential.issued_at)
    params: dict[str, str | int] = {
        "startTask": "CERTIFICATION_NAME",
        "name": credential.title,
        "organizationName": organisation,
        "issueYear": issued.year,
        "issueMonth": issued.month,
        "certUrl": url,
        "certId": str(credential.uuid),
    }
    if credential.valid_until is not None:
        until = timezone.localtime(credential.valid_until)
        params |= {"expirationYear": until.year, "expirationMonth": until.month}
    return f"{LINKEDIN_ADD}?{urlencode(params, quote_via=quote)}"


@dataclass
class Item:
    credential: Credential
    title: str
    url: str
    pdf: str
    linkedin: str
    expired: bool


@login_required
def wallet(request: AuthedRequest) -> HttpResponse:
    user = request.user
    issuer = keys.issuer()
    language = pdf_language(user)
    now = timezone.now()
    items = []
    for credential in selectors.own_credentials(user):
        url = services.credential_url(credential)
        pdf = reverse("credential-pdf", args=[credential.uuid]) + f"?lang={language}"
        items.append(
            Item(
                credential=credential,
                title=localised(credential.title, credential.title_sr),
                url=url,
                pdf=pdf,
                linkedin=linkedin_url(credential, url, issuer.name),
                expired=credential.valid_until is not None and credential.valid_until < now,
            )
        )
    return render(
        request,
        "credentials/wallet.html",
        {"items": items, "due": services.due_for(user), "issuer": issuer},
    )


def _id(value: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise Http404
    return int(value)


@login_required
@require_POST
def claim(request: AuthedRequest) -> HttpResponse:
    """Issue the person's own certificate for a passed run or a completed programme; anything
    not theirs is a 404, anything not earned is refused with the reason."""
    user = request.user
    run_id, completion_id = request.POST.get("run", ""), request.POST.get("completion", "")
    try:
        if run_id:
            run = (
                CourseRun.objects.select_related("course")
                .filter(pk=_id(run_id), enrolments__user=user)
                .first()
            )
            if run is None:
                raise Http404
            credential, new = services.issue_for_run(actor=user, user=user, run=run)
        elif completion_id:
            completion = (
                Completion.objects.select_related(
                    "allocation__programme__owner", "allocation__user"
                )
                .filter(pk=_id(completion_id), allocation__user=user)
                .first()
            )
            if completion is None:
                raise Http404
            credential, new = services.issue_for_completion(actor=user, completion=completion)
        else:
            raise Http404
    except services.NotEligible as refusal:
        messages.error(request, _("No certificate yet: %(reason)s") % {"reason": refusal})
        return redirect("credential-wallet")
    title = localised(credential.title, credential.title_sr)
    if new:
        messages.success(request, _("Your certificate “%(title)s” is issued.") % {"title": title})
    else:
        messages.info(
            request, _("You already hold the certificate “%(title)s”.") % {"title": title}
        )
    return redirect(reverse("credential-wallet") + f"#credential-{credential.uuid}")


urlpatterns: list[URLPattern] = [
    path("credentials/", wallet, name="credential-wallet"),
    path("credentials/claim/", claim, name="credential-claim"),
]
