"""Bulk enrolment from a CSV file (columns: email, first_name, last_name, cohort).

Three steps: ``bulk_upload_store`` checks the file and keeps it (one row per institution, run
and SHA-256 of the bytes); ``bulk_preview`` works out every line's outcome without changing
anything; ``bulk_apply`` carries out the lines that can be, in one transaction.  Outcomes are
worked out against the current state each time, so applying the same file again does nothing.

Consent: only the institution's own members (people who accepted its invitation) are enrolled
at once.  Anyone else, with an account or not, gets the institution's invitation and a
reservation that becomes an enrolment when they accept; the preview says the same for both, so
a file cannot be used to learn which addresses have accounts.

The run's rules: the admin's decision stands for the approval of their own members and for an
invite code, and the enrolment window does not bind them; ``bulk_overrides`` says so on the
preview.  The audience and the run's end still apply, and nobody bulk-enrols themselves into a
run that needs approval or a code.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import IO

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from academy import services as people
from academy.audit import audit
from academy.models import Institution, Role, User
from academy.selectors import can_manage_institution

from . import selectors
from .models import (
    OPEN_STATES,
    BulkUpload,
    CourseRun,
    Enrolment,
    EnrolmentPolicy,
    ReservedEnrolment,
)
from .services import _audience_allows, enrolment_admin_add, lock_run

COLUMNS = ("email", "first_name", "last_name", "cohort")
MAX_ROWS = 5000


class Outcome:
    INVITE = "invite"
    ALREADY_INVITED = "already_invited"
    ENROL = "enrol"
    WAITLIST = "waitlist"
    ALREADY_ENROLLED = "already_enrolled"
    BAD_EMAIL = "bad_email"
    UNKNOWN_COHORT = "unknown_cohort"
    DUPLICATE = "duplicate"
    NOT_ALLOWED = "not_allowed"
    SELF = "self"
    RUN_ENDED = "run_ended"


LABELS = {
    Outcome.INVITE: gettext_lazy(
        "Not a member of this institution yet: an invitation is sent; enrolled when they accept"
    ),
    Outcome.ALREADY_INVITED: gettext_lazy("Already invited to this run: nothing to do"),
    Outcome.ENROL: gettext_lazy("Member: enrolled"),
    Outcome.WAITLIST: gettext_lazy("Member, over capacity: waitlisted"),
    Outcome.ALREADY_ENROLLED: gettext_lazy("Already enrolled: nothing to do"),
    Outcome.BAD_EMAIL: gettext_lazy("Not a valid e-mail address"),
    Outcome.UNKNOWN_COHORT: gettext_lazy("Unknown cohort at this institution"),
    Outcome.DUPLICATE: gettext_lazy("Duplicate line: this e-mail appears earlier in the file"),
    Outcome.NOT_ALLOWED: gettext_lazy(
        "This run is not open to this person's institution or cohort"
    ),
    Outcome.SELF: gettext_lazy(
        "Your own address: nobody decides their own enrolment; ask the run's staff"
    ),
    Outcome.RUN_ENDED: gettext_lazy("The run has ended: nobody can be enrolled"),
}
ERRORS = {
    Outcome.BAD_EMAIL,
    Outcome.UNKNOWN_COHORT,
    Outcome.DUPLICATE,
    Outcome.NOT_ALLOWED,
    Outcome.SELF,
    Outcome.RUN_ENDED,
}
CHANGES = {Outcome.INVITE, Outcome.ENROL, Outcome.WAITLIST}


@dataclass
class Line:
    number: int  # line number in the file (the header is line 1)
    email: str
    first_name: str
    last_name: str
    cohort: str
    outcome: str = ""

    @property
    def label(self) -> str:
        return str(LABELS[self.outcome])

    @property
    def is_error(self) -> bool:
        return self.outcome in ERRORS

    @property
    def changes(self) -> bool:
        return self.outcome in CHANGES

    def as_dict(self) -> dict:
        return {**asdict(self), "label": self.label, "is_error": self.is_error}


def _max_bytes() -> int:
    return settings.COURSES_BULK_MAX_BYTES


def read_csv(file: IO[bytes], size: int | None = None) -> tuple[bytes, list[Line]]:
    """Check and parse an upload.  ValidationError with a clear message for a file that is
    too big, binary, not UTF-8, not CSV, or missing columns."""
    limit = _max_bytes()
    if size is not None and size > limit:
        raise ValidationError(
            _("The file is too big (%(size)s MB); the limit is %(limit)s MB.")
            % {"size": size // (1024 * 1024), "limit": limit // (1024 * 1024)}
        )
    data = file.read(limit + 1)
    if len(data) > limit:
        raise ValidationError(
            _("The file is too big; the limit is %(limit)s MB.") % {"limit": limit // (1024 * 1024)}
        )
    if not data.strip():
        raise ValidationError(_("The file is empty."))
    if b"\x00" in data[:8192]:
        raise ValidationError(
            _(
                "This is a binary file (a spreadsheet?), not CSV. Save it as "
                "“CSV UTF-8” and upload that."
            )
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(
            _("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.")
        ) from None
    first_line = text.splitlines()[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower().replace(" ", "_") for h in next(reader)]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ValidationError(
                _(
                    "Missing columns: %(missing)s. The first line must name the "
                    "columns email, first_name, last_name, cohort."
                )
                % {"missing": ", ".join(missing)}
            )
        index = {c: header.index(c) for c in COLUMNS}
        lines: list[Line] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(lines) >= MAX_ROWS:
                raise ValidationError(
                    _("Too many lines: at most %(n)s per file.") % {"n": MAX_ROWS}
                )
            cells = {c: (row[i].strip() if i < len(row) else "") for c, i in index.items()}
            lines.append(Line(number=reader.line_num, **cells))
    except csv.Error as exc:
        raise ValidationError(
            _("This is not a readable CSV file (%(error)s).") % {"error": exc}
        ) from None
    if not lines:
        raise ValidationError(_("The file has a header but no lines."))
    return data, lines


def bulk_upload_store(
    *,
    actor: User,
    institution: Institution,
    run: CourseRun,
    file: IO[bytes],
    size: int | None = None,
    filename: str = "",
) -> BulkUpload:
    """Check the file (nothing is stored when it is bad) and keep it for preview and apply."""
    if not can_manage_institution(actor, institution):
        raise PermissionDenied
    if not selectors.bulk_fill_runs(institution).filter(pk=run.pk).exists():
        raise ValidationError({"run": _("This institution may not bulk-enrol people in this run.")})
    data, _lines = read_csv(file, size)
    digest = hashlib.sha256(data).hexdigest()
    upload, _created = BulkUpload.objects.get_or_create(
        institution=institution,
        run=run,
        sha256=digest,
        defaults={
            "uploaded_by": actor,
            "filename": filename[:255],
            "content": data.decode("utf-8-sig"),
        },
    )
    return upload


def _day(when) -> str:  # type: ignore[no-untyped-def]
    return timezone.localtime(when).strftime("%Y-%m-%d")


def bulk_overrides(run: CourseRun, now: datetime | None = None) -> list[str]:
    """The run's rules a bulk enrolment sets aside, each with its reason (shown on the preview
    and in the API's preview)."""
    now = now or timezone.now()
    notes = []
    if run.ends_at >= now:
        if now < run.enrolment_opens_at:
            notes.append(
                _(
                    "Enrolment opens on %(date)s: as the institution's admin you may enrol your "
                    "own members before then."
                )
                % {"date": _day(run.enrolment_opens_at)}
            )
        elif now > run.enrolment_closes_at:
            notes.append(
                _(
                    "Enrolment closed on %(date)s: admins may still enrol their own members "
                    "until the run ends on %(end)s."
                )
                % {"date": _day(run.enrolment_closes_at), "end": _day(run.ends_at)}
            )
    if run.policy == EnrolmentPolicy.APPROVAL:
        notes.append(
            _(
                "This run needs approval: enrolling your own members is your approval as their "
                "institution's admin (never for yourself)."
            )
        )
    elif run.policy == EnrolmentPolicy.INVITE:
        notes.append(
            _(
                "This run is invite-only: your own members are enrolled without an invite code "
                "(never yourself)."
            )
        )
    return notes


