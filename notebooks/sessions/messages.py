"""Slurm's pending reasons, in the words notebooks/clients/slurm.py gives them (that client
has no Django inside): listed here so that they enter the translation catalogue.  The session
card shows a stored reason with ``{% translate %}``."""

from django.utils.translation import gettext_noop

SLURM_REASONS = [
    gettext_noop("Waiting for free GPUs/CPUs: all matching resources are in use."),
    gettext_noop("Waiting in the queue: jobs with higher priority are ahead of yours."),
    gettext_noop("Waiting for another job to finish."),
    gettext_noop("Scheduled to start later."),
    gettext_noop("Held by the user."),
    gettext_noop("Held by an administrator."),
    gettext_noop("The partition is down for maintenance."),
    gettext_noop("The partition is not accepting jobs right now."),
    gettext_noop("The requested run time is longer than the partition allows."),
    gettext_noop("The job asks for more nodes than the partition allows."),
    gettext_noop("Waiting for a reservation to start."),
    gettext_noop("The nodes it needs are not available (maintenance or reserved)."),
    gettext_noop("A node it needs is down."),
    gettext_noop("The requested resources can never be satisfied."),
    gettext_noop("Your cluster account is not valid; contact support."),
    gettext_noop("Your quality of service is not valid; contact support."),
    gettext_noop("Waiting for software licences."),
    gettext_noop("The job failed to start and is held; contact support."),
    gettext_noop("Your course has used its GPU-time budget."),
    gettext_noop("Your course's running jobs have reached the GPU-time limit."),
    gettext_noop("Your course is already using all GPUs it may use at once."),
    gettext_noop("Your course has used its CPU-time budget."),
    gettext_noop("Your course has used its compute budget."),
    gettext_noop("Your course has as many running jobs as allowed."),
    gettext_noop("You have as many running jobs as allowed."),
    gettext_noop("Your course has reached a resource limit."),
    gettext_noop("You have reached a resource limit."),
    gettext_noop("The GPU-time budget of your service level is used up."),
    gettext_noop("You are already using all GPUs you may use at once."),
    gettext_noop("The requested run time is longer than allowed."),
    gettext_noop("Waiting for a limit of your service level (QOS)."),
    gettext_noop("Waiting for a reservation."),
]
