"""The data engine under the institution pages: daily roll-ups of learning events
(idempotent, by local day, safe to run twice at once), the purge of old events, and the
snapshot of every enrolment (labs, lateness, missed deadlines, the gradebook's own grade, GPU
time, last activity), refreshed by ONE task per transaction after the commit."""

from __future__ import annotations

import threading
import time as clock
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from academy.celery import app
from courses.models import (
    CourseStaff,
    Enrolment,
    EnrolmentState,
    GradingCategory,
    LessonCompletion,
    Module,
)
from notebooks.models import Extension, Lab, LatePolicy, Submission, SubmissionStatus
from notebooks.selectors import finished_results, gradebook
from notebooks.sessions.models import GpuUsage
from tests.factories import CourseRunFactory, LessonFactory, UserFactory, member
from tracking import services
from tracking.models import (
    DailyActivity,
    EnrolmentSnapshot,
    EventKind,
    LearningEvent,
    RollupCursor,
)

BELGRADE = ZoneInfo("Europe/Belgrade")


@pytest.fixture(autouse=True)
def _belgrade(settings):  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Europe/Belgrade"


@pytest.fixture(autouse=True)
def _no_marks_of_earlier_tests():  # type: ignore[no-untyped-def]
    """Marks of a transaction that rolled back ride along with the next commit (harmless in
    production); a test that rolled back never committed, so start each test without them."""
    setattr(connection, services._PENDING, None)
    yield
    setattr(connection, services._PENDING, None)


@pytest.fixture
def eager():  # type: ignore[no-untyped-def]
    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=before[0], task_eager_propagates=before[1])


@pytest.fixture
def task_calls(monkeypatch):  # type: ignore[no-untyped-def]
    """The enrolment ids of every refresh task sent (the task still runs when eager)."""
    calls: list[list[int]] = []
    real = services.send

    def spy(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == services.REFRESH_TASK:
            calls.append(list(args[0]))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(services, "send", spy)
    return calls


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BELGRADE)


def event(user, run, kind, at, institution):  # type: ignore[no-untyped-def]
    return LearningEvent.objects.create(
        user=user, run=run, kind=kind, occurred_at=at, institution=institution
    )


def rows() -> list[tuple]:
    return list(
        DailyActivity.objects.order_by("day", "user_id", "run_id").values_list(
            "day",
            "user_id",
            "run_id",
            "institution_id",
            "lessons_viewed",
            "lessons_completed",
            "labs_opened",
            "labs_submitted",
            "sessions_started",
            "events",
            "last_at",
        )
    )


# ---------------------------------------------------------------------------- roll-up


@pytest.mark.django_db
def test_the_roll_up_counts_each_kind_per_local_day(people):
    run = CourseRunFactory()
    a, dual = people.inst_a, people.dual
    day = timezone.localdate() - timedelta(days=10)
    late_evening_utc = local(day + timedelta(days=1), 0, 30)  # 23:30 UTC: the next local day
    event(people.student, run, EventKind.LESSON_VIEWED, local(day, 9), a)
    event(people.student, run, EventKind.LESSON_VIEWED, local(day, 10), a)
    event(people.student, run, EventKind.LAB_OPENED, local(day, 11), a)
    event(people.student, run, EventKind.LAB_SUBMITTED, local(day, 23, 59), a)
    event(people.student, run, EventKind.SESSION_STARTED, late_evening_utc, a)
    event(people.student_b, run, EventKind.LESSON_COMPLETED, local(day, 12), people.inst_b)
    event(dual, run, EventKind.LESSON_VIEWED, local(day, 12), None)  # nobody's: not rolled up
    assert late_evening_utc.astimezone(ZoneInfo("UTC")).date() == day

    assert services.roll_up() == 3
    assert rows() == [
        (day, people.student.pk, run.pk, a.pk, 2, 0, 1, 1, 0, 4, local(day, 23, 59)),
        (day, people.student_b.pk, run.pk, people.inst_b.pk, 0, 1, 0, 0, 0, 1, local(day, 12)),
        (
            day + timedelta(days=1),
            people.student.pk,
            run.pk,
            a.pk,
            0,
            0,
            0,
            0,
            1,
            1,
            late_evening_utc,
        ),
    ]
    assert RollupCursor.objects.get().last_event_id == LearningEvent.objects.latest("id").pk


