"""The public side of credentials, without signing in: the credential's own page (its id, where
the QR code points) and the verifier, which checks a credential pasted, uploaded or given by
its link.

The verifier never fetches a URL: a link is accepted only if it is one of this site's own
credential pages, and the credential is then read from the database.  Whatever is posted, the
answer is a verdict or a message in words, never an error page.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.settings import api_settings

from academy.limits import AnonRateThrottle
from programmes.models import localised

from .. import keys, selectors, services, signing, verification
from ..forms import VerifyForm
from ..models import Credential

logger = logging.getLogger(__name__)

# What each verdict means, in a sentence under the big word.
VERDICT_NOTES = {
    verification.VERIFIED: gettext_lazy(
        "Issued by %(issuer)s, unchanged since, and neither revoked nor suspended."
    ),
    verification.REVOKED: gettext_lazy(
        "Genuine, but %(issuer)s has revoked it: it no longer counts."
    ),
    verification.SUSPENDED: gettext_lazy(
        "Genuine, but %(issuer)s has suspended it for now: it does not count while suspended."
    ),
    verification.EXPIRED: gettext_lazy("Genuine, but its validity has ended."),
    verification.NOT_YET_VALID: gettext_lazy("Genuine, but its validity has not started yet."),
    verification.TAMPERED: gettext_lazy(
        "The content does not match the issuer's signature: it was changed after it was issued."
    ),
    verification.UNKNOWN_KEY: gettext_lazy(
        "It names %(issuer)s, but was signed with a key %(issuer)s does not publish (a key "
        "withdrawn or never its own): it cannot be trusted."
    ),
    verification.UNKNOWN_ISSUER: gettext_lazy(
        "It was not issued by %(issuer)s: this page checks only its credentials."
    ),
    verification.MALFORMED: gettext_lazy(
        "This is not a credential this page can read: see what was checked below."
    ),
}

# Verdicts whose signature held: what the document says is what the issuer signed.
SIGNED = {
    verification.VERIFIED,
    verification.REVOKED,
    verification.SUSPENDED,
    verification.EXPIRED,
    verification.NOT_YET_VALID,
}


# --------------------------------------------------------------------------- reading a document


@dataclass
class Skill:
    label: str
    url: str


@dataclass
class Summary:
    """What a credential says, read defensively: any field may be missing or of a wrong type
    in a pasted document, and is then left empty."""

    name: str = ""
    description: str = ""
    criteria: str = ""
    achievement_type: str = ""
    issuer_name: str = ""
    issuer_id: str = ""
    co_issuer: str = ""
    co_issuer_url: str = ""
    credits_available: str = ""
    credits_earned: str = ""
    eqf_level: str = ""
    skills: list[Skill] = field(default_factory=list)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    activity_end: datetime | None = None
    evidence: list[str] = field(default_factory=list)
    identity_hash: str = ""
    salt: str = ""

    @property
    def readable(self) -> bool:
        return bool(self.name or self.issuer_name or self.description)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, dict) else []


def _text(value: object, limit: int = 2000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{value:g}"


def _http_url(value: object) -> str:
    """A link to show: http(s) only (a pasted document may carry javascript: URLs)."""
    text = _text(value, 500)
    return text if re.match(r"^https?://", text, re.IGNORECASE) else ""


def _when(value: object) -> datetime | None:
    text = _text(value, 40)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def summarise(document: dict[str, Any]) -> Summary:
    issuer = document.get("issuer")
    subject = _dict(document.get("credentialSubject"))
    achievement = _dict(subject.get("achievement"))
    creator = _dict(achievement.get("creator"))
    summary = Summary(
        name=_text(achievement.get("name"), 300) or _text(document.get("name"), 300),
        description=_text(achievement.get("description")),
        criteria=_text(_dict(achievement.get("criteria")).get("narrative")),
        achievement_type=_text(achievement.get("achievementType"), 100),
        issuer_name=_text(_dict(issuer).get("name"), 300),
        issuer_id=_text(_dict(issuer).get("id") if isinstance(issuer, dict) else issuer, 300),
        co_issuer=_text(creator.get("name"), 300),
        co_issuer_url=_http_url(creator.get("url")) or _http_url(creator.get("id")),
        credits_available=_number(achievement.get("creditsAvailable")),
        credits_earned=_number(subject.get("creditsEarned")),
        valid_from=_when(document.get("validFrom")),
        valid_until=_when(document.get("validUntil")),
        activity_end=_when(subject.get("activityEndDate")),
    )
    for alignment in _list(achievement.get("alignment"))[:100]:
        alignment = _dict(alignment)
        framework = _text(alignment.get("targetFramework"), 100)
        if framework == "European Qualifications Framework":
            summary.eqf_level = _text(alignment.get("targetCode"), 10)
        elif framework == "ESCO":
            label = _text(alignment.get("targetName"), 300)
            if label:
                summary.skills.append(Skill(label, _http_url(alignment.get("targetUrl"))))
    for evidence in _list(document.get("evidence"))[:50]:
        narrative = _text(_dict(evidence).get("narrative"))
        if narrative:
            summary.evidence.append(narrative)
    for identity in _list(subject.get("identifier"))[:10]:
        identity = _dict(identity)
        if identity.get("identityType") == "emailAddress" and identity.get("hashed") is True:
            summary.identity_hash = _text(identity.get("identityHash"), 200)
            summary.salt = _text(identity.get("salt"), 200)
            break
    return summary


def email_matches(summary: Summary, email: str) -> bool | None:
    """Whether the holder's address hashes to the credential's identity (None: nothing to
    compare with)."""
    if not (email and summary.identity_hash and summary.salt):
        return None
    return hmac.compare_digest(signing.hashed_identity(email, summary.salt), summary.identity_hash)


# --------------------------------------------------------------------------- the verdict shown


@dataclass
class Result:
    verdict: verification.Verdict
    summary: Summary
    note: str
    signed: bool
    holder: str = ""  # the holder's name, for a credential of ours whose signature held
    credential: Credential | None = None
    email: str = ""
    email_match: bool | None = None


def check(document: dict[str, Any], *, email: str = "") -> Result:
    try:
        verdict = verification.verify(document)
    except Exception:  # the verifier promises not to raise; a visitor still gets an answer
        logger.exception("the verifier raised on a posted document")
        verdict = verification.Verdict(
            verification.MALFORMED,
            [verification.Check(_("Format"), False, _("the document could not be read"))],
            document,
        )
    issuer = keys.issuer()
    signed = verdict.verdict in SIGNED
    summary = summarise(document) if verdict.verdict != verification.MALFORMED else Summary()
    credential = verdict.credential if signed else None
    holder = ""
    if credential is not None:
        holder = credential.user.get_full_name() or credential.user.username
    return Result(
        verdict=verdict,
        summary=summary,
        note=str(VERDICT_NOTES[verdict.verdict]) % {"issuer": issuer.name},
        signed=signed,
        holder=holder,
        credential=credential,
        email=email,
        email_match=email_matches(summary, email) if email else None,
    )


# --------------------------------------------------------------------------- links


def _site_prefix() -> str:
    return settings.SITE_URL + "/credentials/"


_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


def _own_link(text: str) -> str | None:
    """The id in a link to one of this site's credential pages (or its JSON), else None."""
    try:
        parts, site = urlsplit(text), urlsplit(settings.SITE_URL)
    except ValueError:
        return None
    if (parts.scheme.lower(), parts.netloc.lower()) != (site.scheme.lower(), site.netloc.lower()):
        return None
    match = re.fullmatch(
        re.escape(site.path.rstrip("/")) + rf"/credentials/({_UUID})(?:/|/credential\.json)?",
        parts.path,
    )
    return match.group(1) if match else None


