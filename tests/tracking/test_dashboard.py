"""The institution's tracking dashboard: who may see it, the at-risk list with reasons, the
per-cohort figures, the weekly trends, the filters (bad values give a message, never a 500),
privacy across two institutions, a constant number of queries, and the thresholds page."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from academy.models import AuditEvent, Cohort, Institution, Role, User
from courses.models import CourseRun, Enrolment
from notebooks.sessions.models import CohortGpuBudget, GpuUsage
from programmes.models import Allocation, Programme, ProgrammeCohort, ProgrammeVersion
from tests.factories import CohortFactory, CourseFactory, CourseRunFactory, UserFactory, member
from tracking import selectors, services
from tracking.models import DailyActivity, EnrolmentSnapshot, InstitutionPolicy, RollupCursor

_jobs = itertools.count(1)


def track(
    user: User,
    run: CourseRun,
    cohort: Cohort | None = None,
    *,
    institution: Institution | None = None,
    state: str = "active",
    grade: str | None = "75",
    trend: str | None = None,
    missed: int = 0,
    idle_days: int | None = 1,
    passed: bool | None = None,
    waiting_days: int | None = None,
    completed_days_ago: int | None = None,
) -> EnrolmentSnapshot:
    """An enrolment and its snapshot, as the snapshot engine would leave them (with the
    dashboard's summaries)."""
    now = timezone.now()
    enrolment, _ = Enrolment.objects.update_or_create(
        run=run, user=user, defaults={"state": state, "cohort": cohort}
    )
    if completed_days_ago is not None:
        Enrolment.objects.filter(pk=enrolment.pk).update(
            state_changed_at=now - timedelta(days=completed_days_ago)
        )
    snap, _ = EnrolmentSnapshot.objects.update_or_create(
        enrolment=enrolment,
        defaults={
            "user": user,
            "run": run,
            "cohort": cohort,
            "institution": institution
            if institution is not None
            else getattr(cohort, "institution", None),
            "state": state,
            "grade": Decimal(grade) if grade is not None else None,
            "grade_trend": Decimal(trend) if trend is not None else None,
            "missed_deadlines": missed,
            "passed": passed,
            "last_activity_at": now - timedelta(days=idle_days) if idle_days is not None else None,
            "waitlisted_since": now - timedelta(days=waiting_days)
            if waiting_days is not None
            else None,
        },
    )
    services.rebuild_summaries()
    return snap


def activity(
    user: User, run: CourseRun, institution: Institution, day: date, events: int = 3
) -> None:
    DailyActivity.objects.create(
        day=day,
        user=user,
        run=run,
        institution=institution,
        lessons_viewed=events,
        events=events,
        last_at=datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_current_timezone()),
    )


def gpu(user: User, run: CourseRun, cohort: Cohort | None, hours: float, days_ago: int = 2) -> None:
    GpuUsage.objects.create(
        job_id=f"job-{next(_jobs)}",
        user=user,
        run=run,
        cohort=cohort,
        gpus=1,
        gpu_seconds=int(hours * 3600),
        started_at=timezone.now() - timedelta(days=days_ago),
    )


def url(slug: str = "uni-a", **query: object) -> str:
    base = reverse("tracking-dashboard", args=[slug])
    if query:
        from django.utils.http import urlencode

        base += "?" + urlencode(query)
    return base


@pytest.fixture
def run(db):  # type: ignore[no-untyped-def]
    return CourseRunFactory(course=CourseFactory(code="GPU101"), pass_mark=Decimal(50))


# --------------------------------------------------------------------------- access


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who,status",
    [
        ("admin_a", 200),
        ("operator", 200),
        ("admin_b", 404),
        ("instructor", 404),
        ("student", 404),
        ("outsider", 404),
    ],
)
def test_only_the_institutions_admins_and_operators(client, people, who, status):  # type: ignore[no-untyped-def]
    client.force_login(getattr(people, who))
    assert client.get(url()).status_code == status
    assert client.get(reverse("tracking-policy", args=["uni-a"])).status_code == status


