"""The grading queue (issue 15): a deadline rush graded fairly, with nothing lost.

The queue is a table, ``GradingTicket``: one row per grading to do, written in the same
transaction as the submission (or the regrade) that asks for it, so the database is the source
of truth and a broker that loses a message loses no work.  Celery messages (the task
``notebooks.tasks.grade_submission``) are not bound to a submission: the one they name is only the
ticket that caused them; each asks a worker to *claim* the fairest ticket at the moment it has a
free process, so nothing is decided earlier than needed.

Fairness: each lab is a *lane*.  A claim serves the course run served least recently (among the
runs with work waiting), within it the lab served least recently, and within that lab the
oldest ticket (new submissions before a whole lab's regrade).  One lab's rush of 2,000 tickets
therefore alternates with another lab's ten instead of making them wait for the 2,000.

Robustness (delivery is at least once; a worker may die at any moment):

- A claim writes the message's id into the ticket (``claim_token``).  The same message
  delivered again (the worker died, or the task retries after an infrastructure failure)
  continues its own ticket; a message whose ticket is finished does nothing.
- A claimed ticket holds a lease (``GRADING_LEASE_SECONDS``); after it any message may take it
  over.  Grading twice is harmless: a grading run records one result (``services``).
- The beat task ``sweep`` sends messages again when tickets wait while the queue stands still
  and the broker holds fewer messages than tickets (a broker that lost its data, a message that
  could not be sent at submission time).

Supersession: when a student submits again while an earlier submission of theirs still waits
in the queue, that earlier ticket is skipped and its submission marked "superseded" (a per-lab
setting, ``Lab.skip_superseded``, on by default): each student's latest submission is graded.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, Max, Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from academy.jobs import enqueue

from .models import (
    GradingTicket,
    Lab,
    LabRegrade,
    LabRegradeState,
    Submission,
    SubmissionStatus,
    TicketKind,
    TicketState,
)

log = logging.getLogger(__name__)

# Sent after commit, by name (academy.jobs): this module never imports the tasks module.
GRADE_TASK = "notebooks.tasks.grade_submission"

# Lanes not served for this long count as never served (and the look-up stays short).
LAST_SERVED_HORIZON = timedelta(hours=6)
# Recent gradings the estimate averages.
ESTIMATE_SAMPLE = 50

PRIORITY_NEW = 0
PRIORITY_LAB_REGRADE = 1


# -------------------------------------------------------------------------------- writes


def ticket_create(
    *,
    submission: Submission,
    kind: str,
    number: int | None = None,
    priority: int = PRIORITY_NEW,
    regrade: LabRegrade | None = None,
) -> GradingTicket:
    """Queue one grading of ``submission`` (inside the caller's transaction).  The caller sends
    the message asking a worker to claim it, after commit (``services``)."""
    now = timezone.now()
    ticket = GradingTicket.objects.create(
        submission=submission,
        lab_id=submission.lab_id,
        run_id=submission.lab.run_id,
        kind=kind,
        number=number,
        priority=priority,
        regrade=regrade,
        queued_at=now,
        token_sent_at=now,
    )
    return ticket


def message_args(ticket: GradingTicket) -> tuple[int, int]:
    """What a message caused by ``ticket`` names: its submission and the grading run it will
    produce (for a regrade not claimed yet, the next number), for the logs and for callers
    that follow one grading."""
    number = ticket.number
    if number is None:
        number = ticket.submission.grading_number + 1
    return (ticket.submission_id, number)


def supersede_queued(*, lab: Lab, student_id: int, newer: Submission) -> list[int]:
    """Skip the student's earlier submissions to ``lab`` still waiting in the queue (the
    caller holds the lab's lock and has just created ``newer``).  A ticket a worker has
    already claimed is left to finish.  Returns the superseded submissions' ids."""
    if not lab.skip_superseded:
        return []
    now = timezone.now()
    # Waits for a claim under way on these rows; the state is read again after it.
    tickets = list(
        GradingTicket.objects.select_for_update()
        .filter(
            lab=lab,
            submission__student_id=student_id,
            kind=TicketKind.SUBMISSION,
            state=TicketState.QUEUED,
        )
        .exclude(submission=newer)
    )
    ids = [t.submission_id for t in tickets]
    if not ids:
        return []
    GradingTicket.objects.filter(pk__in=[t.pk for t in tickets]).update(
        state=TicketState.SUPERSEDED,
        finished_at=now,
        note=f"attempt {newer.attempt} replaced it",
    )
    Submission.objects.filter(pk__in=ids, status=SubmissionStatus.QUEUED).update(
        status=SubmissionStatus.SUPERSEDED,
        reason=(
            _("Not graded: your attempt %(n)d replaced it before grading started.")
            % {"n": newer.attempt}
        )[:500],
        updated_at=now,
    )
    return ids


def _claimable(now: datetime) -> QuerySet[GradingTicket]:
    return GradingTicket.objects.filter(
        Q(state=TicketState.QUEUED) | Q(state=TicketState.RUNNING, lease_until__lt=now)
    )


@dataclass
class Lane:
    lab_id: int
    run_id: int
    count: int
    first_queued: datetime
    last_served: datetime | None

    @property
    def key(self) -> tuple[datetime, datetime, int]:
        return (self.last_served or _EPOCH, self.first_queued, self.lab_id)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def lanes(now: datetime) -> list[Lane]:
    """The lanes with work waiting, with when each was last served: two queries."""
    rows = list(
        _claimable(now)
        .values("lab_id", "run_id")
        .annotate(count=Count("id"), first=Min("queued_at"))
        .order_by()
    )
    if not rows:
        return []
    last = dict(
        GradingTicket.objects.filter(
            lab_id__in=[r["lab_id"] for r in rows], claimed_at__gte=now - LAST_SERVED_HORIZON
        )
        .values("lab_id")
        .annotate(last=Max("claimed_at"))
        .order_by()
        .values_list("lab_id", "last")
    )
    return [
        Lane(r["lab_id"], r["run_id"], r["count"], r["first"], last.get(r["lab_id"])) for r in rows
    ]


def _run_keys(all_lanes: Iterable[Lane]) -> dict[int, tuple[datetime, datetime, int]]:
    """A run's place in the rotation: when any of its labs was last served, then its oldest
    waiting ticket."""
    served: dict[int, datetime] = {}
    first: dict[int, datetime] = {}
    for lane in all_lanes:
        served[lane.run_id] = max(served.get(lane.run_id, _EPOCH), lane.last_served or _EPOCH)
        first[lane.run_id] = min(first.get(lane.run_id, lane.first_queued), lane.first_queued)
    return {run: (served[run], first[run], run) for run in served}


def fair_order(all_lanes: list[Lane]) -> list[Lane]:
    """Lanes in the order the next claims serve them: the run served least recently first,
    and within a run the lab served least recently."""
    runs = _run_keys(all_lanes)
    return sorted(all_lanes, key=lambda lane: (runs[lane.run_id], lane.key))


def claim(*, token: str, worker: str = "") -> GradingTicket | None:
    """The ticket this message should grade: its own (a redelivery or a retry of the same
    message), else the fairest claimable one; None when the message has nothing to do."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.GRADING_LEASE_SECONDS)
    if token:
        own = GradingTicket.objects.filter(claim_token=token).order_by("-claimed_at").first()
        if own is not None:
            if own.state != TicketState.RUNNING:
                return None  # this message's work is done: a late redelivery
            with transaction.atomic():
                GradingTicket.objects.filter(pk=own.pk).update(
                    lease_until=lease, claims=F("claims") + 1, worker=worker[:200]
                )
            own.refresh_from_db()
            return own
    for _attempt in range(5):  # another worker may take the ticket looked at: look again
        order = fair_order(lanes(now))
        if not order:
            return None
        for lane in order:
            ticket = _claim_in_lane(lane.lab_id, token=token, worker=worker, now=now, lease=lease)
            if ticket is not None:
                return ticket
    return None


def _claim_in_lane(
    lab_id: int, *, token: str, worker: str, now: datetime, lease: datetime
) -> GradingTicket | None:
    with transaction.atomic():
        ticket = (
            _claimable(now)
            .filter(lab_id=lab_id)
            .order_by("priority", "queued_at", "id")
            .select_for_update(skip_locked=True)
            .first()
        )
        if ticket is None:
            return None
        if ticket.kind == TicketKind.REGRADE and ticket.number is None:
            # A regrade draws its grading run's number only now: until a worker takes it the
            # submission is untouched, so a cancelled regrade leaves the earlier result.
            sub = Submission.objects.select_for_update().filter(pk=ticket.submission_id).first()
            if sub is None:
                ticket.state, ticket.finished_at = TicketState.CANCELLED, now
                ticket.save(update_fields=["state", "finished_at"])
                return None
            sub.grading_number += 1
            Submission.objects.filter(pk=sub.pk).update(grading_number=sub.grading_number)
            ticket.number = sub.grading_number
        ticket.state = TicketState.RUNNING
        ticket.claimed_at = now
        ticket.lease_until = lease
        ticket.claim_token = token[:64]
        ticket.claims += 1
        ticket.worker = worker[:200]
        ticket.save(
            update_fields=[
                "state",
                "claimed_at",
                "lease_until",
                "claim_token",
                "claims",
                "worker",
                "number",
            ]
        )
    return ticket


def finish(*, ticket_id: int, state: str, on_cluster: bool = False, note: str = "") -> None:
    """The ticket's grading is recorded (or handed to the cluster, or failed for good)."""
    now = timezone.now()
    with transaction.atomic():
        ticket = GradingTicket.objects.filter(pk=ticket_id).first()
        if ticket is None:
            return
        GradingTicket.objects.filter(pk=ticket_id, state=TicketState.RUNNING).update(
            state=state, finished_at=now, on_cluster=on_cluster, note=note[:300]
        )
        if ticket.regrade_id is not None:
            regrade_settle(ticket.regrade_id)


def regrade_settle(regrade_id: int) -> None:
    """A running regrade with no ticket left open is done."""
    if not GradingTicket.objects.filter(
        regrade_id=regrade_id, state__in=[TicketState.QUEUED, TicketState.RUNNING]
    ).exists():
        LabRegrade.objects.filter(pk=regrade_id, state=LabRegradeState.RUNNING).update(
            state=LabRegradeState.DONE, finished_at=timezone.now()
        )


# -------------------------------------------------------------------- the sweep (beat task)


def sweep(*, waiting_messages: int | None) -> int:
    """Send messages again when work waits but the queue has stood still for
    ``GRADING_QUEUE_STALL_SECONDS`` and the broker holds fewer messages than claimable tickets
    (``waiting_messages``; None when the broker cannot say).  Returns the messages sent."""
    now = timezone.now()
    stall = timedelta(seconds=settings.GRADING_QUEUE_STALL_SECONDS)
    claimable = _claimable(now)
    count = claimable.count()
    if not count:
        return 0
    moved = GradingTicket.objects.filter(
        Q(claimed_at__gte=now - stall) | Q(finished_at__gte=now - stall)
    ).exists()
    if moved:
        return 0
    missing = count - (waiting_messages or 0)
    if missing <= 0:
        return 0
    tickets = list(
        claimable.filter(Q(token_sent_at__isnull=True) | Q(token_sent_at__lt=now - stall))
        .select_related("submission")
        .order_by("priority", "queued_at", "id")[:missing]
    )
    if tickets:
        log.warning("grading queue stood still: %d messages sent again", len(tickets))
        GradingTicket.objects.filter(pk__in=[t.pk for t in tickets]).update(token_sent_at=now)
        for ticket in tickets:
            enqueue(GRADE_TASK, *message_args(ticket))
    return len(tickets)


# ------------------------------------------------------------------- places in the queue


@dataclass(frozen=True)
class Snapshot:
    """What every place in the queue is computed from, read at most every
    ``GRADING_QUEUE_SNAPSHOT_SECONDS`` (a rush's 500 students poll their cards)."""

    lanes: tuple[Lane, ...]
    running: int  # tickets workers hold now: the parallelism of the estimate
    mean_seconds: float | None  # recent gradings, claim to result


@dataclass(frozen=True)
class QueuePlace:
    position: int  # 1: the next ticket a worker claims
    ahead: int
    estimate_seconds: int | None  # until the score, roughly

    @property
    def estimate_minutes(self) -> int | None:
        if self.estimate_seconds is None:
            return None
        return max(1, math.ceil(self.estimate_seconds / 60))


def snapshot() -> Snapshot:
    cached = cache.get("notebooks.queue.snapshot")
    if isinstance(cached, Snapshot):
        return cached
    now = timezone.now()
    recent = list(
        GradingTicket.objects.filter(
            state=TicketState.DONE, on_cluster=False, finished_at__isnull=False
        )
        .exclude(claimed_at=None)
        .order_by("-finished_at")
        .values_list("claimed_at", "finished_at")[:ESTIMATE_SAMPLE]
    )
    durations = [(end - start).total_seconds() for start, end in recent if start and end]
    snap = Snapshot(
        lanes=tuple(lanes(now)),
        running=GradingTicket.objects.filter(
            state=TicketState.RUNNING, lease_until__gte=now
        ).count(),
        mean_seconds=(sum(durations) / len(durations)) if durations else None,
    )
    cache.set("notebooks.queue.snapshot", snap, settings.GRADING_QUEUE_SNAPSHOT_SECONDS)
    return snap


def position_in(all_lanes: Iterable[Lane], lab_id: int, rank: int) -> int:
    """The 1-based place of the ticket ``rank`` tickets behind the head of lab ``lab_id``'s
    lane, when claims serve the lanes as ``claim`` does (runs in turn, labs in turn within a
    run) and nothing new arrives: the lane is served ``rank`` times before it, every other
    lane as often or once more if its turn comes first, never more than it holds."""
    ordered = fair_order(list(all_lanes))
    mine = next((lane for lane in ordered if lane.lab_id == lab_id), None)
    if mine is None:
        return rank + 1
    runs = _run_keys(ordered)
    # Within the run: turns of the run before this ticket's.
    turns = rank
    for lane in ordered:
        if lane.run_id == mine.run_id and lane.lab_id != lab_id:
            turns += min(lane.count, rank + (1 if lane.key < mine.key else 0))
    totals: dict[int, int] = defaultdict(int)
    for lane in ordered:
        totals[lane.run_id] += lane.count
    ahead = turns
    for run_id, total in totals.items():
        if run_id != mine.run_id:
            ahead += min(total, turns + (1 if runs[run_id] < runs[mine.run_id] else 0))
    return ahead + 1


def places(submission_ids: Iterable[int]) -> dict[int, QueuePlace]:
    """Each queued submission's place in the queue and an estimate of the wait until its
    score: {submission id: QueuePlace}, for those with a ticket waiting.  A constant number of
    queries: the waiting tickets of these submissions, their rank in their lanes, and the
    snapshot (cached)."""
    ids = list(submission_ids)
    if not ids:
        return {}
    now = timezone.now()
    tickets = list(
        _claimable(now)
        .filter(submission_id__in=ids)
        .order_by("priority", "queued_at", "id")
        .values("id", "submission_id", "lab_id", "priority", "queued_at")
    )
    if not tickets:
        return {}
    snap = snapshot()
    ranks = _ranks(tickets, now)
    out: dict[int, QueuePlace] = {}
    parallel = max(1, snap.running)
    for t in tickets:
        if t["submission_id"] in out or t["id"] not in ranks:
            continue
        position = position_in(snap.lanes, t["lab_id"], ranks[t["id"]])
        estimate = None
        if snap.mean_seconds is not None:
            estimate = int(math.ceil(position / parallel) * snap.mean_seconds)
        out[t["submission_id"]] = QueuePlace(position, position - 1, estimate)
    return out


# A few tickets (a student's card) are ranked with a count each; more (the staff's list of a
# lab) with one read of their lanes.
_FEW = 3


def _ranks(tickets: list[Any], now: datetime) -> dict[int, int]:
    """{ticket id: claimable tickets of its lab a claim takes before it}."""
    if len(tickets) <= _FEW:
        return {
            t["id"]: _claimable(now)
            .filter(lab_id=t["lab_id"])
            .filter(
                Q(priority__lt=t["priority"])
                | Q(priority=t["priority"], queued_at__lt=t["queued_at"])
                | Q(priority=t["priority"], queued_at=t["queued_at"], id__lt=t["id"])
            )
            .count()
            for t in tickets
        }
    wanted = {t["id"] for t in tickets}
    seen: dict[int, int] = defaultdict(int)
    ranks = {}
    for pk, lab_id in (
        _claimable(now)
        .filter(lab_id__in={t["lab_id"] for t in tickets})
        .order_by("priority", "queued_at", "id")
        .values_list("id", "lab_id")
    ):
        if pk in wanted:
            ranks[pk] = seen[lab_id]
        seen[lab_id] += 1
    return ranks