def credential_from_link(text: str) -> tuple[Credential | None, str]:
    """The credential a link or bare id names, if it is one of this site's: it is read from
    the database, and no request is ever made to the link.  (credential, "") or (None, why
    not)."""
    text = text.strip()
    uid = text if re.fullmatch(_UUID, text) else _own_link(text)
    if uid is None:
        return None, _(
            "Only Academy's own credential links can be opened here (they start with "
            "%(prefix)s). For a credential from anywhere else, paste its JSON or upload its "
            "file instead."
        ) % {"prefix": _site_prefix()}
    try:
        return selectors.public_credential(UUID(uid)), ""
    except (Credential.DoesNotExist, ValueError):
        return None, _("Academy has no credential with this id.")


# --------------------------------------------------------------------------- rate limit


class VerifyThrottle(AnonRateThrottle):
    """Anonymous checks per client address (checking canonicalises JSON-LD, which costs CPU):
    the rate ``credential_verify`` of REST_FRAMEWORK's DEFAULT_THROTTLE_RATES, or the API's
    anonymous rate when it has none."""

    scope = "credential_verify"

    def get_rate(self) -> str | None:
        rates = api_settings.DEFAULT_THROTTLE_RATES
        rate = rates.get(self.scope) or rates.get("anon")
        return None if rate is None else str(rate)


