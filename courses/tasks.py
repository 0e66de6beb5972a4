"""Celery tasks of the course side: thin, taking ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.core.mail import send_mail
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import Enrolment, EnrolmentState

SUBJECTS = {
    EnrolmentState.ACTIVE: gettext_lazy("You are enrolled in %(run)s"),
    "promoted": gettext_lazy("A seat is yours: you are enrolled in %(run)s"),
    EnrolmentState.WAITLISTED: gettext_lazy("You are on the waitlist of %(run)s"),
    EnrolmentState.PENDING: gettext_lazy("Your request to join %(run)s awaits approval"),
    "rejected": gettext_lazy("Your request to join %(run)s was declined"),
    "removed": gettext_lazy("You were removed from %(run)s"),
    "withdrawn": gettext_lazy("You have left %(run)s"),
}
# The state an event is about: a stale event (the state has moved on) sends nothing.
EXPECTED_STATE = {
    "promoted": EnrolmentState.ACTIVE,
    "rejected": EnrolmentState.REJECTED,
    "removed": EnrolmentState.WITHDRAWN,
    "withdrawn": EnrolmentState.WITHDRAWN,
}


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_enrolment_email(enrolment_id: int, event: str) -> bool:
    enrolment = (
        Enrolment.objects.select_related("run__course", "user").filter(pk=enrolment_id).first()
    )
    if enrolment is None or event not in SUBJECTS or not enrolment.user.email:
        return False
    if enrolment.state != EXPECTED_STATE.get(event, event):
        return False
    run = f"{enrolment.run.course.title} ({enrolment.run.title})"
    body = SUBJECTS[event] % {"run": run}
    if enrolment.reason:
        body += "\n\n" + _("Reason: %(reason)s") % {"reason": enrolment.reason}
    send_mail(SUBJECTS[event] % {"run": run}, body + "\n", None, [enrolment.user.email])
    return True