@pytest.mark.django_db
def test_anonymous_is_sent_to_login_and_unknown_slug_is_404(client, people):  # type: ignore[no-untyped-def]
    response = client.get(url())
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(people.operator)
    assert client.get(url("no-such")).status_code == 404


@pytest.mark.django_db
def test_can_track(people):  # type: ignore[no-untyped-def]
    assert selectors.can_track(people.admin_a, people.inst_a)
    assert selectors.can_track(people.operator, people.inst_b)
    assert not selectors.can_track(people.admin_a, people.inst_b)
    assert not selectors.can_track(people.instructor, people.inst_a)
    assert not selectors.can_track(people.dual, people.inst_a)


@pytest.mark.django_db
def test_institution_page_links_to_tracking(client, people):  # type: ignore[no-untyped-def]
    client.force_login(people.admin_a)
    page = client.get(reverse("institution-detail", args=["uni-a"])).content.decode()
    assert url() in page


# --------------------------------------------------------------------------- at risk


@pytest.mark.django_db
def test_at_risk_list_comes_first_with_reasons(client, people, run):  # type: ignore[no-untyped-def]
    a = people.cohort_a
    idle = member(people.inst_a, username="idle", first_name="Ida", last_name="Idle")
    failing = member(people.inst_a, username="failing", first_name="Fay", last_name="Failing")
    waiting = member(people.inst_a, username="waiting", first_name="Walt", last_name="Waiting")
    fine = member(people.inst_a, username="fine", first_name="Fiona", last_name="Fine")
    missed = member(people.inst_a, username="missed", first_name="Max", last_name="Missed")
    a.members.add(idle, failing, waiting, fine, missed)
    track(idle, run, a, idle_days=20)
    track(failing, run, a, grade="30", trend="-25")
    track(waiting, run, a, state="waitlisted", grade=None, idle_days=None, waiting_days=30)
    track(fine, run, a)
    track(missed, run, a, missed=3)
    # A finished enrolment is never flagged, however bad.
    done = member(people.inst_a, username="done")
    track(done, CourseRunFactory(), a, state="completed", grade="10", idle_days=90, passed=False)

    client.force_login(people.admin_a)
    response = client.get(url())
    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["at_risk_total"] == 4
    names = {
        item.snapshot.user.username: [r.code for r in item.reasons]
        for item in response.context["at_risk"]
    }
    assert names == {
        "idle": ["inactive"],
        "failing": ["failing", "falling"],
        "waiting": ["waitlisted"],
        "missed": ["missed"],
    }
    assert "no activity for 20 days" in page
    assert "grade 30% below the pass mark of 50%" in page
    assert "waitlisted for 30 days" in page
    assert "3 missed deadlines" in page
    assert "Fiona" not in page.split('id="cohort-table"')[0]
    # The list is the first thing after the filters: before the key numbers and the cohorts.
    assert (
        page.index('id="at-risk"')
        < page.index('data-testid="kpi-people"')
        < page.index('id="cohort-table"')
    )


@pytest.mark.django_db
def test_at_risk_list_is_limited_but_counts_all(people, run):  # type: ignore[no-untyped-def]
    for i in range(7):
        u = member(people.inst_a, username=f"quiet{i}")
        track(u, run, people.cohort_a, idle_days=30 + i)
    shown, total = selectors.at_risk(people.inst_a, selectors.Filters.default(), limit=5)
    assert total == 7 and len(shown) == 5
    # Longest silent first.
    assert [s.snapshot.user.username for s in shown] == [f"quiet{i}" for i in (6, 5, 4, 3, 2)]


@pytest.mark.django_db
def test_at_risk_uses_the_institutions_thresholds_and_each_runs_pass_mark(people):  # type: ignore[no-untyped-def]
    strict = CourseRunFactory(pass_mark=Decimal(80))
    lenient = CourseRunFactory(pass_mark=Decimal(40))
    u = member(people.inst_a, username="sixty")
    track(u, strict, people.cohort_a, grade="60", idle_days=10)
    track(u, lenient, people.cohort_a, grade="60", idle_days=10)
    f = selectors.Filters.default()
    shown, total = selectors.at_risk(people.inst_a, f)
    assert total == 1 and shown[0].snapshot.run == strict  # 60 < 80, not < 40; 10 days < 14
    InstitutionPolicy.objects.create(institution=people.inst_a, inactive_days=7, failing_margin=25)
    shown, total = selectors.at_risk(people.inst_a, f)
    assert total == 2
    assert {tuple(r.code for r in s.reasons) for s in shown} == {("inactive",)}


