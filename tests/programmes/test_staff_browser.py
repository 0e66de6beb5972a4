"""The staff acceptance stories of programmes, in Debian's chromium: an operator builds a
programme with an elective set and a capstone (and is refused an impossible set), and an
institution admin allocates a cohort and follows its progress."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from academy.models import Role
from programmes import services
from programmes.models import Allocation, Programme, ProgrammeStatus, Requirement, Rule
from tests.browser.support import login
from tests.factories import (
    CohortFactory,
    CourseFactory,
    InstitutionFactory,
    OperatorFactory,
    member,
)

from .conftest import build_foundation, passed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_course(page: Page, parent: Requirement, course, points: str = "5") -> None:  # type: ignore[no-untyped-def]
    node = page.locator(f"#node-{parent.pk}")
    details = node.locator(":scope > details.node-add")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    form = details.locator("form.add-item")
    form.locator("select").select_option(str(course.pk))
    form.locator("input[name$='-points']").fill(points)
    form.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text(f"“{course.code}” added.")


def add_set(page: Page, parent: Requirement, title: str, rule: str, count: str) -> None:
    details = page.locator(f"#node-{parent.pk} > details.node-add")
    details.locator("summary").click()
    form = details.locator("form.add-set")
    form.locator("input[name$='-title']").fill(title)
    form.locator("select").select_option(rule)
    form.locator("input[name$='-count']").fill(count)
    form.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text(f"“{title}” added.")


def test_staff_build_a_programme_with_electives_and_a_capstone(live_server, page: Page, artifacts):
    OperatorFactory(username="op")
    gpu = CourseFactory(code="GPU101", title="GPU computing fundamentals")
    electives = [
        CourseFactory(code="MED210", title="Medical imaging"),
        CourseFactory(code="ENE220", title="Energy forecasting"),
        CourseFactory(code="LLM230", title="Fine-tuning language models"),
    ]
    capstone = CourseFactory(code="CAP300", title="Capstone project")

    login(page, live_server.url, "op")
    page.goto(f"{live_server.url}/manage/programmes/")
    page.click("text=New programme")
    page.fill("#id_code", "ai-engineer")
    page.fill("#id_title", "AI engineer, foundation")
    page.fill("#id_title_sr", "АИ инжењер, основни ниво")
    page.fill("#id_description", "GPU fundamentals, two electives and a capstone.")
    page.fill("#id_eqf_level", "6")
    page.fill("#id_ects", "20")
    page.check("input[name=sectors][value=research]")
    page.screenshot(path=str(artifacts / "programmes-staff-new.png"), full_page=True)
    page.click("#new-programme button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Programme “AI engineer, foundation” created")
    programme = Programme.objects.get(code="ai-engineer")
    root = Requirement.objects.get(version__programme=programme, parent=None)

    # The root: foundation, then the electives, then the capstone, in this order.
    page.click(f"#node-{root.pk} > .node-head >> text=Change")
    page.select_option("#id_rule", Rule.ALL_IN_ORDER)
    page.click("main button[type=submit]")
    expect(page.locator(f"#node-{root.pk} > .node-head .rule")).to_have_text("All, in order")
    add_course(page, root, gpu)
    # "At least 4 of" three courses: nobody could ever complete it.
    add_set(page, root, "Two electives", Rule.AT_LEAST, "4")
    elective_set = Requirement.objects.get(version__programme=programme, title="Two electives")
    for course in electives:
        add_course(page, elective_set, course)
    add_course(page, root, capstone)
    expect(page.locator("#problems")).to_contain_text(
        "“Two electives” asks for more items than it holds"
    )
    page.click("#publish")
    expect(page.locator("#publish-errors")).to_contain_text("cannot be published")
    expect(page.locator("#publish-errors")).to_contain_text("“Two electives” asks for more items")
    page.screenshot(path=str(artifacts / "programmes-staff-builder-refused.png"), full_page=True)
    assert Programme.objects.get(pk=programme.pk).status == ProgrammeStatus.DRAFT

    page.click(f"#node-{elective_set.pk} > .node-head >> text=Change")
    page.fill("#id_count", "2")
    page.screenshot(path=str(artifacts / "programmes-staff-change.png"), full_page=True)
    page.click("main button[type=submit]")
    expect(page.locator(f"#node-{elective_set.pk} > .node-head .rule")).to_have_text(
        "At least 2 of"
    )
    expect(page.locator("#problems")).to_have_count(0)
    page.click("#publish")
    expect(page.locator(".messages")).to_contain_text("Version 1 is published")
    expect(page.locator("#programme-status")).to_have_text("Published")
    steps = page.locator(f"#node-{root.pk} > .tree > li > .node-head .step")
    expect(steps).to_have_text(["1", "2", "3"])
    page.screenshot(path=str(artifacts / "programmes-staff-builder-published.png"), full_page=True)

    page.goto(f"{live_server.url}/manage/programmes/")
    expect(page.locator("#programme-ai-engineer")).to_contain_text("Published")
    page.screenshot(path=str(artifacts / "programmes-staff-list.png"), full_page=True)
    tree = services.selectors.tree(programme.versions.get())
    assert [c.label for c in tree.children] == ["GPU101", "Two electives", "CAP300"]


def test_institution_admin_allocates_a_cohort_and_follows_its_progress(
    live_server, page: Page, artifacts
):
    f = build_foundation()
    institution = InstitutionFactory(slug="uni-x", name="University X")
    cohort = CohortFactory(institution=institution, name="AI 2027")
    member(institution, Role.ADMIN, username="admin")
    ana = member(institution, Role.STUDENT, username="ana", first_name="Ana", last_name="Arsić")
    boris = member(institution, Role.STUDENT, username="boris", first_name="Boris", last_name="Bić")
    cohort.members.add(ana, boris)

    login(page, live_server.url, "admin")
    page.goto(f"{live_server.url}/manage/programmes/{f.programme.code}/cohorts/")
    page.select_option("#id_cohort", label="AI 2027 · University X")
    page.screenshot(path=str(artifacts / "programmes-staff-cohort-allocate.png"), full_page=True)
    page.click("#allocate button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("2 people allocated")
    assert Allocation.objects.filter(programme=f.programme, cohort=cohort).count() == 2

    # Results come in: Ana passed the foundation and two electives, Boris the foundation.
    passed(ana, f.gpu)
    passed(ana, f.electives[0], percent=75)
    passed(ana, f.electives[1], percent=90)
    passed(boris, f.gpu)
    services.recompute_progress([ana.pk, boris.pk])

    page.reload()
    ana_row = page.locator(f"#allocation-{Allocation.objects.get(user=ana).pk}")
    expect(ana_row).to_contain_text("3 / 5")
    expect(ana_row).to_contain_text("15")
    expect(page.locator(f"#allocation-{Allocation.objects.get(user=boris).pk}")).to_contain_text(
        "1 / 5"
    )
    expect(page.locator("#summary")).to_contain_text("0 / 2")
    expect(page.locator("#summary")).to_contain_text("10 ECTS on average")
    page.screenshot(path=str(artifacts / "programmes-staff-cohort-progress.png"), full_page=True)

    ana_row.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text("Ana Arsić")
    expect(page.locator("#programme-map")).to_contain_text("CAP300")
    page.screenshot(path=str(artifacts / "programmes-staff-person.png"), full_page=True)

    page.goto(f"{live_server.url}/institutions/uni-x/cohorts/{cohort.pk}/")
    page.click("#cohort-programmes >> text=AI engineer, foundation")
    expect(page.locator("h1")).to_contain_text("AI 2027")

    # A second allocation of the same cohort is refused in words.
    page.goto(f"{live_server.url}/manage/programmes/{f.programme.code}/cohorts/")
    page.select_option("#id_cohort", label="AI 2027 · University X")
    page.click("#allocate button[type=submit]")
    expect(page.locator("#allocate")).to_contain_text("This cohort already follows this programme.")


def test_managers_see_people_and_the_summary(live_server, page: Page, artifacts):
    f = build_foundation()
    OperatorFactory(username="op")
    institution = InstitutionFactory(name="University Y")
    cohort = CohortFactory(institution=institution, name="GPU 2026")
    people = [member(institution, Role.STUDENT) for _ in range(3)]
    cohort.members.add(*people)
    services.cohort_allocate(actor=f.operator, programme=f.programme, cohort=cohort)
    passed(people[0], f.gpu)
    services.recompute_progress([p.pk for p in people])

    login(page, live_server.url, "op")
    page.goto(f"{live_server.url}/manage/programmes/{f.programme.code}/people/")
    expect(page.locator("#summary")).to_contain_text("GPU 2026")
    expect(page.locator("#people tbody tr")).to_have_count(3)
    page.screenshot(path=str(artifacts / "programmes-staff-people.png"), full_page=True)

    # People follow version 1: it is frozen, and changes go into a new version.
    page.click("text=← AI engineer, foundation")
    expect(page.locator("#frozen")).to_contain_text("3 people follow it")
    expect(page.locator("#tree .node-actions")).to_have_count(0)
    page.screenshot(path=str(artifacts / "programmes-staff-builder-frozen.png"), full_page=True)
    page.click("#new-version")
    expect(page.locator(".messages")).to_contain_text("Version 2 made")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    expect(page.locator("#publish")).to_be_visible()