@pytest.mark.django_db
def test_the_roll_up_is_idempotent_and_recomputes_a_touched_day(people):
    run = CourseRunFactory()
    a = people.inst_a
    day = timezone.localdate() - timedelta(days=3)
    other_day = day - timedelta(days=1)
    event(people.student, run, EventKind.LESSON_VIEWED, local(day, 9), a)
    event(people.student, run, EventKind.LESSON_VIEWED, local(other_day, 9), a)
    services.roll_up()
    first = rows()
    assert services.roll_up() == 0  # nothing new
    assert rows() == first
    RollupCursor.objects.update(last_event_id=0)  # a rebuild from the raw events
    services.roll_up()
    assert rows() == first

    # A new event on a day already rolled up: that day is recomputed, not added to twice.
    event(people.student, run, EventKind.LAB_OPENED, local(day, 15), a)
    assert services.roll_up() == 1
    today_row = DailyActivity.objects.get(day=day)
    assert (today_row.lessons_viewed, today_row.labs_opened, today_row.events) == (1, 1, 2)
    assert today_row.last_at == local(day, 15)
    assert DailyActivity.objects.get(day=other_day).events == 1  # untouched day as it was


@pytest.mark.django_db
def test_the_roll_up_moves_the_snapshot_last_activity_forward(people):
    run = CourseRunFactory()
    enrolment = Enrolment.objects.create(
        run=run, user=people.student, state=EnrolmentState.ACTIVE, cohort=people.cohort_a
    )
    services.refresh_enrolments([enrolment.pk])
    assert EnrolmentSnapshot.objects.get().last_activity_at is None
    at = timezone.now() - timedelta(hours=2)
    event(people.student, run, EventKind.LESSON_VIEWED, at, people.inst_a)
    services.roll_up()
    assert EnrolmentSnapshot.objects.get().last_activity_at == at
    # An older event folded later never moves it back.
    event(people.student, run, EventKind.LESSON_VIEWED, at - timedelta(days=2), people.inst_a)
    services.roll_up()
    assert EnrolmentSnapshot.objects.get().last_activity_at == at


@pytest.mark.django_db
def test_the_task_leaves_the_newest_events_for_its_next_run(people):
    run = CourseRunFactory()
    old = event(people.student, run, EventKind.LESSON_VIEWED, timezone.now(), people.inst_a)
    LearningEvent.objects.filter(pk=old.pk).update(
        occurred_at=timezone.now() - timedelta(minutes=10)
    )
    fresh = event(people.student, run, EventKind.LAB_OPENED, timezone.now(), people.inst_a)
    services.roll_up(settle_seconds=120)
    # The cursor stops before the fresh event (the day's row, recomputed from every event
    # already there, may count it: the next run recomputes it again, idempotent).
    assert RollupCursor.objects.get().last_event_id == old.pk
    assert services.roll_up(settle_seconds=120) == 0
    services.roll_up()
    assert RollupCursor.objects.get().last_event_id == fresh.pk
    row = DailyActivity.objects.get()
    assert (row.lessons_viewed, row.labs_opened) == (1, 1)


@pytest.mark.django_db
def test_the_roll_up_works_in_slices(people):
    run = CourseRunFactory()
    at = timezone.now() - timedelta(hours=1)
    for _ in range(5):
        event(people.student, run, EventKind.LESSON_VIEWED, at, people.inst_a)
    services.roll_up(slice_size=2)
    assert DailyActivity.objects.get().lessons_viewed == 5


@pytest.mark.django_db(transaction=True)
def test_two_roll_ups_at_once_take_turns(people, monkeypatch):
    """The cursor row is locked for the whole fold: the second run waits, then finds nothing
    left (without the lock both would fold the same events)."""
    run = CourseRunFactory()
    at = timezone.now() - timedelta(hours=1)
    for kind in (EventKind.LESSON_VIEWED, EventKind.LAB_OPENED):
        event(people.student, run, kind, at, people.inst_a)
    RollupCursor.objects.get_or_create(pk=services.CURSOR_PK)
    real_fold = services._fold

    def slow_fold(start: int, upper: int) -> int:
        clock.sleep(0.5)
        return real_fold(start, upper)

    monkeypatch.setattr(services, "_fold", slow_fold)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        try:
            results.append(services.roll_up())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [0, 1]
    row = DailyActivity.objects.get()
    assert (row.lessons_viewed, row.labs_opened, row.events) == (1, 1, 2)