# --------------------------------------------------------------------------- figures


@pytest.fixture
def programme(db):  # type: ignore[no-untyped-def]
    p = Programme.objects.create(code="ai-foundation", title="AI engineer, foundation")
    return p, ProgrammeVersion.objects.create(programme=p, number=1)


def allocate(user: User, programme, cohort: Cohort, done: int, total: int) -> None:  # type: ignore[no-untyped-def]
    p, v = programme
    Allocation.objects.create(
        user=user,
        programme=p,
        version=v,
        state="active",
        source="cohort",
        cohort=cohort,
        items_done=done,
        items_total=total,
    )


@pytest.mark.django_db
def test_cohort_figures(client, people, run, programme):  # type: ignore[no-untyped-def]
    a = people.cohort_a
    other = CohortFactory(institution=people.inst_a, name="A evening")
    old = CourseRunFactory(pass_mark=Decimal(50))
    u1, u2, u3 = (member(people.inst_a, username=f"u{i}") for i in range(3))
    a.members.add(u1, u2, u3)
    track(u1, run, a, grade="80")
    track(u2, run, a, grade="60")
    track(u1, old, a, state="completed", grade="90", passed=True, idle_days=40)
    track(u2, old, a, state="completed", grade="40", passed=False, idle_days=50)
    track(u3, old, a, state="withdrawn", grade=None, passed=False, idle_days=60)
    allocate(u1, programme, a, 3, 6)  # 50 %
    allocate(u2, programme, a, 6, 6)  # 100 %
    gpu(u1, run, a, 2.5)
    gpu(u2, run, a, 1.5)
    gpu(u3, run, None, 99)  # no cohort: nobody's
    CohortGpuBudget.objects.create(run=run, cohort=a, gpu_hours=Decimal(10))

    client.force_login(people.admin_a)
    response = client.get(url())
    figures = response.context["figures"]
    rows = {r.cohort.name: r for r in figures.cohorts}
    assert set(rows) == {"A 2026", "A evening"}
    row = rows["A 2026"]
    assert row.people == 5  # student, dual and the three here
    assert row.active == 2
    assert row.completion_rate == pytest.approx(40.0)  # 2 completed of 5 started
    assert row.pass_rate == pytest.approx(33.3)  # 1 passed of 3 finished
    assert row.average_grade == Decimal("67.5")  # (80 + 60 + 90 + 40) / 4
    assert row.programme_progress == pytest.approx(75.0)
    assert row.gpu_used == Decimal("4.00") and row.gpu_budget == Decimal(10)
    assert row.gpu_percent == pytest.approx(40.0)
    assert row.last_activity is not None and timezone.now() - row.last_activity < timedelta(days=2)
    empty = rows["A evening"]
    assert empty.people == 0 and empty.active == 0 and empty.pass_rate is None
    assert figures.people == 3 and figures.active == 2 and figures.gpu_used == Decimal("4.00")
    page = response.content.decode()
    assert "67.5%" in page and "33.3%" in page and "75.0%" in page
    assert other.name in page


