"""The two rules every figure rests on: which institution an enrolment's activity belongs to,
and why a person is at risk.  Decided here only."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from academy.models import Membership

from .models import EnrolmentSnapshot, InstitutionPolicy


def attribute(user_id: int, cohort_institution_id: int | None) -> int | None:
    """The institution an enrolment (or an event in it) belongs to: its cohort's institution;
    without a cohort, the person's one institution; with two or more, none (neither sees it)."""
    if cohort_institution_id is not None:
        return cohort_institution_id
    institutions = list(
        Membership.objects.filter(user_id=user_id).values_list("institution_id", flat=True)[:2]
    )
    return attributed(None, institutions)


def attributed(cohort_institution_id: int | None, member_of: Collection[int]) -> int | None:
    """``attribute`` without the query, for batches that read the memberships at once:
    ``member_of`` holds the person's institutions."""
    if cohort_institution_id is not None:
        return cohort_institution_id
    return next(iter(member_of)) if len(set(member_of)) == 1 else None


def policy_for(institution_id: int) -> InstitutionPolicy:
    """The institution's thresholds (unsaved defaults when it set none)."""
    found = InstitutionPolicy.objects.filter(institution_id=institution_id).first()
    return found or InstitutionPolicy(institution_id=institution_id)


@dataclass(frozen=True)
class Risk:
    code: str  # inactive, failing, falling, missed, waitlisted
    text: str


def risks(
    snapshot: EnrolmentSnapshot, policy: InstitutionPolicy, pass_mark: Decimal, now: datetime
) -> list[Risk]:
    """Why this enrolment needs attention, in words; empty when it does not.  Only enrolments
    under way (or waiting) are judged: a finished run's result is final."""
    out: list[Risk] = []
    if snapshot.state == "waitlisted":
        if snapshot.waitlisted_since and now - snapshot.waitlisted_since >= timedelta(
            days=policy.waitlist_days
        ):
            days = (now - snapshot.waitlisted_since).days
            out.append(
                Risk(
                    "waitlisted",
                    ngettext("waitlisted for %(n)d day", "waitlisted for %(n)d days", days)
                    % {"n": days},
                )
            )
        return out
    if snapshot.state != "active" or snapshot.passed is not None:
        return out
    # Silent since the last activity, or since the run started for someone never active: a
    # run that has not started yet makes nobody inactive.
    last = snapshot.last_activity_at
    quiet_since = last if last is not None else snapshot.run.starts_at
    if now - quiet_since >= timedelta(days=policy.inactive_days):
        if last is None:
            out.append(Risk("inactive", _("no activity yet")))
        else:
            days = (now - last).days
            out.append(
                Risk(
                    "inactive",
                    ngettext("no activity for %(n)d day", "no activity for %(n)d days", days)
                    % {"n": days},
                )
            )
    if snapshot.grade is not None and snapshot.grade < pass_mark - policy.failing_margin:
        out.append(
            Risk(
                "failing",
                _("grade %(grade)s%% below the pass mark of %(mark)s%%")
                % {"grade": f"{snapshot.grade:.0f}", "mark": f"{pass_mark:.0f}"},
            )
        )
    if snapshot.grade_trend is not None and snapshot.grade_trend <= -policy.trend_drop:
        out.append(
            Risk(
                "falling",
                _("latest lab %(drop)s points below the earlier ones")
                % {"drop": f"{-snapshot.grade_trend:.0f}"},
            )
        )
    if snapshot.missed_deadlines >= policy.missed_deadlines:
        out.append(
            Risk(
                "missed",
                ngettext(
                    "%(n)d missed deadline", "%(n)d missed deadlines", snapshot.missed_deadlines
                )
                % {"n": snapshot.missed_deadlines},
            )
        )
    return out
