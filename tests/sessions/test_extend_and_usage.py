"""Extend calls Slurm with no row lock held and stays right under concurrent clicks; the GPU
usage page reads through notebooks.sessions.selectors in a constant number of queries.

Real PostgreSQL (the locks are real; each thread has its own connection), the Slurm and hub
fakes of tests/sessions/fakes.py in place of the cluster."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from academy.models import Membership, Role
from courses.models import CourseRun
from notebooks.clients.slurm import SlurmError
from notebooks.sessions import services
from notebooks.sessions.models import GpuUsage, LabSession, SessionState
from tests.factories import UserFactory

from .fakes import FakeSlurm


def _running(setup, hub) -> LabSession:  # type: ignore[no-untyped-def]
    hub.start_as = "ready"
    session = services.session_open(actor=setup.student, lab=setup.lab)
    session = services.session_start(session_id=session.pk)
    assert session is not None and session.state == SessionState.RUNNING
    return session


def _lockable(model, pk: int) -> bool:  # type: ignore[no-untyped-def]
    """Whether another connection can lock the row at once (NOWAIT)."""
    result: list[bool] = []

    def probe() -> None:
        try:
            with transaction.atomic():
                model.objects.select_for_update(nowait=True).get(pk=pk)
            result.append(True)
        except DatabaseError:
            result.append(False)
        finally:
            connection.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return result[0]


class ProbingSlurm(FakeSlurm):
    """Notes, while ``scontrol update`` runs, whether the run and the session rows are free."""

    def __init__(self, session_id: int, run_id: int) -> None:
        super().__init__()
        self.session_id, self.run_id = session_id, run_id
        self.free: list[tuple[bool, bool]] = []

    def _run(self, *args: str) -> str:
        if args[:2] == ("scontrol", "update"):
            self.free.append(
                (_lockable(CourseRun, self.run_id), _lockable(LabSession, self.session_id))
            )
        return super()._run(*args)


class SlowSlurm(FakeSlurm):
    """A slow ``scontrol``: concurrent clicks overlap while it runs."""

    def _run(self, *args: str) -> str:
        if args[:2] == ("scontrol", "update"):
            time.sleep(0.5)
        return super()._run(*args)


class BrokenSlurm(FakeSlurm):
    def _run(self, *args: str) -> str:
        if args[:2] == ("scontrol", "update"):
            raise SlurmError("scontrol: Access/permission denied")
        return super()._run(*args)


@pytest.mark.django_db(transaction=True)
def test_extend_calls_slurm_with_no_row_locked(lab_setup, fake_hub, fake_slurm):
    session = _running(lab_setup, fake_hub)
    probing = ProbingSlurm(session.pk, lab_setup.run.pk)
    services.clients.override("slurm", probing)
    try:
        session = services.session_extend(actor=lab_setup.student, session=session, minutes=30)
    finally:
        services.clients.override("slurm", fake_slurm)
    assert probing.extended == [(session.slurm_job_id, 30)]
    assert probing.free == [(True, True)]  # run and session both free while Slurm works
    assert session.walltime_minutes == 90


@pytest.mark.django_db(transaction=True)
def test_concurrent_clicks_extend_once_when_only_one_fits(lab_setup, fake_hub, fake_slurm):
    """The profile allows 120 minutes; the session has 60 and each click asks for 40: the
    first fits (100), the second would not (140).  Both clicks arrive together and Slurm is
    slow: exactly one extension reaches Slurm and the row says what Slurm has."""
    # Budgets large enough for both: only the wall-time limit may refuse the second click.
    CourseRun.objects.filter(pk=lab_setup.run.pk).update(
        gpu_hours_per_student=Decimal("10"), gpu_budget_hours=Decimal("100")
    )
    session = _running(lab_setup, fake_hub)
    slow = SlowSlurm()
    services.clients.override("slurm", slow)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def click() -> None:
        stale = LabSession.objects.get(pk=session.pk)  # as each request read it
        barrier.wait()
        try:
            services.session_extend(actor=lab_setup.student, session=stale, minutes=40)
            outcomes.append("extended")
        except services.SessionRefused as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=click) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        services.clients.override("slurm", fake_slurm)
    assert sorted(outcomes) == ["This session cannot be extended any further.", "extended"]
    assert slow.extended == [(session.slurm_job_id, 40)]
    session.refresh_from_db()
    assert session.walltime_minutes == 100


@pytest.mark.django_db(transaction=True)
def test_a_refused_extension_takes_its_intent_back(lab_setup, fake_hub, fake_slurm):
    session = _running(lab_setup, fake_hub)
    ends = session.ends_at
    services.clients.override("slurm", BrokenSlurm())
    try:
        with pytest.raises(services.SessionRefused):
            services.session_extend(actor=lab_setup.student, session=session, minutes=30)
    finally:
        services.clients.override("slurm", fake_slurm)
    session.refresh_from_db()
    assert session.walltime_minutes == 60
    assert session.ends_at == ends
    # The budget no longer counts the minutes: the same extension passes once Slurm agrees.
    session = services.session_extend(actor=lab_setup.student, session=session, minutes=30)
    assert session.walltime_minutes == 90


def _usage(setup, n: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        user = UserFactory(username=f"u{n}-{i}")
        setup.people.cohort_a.members.add(user)
        Membership.objects.create(user=user, institution=setup.people.inst_a, role=Role.STUDENT)
        session = LabSession.objects.create(
            user=user,
            lab=setup.lab,
            run=setup.run,
            cohort=setup.people.cohort_a,
            partition="gpu",
            server_name=f"lab-{n}-{i}",
            walltime_minutes=60,
            state="running" if i % 2 else "ended",
            gpu_seconds_saved=600,
        )
        GpuUsage.objects.create(
            job_id=f"{n}{i}",
            session=session,
            user=user,
            run=setup.run,
            cohort=setup.people.cohort_a,
            gpus=1,
            gpu_seconds=3600,
            started_at=timezone.now() - timedelta(days=i % 3),
        )


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["instructor", "admin_a", "operator"])
def test_the_usage_page_takes_a_constant_number_of_queries(
    lab_setup, django_assert_num_queries, who
):
    """Session and user of the request (2), the run (1), the viewer's run roles (1, none for
    an operator), the admin's institutions (1); for an admin, whether anything is theirs (2);
    the daily sums, the budgets, the totals, the live count, the saving (5); for the staff the
    GPU time of the grading jobs and of the version tests on the cluster (2); the navigation's
    roles (1)."""
    expected = {"instructor": 13, "admin_a": 13, "operator": 12}[who]
    client = Client()
    client.force_login(getattr(lab_setup.people, who))
    for n in (2, 6):
        _usage(lab_setup, n)
        with django_assert_num_queries(expected):
            response = client.get(f"/runs/{lab_setup.run.pk}/gpu/")
        assert response.status_code == 200
        assert response.context["total"] == pytest.approx(2 + (6 if n == 6 else 0))