@pytest.mark.django_db
def test_trends_by_week(client, people, run):  # type: ignore[no-untyped-def]
    a = people.cohort_a
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    u1, u2 = people.student, member(people.inst_a, username="second")
    a.members.add(u2)
    track(u1, run, a)
    track(u2, run, a)
    activity(u1, run, people.inst_a, monday)
    activity(u2, run, people.inst_a, monday)
    activity(u1, run, people.inst_a, monday - timedelta(days=7))
    activity(u1, run, people.inst_a, monday - timedelta(days=6))  # same week, counted once
    done = CourseRunFactory()
    track(u1, done, a, state="completed", passed=True, completed_days_ago=(today - monday).days)
    track(u2, done, a, state="completed", passed=False, completed_days_ago=(today - monday).days)
    gpu(u1, run, a, 3, days_ago=(today - monday).days)
    t = selectors.trends(people.inst_a, selectors.Filters.default())
    assert len(t.weeks) in (12, 13) and t.weeks[-1] == monday
    assert t.active_learners[-1] == 2 and t.active_learners[-2] == 1 and sum(t.active_learners) == 3
    assert t.completed[-1] == 2 and t.passed[-1] == 1
    assert t.gpu_hours[-1] == pytest.approx(3.0)

    client.force_login(people.admin_a)
    page = client.get(url()).content.decode()
    assert 'id="tracking-chart-data"' in page and 'id="trend-table"' in page
    assert '<canvas id="chart-active"' in page and '<canvas id="chart-gpu"' in page


@pytest.mark.parametrize(
    "raw",
    [date(2026, 10, 12), datetime(2026, 10, 12, 0, 0), "2026-10-12", "2026-10-12 00:00:00"],
)
def test_a_week_from_any_database_is_a_date(raw):  # type: ignore[no-untyped-def]
    """The active learners are counted through a raw cursor: SQLite (the embedded default) gives
    the week as text, which must still match the chart's weeks (it showed zero every week)."""
    assert selectors._week_key(raw) == date(2026, 10, 12)


# --------------------------------------------------------------------------- filters


@pytest.mark.django_db
def test_filters_narrow_the_figures(client, people, run, programme):  # type: ignore[no-untyped-def]
    a = people.cohort_a
    b2 = CohortFactory(institution=people.inst_a, name="A second")
    other_run = CourseRunFactory(course=CourseFactory(code="LLM230"))
    u1, u2 = member(people.inst_a, username="one"), member(people.inst_a, username="two")
    a.members.add(u1)
    b2.members.add(u2)
    track(u1, run, a, idle_days=30)
    track(u2, other_run, b2)
    ProgrammeCohort.objects.create(programme=programme[0], cohort=b2)
    client.force_login(people.admin_a)

    everything = client.get(url()).context
    assert everything["figures"].enrolments == 2 and everything["at_risk_total"] == 1
    by_cohort = client.get(url(cohort=b2.pk)).context
    assert [r.cohort for r in by_cohort["figures"].cohorts] == [b2]
    assert by_cohort["figures"].enrolments == 1 and by_cohort["at_risk_total"] == 0
    by_programme = client.get(url(programme=programme[0].pk)).context
    assert [r.cohort for r in by_programme["figures"].cohorts] == [b2]
    by_course = client.get(url(course=run.course.pk)).context
    assert by_course["figures"].enrolments == 1 and by_course["at_risk_total"] == 1
    by_run = client.get(url(run=other_run.pk)).context
    assert by_run["figures"].enrolments == 1 and by_run["at_risk_total"] == 0
    period = client.get(url(start="2026-01-05", end="2026-02-01")).context
    assert period["filters"].start == date(2026, 1, 5) and len(period["trends"].weeks) == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query,message",
    [
        ({"cohort": "abc"}, "Select a valid choice"),
        ({"cohort": "999999"}, "Select a valid choice"),
        ({"run": "-1"}, "Select a valid choice"),
        ({"start": "2026-13-45"}, "Enter a valid date"),
        ({"start": "2026-05-01", "end": "2026-04-01"}, "must start before it ends"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "at most two years"),
    ],
)
def test_bad_filters_give_a_message(client, people, query, message):  # type: ignore[no-untyped-def]
    client.force_login(people.admin_a)
    response = client.get(url(**query))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["filters"] == selectors.Filters.default()


@pytest.mark.django_db
def test_another_institutions_cohort_is_not_a_choice(client, people):  # type: ignore[no-untyped-def]
    client.force_login(people.admin_a)
    response = client.get(url(cohort=people.cohort_b.pk))
    assert "Select a valid choice" in response.content.decode()
    assert people.cohort_b.name not in response.content.decode()


# --------------------------------------------------------------------------- privacy


