"""The acceptance story of the student side, in Debian's chromium: a student follows their map
from allocation to completion."""

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from academy.models import Role
from courses.models import Course
from programmes import services
from programmes.models import Requirement
from tests.browser.support import login
from tests.factories import InstitutionFactory, member

from .conftest import build_foundation, passed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TITLES = {
    "GPU101": "GPU computing fundamentals",
    "MED210": "Medical imaging with deep learning",
    "ENE220": "Energy demand forecasting",
    "LLM230": "Fine-tuning language models",
    "CAP300": "Capstone: an AI service on the supercomputer",
}


def node(page: Page, requirement: Requirement):  # type: ignore[no-untyped-def]
    return page.locator(f"#node-{requirement.pk}")


def test_a_student_follows_their_map_from_joining_to_completion(live_server, page: Page, artifacts):
    foundation = build_foundation()
    for code, title in TITLES.items():
        Course.objects.filter(code=code).update(title=title)
    programme = foundation.programme
    programme.description = (
        "The foundation of an AI engineer on the national AI factory: GPU computing first, "
        "then two applied electives, then a capstone built on the supercomputer."
    )
    programme.sectors = ["research", "health", "energy"]
    programme.eqf_level = 6
    programme.save()
    institution = InstitutionFactory(name="University of Belgrade")
    teaching = services.programme_create(
        actor=foundation.operator,
        code="gpu-teaching",
        title="Teaching with GPUs",
        description="For faculty who bring GPU labs into their own courses.",
        owner=institution,
        eqf_level=7,
        ects=Decimal(10),
        sectors=["general"],
    )
    teaching_root = Requirement.objects.get(version__programme=teaching, parent=None)
    services.requirement_add(
        actor=foundation.operator, parent=teaching_root, course=foundation.gpu, points=5
    )
    services.version_publish(actor=foundation.operator, version=teaching.versions.get())
    student = member(institution, Role.STUDENT, username="ana", first_name="Ana", last_name="Jović")
    gpu, electives, capstone = foundation.gpu, foundation.electives, foundation.capstone
    items = {
        r.course.code: r
        for r in Requirement.objects.filter(version__programme=programme, course__isnull=False)
    }

    # Finds the programme in the catalogue and reads what it takes.
    login(page, live_server.url, "ana")
    page.click("nav >> text=Programmes")
    expect(page.locator("#programmes article")).to_have_count(2)
    page.fill("input[name=q]", "foundation")
    page.click("form[role=search] button[type=submit]")
    expect(page.locator("#programmes article")).to_have_count(1)
    page.goto(f"{live_server.url}/programmes/")
    page.screenshot(path=str(artifacts / "programmes-catalogue.png"), full_page=True)
    page.click("text=AI engineer, foundation")
    expect(page.locator("#requirements")).to_contain_text("All, in order")
    expect(page.locator("#requirements")).to_contain_text("At least 2 of 3")
    page.screenshot(path=str(artifacts / "programmes-detail.png"), full_page=True)

    # Joins: the map opens, the first course available, the rest locked as the tree says.
    page.click("#join button:has-text('Join')")
    expect(page.locator(".messages")).to_contain_text("You follow this programme now")
    services.recompute_progress([student.pk])  # the task ran on commit; make sure of it
    page.reload()
    expect(node(page, items["GPU101"])).to_have_attribute("data-state", "available")
    expect(node(page, foundation.elective_set)).to_have_attribute("data-state", "locked")
    expect(node(page, items["CAP300"])).to_have_attribute("data-state", "locked")
    expect(page.locator("#next-courses")).to_contain_text("GPU101")
    expect(page.locator("#map-items")).to_contain_text("0 / 5")

    # Results come in: GPU101 and one elective passed; the map follows.
    gpu_run = passed(student, gpu, percent=86)
    passed(student, electives[0], percent=74)
    services.recompute_progress([student.pk])
    page.reload()
    expect(node(page, items["GPU101"])).to_have_attribute("data-state", "done")
    expect(node(page, items["GPU101"])).to_contain_text(gpu_run.title)
    expect(node(page, items["GPU101"])).to_contain_text("86%")
    expect(node(page, foundation.elective_set)).to_have_attribute("data-state", "in_progress")
    expect(node(page, foundation.elective_set)).to_contain_text("1 of 2 done")
    expect(node(page, items["ENE220"])).to_have_attribute("data-state", "available")
    expect(page.locator("#map-items")).to_contain_text("2 / 5")
    expect(page.locator("#map-credits")).to_contain_text("10")
    page.screenshot(path=str(artifacts / "programmes-map-part-way.png"), full_page=True)

    # The second elective and the capstone: completed, with the frozen record.
    passed(student, electives[1], percent=91)
    passed(student, capstone, percent=88)
    services.recompute_progress([student.pk])
    page.reload()
    expect(page.locator("#completion")).to_contain_text("Completed on")
    expect(page.locator("#completion")).to_contain_text("version 1")
    expect(page.locator("#completion tbody tr")).to_have_count(4)
    expect(page.locator("#completion")).to_contain_text("CAP300")
    expect(node(page, items["LLM230"])).to_contain_text("Not needed")
    expect(page.locator("#map-state")).to_contain_text("Completed")
    page.screenshot(path=str(artifacts / "programmes-map-completed.png"), full_page=True)

    page.click("nav >> text=Programmes")
    expect(page.locator("#my-programmes")).to_contain_text("Completed")
    expect(page.locator("#my-programmes")).to_contain_text("4 / 5")
    page.screenshot(path=str(artifacts / "programmes-catalogue-mine.png"), full_page=True)
