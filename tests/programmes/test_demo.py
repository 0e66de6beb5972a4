"""`manage.py seed_demo` with programmes: it runs twice without error or duplicates, and the
demo people are part-way through programmes computed from graded runs."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from academy.models import AuditEvent, User
from courses.models import CourseRun, Enrolment
from notebooks.models import GradingRun, Lab, ManualGrade, Submission
from programmes import rules
from programmes.demo import FOUNDATION_OUTCOMES
from programmes.models import (
    Allocation,
    AllocationSource,
    AllocationState,
    Completion,
    EscoSkill,
    LearningOutcome,
    MasteryMethod,
    OutcomeAlignment,
    Programme,
    ProgrammeCohort,
    ProgrammeStatus,
    Requirement,
)
from programmes.outcomes import selectors as outcome_selectors

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
    GradingRun,
    ManualGrade,
    LearningOutcome,
    OutcomeAlignment,
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


def ana_mastery() -> dict[str, bool]:
    ana = User.objects.get(username="student")
    foundation = Programme.objects.get(code="ai-engineer-foundation")
    sections = outcome_selectors.programme_mastery(ana, foundation, ana)
    return {row.outcome.code: row.result.mastered for s in sections for row in s.rows}


def test_the_demo_student_masters_some_outcomes_and_not_yet_others(seeded, client):
    foundation = LearningOutcome.objects.filter(programme__code="ai-engineer-foundation")
    assert {o.method for o in foundation} >= {
        MasteryMethod.HIGHEST,
        MasteryMethod.DECAYING_AVERAGE,
        MasteryMethod.N_MASTERY,
    }
    assert all(o.title_sr and o.alignments.exists() for o in foundation)
    assert LearningOutcome.objects.filter(course__code="GPU101").count() == 1
    # evidence from the graded cells of the demo labs: a written answer of 87.5 % (highest);
    # one kernel at the mastery level where two are needed; a first LLM201 lab at 83 %
    # (decaying average, one score counts whole); a last EN220 answer at 72 % (latest)
    assert ana_mastery() == {
        "AIE-1": True,
        "AIE-2": False,
        "AIE-3": True,
        "AIE-4": False,
        "GPU-1": True,
    }
    client.force_login(User.objects.get(username="student"))
    page = client.get("/outcomes/programmes/ai-engineer-foundation/mastery/")
    assert page.status_code == 200
    assert "Write and profile a CUDA kernel" in page.content.decode()


def test_demo_submissions_are_graded_cell_by_cell_as_their_percent_says(seeded):
    submission = Submission.objects.get(
        student__username="student", lab__title="GPU101 · Lab 2: going further"
    )
    run = submission.latest_run
    assert run is not None and set(run.cells) == {"foo", "bar", "baz", "quux"}
    assert submission.score is not None and submission.max_score is not None
    assert submission.score / submission.max_score == Decimal("0.91")
    manual = dict(submission.manual_grades.values_list("grade_id", "score"))
    assert set(manual) == {"baz", "quux"} and run.cells["foo"]["score"] == 1.0


def test_a_later_seed_ties_the_esco_skills_once_they_are_loaded(seeded):
    spec = next(s for s in FOUNDATION_OUTCOMES if s["code"] == "AIE-2")
    outcome = LearningOutcome.objects.get(code="AIE-2")
    assert not outcome.esco_skills.exists()  # none loaded: no row is made up
    assert not EscoSkill.objects.exists()
    skill = EscoSkill.objects.create(uri=spec["esco"], label="use concurrent programming")
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    assert list(outcome.esco_skills.all()) == [skill]
    assert OutcomeAlignment.objects.filter(outcome=outcome).count() == len(spec["cells"])
