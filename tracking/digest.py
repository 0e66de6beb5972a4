"""The weekly e-mail digest to institution admins: the key numbers of the week and the
at-risk list, with a link to the dashboard and one to opt out.

Who: every admin of an institution (a ``Membership`` with role admin), per institution, unless
their ``DigestPreference`` for it says no (the row is created, opted in, on the first send).
When: once a week, on or after Monday ``SEND_HOUR`` (local time).  The beat task runs hourly
and sends what is due: a digest is due when none was sent since the start of the current digest
week, so a week missed while the workers were down is sent when they come back, never twice.
Idempotent: each (admin, institution) is decided and sent under a row lock on its preference,
and ``last_sent_at`` is written in the same transaction (a mail server that refuses leaves
it unsent, tried again at the next run; only a crash between the mail leaving and the commit
can send one twice, Celery's at-least-once).  Each admin reads it in their
``preferred_language`` (the site's default otherwise).

The figures come from ``tracking.selectors``, as the dashboard shows them, scoped to the
institution (the privacy rule: nothing of what its people do as another institution's members).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from academy.audit import audit
from academy.models import Institution, Membership, Role, User

from . import selectors
from .models import DigestPreference

log = logging.getLogger(__name__)

SEND_WEEKDAY = 0  # Monday
SEND_HOUR = 7  # local time
AT_RISK_SHOWN = 20


def week_start(now: datetime) -> datetime:
    """The start of the digest week ``now`` falls in: the latest Monday ``SEND_HOUR`` (local
    time) at or before ``now``."""
    local = timezone.localtime(now)
    monday = local.date() - timedelta(days=(local.weekday() - SEND_WEEKDAY) % 7)
    start = datetime.combine(monday, time(SEND_HOUR), tzinfo=local.tzinfo)
    if start > local:
        start -= timedelta(days=7)
    return start


def is_due(last_sent_at: datetime | None, now: datetime) -> bool:
    return last_sent_at is None or last_sent_at < week_start(now)


@dataclass
class Digest:
    """What one institution's digest says (in the language active when it was built)."""

    institution: Institution
    start: date
    end: date
    people: int
    active: int
    completed_this_week: int
    passed_this_week: int
    pass_rate: float | None
    gpu_hours_this_week: Decimal
    gpu_used: Decimal
    gpu_budget: Decimal | None
    gpu_percent: float | None
    at_risk: list[selectors.AtRisk] = field(default_factory=list)
    at_risk_total: int = 0
    dashboard_url: str = ""
    opt_out_url: str = ""


def build(institution: Institution, now: datetime | None = None) -> Digest:
    """The institution's figures for the seven days ending today, and the at-risk list (the
    first ``AT_RISK_SHOWN``, with their reasons in the active language)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    overall = selectors.Filters.default(today)
    week = selectors.Filters(start=today - timedelta(days=6), end=today)
    figures = selectors.dashboard(institution, overall)
    trends = selectors.trends(institution, week)
    at_risk, total = selectors.at_risk(institution, overall, AT_RISK_SHOWN, now=now)
    return Digest(
        institution=institution,
        start=week.start,
        end=week.end,
        people=Membership.objects.filter(institution=institution).count(),
        active=figures.active,
        completed_this_week=sum(trends.completed),
        passed_this_week=sum(trends.passed),
        pass_rate=figures.pass_rate,
        gpu_hours_this_week=Decimal(str(round(sum(trends.gpu_hours), 2))),
        gpu_used=figures.gpu_used,
        gpu_budget=figures.gpu_budget,
        gpu_percent=figures.gpu_percent,
        at_risk=at_risk,
        at_risk_total=total,
        dashboard_url=settings.SITE_URL + reverse("tracking-dashboard", args=[institution.slug]),
        opt_out_url=settings.SITE_URL + reverse("tracking-digest", args=[institution.slug]),
    )


def language_of(user: User) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    wanted = (user.preferred_language or "").lower()
    return wanted if wanted in codes else settings.LANGUAGE_CODE


def message(
    user: User, institution: Institution, now: datetime | None = None
) -> EmailMultiAlternatives:
    """The digest for ``user`` about ``institution``, in the user's language."""
    with translation.override(language_of(user)):
        digest = build(institution, now)
        context = {"digest": digest, "user": user, "site_url": settings.SITE_URL}
        subject = _("Weekly digest: %(institution)s") % {"institution": institution.name}
        text = render_to_string("tracking/email/digest.txt", context)
        html = render_to_string("tracking/email/digest.html", context)
    mail = EmailMultiAlternatives(
        subject,
        text,
        None,
        [user.email],
        headers={"List-Unsubscribe": f"<{digest.opt_out_url}>"},
    )
    mail.attach_alternative(html, "text/html")
    return mail


def recipients() -> list[Membership]:
    """Every admin membership whose person can receive mail."""
    return list(
        Membership.objects.filter(
            role=Role.ADMIN, user__is_active=True, user__email__gt=""
        ).select_related("user", "institution")
    )


def send_due(now: datetime | None = None) -> int:
    """Send every digest that is due (see the module's docstring); the number sent."""
    now = now or timezone.now()
    sent = 0
    for membership in recipients():
        preference, _created = DigestPreference.objects.get_or_create(
            user=membership.user, institution=membership.institution
        )
        if not preference.weekly_digest or not is_due(preference.last_sent_at, now):
            continue
        with transaction.atomic():
            locked = DigestPreference.objects.select_for_update().get(pk=preference.pk)
            if not locked.weekly_digest or not is_due(locked.last_sent_at, now):
                continue  # another worker sent it, or the admin opted out meanwhile
            message(membership.user, membership.institution, now).send()
            locked.last_sent_at = now
            locked.save(update_fields=["last_sent_at"])
        sent += 1
    log.info("weekly digests sent: %d", sent)
    return sent


def preference_for(user: User, institution: Institution) -> DigestPreference:
    """The admin's choice (an unsaved opted-in row when they made none)."""
    found = DigestPreference.objects.filter(user=user, institution=institution).first()
    return found or DigestPreference(user=user, institution=institution)


def set_preference(*, actor: User, institution: Institution, weekly: bool) -> DigestPreference:
    """Opt in or out of the institution's weekly digest (audited)."""
    with transaction.atomic():
        preference, _created = DigestPreference.objects.select_for_update().get_or_create(
            user=actor, institution=institution
        )
        if preference.weekly_digest != weekly:
            preference.weekly_digest = weekly
            preference.save(update_fields=["weekly_digest"])
            audit(
                actor,
                "tracking.digest_opt_in" if weekly else "tracking.digest_opt_out",
                preference,
                institution=institution,
            )
    return preference