@pytest.mark.django_db
def test_purge_deletes_whole_local_days_past_the_retention_and_keeps_the_roll_ups(people, settings):
    settings.ACTIVITY_RETENTION_DAYS = 30
    run = CourseRunFactory()
    today = timezone.localdate()
    edge = today - timedelta(days=30)
    gone = [
        event(
            people.student,
            run,
            EventKind.LESSON_VIEWED,
            local(edge - timedelta(days=5), 9),
            people.inst_a,
        ),
        event(
            people.student,
            run,
            EventKind.LESSON_VIEWED,
            local(edge, 0, 0) - timedelta(minutes=1),
            people.inst_a,
        ),
    ]
    kept = [
        event(people.student, run, EventKind.LESSON_VIEWED, local(edge, 0, 1), people.inst_a),
        event(people.student, run, EventKind.LESSON_VIEWED, local(today, 0, 1), people.inst_a),
    ]
    assert services.purge_events() == 2  # rolled up first, then deleted
    assert set(LearningEvent.objects.values_list("id", flat=True)) == {e.pk for e in kept}
    assert {e.pk for e in gone}.isdisjoint(LearningEvent.objects.values_list("id", flat=True))
    assert DailyActivity.objects.filter(day__lt=edge).count() == 2  # the roll-ups stay
    # A rebuild from what is left keeps the purged days' rows.
    services.rebuild_rollups()
    assert DailyActivity.objects.count() == 4


# ---------------------------------------------------------------------------- snapshots


def _graded(lab, user, percent, *, late_seconds=0, attempt=1):  # type: ignore[no-untyped-def]
    return Submission.objects.create(
        lab=lab,
        student=user,
        attempt=attempt,
        file="x.ipynb",
        sha256="0" * 64,
        status=SubmissionStatus.GRADED,
        score=Decimal(percent),
        max_score=Decimal(100),
        late_seconds=late_seconds,
        submitted_at=lab.due_at + timedelta(seconds=late_seconds) - timedelta(hours=1),
    )


def build_run(people, *, ended: bool = False):  # type: ignore[no-untyped-def]
    """A run with two categories and five labs: ``student`` has two graded labs (one late,
    with a penalty), a failed one, one missed, one not yet due; ``student_b`` has an extension
    on the missed lab; a waitlisted and a withdrawn person; two lessons of three done."""
    now = timezone.now()
    run = CourseRunFactory(
        starts_at=now - timedelta(days=40),
        ends_at=now - timedelta(days=1) if ended else now + timedelta(days=30),
        enrolment_opens_at=now - timedelta(days=50),
        enrolment_closes_at=now - timedelta(days=41),
    )
    CourseStaff.objects.create(run=run, user=people.instructor)
    labs_cat = GradingCategory.objects.create(run=run, name="Labs", weight=Decimal(70))
    exam_cat = GradingCategory.objects.create(run=run, name="Project", weight=Decimal(30))
    due = [now - timedelta(days=d) for d in (30, 20, 10, 5)] + [
        now + timedelta(days=(-0.5 if ended else 5))
    ]
    labs = [
        Lab.objects.create(
            run=run,
            title=f"Lab {i}",
            due_at=when,
            category=exam_cat if i == 3 else labs_cat,
            late_policy=LatePolicy.PER_DAY,
            late_penalty_percent=Decimal(10),
        )
        for i, when in enumerate(due)
    ]
    module = Module.objects.create(run=run, title="Week 1")
    lessons = [LessonFactory(module=module) for _ in range(3)]
    enrol = {}
    for user, cohort, state in (
        (people.student, people.cohort_a, EnrolmentState.ACTIVE),
        (people.student_b, people.cohort_b, EnrolmentState.ACTIVE),
        (people.dual, None, EnrolmentState.ACTIVE),
    ):
        enrol[user.username] = Enrolment.objects.create(
            run=run, user=user, state=state, cohort=cohort
        )
    waiting = member(people.inst_a)
    enrol["waiting"] = Enrolment.objects.create(
        run=run, user=waiting, state=EnrolmentState.WAITLISTED, cohort=people.cohort_a
    )
    gone = member(people.inst_a)
    enrol["gone"] = Enrolment.objects.create(
        run=run, user=gone, state=EnrolmentState.WITHDRAWN, cohort=people.cohort_a
    )
    s = people.student
    _graded(labs[0], s, 40, attempt=1)
    _graded(labs[0], s, 90, attempt=2)  # the latest attempt counts
    _graded(labs[1], s, 70, late_seconds=86400)  # a day late: 10 % off, 63
    Submission.objects.create(
        lab=labs[3],
        student=s,
        attempt=1,
        file="x.ipynb",
        sha256="0" * 64,
        status=SubmissionStatus.FAILED,
        submitted_at=labs[3].due_at - timedelta(hours=2),
    )
    # labs[2]: nothing submitted, due 10 days ago: missed (counts 0)
    b = people.student_b
    _graded(labs[0], b, 50)
    Extension.objects.create(lab=labs[2], student=b, due_at=now + timedelta(days=3))
    for lesson in lessons[:2]:
        LessonCompletion.objects.create(lesson=lesson, user=s)
    LessonCompletion.objects.update(completed_at=now - timedelta(days=8))
    GpuUsage.objects.create(job_id=f"{run.pk}-1", user=s, run=run, gpu_seconds=5400, gpus=1)
    GpuUsage.objects.create(job_id=f"{run.pk}-2", user=s, run=run, gpu_seconds=1800, gpus=1)
    GpuUsage.objects.create(job_id=f"{run.pk}-3", user=b, run=CourseRunFactory(), gpu_seconds=3600)
    return SimpleNamespace(run=run, labs=labs, lessons=lessons, enrol=enrol, waiting=waiting)


