"""Capacity under real concurrency: PostgreSQL, real transactions, one connection per thread."""

import threading

import pytest
from django.db import connection, connections

from courses import services
from courses.models import Enrolment, EnrolmentState
from tests.factories import CourseRunFactory, UserFactory

SEATS, STUDENTS = 10, 50


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.fail(
            "This test needs PostgreSQL (row locks under real concurrency), "
            f"not {connection.vendor}: "
            "run it with DATABASE_URL=postgresql://postgres@127.0.0.1:5432/academy"
        )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_fifty_students_race_for_ten_seats_and_a_withdrawal_promotes_once():
    _require_postgresql()
    run = CourseRunFactory(capacity=SEATS)
    users = [UserFactory() for _ in range(STUDENTS)]
    barrier = threading.Barrier(STUDENTS)
    errors: list[BaseException] = []

    def enrol(user) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            services.enrolment_request(run=run, user=user)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enrol, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    enrolments = list(Enrolment.objects.filter(run=run).order_by("requested_at", "id"))
    active = [e for e in enrolments if e.state == EnrolmentState.ACTIVE]
    waitlisted = sorted(
        (e for e in enrolments if e.state == EnrolmentState.WAITLISTED),
        key=lambda e: e.waitlist_position,
    )
    assert len(active) == SEATS
    assert len(waitlisted) == STUDENTS - SEATS
    # Arrival order = the order in which requests got the run's lock (requested_at is stamped
    # under it): every seat went before any waitlist place, and positions follow arrival.
    assert max(e.requested_at for e in active) <= min(e.requested_at for e in waitlisted)
    assert [e.waitlist_position for e in waitlisted] == list(range(1, STUDENTS - SEATS + 1))
    assert [e.requested_at for e in waitlisted] == sorted(e.requested_at for e in waitlisted)
    run.refresh_from_db()
    assert run.active_count == SEATS

    # One withdraws while others race to withdraw from the waitlist too: the head of the
    # waitlist gets the seat, exactly once.
    first_waiting = waitlisted[0]
    leaver = active[0]
    barrier2 = threading.Barrier(3)

    def withdraw(e) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier2.wait()
            services.enrolment_withdraw(enrolment=e, actor=e.user)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    racers = [
        threading.Thread(target=withdraw, args=(e,))
        for e in (leaver, waitlisted[-1], waitlisted[-2])
    ]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert errors == []
    first_waiting.refresh_from_db()
    assert first_waiting.state == EnrolmentState.ACTIVE
    run.refresh_from_db()
    assert run.active_count == SEATS
    assert Enrolment.objects.filter(run=run, state=EnrolmentState.ACTIVE).count() == SEATS
    assert (
        Enrolment.objects.filter(run=run, state=EnrolmentState.WAITLISTED).count()
        == STUDENTS - SEATS - 3
    )
    from academy.models import AuditEvent

    assert AuditEvent.objects.filter(action="enrolment.promote").count() == 1
