"""Celery tasks of the people side: thin, idempotent, taking ids."""

from __future__ import annotations

import socket

from celery import shared_task
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Invitation, WorkerHeartbeat


@shared_task(bind=True)
def heartbeat(self) -> str:  # type: ignore[no-untyped-def]
    name = getattr(self.request, "hostname", None) or socket.gethostname()
    WorkerHeartbeat.objects.update_or_create(worker=name, defaults={"seen_at": timezone.now()})
    return name


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(invitation_id: int) -> bool:
    from .services import invitation_link

    invitation = Invitation.objects.select_related("institution").filter(pk=invitation_id).first()
    if invitation is None or invitation.accepted_at is not None:
        return False
    send_mail(
        _("Your invitation to Academy"),
        _(
            "%(institution)s invites you to Academy, the training platform of the AI factory.\n\n"
            "Set your password here (the link expires):\n%(link)s\n"
        )
        % {"institution": invitation.institution.name, "link": invitation_link(invitation)},
        None,
        [invitation.email],
    )
    return True
