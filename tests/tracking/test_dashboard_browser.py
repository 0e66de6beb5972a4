"""An institution admin opens the tracking dashboard in a browser: the at-risk list with its
reasons first, the key numbers and the cohort table, three charts drawn without console
errors, a cohort filter that changes the figures, and the thresholds page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from academy.models import Institution
from notebooks.sessions.models import CohortGpuBudget
from programmes.models import Programme, ProgrammeCohort, ProgrammeVersion
from tests.browser.support import login
from tests.factories import CohortFactory, CourseFactory, CourseRunFactory, member
from tracking.models import InstitutionPolicy

from .test_dashboard import activity, allocate, gpu, track

FIRST = ["Ana", "Marko", "Jelena", "Nikola", "Milica", "Stefan", "Ivana", "Luka", "Sara", "Petar"]
LAST = ["Jovanović", "Petrović", "Nikolić", "Marković", "Đorđević", "Stojanović", "Ilić"]


def _demo(people) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Three cohorts of University A, two runs under way and one finished, twelve weeks of
    activity, GPU use against budgets, programme progress."""
    inst: Institution = people.inst_a
    now = timezone.now()
    today = timezone.localdate()
    gpu_run = CourseRunFactory(
        course=CourseFactory(code="GPU101", title="GPU programming"),
        title="Autumn 2026",
        starts_at=now - timedelta(days=80),
        ends_at=now + timedelta(days=20),
        pass_mark=Decimal(50),
    )
    llm_run = CourseRunFactory(
        course=CourseFactory(code="LLM230", title="Large language models"),
        title="Autumn 2026",
        starts_at=now - timedelta(days=60),
        ends_at=now + timedelta(days=40),
        pass_mark=Decimal(60),
    )
    old_run = CourseRunFactory(
        course=CourseFactory(code="PAR150", title="Parallel computing"),
        title="Spring 2026",
        starts_at=now - timedelta(days=200),
        ends_at=now - timedelta(days=30),
    )
    programme = Programme.objects.create(code="ai-foundation", title="AI engineer, foundation")
    version = ProgrammeVersion.objects.create(programme=programme, number=1)
    cohorts = [
        people.cohort_a,
        CohortFactory(institution=inst, name="Data science 2026", programme="Data science"),
        CohortFactory(institution=inst, name="HPC evening 2025", programme="HPC", intake_year=2025),
    ]
    n = 0
    for ci, cohort in enumerate(cohorts):
        size = (6, 9, 4)[ci]
        for _ in range(size):
            n += 1
            u = member(
                inst,
                username=f"demo{n}",
                first_name=FIRST[n % len(FIRST)],
                last_name=LAST[(n * 3) % len(LAST)],
            )
            cohort.members.add(u)
            idle = 2 + (n * 5) % 12
            if n in (3, 11):
                idle = 19 + n  # gone quiet
            grade = str(55 + (n * 7) % 40)
            trend = None
            if n == 7:
                grade, trend = "38", "-22"
            run = gpu_run if ci != 1 else llm_run
            track(
                u, run, cohort, grade=grade, trend=trend, idle_days=idle, missed=2 if n == 14 else 0
            )
            passed = n % 4 != 0
            track(
                u,
                old_run,
                cohort,
                state="completed" if passed or n % 3 else "withdrawn",
                grade=str(62 + (n * 3) % 30) if passed else "41",
                passed=passed,
                idle_days=35,
                completed_days_ago=28 + (n % 4) * 7,
            )
            for week in range(12):
                if (n + week) % 3 or week > 9:
                    activity(
                        u, run, inst, today - timedelta(days=week * 7 + n % 5), events=3 + n % 4
                    )
            if ci != 2:
                allocate(u, (programme, version), cohort, (n % 5) + 1, 6)
            for week in range(0, 12, 2):
                gpu(u, run, cohort, 0.5 + (n % 3) * 0.75, days_ago=week * 7 + 1)
        CohortGpuBudget.objects.create(
            run=gpu_run if ci != 1 else llm_run, cohort=cohort, gpu_hours=Decimal(40 + 20 * ci)
        )
    waiting = member(inst, username="waiting", first_name="Vesna", last_name="Čekić")
    cohorts[1].members.add(waiting)
    track(
        waiting,
        gpu_run,
        cohorts[1],
        state="waitlisted",
        grade=None,
        idle_days=None,
        waiting_days=21,
    )
    # Linked last, without signals: the programme's own receivers would allocate the members.
    ProgrammeCohort.objects.bulk_create(
        [ProgrammeCohort(programme=programme, cohort=c) for c in cohorts[:2]]
    )
    # B's people: never on A's dashboard.
    track(people.student_b, gpu_run, people.cohort_b, grade="5", idle_days=60)
    return {"cohort": cohorts[1].pk}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_follows_cohorts_on_the_dashboard(page: Page, live_server, people, artifacts):  # type: ignore[no-untyped-def]
    ids = _demo(people)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size({"width": 1360, "height": 900})
    base = live_server.url
    login(page, base, people.admin_a.username)

    page.goto(f"{base}/institutions/uni-a/")
    page.click("main a:text-is('Tracking')")
    expect(page.locator("h1")).to_have_text("Tracking")

    # The at-risk list is the first section, with reasons in words.
    risk = page.locator("#at-risk")
    expect(risk).to_be_visible()
    first_section = page.locator("main section, main .card").first
    expect(first_section).to_have_attribute("class", "card tracking-filters")  # the toolbar
    expect(page.locator("main section").first).to_have_class("card tracking-risk")
    expect(risk).to_contain_text("no activity for")
    expect(risk).to_contain_text("below the pass mark")
    expect(risk).to_contain_text("waitlisted for 21 days")
    expect(risk).to_contain_text("2 missed deadlines")
    assert (
        "Univerzitet B" not in risk.inner_text() and people.student_b.username not in page.content()
    )
    total_before = int(page.get_by_test_id("at-risk-total").inner_text())
    assert total_before >= 5

    # Key numbers, the cohort table, three charts drawn on their canvases.
    people_before = page.get_by_test_id("kpi-people").inner_text()
    assert people_before == "20"
    expect(page.locator("#cohort-table tbody tr")).to_have_count(3)
    for chart in ("chart-active", "chart-completions", "chart-gpu"):
        canvas = page.locator(f"#{chart}")
        expect(canvas).to_be_visible()
        drawn = page.evaluate(
            "id => { const c = document.getElementById(id);"
            " return !!window.Chart.getChart(c) && c.width > 0; }",
            chart,
        )
        assert drawn, chart
    page.screenshot(path=str(artifacts / "tracking-dashboard.png"), full_page=True)

    # The table behind the charts.
    page.click("summary:text('The trends as a table')")
    expect(page.locator("#trend-table tbody tr").first).to_be_visible()
    page.screenshot(path=str(artifacts / "tracking-dashboard-table.png"), full_page=True)

    # Pick a cohort: the figures change.
    page.select_option("#id_cohort", str(ids["cohort"]))
    page.click("form.tracking-filters button[type=submit]")
    expect(page.get_by_test_id("kpi-people")).to_have_text("10")
    expect(page.locator("#cohort-table tbody tr")).to_have_count(1)
    expect(page.locator("#cohort-table")).to_contain_text("Data science 2026")
    assert int(page.get_by_test_id("at-risk-total").inner_text()) < total_before
    page.screenshot(path=str(artifacts / "tracking-dashboard-cohort.png"), full_page=True)

    # A bad period: a message, not an error page.
    page.fill("#id_start", "2026-06-01")
    page.fill("#id_end", "2026-05-01")
    page.click("form.tracking-filters button[type=submit]")
    expect(page.locator("form.tracking-filters .errorlist")).to_contain_text(
        "must start before it ends"
    )

    # Thresholds: waitlisted for 30 days → the waitlisted person drops off the list.
    page.goto(f"{base}/institutions/uni-a/tracking/")
    page.click("text=At-risk thresholds")
    expect(page.locator("h1")).to_have_text("At-risk thresholds")
    page.fill("#id_waitlist_days", "30")
    page.fill("#id_inactive_days", "0")
    page.click("main button[type=submit]")
    expect(page.locator(".errorlist")).to_be_visible()
    page.screenshot(path=str(artifacts / "tracking-policy-error.png"), full_page=True)
    page.fill("#id_inactive_days", "21")
    page.click("main button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("At-risk thresholds saved")
    expect(page.locator("#at-risk")).not_to_contain_text("waitlisted for")
    assert InstitutionPolicy.objects.get(institution=people.inst_a).waitlist_days == 30
    page.screenshot(path=str(artifacts / "tracking-dashboard-after-thresholds.png"), full_page=True)
    assert not errors, errors