def snap(enrolment: Enrolment) -> EnrolmentSnapshot:
    return EnrolmentSnapshot.objects.get(enrolment=enrolment)


@pytest.mark.django_db
def test_a_snapshot_shows_where_an_enrolment_stands(people):
    world = build_run(people)
    assert services.refresh_enrolments(e.pk for e in world.enrol.values()) == 5
    s = snap(world.enrol["student"])
    assert (s.user_id, s.run_id, s.cohort_id, s.institution_id, s.state) == (
        people.student.pk,
        world.run.pk,
        people.cohort_a.pk,
        people.inst_a.pk,
        "active",
    )
    assert (s.lessons_done, s.lessons_total) == (2, 3)
    assert (s.labs_total, s.labs_submitted, s.labs_graded) == (5, 3, 2)
    assert (s.late_submissions, s.missed_deadlines) == (1, 1)
    assert s.grade_trend == Decimal("-27.00")  # 63 (late) against 90
    assert s.gpu_hours == Decimal("2.00")
    assert s.passed is None  # the run is not over
    assert s.waitlisted_since is None
    # The last thing they did: the failed notebook handed in 5 days ago, 2 hours before due.
    assert s.last_activity_at == world.labs[3].due_at - timedelta(hours=2)

    b = snap(world.enrol["studentb"])
    # lab 1 and lab 3 missed; lab 2 too, but for the extension
    assert (b.institution_id, b.labs_submitted, b.missed_deadlines) == (people.inst_b.pk, 1, 2)
    assert b.grade_trend is None  # one graded lab
    assert b.gpu_hours == 0  # their GPU time was in another run

    dual = snap(world.enrol["dual"])
    assert dual.institution_id is None and dual.cohort_id is None

    waiting = snap(world.enrol["waiting"])
    assert waiting.state == "waitlisted"
    assert waiting.waitlisted_since == world.enrol["waiting"].state_changed_at
    assert waiting.grade is None and waiting.missed_deadlines == 0

    gone = snap(world.enrol["gone"])
    assert gone.state == "withdrawn" and gone.institution_id == people.inst_a.pk
    assert gone.missed_deadlines == 4  # never handed anything in
    assert EnrolmentSnapshot.objects.filter(institution=people.inst_a).count() == 3


@pytest.mark.django_db
def test_the_grade_so_far_is_the_gradebook_grade(people):
    world = build_run(people)
    services.refresh_enrolments(e.pk for e in world.enrol.values())
    book = {row.student.pk: row for row in gradebook(people.instructor, world.run.pk).rows}
    for name in ("student", "studentb", "dual"):
        enrolment = world.enrol[name]
        assert snap(enrolment).grade == book[enrolment.user_id].course_grade, name
    # Labs 70 %: (90 + 63 + 0) / 3 = 51; project 30 %: 0 (failed, and ungraded) -> not counted
    assert snap(world.enrol["student"]).grade == book[people.student.pk].course_grade
    assert snap(world.enrol["student"]).grade is not None