@pytest.mark.django_db
def test_dual_member_is_seen_only_as_each_institutions_member(client, people, run):  # type: ignore[no-untyped-def]
    """``dual`` studies run X through A's cohort and run Y through B's (and run Z with no
    cohort, attributed to nobody): each admin sees only their side."""
    dual = people.dual
    run_b = CourseRunFactory(course=CourseFactory(code="BONLY"))
    run_z = CourseRunFactory(course=CourseFactory(code="NOBODY"))
    track(dual, run, people.cohort_a, grade="70")
    track(dual, run_b, people.cohort_b, grade="20", idle_days=40)  # at risk, in B only
    track(dual, run_z, None, institution=None, grade="5", idle_days=99)  # nobody's
    today = timezone.localdate()
    activity(dual, run, people.inst_a, today)
    activity(dual, run_b, people.inst_b, today - timedelta(days=7))
    activity(dual, run_b, people.inst_b, today - timedelta(days=14))
    gpu(dual, run, people.cohort_a, 1)
    gpu(dual, run_b, people.cohort_b, 7)
    CohortGpuBudget.objects.create(run=run_b, cohort=people.cohort_b, gpu_hours=Decimal(50))

    client.force_login(people.admin_a)
    seen_a = client.get(url("uni-a"))
    page_a = seen_a.content.decode()
    fa = seen_a.context["figures"]
    assert fa.enrolments == 1 and fa.gpu_used == Decimal("1.00") and fa.gpu_budget is None
    assert fa.average_grade == Decimal("70.0")
    assert seen_a.context["at_risk_total"] == 0
    assert sum(seen_a.context["trends"].active_learners) == 1
    assert sum(seen_a.context["trends"].gpu_hours) == pytest.approx(1.0)
    assert "BONLY" not in page_a and "NOBODY" not in page_a and people.cohort_b.name not in page_a

    client.force_login(people.admin_b)
    seen_b = client.get(url("uni-b"))
    page_b = seen_b.content.decode()
    fb = seen_b.context["figures"]
    assert fb.enrolments == 1 and fb.gpu_used == Decimal("7.00") and fb.gpu_budget == Decimal(50)
    assert seen_b.context["at_risk_total"] == 1
    assert seen_b.context["at_risk"][0].snapshot.run == run_b
    assert sum(seen_b.context["trends"].active_learners) == 2
    assert "GPU101" not in page_b and "NOBODY" not in page_b and people.cohort_a.name not in page_b
    # The B admin cannot reach A's page at all, nor filter B's by A's cohort.
    assert client.get(url("uni-a")).status_code == 404
    assert (
        "Select a valid choice"
        in client.get(url("uni-b", cohort=people.cohort_a.pk)).content.decode()
    )


# --------------------------------------------------------------------------- queries


def _populate(
    inst: Institution, n_cohorts: int, per_cohort: int, runs: list[CourseRun], programme
) -> None:  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    for c in range(n_cohorts):
        cohort = CohortFactory(institution=inst, name=f"Q{n_cohorts}-{c}")
        ProgrammeCohort.objects.create(programme=programme[0], cohort=cohort)
        for i in range(per_cohort):
            u = UserFactory(username=f"q{n_cohorts}-{c}-{i}")
            cohort.members.add(u)
            for k, r in enumerate(runs):
                track(
                    u,
                    r,
                    cohort,
                    idle_days=(i * 9 + k) % 30,
                    grade=str(30 + (i * 13) % 60),
                    missed=i % 3,
                )
                activity(u, r, inst, today - timedelta(days=(i + k) % 60))
            allocate(u, programme, cohort, i % 4, 4)
            gpu(u, runs[0], cohort, 0.5)
        CohortGpuBudget.objects.create(run=runs[0], cohort=cohort, gpu_hours=Decimal(20))


# Session, user, institution, admin check, policy, 4 filter choices, the at-risk ids with their
# count (a window) and those rows, per-cohort summaries, people, GPU used, budgets, programme
# progress, cohorts, roll-up cursor, active learners, completions, GPU per week, the navigation's
# roles.
DASHBOARD_QUERIES = 22


