"""Issued credentials, the status lists that revoke or suspend them, and bulk issuing jobs.

A credential is signed once, when it is issued, and its JSON is kept exactly as signed: what
the holder downloads is byte for byte what the proof covers.  Revocation and suspension never
touch it: they flip the credential's bit in a W3C Bitstring Status List, which verifiers fetch.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from academy.models import Institution
from courses.models import CourseRun
from programmes.models import Completion, Programme

# Bits in one status list: the specification's minimum (16 KiB), which hides who was revoked
# among many.  A list is filled to half at most, at random positions (``services``).
STATUS_LIST_SIZE = 131_072


class CredentialKind(models.TextChoices):
    COURSE = "course", _("Course")
    PROGRAMME = "programme", _("Programme")


class StatusPurpose(models.TextChoices):
    REVOCATION = "revocation", _("Revocation")
    SUSPENSION = "suspension", _("Suspension")


class CredentialQuerySet(models.QuerySet["Credential"]):
    def valid(self) -> CredentialQuerySet:
        return self.filter(revoked_at__isnull=True, suspended_at__isnull=True)


class Credential(models.Model):
    """An Open Badges 3.0 credential issued to a person for a passed run or a programme."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credentials"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=CredentialKind.choices)
    run = models.ForeignKey(
        CourseRun, null=True, blank=True, on_delete=models.PROTECT, related_name="credentials"
    )
    completion = models.OneToOneField(
        Completion, null=True, blank=True, on_delete=models.PROTECT, related_name="credential"
    )
    programme = models.ForeignKey(
        Programme, null=True, blank=True, on_delete=models.PROTECT, related_name="credentials"
    )
    # The co-issuing institution (a programme's owner); its admins see and manage it.
    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(_("achievement"), max_length=300)
    title_sr = models.CharField(_("achievement in Serbian (Cyrillic)"), max_length=300, blank=True)
    document = models.JSONField(_("signed credential"))
    key_id = models.CharField(max_length=300)
    issued_at = models.DateTimeField(_("issued"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job = models.ForeignKey(
        "IssuanceJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="credentials"
    )
    status_list = models.PositiveIntegerField(default=1)
    status_index = models.PositiveIntegerField()
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revocation_reason = models.CharField(_("reason for revocation"), max_length=500, blank=True)
    suspended_at = models.DateTimeField(_("suspended"), null=True, blank=True)
    suspended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    suspension_reason = models.CharField(_("reason for suspension"), max_length=500, blank=True)

    objects = CredentialQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "run"],
                condition=models.Q(run__isnull=False),
                name="credential_one_per_run",
            ),
            models.UniqueConstraint(
                fields=["status_list", "status_index"], name="credential_status_slot"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="course", run__isnull=False, completion__isnull=True)
                    | models.Q(kind="programme", run__isnull=True, completion__isnull=False)
                ),
                name="credential_source_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["institution", "-issued_at"])]

    def __str__(self) -> str:
        return f"{self.title}: {self.user}"

    @property
    def state(self) -> str:
        """revoked, suspended or valid (expiry is the verifier's to judge, against a clock)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.suspended_at is not None:
            return "suspended"
        return "valid"


class StatusList(models.Model):
    """One published Bitstring Status List credential (list number and purpose), re-signed
    whenever a bit in it changes.  The bits are derived from the credentials' rows, so the
    published list can always be rebuilt from them."""

    number = models.PositiveIntegerField()
    purpose = models.CharField(max_length=20, choices=StatusPurpose.choices)
    document = models.JSONField(default=dict)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number", "purpose"]
        constraints = [
            models.UniqueConstraint(fields=["number", "purpose"], name="statuslist_unique"),
        ]

    def __str__(self) -> str:
        return f"status list {self.number} ({self.purpose})"


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class IssuanceJob(models.Model):
    """Issuing for everyone who passed a run, or completed a programme, in the background.
    Idempotent: a person who already holds the credential is counted as skipped."""

    kind = models.CharField(max_length=20, choices=CredentialKind.choices)
    run = models.ForeignKey(
        CourseRun, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    programme = models.ForeignKey(
        Programme, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    issued = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    ineligible = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="course", run__isnull=False, programme__isnull=True)
                    | models.Q(kind="programme", run__isnull=True, programme__isnull=False)
                ),
                name="issuancejob_source_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"issuing for {self.run or self.programme} ({self.status})"

    @property
    def percent(self) -> int:
        return round(100 * self.processed / self.total) if self.total else 100
