"""`manage.py seed_demo` with programmes: it runs twice without error or duplicates, and the
demo people are part-way through programmes computed from graded runs."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from academy.models import AuditEvent
from courses.models import CourseRun, Enrolment
from notebooks.models import Lab, Submission
from programmes import rules
from programmes.models import (
    Allocation,
    AllocationSource,
    AllocationState,
    Completion,
    Programme,
    ProgrammeCohort,
    ProgrammeStatus,
    Requirement,
)

pytestmark = pytest.mark.django_db

MODELS = (
    Programme,
    Requirement,
    Allocation,
    ProgrammeCohort,
    CourseRun,
    Lab,
    Submission,
    Enrolment,
)


@pytest.fixture
def seeded(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo", stdout=StringIO())


def state(allocation: Allocation, course_code: str) -> str:
    node = Requirement.objects.get(version=allocation.version, course__code=course_code)
    return allocation.progress[str(node.pk)]


def test_seed_demo_runs_twice_without_duplicating_anything(seeded):
    counts = {model: model.objects.count() for model in MODELS}
    call_command("seed_demo", stdout=StringIO())
    assert {model: model.objects.count() for model in MODELS} == counts
    assert counts[Programme] == 2 and counts[Allocation] >= 5


def test_the_two_programmes_are_published_with_their_trees(seeded):
    foundation = Programme.objects.get(code="ai-engineer-foundation")
    teaching = Programme.objects.get(code="teaching-with-gpus")
    assert foundation.status == teaching.status == ProgrammeStatus.PUBLISHED
    assert (foundation.eqf_level, teaching.eqf_level) == (6, 7)
    assert foundation.title_sr.startswith("Инжењер") and foundation.description_sr
    root = Requirement.objects.get(version__programme=foundation, parent=None)
    assert root.rule == rules.ALL_IN_ORDER
    assert [child.label for child in root.children.all()] == [
        "GPU101",
        "Two applied domains",
        "CAP300",
    ]
    electives = root.children.get(title="Two applied domains")
    assert (electives.rule, electives.count) == (rules.AT_LEAST, 2)
    assert sorted(c.course.code for c in electives.children.all()) == ["EN220", "LLM201", "MED210"]
    practice = Requirement.objects.get(version__programme=teaching, title="Hands-on GPU practice")
    assert practice.rule == rules.MIN_POINTS


def test_the_demo_student_is_part_way_through_the_foundation(seeded):
    ana = Allocation.objects.get(user__username="student", programme__code="ai-engineer-foundation")
    assert ana.state == AllocationState.ACTIVE and ana.source == AllocationSource.COHORT
    assert 0 < ana.items_done < ana.items_total
    assert state(ana, "GPU101") == state(ana, "EN220") == rules.DONE  # graded, passed runs
    assert state(ana, "LLM201") == rules.IN_PROGRESS  # a seat in the run under way
    assert state(ana, "CAP300") == rules.LOCKED
    assert not Completion.objects.filter(allocation=ana).exists()


def test_a_failed_run_counts_for_nothing_and_the_cohort_was_allocated_by_its_admin(seeded):
    milica = Allocation.objects.get(user__username="milica")
    assert state(milica, "GPU101") == rules.AVAILABLE and milica.items_done == 0
    link = ProgrammeCohort.objects.get(programme__code="ai-engineer-foundation")
    assert link.cohort.name == "AI Engineering 2026"
    event = AuditEvent.objects.get(action="programme.cohort_allocate")
    assert event.actor.username == "uniadmin"
    followers = {
        a.user.username for a in Allocation.objects.filter(programme__code="teaching-with-gpus")
    }
    assert followers == {"jelena", "instructor"}