@pytest.mark.django_db
def test_after_the_run_the_result_is_the_programmes_result(people):
    world = build_run(people, ended=True)
    services.refresh_enrolments(e.pk for e in world.enrol.values())
    results = {
        (r.user_id, r.run_id): r for r in finished_results([people.student.pk, people.student_b.pk])
    }
    for name, user in (("student", people.student), ("studentb", people.student_b)):
        s = snap(world.enrol[name])
        result = results[(user.pk, world.run.pk)]
        assert (s.grade, s.passed) == (result.grade, result.passed)
    assert snap(world.enrol["waiting"]).passed is None  # no result without a seat
    assert snap(world.enrol["gone"]).passed is None


@pytest.mark.django_db
def test_an_enrolment_marked_completed_has_its_result_before_the_run_ends(people):
    world = build_run(people)
    Enrolment.objects.filter(pk=world.enrol["student"].pk).update(state=EnrolmentState.COMPLETED)
    services.refresh_enrolments([world.enrol["student"].pk])
    assert snap(world.enrol["student"]).passed is not None


@pytest.mark.django_db
def test_last_activity_takes_the_daily_rows_too(people):
    world = build_run(people)
    at = timezone.now() - timedelta(minutes=5)
    event(people.student, world.run, EventKind.LESSON_VIEWED, at, people.inst_a)
    services.roll_up()
    services.refresh_enrolments([world.enrol["student"].pk])
    assert snap(world.enrol["student"]).last_activity_at == at


@pytest.mark.django_db
def test_a_refresh_is_idempotent_and_skips_unknown_ids(people):
    world = build_run(people)
    ids = [e.pk for e in world.enrol.values()]
    services.refresh_enrolments(ids)
    first = list(EnrolmentSnapshot.objects.order_by("id").values())
    assert services.refresh_enrolments([*ids, 999_999]) == 5
    again = list(EnrolmentSnapshot.objects.order_by("id").values())
    for row in (*first, *again):
        row.pop("computed_at")
    assert again == first


