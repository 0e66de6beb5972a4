"""Writes of the tracking side: events, roll-ups, snapshots, thresholds, digest preferences.

Recording is one INSERT per event (the attribution is one small read).  Everything else is
background work, idempotent: the roll-up rebuilds the daily rows of the days its new events
touch; a snapshot is recomputed from the results whenever asked.

- ``roll_up`` (every 5 minutes), ``rebuild_rollups``, ``purge_events`` (daily);
- ``refresh_enrolments(ids)`` (a constant number of queries per batch), ``refresh_all``
  (nightly: runs under way or ended in the last 30 days), ``refresh_everything``;
- ``refresh_after_commit``: what the receivers call; ONE refresh task per transaction;
- ``summarise`` / ``rebuild_summaries``: the per-cohort sums the dashboard reads
  (``CohortSummary``), recomputed for the (institution, run) pairs whose snapshots the two
  writers above (the refresh and the roll-up) just wrote, in the same transaction.

Lock order: every writer of snapshots and summaries first locks the roll-up cursor row, so that
a summary is always computed after every other writer's snapshots have committed (and no two
writers wait on each other's rows).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from academy.jobs import send
from academy.models import Membership, User
from courses.models import (
    SEAT_STATES,
    CourseRun,
    Enrolment,
    EnrolmentState,
    Lesson,
    LessonCompletion,
)
from notebooks.models import Lab, SubmissionStatus
from notebooks.selectors import (
    GradebookCell,
    enrolment_passed,
    extended_due_dates,
    lab_cell,
    labs_by_run,
    latest_submissions,
    run_grade,
)
from notebooks.sessions.models import GpuUsage

from . import rules
from .models import (
    CohortSummary,
    DailyActivity,
    EnrolmentSnapshot,
    EventKind,
    LearningEvent,
    RollupCursor,
)

REFRESH_TASK = "tracking.tasks.refresh_enrolments"
SUMMARISE_TASK = "tracking.tasks.summarise"
SNAPSHOT_BATCH = 500  # enrolments per batch of a snapshot refresh (a constant number of queries)
ROLLUP_SLICE = 50_000  # event ids folded per transaction of the roll-up
ROLLUP_USERS = 1_000  # people per recompute query of one day
# The roll-up task leaves the newest events for its next run: an event whose transaction has
# not committed yet may hold a lower id than one already visible, and the cursor moves by id.
ROLLUP_SETTLE_SECONDS = 120
REFRESH_RECENT_DAYS = 30  # the nightly refresh: runs not ended longer ago than this
CURSOR_PK = 1
TWO_PLACES = Decimal("0.01")


def record_event(*, user: User, kind: str, run: CourseRun, object_id: int | None = None) -> None:
    cohort_institution = (
        Enrolment.objects.filter(run=run, user=user)
        .filter(~Q(cohort=None))
        .values_list("cohort__institution_id", flat=True)
        .first()
    )
    LearningEvent.objects.create(
        kind=kind,
        user=user,
        run=run,
        institution_id=rules.attribute(user.pk, cohort_institution),
        object_id=object_id,
    )


# ---------------------------------------------------------------------------- roll-up


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _day_start(day: date) -> datetime:
    """The instant a local day (``settings.TIME_ZONE``) begins."""
    return datetime.combine(day, time.min, tzinfo=_zone())


def _batches(items: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def roll_up(*, settle_seconds: int = 0, slice_size: int = ROLLUP_SLICE) -> int:
    """Fold the events after ``RollupCursor.last_event_id`` into ``DailyActivity``; returns how
    many daily rows were written.

    The (day, person, run, institution) keys the new events touch are recomputed from the raw
    events of those days (GROUP BY in SQL) and upserted, so running it twice, or a recompute of
    a day that already had a row, gives the same rows.  The cursor row is locked for the whole
    fold: two runs at once take turns, and the second finds nothing left.  Events without an
    institution (nobody may see them) are never rolled up.  ``settle_seconds`` leaves the
    newest events for the next run (the beat task's safety margin for late commits); the
    touched enrolments' ``last_activity_at`` follows."""
    RollupCursor.objects.get_or_create(pk=CURSOR_PK)
    written = 0
    while True:
        with transaction.atomic():
            cursor = RollupCursor.objects.select_for_update().get(pk=CURSOR_PK)
            start = cursor.last_event_id
            top = _settled_top(start, settle_seconds)
            if top is None:
                return written
            upper = min(top, start + slice_size)
            written += _fold(start, upper)
            cursor.last_event_id = upper
            cursor.updated_at = timezone.now()
            cursor.save(update_fields=["last_event_id", "updated_at"])
        if upper == top:
            return written


def rebuild_rollups() -> int:
    """Recompute every daily row that raw events still exist for (the cursor back to 0, then
    ``roll_up``); rows of days already purged stay as they are."""
    RollupCursor.objects.get_or_create(pk=CURSOR_PK)
    with transaction.atomic():
        cursor = RollupCursor.objects.select_for_update().get(pk=CURSOR_PK)
        cursor.last_event_id = 0
        cursor.save(update_fields=["last_event_id"])
    return roll_up()


def _settled_top(start: int, settle_seconds: int) -> int | None:
    """The last event id to fold now (None: nothing new): with ``settle_seconds``, stop before
    the first event younger than that."""
    pending = LearningEvent.objects.filter(id__gt=start)
    if settle_seconds:
        cutoff = timezone.now() - timedelta(seconds=settle_seconds)
        fresh = pending.filter(occurred_at__gt=cutoff).aggregate(first=Min("id"))["first"]
        if fresh is not None:
            pending = pending.filter(id__lt=fresh)
    top: int | None = pending.aggregate(last=Max("id"))["last"]
    return top


def _with_day(queryset: QuerySet[LearningEvent]) -> Any:  # annotated: the stubs lose ``day``
    """Each event's local day (``settings.TIME_ZONE``) as ``day``."""
    return queryset.annotate(day=TruncDate("occurred_at", tzinfo=_zone()))


COUNTED = {
    "lessons_viewed": EventKind.LESSON_VIEWED,
    "lessons_completed": EventKind.LESSON_COMPLETED,
    "labs_opened": EventKind.LAB_OPENED,
    "labs_submitted": EventKind.LAB_SUBMITTED,
    "sessions_started": EventKind.SESSION_STARTED,
}
ROLLUP_FIELDS = [*COUNTED, "events", "last_at"]


def _fold(start: int, upper: int) -> int:
    """Recompute the daily rows of the keys that events (start, upper] touch."""
    new = LearningEvent.objects.filter(id__gt=start, id__lte=upper, institution__isnull=False)
    keys = set(
        _with_day(new)
        .order_by()
        .values_list("day", "user_id", "run_id", "institution_id")
        .distinct()
    )
    if not keys:
        return 0
    people_of_day: dict[date, set[int]] = defaultdict(set)
    for day, user_id, _run, _institution in keys:
        people_of_day[day].add(user_id)
    rows: list[DailyActivity] = []
    for day, people in sorted(people_of_day.items()):
        for chunk in _batches(sorted(people), ROLLUP_USERS):
            counts = (
                _with_day(
                    LearningEvent.objects.filter(
                        institution__isnull=False,
                        user_id__in=chunk,
                        occurred_at__gte=_day_start(day),
                        occurred_at__lt=_day_start(day + timedelta(days=1)),
                    )
                )
                .order_by()
                .values("day", "user_id", "run_id", "institution_id")
                .annotate(
                    events=Count("id"),
                    last_at=Max("occurred_at"),
                    **{
                        name: Count("id", filter=Q(kind=kind.value))
                        for name, kind in COUNTED.items()
                    },
                )
            )
            rows.extend(
                DailyActivity(**row)
                for row in counts
                if (row["day"], row["user_id"], row["run_id"], row["institution_id"]) in keys
            )
    DailyActivity.objects.bulk_create(
        rows,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["day", "user", "run", "institution"],
        update_fields=ROLLUP_FIELDS,
    )
    _follow_activity(rows)
    return len(rows)


def _follow_activity(rows: list[DailyActivity]) -> None:
    """Move the touched enrolments' ``last_activity_at`` forward (never back), and their
    summaries' with them."""
    latest: dict[tuple[int, int], datetime] = {}
    for row in rows:
        key = (row.user_id, row.run_id)
        if key not in latest or row.last_at > latest[key]:
            latest[key] = row.last_at
    people = sorted({user_id for user_id, _run in latest})
    runs = {run_id for _user, run_id in latest}
    for chunk in _batches(people, SNAPSHOT_BATCH):
        changed = []
        for snapshot in EnrolmentSnapshot.objects.filter(user_id__in=chunk, run_id__in=runs).only(
            "id", "user_id", "run_id", "institution_id", "last_activity_at"
        ):
            moment = latest.get((snapshot.user_id, snapshot.run_id))
            if moment is not None and (
                snapshot.last_activity_at is None or moment > snapshot.last_activity_at
            ):
                snapshot.last_activity_at = moment
                changed.append(snapshot)
        EnrolmentSnapshot.objects.bulk_update(changed, ["last_activity_at"], batch_size=500)
        # (the roll-up holds the cursor lock: the summaries' last activity follows at once)
        _summarise({(s.institution_id, s.run_id) for s in changed if s.institution_id})


def purge_events(*, now: datetime | None = None) -> int:
    """Delete raw events older than ``ACTIVITY_RETENTION_DAYS`` (whole local days, so a day is
    either complete or gone, and a later rebuild of the roll-ups never halves one); the daily
    rows stay.  Events not rolled up yet are rolled up first.  Returns how many were deleted."""
    roll_up(settle_seconds=ROLLUP_SETTLE_SECONDS)
    today = timezone.localdate(now or timezone.now(), _zone())
    cutoff = _day_start(today - timedelta(days=settings.ACTIVITY_RETENTION_DAYS))
    deleted, _ = LearningEvent.objects.filter(occurred_at__lt=cutoff).delete()
    return deleted


# ---------------------------------------------------------------------------- snapshots


def refresh_enrolments(
    enrolment_ids: Iterable[int], *, now: datetime | None = None, batch_size: int = SNAPSHOT_BATCH
) -> int:
    """Recompute the ``EnrolmentSnapshot`` of these enrolments (every state: withdrawn and
    waitlisted rows count too), in batches with a constant number of queries each; unknown
    ids are skipped.  Idempotent.  Returns how many snapshots were written."""
    ids = sorted(set(enrolment_ids))
    now = now or timezone.now()
    written = 0
    for chunk in _batches(ids, batch_size):
        with transaction.atomic():
            _lock()
            written += _refresh_batch(chunk, now)
    return written


def refresh_all(*, now: datetime | None = None, days: int = REFRESH_RECENT_DAYS) -> int:
    """The nightly sweep: every enrolment of the runs not ended more than ``days`` ago (a due
    date that passes, or a run that ends, changes a snapshot with no save to trigger it)."""
    now = now or timezone.now()
    ids = list(
        Enrolment.objects.filter(run__ends_at__gte=now - timedelta(days=days))
        .order_by("id")
        .values_list("id", flat=True)
    )
    return refresh_enrolments(ids, now=now)


def refresh_everything(*, now: datetime | None = None) -> int:
    """Every enrolment of every run (``manage.py refresh_tracking``)."""
    ids = list(Enrolment.objects.order_by("id").values_list("id", flat=True))
    return refresh_enrolments(ids, now=now)


# States in which a person could work on the labs: their grade and missed deadlines mean
# something (a withdrawn person's grade is where they stood).  Pending, waitlisted and
# rejected people never had the labs: no grade, nothing missed.
WORKING_STATES = (*SEAT_STATES, EnrolmentState.WITHDRAWN)

SNAPSHOT_FIELDS = [
    "user",
    "run",
    "cohort",
    "institution",
    "state",
    "lessons_done",
    "lessons_total",
    "labs_total",
    "labs_submitted",
    "labs_graded",
    "late_submissions",
    "missed_deadlines",
    "grade",
    "grade_trend",
    "passed",
    "gpu_hours",
    "last_activity_at",
    "waitlisted_since",
    "computed_at",
]


def _refresh_batch(ids: list[int], now: datetime) -> int:
    """Fifteen queries whatever the batch holds: enrolments (with the institution their
    snapshot had), runs, categories, labs, lesson totals, completions, latest submissions,
    extensions, GPU usage, daily activity, memberships, the upsert, and the summaries of the
    (institution, run) pairs before and after (``_summarise``: three; none when nobody in the
    batch is attributed to an institution)."""
    enrolments = list(
        Enrolment.objects.filter(pk__in=ids)
        .annotate(
            cohort_institution_id=F("cohort__institution_id"),
            was_institution_id=F("snapshot__institution_id"),
        )
        .only("id", "user_id", "run_id", "state", "cohort_id", "state_changed_at")
        .order_by("id")
    )
    if not enrolments:
        return 0
    run_ids = {e.run_id for e in enrolments}
    people = {e.user_id for e in enrolments}
    runs = {
        r.pk: r for r in CourseRun.objects.filter(pk__in=run_ids).prefetch_related("categories")
    }
    labs_of = labs_by_run(run_ids)
    lessons_total = dict(
        Lesson.objects.filter(module__run_id__in=run_ids)
        .order_by()
        .values("module__run_id")
        .annotate(n=Count("id"))
        .values_list("module__run_id", "n")
    )
    completions = {
        (row["user_id"], row["lesson__module__run_id"]): (row["n"], row["last"])
        for row in LessonCompletion.objects.filter(
            user_id__in=people, lesson__module__run_id__in=run_ids
        )
        .order_by()
        .values("user_id", "lesson__module__run_id")
        .annotate(n=Count("id"), last=Max("completed_at"))
    }
    submissions = latest_submissions(run_ids, people)
    extended = extended_due_dates(run_ids, people)
    gpu_seconds = {
        (row["user_id"], row["run_id"]): row["seconds"]
        for row in GpuUsage.objects.filter(user_id__in=people, run_id__in=run_ids)
        .order_by()
        .values("user_id", "run_id")
        .annotate(seconds=Sum("gpu_seconds"))
    }
    active_at = {
        (row["user_id"], row["run_id"]): row["last"]
        for row in DailyActivity.objects.filter(user_id__in=people, run_id__in=run_ids)
        .order_by()
        .values("user_id", "run_id")
        .annotate(last=Max("last_at"))
    }
    member_of: dict[int, list[int]] = defaultdict(list)
    for user_id, institution_id in Membership.objects.filter(user_id__in=people).values_list(
        "user_id", "institution_id"
    ):
        member_of[user_id].append(institution_id)
    snapshots = []
    for enrolment in enrolments:
        run = runs[enrolment.run_id]
        labs = labs_of[run.pk]
        cells = [lab_cell(lab, submissions.get((lab.pk, enrolment.user_id))) for lab in labs]
        done, completed_last = completions.get((enrolment.user_id, run.pk), (0, None))
        latest_submitted = [
            s.submitted_at
            for lab in labs
            if (s := submissions.get((lab.pk, enrolment.user_id))) is not None
        ]
        snapshot = EnrolmentSnapshot(
            enrolment_id=enrolment.pk,
            user_id=enrolment.user_id,
            run_id=run.pk,
            cohort_id=enrolment.cohort_id,
            institution_id=rules.attributed(
                enrolment.cohort_institution_id,  # type: ignore[attr-defined]
                member_of[enrolment.user_id],
            ),
            state=enrolment.state,
            lessons_done=done,
            lessons_total=lessons_total.get(run.pk, 0),
            labs_total=len(labs),
            labs_submitted=sum(1 for c in cells if c.submission_id is not None),
            labs_graded=sum(1 for c in cells if c.status == SubmissionStatus.GRADED),
            late_submissions=sum(1 for c in cells if c.late_seconds > 0),
            gpu_hours=(Decimal(gpu_seconds.get((enrolment.user_id, run.pk)) or 0) / 3600).quantize(
                TWO_PLACES, ROUND_HALF_UP
            ),
            last_activity_at=max(
                (
                    moment
                    for moment in (
                        active_at.get((enrolment.user_id, run.pk)),
                        completed_last,
                        *latest_submitted,
                    )
                    if moment is not None
                ),
                default=None,
            ),
            waitlisted_since=enrolment.state_changed_at
            if enrolment.state == EnrolmentState.WAITLISTED
            else None,
            computed_at=now,
        )
        if enrolment.state in WORKING_STATES:
            due = extended[enrolment.user_id]
            grade = run_grade(run, labs, cells, due, now)
            snapshot.grade = grade.percentage
            snapshot.grade_trend = _trend(cells)
            snapshot.missed_deadlines = sum(
                1
                for lab, cell in zip(labs, cells, strict=True)
                if cell.submission_id is None and due.get(lab.pk, lab.due_at) < now
            )
            over = run.ends_at < now or enrolment.state == EnrolmentState.COMPLETED
            if over and enrolment.state in SEAT_STATES:
                snapshot.passed = enrolment_passed(grade, enrolment)
        snapshots.append(snapshot)
    EnrolmentSnapshot.objects.bulk_create(
        snapshots,
        batch_size=SNAPSHOT_BATCH,
        update_conflicts=True,
        unique_fields=["enrolment"],
        update_fields=SNAPSHOT_FIELDS,
    )
    # An enrolment may have moved to another cohort or institution: both pairs change.
    _summarise(
        {(s.institution_id, s.run_id) for s in snapshots}
        | {(e.was_institution_id, e.run_id) for e in enrolments}  # type: ignore[attr-defined]
    )
    return len(snapshots)


def _trend(cells: list[GradebookCell]) -> Decimal | None:
    """The latest graded lab's percent (labs in due-date order) minus the mean of the earlier
    graded ones; None with fewer than two graded labs."""
    graded = [
        c.percent for c in cells if c.status == SubmissionStatus.GRADED and c.percent is not None
    ]
    if len(graded) < 2:
        return None
    earlier = sum(graded[:-1], Decimal(0)) / (len(graded) - 1)
    return (graded[-1] - earlier).quantize(TWO_PLACES, ROUND_HALF_UP)


# ---------------------------------------------------------------------------- summaries


def _lock() -> None:
    """Lock the roll-up cursor row until the transaction ends (see the module's lock order)."""
    RollupCursor.objects.select_for_update().get_or_create(pk=CURSOR_PK)


def _summary_rows(snapshots: QuerySet[EnrolmentSnapshot]) -> Any:  # values() rows
    return (
        snapshots.order_by()
        .values("institution_id", "cohort_id", "run_id")
        .annotate(
            enrolments=Count("pk"),
            active=Count("pk", filter=Q(state=EnrolmentState.ACTIVE)),
            started=Count("pk", filter=Q(state__in=STARTED_STATES)),
            completed=Count("pk", filter=Q(state=EnrolmentState.COMPLETED)),
            finished=Count("pk", filter=Q(passed__isnull=False)),
            passed=Count("pk", filter=Q(passed=True)),
            graded=Count("grade"),
            grade_sum=Coalesce(Sum("grade"), Decimal(0)),
            last_activity_at=Max("last_activity_at"),
        )
    )


# The completion rate's denominator: enrolments that took a seat.
STARTED_STATES = (EnrolmentState.ACTIVE, EnrolmentState.COMPLETED, EnrolmentState.WITHDRAWN)


def _summarise(pairs: Iterable[tuple[int | None, int]]) -> int:
    """Recompute the ``CohortSummary`` rows of these (institution, run) pairs from their
    snapshots (three queries: the sums, the delete, the insert; none for no pairs).  The
    caller holds the lock (``_lock``), in the transaction that wrote the snapshots."""
    wanted = {(i, r) for i, r in pairs if i is not None}
    if not wanted:
        return 0
    runs_of: dict[int, set[int]] = defaultdict(set)
    for institution_id, run_id in wanted:
        runs_of[institution_id].add(run_id)
    runs = {r for _, r in wanted}
    rows = [
        CohortSummary(**row)
        for row in _summary_rows(
            EnrolmentSnapshot.objects.filter(institution_id__in=runs_of, run_id__in=runs)
        )
        if (row["institution_id"], row["run_id"]) in wanted
    ]
    gone = Q()
    for institution_id, run_ids in runs_of.items():
        gone |= Q(institution_id=institution_id, run_id__in=run_ids)
    CohortSummary.objects.filter(gone).delete()
    CohortSummary.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def summarise(pairs: Iterable[tuple[int, int]]) -> int:
    """The summaries of these (institution, run) pairs, recomputed under the lock (after the
    commit of a deletion that took snapshots with it); returns the rows written."""
    with transaction.atomic():
        _lock()
        return _summarise(pairs)


def rebuild_summaries(institution_ids: Iterable[int] | None = None) -> int:
    """Every summary row of these institutions (all when None) from their snapshots: after a
    cohort is deleted (its snapshots lose their cohort without a save), by
    ``manage.py refresh_tracking``, and for generated data."""
    with transaction.atomic():
        _lock()
        current = CohortSummary.objects.all()
        snapshots = EnrolmentSnapshot.objects.filter(institution__isnull=False)
        if institution_ids is not None:
            ids = set(institution_ids)
            current = current.filter(institution_id__in=ids)
            snapshots = snapshots.filter(institution_id__in=ids)
        current.delete()
        rows = [CohortSummary(**row) for row in _summary_rows(snapshots)]
        CohortSummary.objects.bulk_create(rows, batch_size=1000)
        return len(rows)


# ---------------------------------------------------------------------------- after commit

_PENDING = "tracking_refresh_pending"  # an attribute of the (per-thread) connection


class _Touched:
    """What one transaction changed, named as cheaply as the receivers know it; turned into
    enrolment ids once, after the commit."""

    def __init__(self) -> None:
        self.enrolments: set[int] = set()
        self.lab_people: set[tuple[int, int]] = set()  # (lab, person)
        self.lesson_people: set[tuple[int, int]] = set()  # (lesson, person)
        self.run_people: set[tuple[int, int]] = set()  # (run, person)
        self.people: set[int] = set()  # all their enrolments (attribution changed)
        self.runs: set[int] = set()  # every enrolment of the run (a lab or lesson changed)
        self.summaries: set[tuple[int, int]] = set()  # (institution, run): snapshots deleted

    def __bool__(self) -> bool:
        return bool(
            self.summaries
            or self.enrolments
            or self.lab_people
            or self.lesson_people
            or self.run_people
            or self.people
            or self.runs
        )


def _pending(connection: BaseDatabaseWrapper) -> _Touched:
    pending: _Touched | None = getattr(connection, _PENDING, None)
    if pending is None:
        pending = _Touched()
        setattr(connection, _PENDING, pending)
    return pending


def refresh_after_commit(
    *,
    enrolments: Iterable[int] = (),
    lab_people: Iterable[tuple[int, int]] = (),
    lesson_people: Iterable[tuple[int, int]] = (),
    run_people: Iterable[tuple[int, int]] = (),
    people: Iterable[int] = (),
    runs: Iterable[int] = (),
    summaries: Iterable[tuple[int, int]] = (),
) -> None:
    """Refresh the snapshots these changes touch once the current transaction commits,
    together with everything else the transaction touched: ONE task per transaction (a lab
    regraded for 2,000 people is one task).  Every call registers a callback (so one that a
    rolled-back savepoint discards leaves the others); the first to run after the commit sends
    the whole set and the rest find it empty.  Marks of a transaction that rolled back ride
    along with the next commit: a needless refresh, which is harmless."""
    connection = transaction.get_connection()
    pending = _pending(connection)
    pending.enrolments.update(enrolments)
    pending.lab_people.update(lab_people)
    pending.lesson_people.update(lesson_people)
    pending.run_people.update(run_people)
    pending.people.update(people)
    pending.runs.update(runs)
    pending.summaries.update(summaries)
    transaction.on_commit(lambda: _flush(connection))


def _flush(connection: BaseDatabaseWrapper) -> None:
    pending = _pending(connection)
    if not pending:
        return
    setattr(connection, _PENDING, _Touched())
    ids = sorted(_enrolments_touched(pending))
    # After the commit, outside any transaction: sent now (a broker outage is logged by
    # ``send``; the nightly refresh catches up).
    if ids:
        send(REFRESH_TASK, ids)
    if pending.summaries:
        send(SUMMARISE_TASK, sorted(pending.summaries))


def _enrolments_touched(touched: _Touched) -> set[int]:
    """At most three queries: the labs' runs, the lessons' runs, the enrolments (none when
    only enrolments were named: the refresh skips ids that are gone)."""
    if not (
        touched.lab_people
        or touched.lesson_people
        or touched.run_people
        or touched.people
        or touched.runs
    ):
        return set(touched.enrolments)
    people_in: dict[int, set[int]] = defaultdict(set)  # run -> people
    for run_id, user_id in touched.run_people:
        people_in[run_id].add(user_id)
    if touched.lab_people:
        run_of = dict(
            Lab.objects.filter(pk__in={lab for lab, _ in touched.lab_people}).values_list(
                "pk", "run_id"
            )
        )
        for lab_id, user_id in touched.lab_people:
            if lab_id in run_of:
                people_in[run_of[lab_id]].add(user_id)
    if touched.lesson_people:
        run_of = dict(
            Lesson.objects.filter(
                pk__in={lesson for lesson, _ in touched.lesson_people}
            ).values_list("pk", "module__run_id")
        )
        for lesson_id, user_id in touched.lesson_people:
            if lesson_id in run_of:
                people_in[run_of[lesson_id]].add(user_id)
    condition = Q(pk__in=touched.enrolments) if touched.enrolments else Q()
    if touched.people:
        condition |= Q(user_id__in=touched.people)
    if touched.runs:
        condition |= Q(run_id__in=touched.runs)
    for run_id, users in people_in.items():
        condition |= Q(run_id=run_id, user_id__in=users)
    if not condition:
        return set()
    return set(Enrolment.objects.filter(condition).values_list("id", flat=True))
