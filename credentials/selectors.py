"""Reads of credentials, scoped to the acting user.

Who sees what:
- anyone, without signing in: one credential by its unguessable id (its public page, the link
  the holder shares), the issuer's DID document and the status lists;
- a person: their own credentials;
- operators: all; a run's staff: those of the runs they teach; a programme's managers: those
  of their programme; institution admins: those of their (accepted) members and those their
  institution co-issued.
Revoking or suspending: operators, a run's authors (instructors, editing assistants), a
programme's managers (which includes the owning institution's admins).
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import Q, QuerySet

from academy.models import User
from academy.selectors import admin_institution_ids, is_operator
from courses.models import CourseRun
from courses.selectors import can_author_run, staff_run_ids
from programmes.models import Programme
from programmes.selectors import can_manage_programme, managed_programmes

from .models import Credential, IssuanceJob


def can_issue_for_run(user: User, run: CourseRun) -> bool:
    return can_author_run(user, run)


def can_issue_for_programme(user: User, programme: Programme) -> bool:
    return can_manage_programme(user, programme)


def can_manage_credential(user: User, credential: Credential) -> bool:
    if not user.is_authenticated:
        return False
    if is_operator(user):
        return True
    if credential.run_id is not None:
        return can_author_run(user, credential.run_id)
    return credential.programme is not None and can_manage_programme(user, credential.programme)


def credentials_for(user: User) -> QuerySet[Credential]:
    qs = Credential.objects.select_related("user", "run__course", "programme", "institution")
    if is_operator(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    scope = Q(user=user) | Q(run_id__in=staff_run_ids(user))
    scope |= Q(programme__in=managed_programmes(user).values("pk"))
    admin_of = admin_institution_ids(user)
    if admin_of:
        scope |= Q(institution_id__in=admin_of)
        scope |= Q(user__memberships__institution_id__in=admin_of)
        return qs.filter(scope).distinct()
    return qs.filter(scope)


def own_credentials(user: User) -> QuerySet[Credential]:
    return Credential.objects.filter(user=user).select_related("run__course", "programme")


def public_credential(uuid: UUID | str) -> Credential:
    """A credential by its public id (raises Credential.DoesNotExist for anything else)."""
    return Credential.objects.select_related("user", "run__course", "programme").get(uuid=uuid)


def jobs_for(user: User) -> QuerySet[IssuanceJob]:
    qs = IssuanceJob.objects.select_related("run__course", "programme", "created_by")
    if is_operator(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    return qs.filter(
        Q(created_by=user)
        | Q(run_id__in=staff_run_ids(user))
        | Q(programme__in=managed_programmes(user).values("pk"))
    )