# --------------------------------------------------------------------------- pages


def _document(data: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    how = data["how"]
    if how == "upload":
        raw = data["upload"].read(verification.MAX_BYTES + 1)
        return verification.parse(raw)
    if how == "link":
        credential, error = credential_from_link(data["link"])
        return (credential.document, "") if credential is not None else (None, error)
    return verification.parse(data["document"])


@require_http_methods(["GET", "HEAD", "POST"])
def verify_page(request: HttpRequest) -> HttpResponse:
    result: Result | None = None
    problem = ""
    status = 200
    retry_after = 0
    if request.method == "POST":
        throttle = VerifyThrottle()
        if not throttle.allow_request(request, None):  # type: ignore[arg-type]
            retry_after = max(1, round(throttle.wait() or 1))
            form = VerifyForm()
            problem = _(
                "Too many checks from your address: wait %(seconds)d seconds and try again."
            ) % {"seconds": retry_after}
            status = 429
        else:
            form = VerifyForm(request.POST, request.FILES)
            if form.is_valid():
                document, problem = _document(form.cleaned_data)
                if document is not None:
                    result = check(document, email=form.cleaned_data.get("email") or "")
                    form = VerifyForm()  # empty again, for the next one
    else:
        form = VerifyForm(initial={"link": request.GET.get("link", "")[:500]})
    response = render(
        request,
        "credentials/verify.html",
        {
            "form": form,
            "result": result,
            "problem": problem,
            "max_kb": verification.MAX_BYTES // 1024,
            "site_prefix": _site_prefix(),
        },
        status=status,
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


PDF_LANGUAGES = [("en", "English"), ("sr", "Српски"), ("sr-latn", "Srpski")]


@require_GET
def credential_public(request: HttpRequest, uuid: UUID) -> HttpResponse:
    try:
        credential = selectors.public_credential(uuid)
    except Credential.DoesNotExist:
        raise Http404 from None
    result = check(credential.document)
    issuer = keys.issuer()
    url = services.credential_url(credential)
    return render(
        request,
        "credentials/public.html",
        {
            "credential": credential,
            "title": localised(credential.title, credential.title_sr),
            "holder": credential.user.get_full_name() or credential.user.username,
            "result": result,
            "issuer": issuer,
            "url": url,
            "pdf_languages": PDF_LANGUAGES,
            "verify_url": reverse("credential-verify") + "?" + urlencode({"link": url}),
            "is_holder": request.user.is_authenticated and request.user.pk == credential.user_id,
        },
    )


urlpatterns: list[URLPattern] = [
    path("verify/", verify_page, name="credential-verify"),
    path("credentials/<uuid:uuid>/", credential_public, name="credential-public"),
]