def bulk_preview(*, upload: BulkUpload, actor: User) -> list[Line]:
    """Every line's outcome against the current state; changes nothing."""
    if not can_manage_institution(actor, upload.institution):
        raise PermissionDenied
    _data, lines = read_csv(io.BytesIO(upload.content.encode()))
    run = CourseRun.objects.get(pk=upload.run_id)  # fresh seat counters
    institution = upload.institution
    emails = {ln.email.lower() for ln in lines}
    # Only the institution's members are looked up: whether anyone else has an account never
    # shows (e-mail lookups are exact on the lower-cased address: accounts store lower case).
    members = {
        u.email.lower(): u
        for u in User.objects.filter(memberships__institution=institution, email__in=emails)
    }
    cohorts = {c.name.lower(): c for c in institution.cohorts.all()}
    enrolled = set(
        Enrolment.objects.filter(
            run=run, user__in=members.values(), state__in=OPEN_STATES
        ).values_list("user_id", flat=True)
    )
    reserved = set(
        ReservedEnrolment.objects.filter(
            run=run, institution=institution, email__in=emails
        ).values_list("email", flat=True)
    )
    seats = None if run.capacity is None else max(run.capacity - run.active_count, 0)
    rules = _Rules(
        run=run,
        institution=institution,
        own_email=(actor.email or "").lower(),
        ended=run.ends_at < timezone.now(),
    )
    seen: set[str] = set()  # e-mails of earlier lines without an error
    for line in lines:
        line.outcome, takes_seat = _decide(
            line, seen, seats, members, cohorts, enrolled, reserved, rules
        )
        if not line.is_error:
            seen.add(line.email.lower())
        if takes_seat and seats is not None:
            seats -= 1
    return lines


