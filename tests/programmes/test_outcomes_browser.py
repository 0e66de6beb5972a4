"""Learning outcomes in Debian's chromium: staff add an outcome with an ESCO skill through
the picker and align it to a lab's graded cell; the student then sees their mastery."""

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from courses.models import GradingCategory
from programmes import services as programme_services
from programmes.models import EscoSkill, LearningOutcome
from programmes.outcomes import services
from tests.browser.support import login
from tests.factories import OperatorFactory, UserFactory
from tests.programmes.conftest import build_foundation, finished_run
from tests.programmes.test_outcomes import graded_lab, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_align_an_outcome_and_the_student_sees_mastery(live_server, page: Page, artifacts):
    f = build_foundation(OperatorFactory(username="olga"))
    run = finished_run(f.gpu)
    lab = graded_lab(run, "q1", "q2", title="CUDA kernels")
    GradingCategory.objects.create(run=run, name="Labs", weight=100)
    EscoSkill.objects.bulk_create(
        [
            EscoSkill(
                uri="http://data.europa.eu/esco/skill/cuda",
                label="use CUDA programming",
                description="use CUDA programming Program NVIDIA GPUs with CUDA.",
            ),
            EscoSkill(uri="http://data.europa.eu/esco/skill/cook", label="cook pasta"),
        ]
    )
    student = UserFactory(username="ana", first_name="Ana", last_name="Petrović")
    programme_services.allocation_join(actor=student, programme=f.programme)
    other = services.outcome_create(
        actor=f.operator,
        programme=f.programme,
        title="Explain GPU memory",
        mastery_percent=Decimal(90),
    )
    services.alignment_add(actor=f.operator, outcome=other, lab=lab, grade_id="q2")
    submit(lab, student, {"q1": 2.0, "q2": 1.0})

    login(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/outcomes/")
    page.click(f"#manage-outcomes >> text={f.programme.title}")
    page.fill("#id_code", "LO1")
    page.fill("#id_title", "Write GPU kernels")
    page.select_option("#id_method", "n_mastery")
    expect(page.locator(".rule-n")).to_be_visible()
    expect(page.locator(".rule-decay")).to_be_hidden()
    page.fill("#id_n_times", "1")
    page.fill("#esco-q", "cuda")
    expect(page.locator(".esco-results li")).to_have_count(1)  # not "cook pasta"
    # not full_page: resizing the viewport for it would move the list under the pointer
    page.mouse.wheel(0, 400)
    page.screenshot(path=str(artifacts / "outcomes-esco-results.png"))
    page.locator(".esco-option", has_text="use CUDA programming").click()
    expect(page.locator("#esco-chosen")).to_contain_text("use CUDA programming")
    expect(page.locator(".esco-results li")).to_have_count(0)
    page.screenshot(path=str(artifacts / "outcomes-editor-picker.png"), full_page=True)
    page.click("#outcome-add-submit")
    expect(page.locator(".messages")).to_contain_text("Write GPU kernels")
    expect(page.locator("#outcome-tree")).to_contain_text("use CUDA programming")
    page.screenshot(path=str(artifacts / "outcomes-editor.png"), full_page=True)

    page.click("#outcome-tree >> text=Write GPU kernels")
    page.select_option("#align-lab", str(lab.pk))
    page.select_option("#align-cell", "q1")
    page.click("#align-cell-submit")
    expect(page.locator(".messages")).to_contain_text("Alignment added.")
    expect(page.locator("#alignments")).to_contain_text("CUDA kernels")
    page.screenshot(path=str(artifacts / "outcomes-detail.png"), full_page=True)
    made = LearningOutcome.objects.get(code="LO1")
    assert made.method == "n_mastery" and made.alignments.get().grade_id == "q1"
    assert [s.uri for s in made.esco_skills.all()] == ["http://data.europa.eu/esco/skill/cuda"]

    page.goto(f"{live_server.url}/outcomes/programmes/{f.programme.code}/summary/")
    expect(page.locator("#per-person")).to_contain_text("Ana Petrović")
    page.screenshot(path=str(artifacts / "outcomes-summary.png"), full_page=True)

    page.click(".whoami ~ form button")  # sign out
    login(page, live_server.url, "ana")
    page.goto(f"{live_server.url}/outcomes/")
    page.click(f"#my-mastery >> text={f.programme.title}")
    mastered = page.locator(f"tr[data-outcome='{made.pk}']")
    expect(mastered).to_contain_text("Mastered")
    expect(mastered).to_contain_text("100 %")
    expect(mastered).to_contain_text("1 of 1 time")
    expect(page.locator(f"tr[data-outcome='{other.pk}']")).to_contain_text("Not yet")
    expect(page.locator(f"tr[data-outcome='{other.pk}']")).to_contain_text("50 %")
    page.screenshot(path=str(artifacts / "outcomes-mastery.png"), full_page=True)
