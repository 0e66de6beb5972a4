"""Progress recomputation: cheap batched triggers (one task per commit), an idempotent task
that is safe when two run at once, completions that freeze their evidence, and the review
flag on a later grade change."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction

from academy.models import AuditEvent, Role
from notebooks.models import Submission
from programmes import services
from programmes.models import Allocation, AllocationState, Completion
from tests.factories import CohortFactory, InstitutionFactory, UserFactory, member

from .conftest import finished_run, passed, result

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def task_calls(monkeypatch):  # type: ignore[no-untyped-def]
    """The people of every recompute task sent (eager: the task still runs)."""
    calls: list[list[int]] = []
    real = services.send

    def spy(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == services.RECOMPUTE_TASK:
            calls.append(list(args[0]))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(services, "send", spy)
    return calls


@pytest.fixture
def no_triggers(monkeypatch):  # type: ignore[no-untyped-def]
    """Results are saved without any recompute: the test runs it when it wants."""
    monkeypatch.setattr(services, "send", lambda *args, **kwargs: True)


def join(foundation, user=None) -> Allocation:  # type: ignore[no-untyped-def]
    return services.allocation_join(actor=user or UserFactory(), programme=foundation.programme)


def complete(foundation, user) -> dict:  # type: ignore[no-untyped-def]
    """GPU101 at 80, MED210 at 70, LLM230 at 88, the capstone at 91: the tree is satisfied."""
    return {
        "gpu": passed(user, foundation.gpu, 80),
        "med": passed(user, foundation.electives[0], 70),
        "llm": passed(user, foundation.electives[2], 88),
        "cap": passed(user, foundation.capstone, 91),
    }


def regrade(run, user, percent) -> None:  # type: ignore[no-untyped-def]
    """The grader writes a new score (as ``notebooks.services._rescore`` saves it)."""
    sub = Submission.objects.get(lab__run=run, student=user)
    sub.score = Decimal(percent)
    sub.save(update_fields=["score", "status", "updated_at"])


# --- triggers -------------------------------------------------------------------------------


def test_a_bulk_regrade_in_one_transaction_sends_one_task_for_everyone(foundation, task_calls):
    run = finished_run(foundation.gpu)
    people = [join(foundation).user for _ in range(6)]
    outsider = UserFactory()  # follows no programme: never sent
    for user in [*people, outsider]:
        result(user, run, 80)
    task_calls.clear()
    with transaction.atomic():
        for sub in Submission.objects.filter(lab__run=run):
            sub.score = Decimal(45)
            sub.save(update_fields=["score", "updated_at"])
        assert task_calls == []  # nothing before the commit
    assert task_calls == [sorted(u.pk for u in people)]
    gpu_item = str(foundation.root.children.get(course=foundation.gpu).pk)
    for user in people:
        assert Allocation.objects.get(user=user).progress[gpu_item] == "available"  # 45 < 50


def test_a_cohort_allocated_at_once_is_one_task(foundation, task_calls):
    uni = InstitutionFactory()
    cohort = CohortFactory(institution=uni)
    people = [member(uni) for _ in range(5)]
    cohort.members.add(*people)
    task_calls.clear()
    admin = member(uni, Role.ADMIN)
    assert services.cohort_allocate(actor=admin, programme=foundation.programme, cohort=cohort) == 5
    assert task_calls == [sorted(u.pk for u in people)]
    assert all(a.computed_at for a in Allocation.objects.filter(user__in=people))


def test_saves_that_change_no_result_send_nothing(foundation, task_calls):
    allocation = join(foundation)
    run = finished_run(foundation.gpu)
    sub = result(allocation.user, run, 80)
    task_calls.clear()
    sub.feedback_released = True
    sub.save(update_fields=["feedback_released", "updated_at"])
    sub.reason = "checked"
    sub.save(update_fields=["reason"])
    assert task_calls == []
    sub.score = Decimal(81)
    sub.save(update_fields=["score"])
    assert task_calls == [[allocation.user_id]]


def test_a_rolled_back_savepoint_does_not_lose_the_people_of_the_outer_transaction(
    foundation, task_calls
):
    run = finished_run(foundation.gpu)
    first, second = join(foundation).user, join(foundation).user
    for user in (first, second):
        result(user, run, 80)
    task_calls.clear()
    with transaction.atomic():
        try:
            with transaction.atomic():
                regrade(run, first, 40)
                raise RuntimeError("the grader gave up")
        except RuntimeError:
            pass
        regrade(run, second, 40)
    # One task; the rolled-back person rides along (a needless but harmless recompute).
    assert task_calls == [sorted([first.pk, second.pk])]
    assert not getattr(connection, services._PENDING)


# --- the task: idempotent, batched, safe twice at once -------------------------------------


def test_recompute_runs_in_batches(foundation, no_triggers, monkeypatch):
    people = [join(foundation).user for _ in range(5)]
    batches: list[list[int]] = []
    real = services._recompute_batch

    def spy(user_ids, trees):  # type: ignore[no-untyped-def]
        batches.append(list(user_ids))
        return real(user_ids, trees)

    monkeypatch.setattr(services, "RECOMPUTE_BATCH", 2)
    monkeypatch.setattr(services, "_recompute_batch", spy)
    ids = [u.pk for u in people]
    assert services.recompute_progress([*ids, *ids]) == 5  # each person once
    assert [len(b) for b in batches] == [2, 2, 1]


def test_running_the_task_twice_changes_nothing_the_second_time(foundation, no_triggers):
    allocation = join(foundation)
    complete(foundation, allocation.user)
    assert services.recompute_progress([allocation.user_id]) == 1

    def snapshot():  # type: ignore[no-untyped-def]
        row = Allocation.objects.get(pk=allocation.pk)
        completion = Completion.objects.get(allocation=allocation)
        return (
            row.state,
            row.progress,
            row.items_done,
            row.credits_earned,
            completion.pk,
            completion.evidence,
            completion.needs_review,
            AuditEvent.objects.count(),
        )

    before = snapshot()
    assert services.recompute_progress([allocation.user_id]) == 1
    assert snapshot() == before
    assert before[0] == AllocationState.COMPLETED


def test_two_runs_at_once_for_the_same_person_leave_one_completion(foundation, no_triggers):
    allocation = join(foundation)
    complete(foundation, allocation.user)
    real = services.finished_results

    def slow(user_ids):  # type: ignore[no-untyped-def]
        time.sleep(0.3)  # both runs are inside their batch at the same time
        return real(user_ids)

    errors: list[BaseException] = []

    def run() -> None:
        try:
            services.recompute_progress([allocation.user_id])
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    services.finished_results = slow  # type: ignore[assignment]
    try:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        services.finished_results = real
    assert errors == []
    assert Completion.objects.filter(allocation=allocation).count() == 1
    assert AuditEvent.objects.filter(action="programme.complete").count() == 1


# --- completion and the review flag ---------------------------------------------------------


def test_the_completion_freezes_runs_grades_dates_version_and_credits(foundation):
    allocation = join(foundation)
    runs = complete(foundation, allocation.user)
    completion = Completion.objects.get(allocation=allocation)
    assert completion.version.number == 1
    assert completion.credits == Decimal(20)
    assert [e["course_code"] for e in completion.evidence] == [
        "GPU101",
        "MED210",
        "LLM230",
        "CAP300",
    ]
    gpu = completion.evidence[0]
    assert gpu["run"] == str(runs["gpu"].pk)
    assert gpu["run_title"] == runs["gpu"].title
    assert (gpu["grade"], gpu["passed"], gpu["points"]) == ("80.00", True, "5.0")
    assert gpu["finished_at"] == runs["gpu"].ends_at.isoformat()
    event = AuditEvent.objects.get(action="programme.complete")
    assert (event.target_id, event.actor_repr, event.data) == (
        str(allocation.pk),
        "system",
        {"version": 1},
    )


def test_a_later_grade_change_flags_the_record_once_with_what_changed(foundation):
    allocation = join(foundation)
    runs = complete(foundation, allocation.user)
    evidence = Completion.objects.get(allocation=allocation).evidence
    regrade(runs["gpu"], allocation.user, 72)
    completion = Completion.objects.get(allocation=allocation)
    assert completion.needs_review
    assert completion.review_reason == "GPU101: grade 80.00 → 72.00"
    assert completion.evidence == evidence
    flagged = AuditEvent.objects.get(action="programme.review_flag")
    assert flagged.data == {"reason": "GPU101: grade 80.00 → 72.00"}
    # Later changes leave the flagged record alone: no second flag, no rewrite.
    regrade(runs["cap"], allocation.user, 60)
    services.recompute_progress([allocation.user_id])
    completion.refresh_from_db()
    assert completion.review_reason == "GPU101: grade 80.00 → 72.00"
    assert completion.evidence == evidence
    assert AuditEvent.objects.filter(action="programme.review_flag").count() == 1


def test_a_cleared_flag_stays_cleared_until_something_else_changes(foundation):
    allocation = join(foundation)
    runs = complete(foundation, allocation.user)
    regrade(runs["gpu"], allocation.user, 72)
    Completion.objects.filter(allocation=allocation).update(needs_review=False)  # reviewed
    services.recompute_progress([allocation.user_id])
    assert not Completion.objects.get(allocation=allocation).needs_review
    regrade(runs["cap"], allocation.user, 65)
    completion = Completion.objects.get(allocation=allocation)
    assert completion.needs_review
    assert completion.review_reason == "GPU101: grade 80.00 → 72.00; CAP300: grade 91.00 → 65.00"
    assert AuditEvent.objects.filter(action="programme.review_flag").count() == 2


def test_results_that_no_longer_satisfy_the_tree_keep_the_completion_flagged(foundation):
    allocation = join(foundation)
    runs = complete(foundation, allocation.user)
    regrade(runs["gpu"], allocation.user, 40)  # under the pass mark: GPU101 is no longer done
    completion = Completion.objects.get(allocation=allocation)
    assert completion.needs_review
    assert completion.review_reason == (
        "GPU101: grade 80.00 → 40.00; the programme's requirements are no longer met"
    )
    allocation.refresh_from_db()
    assert allocation.state == AllocationState.COMPLETED
    assert allocation.items_done == 3  # progress itself shows today's results


def test_a_better_run_taken_after_completion_flags_nothing(foundation):
    allocation = join(foundation)
    complete(foundation, allocation.user)
    evidence = Completion.objects.get(allocation=allocation).evidence
    passed(allocation.user, foundation.gpu, 97)
    completion = Completion.objects.get(allocation=allocation)
    assert not completion.needs_review
    assert completion.evidence == evidence


def test_a_lost_result_is_named(foundation):
    allocation = join(foundation)
    runs = complete(foundation, allocation.user)
    Submission.objects.get(lab__run=runs["med"], student=allocation.user).delete()
    completion = Completion.objects.get(allocation=allocation)
    assert completion.review_reason.startswith("MED210: grade 70.00 → 0.00")


def test_the_sweep_recomputes_people_whose_run_has_just_ended(foundation, no_triggers):
    recent, earlier = join(foundation), join(foundation)
    result(recent.user, finished_run(foundation.gpu), 80)  # ended yesterday
    old = finished_run(foundation.gpu)
    old.ends_at -= timedelta(days=30)
    old.save(update_fields=["ends_at"])
    result(earlier.user, old, 80)  # ended a month ago: an earlier sweep saw it
    assert services.recompute_runs_ended(hours=25) == 1
    assert services.recompute_runs_ended() == 0  # the hourly window: nothing this hour
    recent.refresh_from_db()
    earlier.refresh_from_db()
    assert (recent.items_done, earlier.items_done) == (1, 0)