@pytest.mark.django_db
@pytest.mark.parametrize("n_cohorts", [2, 10])
def test_dashboard_queries_do_not_grow(
    client, people, programme, django_assert_num_queries, n_cohorts
):  # type: ignore[no-untyped-def]
    runs = [CourseRunFactory(), CourseRunFactory()]
    _populate(people.inst_a, n_cohorts, 3, runs, programme)
    client.force_login(people.admin_a)
    client.get(url())  # warm the session
    cache.clear()
    with django_assert_num_queries(DASHBOARD_QUERIES):
        response = client.get(url())
    assert len(response.context["figures"].cohorts) == n_cohorts + 1
    assert response.context["at_risk_total"] > 0
    # Again: the active learners come from the cache (the roll-up has not moved).
    with django_assert_num_queries(DASHBOARD_QUERIES - 1):
        client.get(url())
    # + validating the chosen cohort, - reading at-risk rows (none in that cohort)
    with django_assert_num_queries(DASHBOARD_QUERIES):
        response = client.get(url(cohort=people.cohort_a.pk))
    assert response.context["at_risk_total"] == 0


@pytest.mark.django_db
def test_cached_active_learners_follow_the_roll_up(people, run):  # type: ignore[no-untyped-def]
    track(people.student, run, people.cohort_a)
    today = timezone.localdate()
    activity(people.student, run, people.inst_a, today)
    services.roll_up()  # the cursor row exists
    f = selectors.Filters.default()
    assert sum(selectors.trends(people.inst_a, f).active_learners) == 1
    assert sum(selectors.trends(people.inst_b, f).active_learners) == 0
    activity(people.dual, run, people.inst_a, today)
    assert sum(selectors.trends(people.inst_a, f).active_learners) == 1  # cached
    RollupCursor.objects.update(last_event_id=F("last_event_id") + 1, updated_at=timezone.now())
    assert sum(selectors.trends(people.inst_a, f).active_learners) == 2


# --------------------------------------------------------------------------- thresholds


@pytest.mark.django_db
def test_thresholds_are_saved_audited_and_used(client, people, run):  # type: ignore[no-untyped-def]
    u = member(people.inst_a, username="tenday")
    track(u, run, people.cohort_a, idle_days=10)
    client.force_login(people.admin_a)
    assert client.get(url()).context["at_risk_total"] == 0
    page = client.get(reverse("tracking-policy", args=["uni-a"]))
    assert page.status_code == 200 and 'value="14"' in page.content.decode()

    bad = client.post(
        reverse("tracking-policy", args=["uni-a"]),
        {
            "inactive_days": "0",
            "failing_margin": "abc",
            "trend_drop": "15",
            "missed_deadlines": "2",
            "waitlist_days": "14",
        },
    )
    assert bad.status_code == 200 and not InstitutionPolicy.objects.exists()
    assert "errorlist" in bad.content.decode()

    response = client.post(
        reverse("tracking-policy", args=["uni-a"]),
        {
            "inactive_days": "7",
            "failing_margin": "5",
            "trend_drop": "10",
            "missed_deadlines": "1",
            "waitlist_days": "3",
        },
    )
    assert response.status_code == 302 and response["Location"] == url()
    policy = InstitutionPolicy.objects.get(institution=people.inst_a)
    assert policy.inactive_days == 7 and policy.waitlist_days == 3
    event = AuditEvent.objects.get(action="tracking.policy_change")
    assert event.institution == people.inst_a and event.actor == people.admin_a
    assert event.data["inactive_days"] == "7"
    risky = client.get(url()).context
    assert risky["at_risk_total"] == 1
    assert not InstitutionPolicy.objects.filter(institution=people.inst_b).exists()


@pytest.mark.django_db
def test_another_admin_cannot_change_thresholds(client, people):  # type: ignore[no-untyped-def]
    client.force_login(people.admin_b)
    response = client.post(reverse("tracking-policy", args=["uni-a"]), {"inactive_days": "1"})
    assert response.status_code == 404
    assert not InstitutionPolicy.objects.exists()
    client.force_login(member(people.inst_a, Role.INSTRUCTOR, username="teacher"))
    assert (
        client.post(reverse("tracking-policy", args=["uni-a"]), {"inactive_days": "1"}).status_code
        == 404
    )