def _people_in(run, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    labs = list(run.labs.all())
    for i in range(n):
        user = UserFactory()
        ids.append(Enrolment.objects.create(run=run, user=user, state="active").pk)
        _graded(labs[i % len(labs)], user, 50 + i)
        Extension.objects.create(lab=labs[-1], student=user, due_at=timezone.now())
        GpuUsage.objects.create(job_id=f"q{user.pk}", user=user, run=run, gpu_seconds=60)
    return ids


@pytest.mark.django_db
def test_a_refresh_costs_the_same_queries_for_3_and_30_enrolments(
    people, django_assert_num_queries
):
    world = build_run(people)
    other = build_run(people)  # a second run in the same batch
    few = _people_in(world.run, 2) + [world.enrol["student"].pk]
    many = _people_in(world.run, 15) + _people_in(other.run, 15)
    RollupCursor.objects.get_or_create(pk=services.CURSOR_PK)  # the lock row (made once ever)
    # A batch: the savepoint, the lock, 12 reads and the upsert, the savepoint's release; and
    # 3 for the summaries when someone in it is attributed to an institution (the student, a
    # member of A only; the people made here belong to none).
    with django_assert_num_queries(15 + 3):
        assert services.refresh_enrolments(few) == 3
    with django_assert_num_queries(15):
        assert services.refresh_enrolments(many) == 30
    # Batches: two of 20 (with the student) and 13 -> twice the queries, one summary.
    with django_assert_num_queries(15 + 3 + 15):
        assert services.refresh_enrolments(few + many, batch_size=20) == 33


# ---------------------------------------------------------------------------- triggers


def built(people, capture, task_calls):  # type: ignore[no-untyped-def]
    """``build_run`` committed: its own refresh done, the task calls forgotten."""
    with capture(execute=True):
        world = build_run(people)
    assert task_calls  # the set-up's saves refreshed the snapshots, after its commit
    task_calls.clear()
    return world


@pytest.mark.django_db
def test_one_task_per_transaction_after_the_commit(
    people, eager, task_calls, django_capture_on_commit_callbacks
):
    world = built(people, django_capture_on_commit_callbacks, task_calls)
    s, b = world.enrol["student"], world.enrol["studentb"]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        # a regrade of lab 0 for two people, an extension, a lesson done, GPU time
        for sub in Submission.objects.filter(lab=world.labs[0]):
            sub.score = Decimal(100)
            sub.save(update_fields=["score"])
        Extension.objects.create(
            lab=world.labs[2], student=people.student, due_at=timezone.now() + timedelta(days=2)
        )
        LessonCompletion.objects.create(lesson=world.lessons[2], user=people.student_b)
        GpuUsage.objects.create(job_id="9", user=people.student_b, run=world.run, gpu_seconds=3600)
        assert task_calls == []  # nothing before the commit
    assert task_calls == [sorted([s.pk, b.pk])]
    # the task ran (eager): the snapshots follow
    assert snap(s).missed_deadlines == 0
    assert snap(b).lessons_done == 1 and snap(b).gpu_hours == Decimal("1.00")
    assert snap(s).grade_trend == Decimal("-37.00")  # 63 against 100 now


@pytest.mark.django_db
def test_saves_that_change_nothing_shown_send_nothing(
    people, eager, task_calls, django_capture_on_commit_callbacks
):
    world = built(people, django_capture_on_commit_callbacks, task_calls)
    sub = Submission.objects.filter(student=people.student).first()
    with django_capture_on_commit_callbacks(execute=True):
        sub.feedback_released = True
        sub.save(update_fields=["feedback_released"])
        world.enrol["student"].reason = "note"
        world.enrol["student"].save(update_fields=["reason"])
    assert task_calls == []


@pytest.mark.django_db
def test_enrolment_changes_refresh_their_snapshot(
    people, eager, task_calls, django_capture_on_commit_callbacks
):
    run = CourseRunFactory()
    with django_capture_on_commit_callbacks(execute=True):
        enrolment = Enrolment.objects.create(
            run=run, user=people.student, state=EnrolmentState.WAITLISTED, cohort=people.cohort_a
        )
    assert snap(enrolment).state == "waitlisted"
    with django_capture_on_commit_callbacks(execute=True):
        enrolment.state = EnrolmentState.ACTIVE
        enrolment.save(update_fields=["state", "state_changed_at"])
    assert snap(enrolment).state == "active" and snap(enrolment).waitlisted_since is None
    assert task_calls == [[enrolment.pk], [enrolment.pk]]


@pytest.mark.django_db
def test_a_new_lab_refreshes_everyone_in_the_run(
    people, eager, task_calls, django_capture_on_commit_callbacks
):
    world = built(people, django_capture_on_commit_callbacks, task_calls)
    with django_capture_on_commit_callbacks(execute=True):
        Lab.objects.create(
            run=world.run, title="One more", due_at=timezone.now() - timedelta(days=1)
        )
    assert task_calls == [sorted(e.pk for e in world.enrol.values())]
    assert snap(world.enrol["student"]).labs_total == 6


@pytest.mark.django_db
def test_the_nightly_refresh_takes_runs_under_way_and_recently_ended(people):
    now = timezone.now()
    recent = CourseRunFactory(ends_at=now - timedelta(days=29), starts_at=now - timedelta(days=60))
    old = CourseRunFactory(ends_at=now - timedelta(days=31), starts_at=now - timedelta(days=60))
    current = CourseRunFactory(ends_at=now + timedelta(days=3), starts_at=now)
    for run in (recent, old, current):
        Enrolment.objects.create(run=run, user=people.student, state="active")
    assert services.refresh_all() == 2
    assert set(EnrolmentSnapshot.objects.values_list("run_id", flat=True)) == {
        recent.pk,
        current.pk,
    }


@pytest.mark.django_db
def test_the_command_rebuilds_everything(people, capsys):
    world = build_run(people)
    event(
        people.student,
        world.run,
        EventKind.LESSON_VIEWED,
        timezone.now() - timedelta(hours=1),
        people.inst_a,
    )
    EnrolmentSnapshot.objects.all().delete()
    call_command("refresh_tracking")
    assert EnrolmentSnapshot.objects.count() == 5
    assert DailyActivity.objects.count() == 1
    DailyActivity.objects.update(events=99)
    call_command("refresh_tracking", "--rebuild-rollups")
    assert DailyActivity.objects.get().events == 1
    out = capsys.readouterr().out
    assert "enrolment snapshots written: 5" in out