@dataclass
class _Rules:
    run: CourseRun
    institution: Institution
    own_email: str
    ended: bool


def _decide(line, seen, seats, members, cohorts, enrolled, reserved, rules):  # type: ignore[no-untyped-def]
    """One line's outcome, and whether it takes one of the free seats."""
    run, institution = rules.run, rules.institution
    email = line.email.lower()
    try:
        validate_email(email)
    except ValidationError:
        return Outcome.BAD_EMAIL, False
    if email in seen:
        return Outcome.DUPLICATE, False
    cohort = cohorts.get(line.cohort.lower()) if line.cohort else None
    if line.cohort and cohort is None:
        return Outcome.UNKNOWN_COHORT, False
    if rules.ended:
        return Outcome.RUN_ENDED, False
    user = members.get(email)
    if user is None:
        # Not a member (with an account or not: the same answer either way).
        if email in reserved:
            return Outcome.ALREADY_INVITED, False
        if not run.is_public and not _new_person_allowed(run, institution, cohort):
            return Outcome.NOT_ALLOWED, False
        return Outcome.INVITE, False
    if user.pk in enrolled:
        return Outcome.ALREADY_ENROLLED, False
    if email == rules.own_email and run.policy != EnrolmentPolicy.OPEN:
        return Outcome.SELF, False
    if not run.is_public and not (
        _new_person_allowed(run, institution, cohort) or _audience_allows(run, user, cohort)
    ):
        return Outcome.NOT_ALLOWED, False
    if seats is None or seats > 0:
        return Outcome.ENROL, True
    return Outcome.WAITLIST, False


def _new_person_allowed(run: CourseRun, institution: Institution, cohort) -> bool:  # type: ignore[no-untyped-def]
    if run.allowed_institutions.filter(pk=institution.pk).exists():
        return True
    return cohort is not None and run.allowed_cohorts.filter(pk=cohort.pk).exists()


def bulk_apply(*, upload: BulkUpload, actor: User) -> dict[str, int]:
    """Carry out the preview's changes; bad lines are skipped.  Idempotent."""
    if not can_manage_institution(actor, upload.institution):
        raise PermissionDenied
    institution = upload.institution
    counts: dict[str, int] = {}
    with transaction.atomic():
        lock_run(upload.run)  # the plan and its execution see the same seats
        lines = bulk_preview(upload=upload, actor=actor)
        cohorts = {c.name.lower(): c for c in institution.cohorts.all()}
        for line in lines:
            counts[line.outcome] = counts.get(line.outcome, 0) + 1
            if not line.changes:
                continue
            email = line.email.lower()
            cohort = cohorts.get(line.cohort.lower()) if line.cohort else None
            if line.outcome == Outcome.INVITE:
                people.membership_invite(
                    actor=actor,
                    institution=institution,
                    email=email,
                    role=Role.STUDENT,
                    cohort=cohort,
                    first_name=line.first_name,
                    last_name=line.last_name,
                )
                ReservedEnrolment.objects.get_or_create(
                    run=upload.run,
                    institution=institution,
                    email=email,
                    defaults={"cohort": cohort, "created_by": actor},
                )
                continue
            user = User.objects.get(memberships__institution=institution, email__iexact=email)
            if cohort is not None and not cohort.members.filter(pk=user.pk).exists():
                people.cohort_add_member(actor=actor, cohort=cohort, user=user)
            enrolment_admin_add(run=upload.run, user=user, actor=actor, cohort=cohort)
        upload.applied_at = timezone.now()
        upload.save(update_fields=["applied_at"])
        audit(
            actor,
            "bulk_enrolment.apply",
            upload.run,
            institution=institution,
            sha256=upload.sha256,
            counts=counts,
        )
    return counts
