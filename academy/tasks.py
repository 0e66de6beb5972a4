"""Celery tasks of the people side: thin, idempotent, taking ids."""

from __future__ import annotations

import socket

from celery import shared_task
from celery.signals import worker_ready
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.translation import gettext as _

from .jobs import send
from .models import Invitation, WorkerHeartbeat
from .services import invitation_link


@shared_task(bind=True)
def heartbeat(self) -> str:  # type: ignore[no-untyped-def]
    name = getattr(self.request, "hostname", None) or socket.gethostname()
    WorkerHeartbeat.objects.update_or_create(worker=name, defaults={"seen_at": timezone.now()})
    return name


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(invitation_id: int) -> bool:
    invitation = Invitation.objects.select_related("institution").filter(pk=invitation_id).first()
    if invitation is None or not invitation.is_pending:
        return False
    send_mail(
        _("Your invitation to Academy"),
        # One wording whether or not the address has an account: accept or decline there.
        _(
            "%(institution)s invites you to Academy, the training platform of the AI factory.\n\n"
            "Accept or decline here (the link expires); if you have no account yet, you choose "
            "your password there:\n%(link)s\n"
        )
        % {"institution": invitation.institution.name, "link": invitation_link(invitation)},
        None,
        [invitation.email],
    )
    return True


@worker_ready.connect
def _announce(sender: object = None, **kwargs: object) -> None:
    """A worker that just started says so at once, instead of at beat's first heartbeat."""
    send("academy.tasks.heartbeat")
