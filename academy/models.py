"""The people side: users, institutions, cohorts, memberships with roles, invitations, audit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Hub user names are cluster logins: lower-case POSIX account names.
cluster_login_validator = RegexValidator(
    r"^[a-z_][a-z0-9_-]{0,31}$",
    _("Use 1-32 lower-case letters, digits, '_' or '-', starting with a letter or '_'."),
)


class User(AbstractUser):
    """A person. ``username`` is also the cluster login used on JupyterHub and Slurm."""

    username = models.CharField(
        _("cluster login"), max_length=32, unique=True, validators=[cluster_login_validator]
    )
    email = models.EmailField(_("e-mail address"), unique=True)
    preferred_language = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["last_name", "first_name", "username"]

    @property
    def is_operator(self) -> bool:
        return self.is_staff

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Institution(models.Model):
    class Kind(models.TextChoices):
        UNIVERSITY = "university", _("University")
        PUBLIC_BODY = "public_body", _("Public body")
        COMPANY = "company", _("Company")
        RESEARCH = "research", _("Research institute")

    name = models.CharField(_("name"), max_length=200, unique=True)
    slug = models.SlugField(unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Cohort(models.Model):
    """An institution's group of trainees: a programme's intake."""

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="cohorts")
    name = models.CharField(_("name"), max_length=200)
    programme = models.CharField(_("programme"), max_length=200, blank=True)
    intake_year = models.PositiveSmallIntegerField(_("intake year"))
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="cohorts", blank=True)

    class Meta:
        ordering = ["institution__name", "-intake_year", "name"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "name"], name="cohort_unique_name"),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(starts_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="cohort_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.intake_year})"


class Role(models.TextChoices):
    STUDENT = "student", _("Student")
    INSTRUCTOR = "instructor", _("Instructor")
    ADMIN = "admin", _("Institution admin")


class Membership(models.Model):
    """A person's role at an institution. One role per person and institution.

    A row exists only with the person's consent: it is created when they accept an invitation
    (``services.invitation_accept``), or by an operator.  An institution admin's rights over a
    person (enrolments, submissions, grades, approvals) all come from these rows, so an admin
    can never give themselves those rights over someone by naming their address."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["institution__name", "user__last_name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "institution"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.institution}: {self.get_role_display()}"


class Invitation(models.Model):
    """An admin's invitation by e-mail; accepted (or declined) through a signed, expiring link
    by the owner of the address: a new account is created on acceptance, an existing account
    must be signed in.  Only acceptance creates the membership."""

    email = models.EmailField()
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.STUDENT)
    cohort = models.ForeignKey(Cohort, null=True, blank=True, on_delete=models.SET_NULL)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="invitations"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["email", "institution"])]

    def __str__(self) -> str:
        return f"{self.email} -> {self.institution}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.declined_at is None


class AuditQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("The audit log is append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("The audit log is append-only.")


class AuditEvent(models.Model):
    """Append-only: who did what, on what, when and from where."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_repr = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=80, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["institution", "-created_at"])]

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_repr} {self.action} {self.target_repr}"
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("The audit log is append-only.")


class WorkerHeartbeat(models.Model):
    """Written by a periodic task: proves that a worker takes jobs off the broker."""

    worker = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker} at {self.seen_at:%H:%M:%S}"
