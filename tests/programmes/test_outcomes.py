"""Learning outcomes: the services refuse bad input in words and check rights; mastery comes
from real graded submissions (cells, manual grades, grading categories), scoped to who may
see it, in a constant number of queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from academy.models import AuditEvent, Role, User
from courses.models import CourseRun, Enrolment, EnrolmentState, GradingCategory
from notebooks.models import (
    FeedbackRelease,
    GradingRun,
    GradingRunStatus,
    Lab,
    LabVersion,
    ManualGrade,
    Submission,
    SubmissionStatus,
)
from programmes import services as programme_services
from programmes.models import EscoSkill, LearningOutcome, MasteryMethod, OutcomeAlignment
from programmes.outcomes import selectors, services
from tests.factories import (
    CourseFactory,
    CourseStaffFactory,
    InstitutionFactory,
    UserFactory,
    member,
)
from tests.programmes.conftest import build_foundation, finished_run

pytestmark = pytest.mark.django_db


def graded_lab(run: CourseRun, *grade_ids: str, title: str = "Kernels") -> Lab:
    """A lab whose released version scores ``grade_ids`` (2 points each)."""
    lab = Lab.objects.create(run=run, title=title, due_at=timezone.now() - timedelta(days=3))
    version = LabVersion.objects.create(
        lab=lab,
        number=1,
        source="s.ipynb",
        source_sha256="0" * 64,
        student="t.ipynb",
        student_sha256="0" * 64,
        cells=[
            {"grade_id": "intro", "kind": "solution", "points": 0, "cell_type": "code"},
            *({"grade_id": g, "kind": "test", "points": 2, "cell_type": "code"} for g in grade_ids),
        ],
    )
    lab.released_version = version
    lab.save()
    return lab


def submit(
    lab: Lab,
    user: User,
    scores: dict[str, float | None],
    *,
    attempt: int = 1,
    days_ago: int = 2,
    status: str = SubmissionStatus.GRADED,
) -> Submission:
    """A graded submission as the grader leaves it: a grading run with per-cell scores."""
    Enrolment.objects.get_or_create(run=lab.run, user=user, defaults={"state": "active"})
    total = sum(s or 0 for s in scores.values())
    sub = Submission.objects.create(
        lab=lab,
        student=user,
        attempt=attempt,
        file="x.ipynb",
        sha256="0" * 64,
        status=status,
        submitted_at=timezone.now() - timedelta(days=days_ago),
        score=Decimal(total),
        max_score=Decimal(2 * len(scores)),
    )
    run = GradingRun.objects.create(
        submission=sub,
        number=1,
        lab_version=lab.versions.get(),
        status=GradingRunStatus.DONE,
        cells={
            gid: {"score": s, "max_score": 2.0, "kind": "test", "output": "x" * 1000}
            for gid, s in scores.items()
        },
    )
    sub.latest_run = run
    sub.save()
    return sub


@pytest.fixture
def setup():  # type: ignore[no-untyped-def]
    """The foundation programme, a finished GPU101 run with a lab scoring q1 and q2, and a
    student following the programme."""
    f = build_foundation()
    run = finished_run(f.gpu)
    lab = graded_lab(run, "q1", "q2")
    student = UserFactory(username="ana")
    programme_services.allocation_join(actor=student, programme=f.programme)
    return f, run, lab, student


def outcome(f, **kwargs) -> LearningOutcome:  # type: ignore[no-untyped-def]
    return services.outcome_create(
        actor=f.operator,
        programme=f.programme,
        title=kwargs.pop("title", "Write kernels"),
        **kwargs,
    )


# ------------------------------------------------------------------------------ services


def test_a_manager_builds_a_tree_with_esco_skills_audited(setup):
    f, _run, _lab, _student = setup
    skill = EscoSkill.objects.create(uri="http://data.europa.eu/esco/skill/x", label="use CUDA")
    top = outcome(f, code="LO1", esco_skills=[skill])
    child = outcome(f, title="Profile kernels", parent=top)
    second = outcome(f, title="Second")
    assert [
        r.outcome for r in selectors.flatten(selectors.outcome_rows(programme=f.programme))
    ] == [
        top,
        child,
        second,
    ]
    assert list(top.esco_skills.all()) == [skill]
    services.outcome_update(
        actor=f.operator, outcome=top, title="Write fast kernels", esco_skills=[]
    )
    top.refresh_from_db()
    assert top.title == "Write fast kernels" and not top.esco_skills.exists()
    assert AuditEvent.objects.filter(action__startswith="outcome.").count() == 4


def test_students_and_other_admins_may_not_edit_a_programmes_outcomes(setup):
    f, _run, _lab, student = setup
    other_admin = member(InstitutionFactory(), Role.ADMIN)
    for actor in (student, other_admin):
        with pytest.raises(PermissionDenied):
            services.outcome_create(actor=actor, programme=f.programme, title="x")
    top = outcome(f)
    with pytest.raises(PermissionDenied):
        services.outcome_delete(actor=student, outcome=top)
    assert LearningOutcome.objects.count() == 1


def test_a_courses_outcomes_are_its_authors_and_the_operators():
    course = CourseFactory()
    instructor = CourseStaffFactory(run__course=course).user
    assistant = CourseStaffFactory(run__course=course, role="assistant").user
    made = services.outcome_create(actor=instructor, course=course, title="Tune models")
    assert made.course == course
    with pytest.raises(PermissionDenied):
        services.outcome_create(actor=assistant, course=course, title="x")
    with pytest.raises(PermissionDenied):
        services.outcome_create(actor=CourseStaffFactory().user, course=course, title="x")


def test_parents_from_elsewhere_and_cycles_are_refused_in_words(setup):
    f, *_ = setup
    top = outcome(f)
    child = outcome(f, title="Child", parent=top)
    grandchild = outcome(f, title="Grandchild", parent=child)
    course_outcome = services.outcome_create(actor=f.operator, course=f.gpu, title="Course")
    with pytest.raises(ValidationError, match="another programme or course"):
        services.outcome_create(actor=f.operator, course=f.gpu, title="x", parent=top)
    with pytest.raises(ValidationError, match="another programme or course"):
        services.outcome_move(actor=f.operator, outcome=child, parent=course_outcome)
    for parent in (top, child, grandchild)[1:] + (child,):
        with pytest.raises(ValidationError, match="under itself"):
            services.outcome_move(actor=f.operator, outcome=child, parent=parent)
    services.outcome_move(actor=f.operator, outcome=grandchild, parent=None)
    assert LearningOutcome.objects.get(pk=grandchild.pk).parent is None
    child.refresh_from_db()
    assert child.parent == top
    services.outcome_delete(actor=f.operator, outcome=top)
    assert set(LearningOutcome.objects.all()) == {grandchild, course_outcome}


def test_alignments_are_checked_against_the_labs_latest_version_and_the_course(setup):
    f, run, lab, _student = setup
    top = outcome(f)
    with pytest.raises(
        ValidationError, match="does not grade a cell “q9”; its graded cells are: q1, q2"
    ):
        services.alignment_add(actor=f.operator, outcome=top, lab=lab, grade_id="q9")
    with pytest.raises(ValidationError, match="does not grade"):  # an ungraded cell
        services.alignment_add(actor=f.operator, outcome=top, lab=lab, grade_id="intro")
    elsewhere = graded_lab(finished_run(CourseFactory(code="OTHER")), "q1")
    with pytest.raises(ValidationError, match="course this outcome is not about"):
        services.alignment_add(actor=f.operator, outcome=top, lab=elsewhere, grade_id="q1")
    other_category = GradingCategory.objects.create(run=elsewhere.run, name="Labs", weight=100)
    with pytest.raises(ValidationError, match="course this outcome is not about"):
        services.alignment_add(actor=f.operator, outcome=top, category=other_category)
    course_outcome = services.outcome_create(actor=f.operator, course=f.electives[0], title="x")
    with pytest.raises(ValidationError, match="course this outcome is not about"):
        services.alignment_add(actor=f.operator, outcome=course_outcome, lab=lab, grade_id="q1")
    services.alignment_add(actor=f.operator, outcome=top, lab=lab, grade_id="q1")
    with pytest.raises(ValidationError, match="already aligned"):
        services.alignment_add(actor=f.operator, outcome=top, lab=lab, grade_id="q1")
    category = GradingCategory.objects.create(run=run, name="Labs", weight=100)
    aligned = services.alignment_add(actor=f.operator, outcome=top, category=category)
    assert OutcomeAlignment.objects.filter(outcome=top).count() == 2
    services.alignment_remove(actor=f.operator, alignment=aligned)
    assert OutcomeAlignment.objects.filter(outcome=top).count() == 1


# ------------------------------------------------------------------------------- mastery


def only_row(sections):  # type: ignore[no-untyped-def]
    rows = [row for section in sections for row in section.rows]
    assert len(rows) == 1
    return rows[0]


def test_mastery_comes_from_the_latest_submissions_cells_and_manual_grades(setup):
    f, run, lab, student = setup
    top = outcome(f, method=MasteryMethod.LATEST, mastery_percent=Decimal(75))
    services.alignment_add(actor=f.operator, outcome=top, lab=lab, grade_id="q1")
    second_lab = graded_lab(run, "p1", title="Profiling")
    services.alignment_add(actor=f.operator, outcome=top, lab=second_lab, grade_id="p1")
    row = only_row(selectors.programme_mastery(student, f.programme, student))
    assert (row.result.score, row.result.evidence_count) == (None, 0)

    submit(lab, student, {"q1": 2.0, "q2": 0.0}, days_ago=4)  # q1: 100 %
    submit(second_lab, student, {"p1": 1.0}, days_ago=2)  # p1: 50 %, later
    row = only_row(selectors.programme_mastery(student, f.programme, student))
    assert (row.result.score, row.result.mastered, row.result.evidence_count) == (
        Decimal(50),
        False,
        2,
    )
    # a manual grade replaces the cell's automatic score
    ManualGrade.objects.create(
        submission=second_lab.submissions.get(), grade_id="p1", score=Decimal("1.5")
    )
    row = only_row(selectors.programme_mastery(student, f.programme, student))
    assert (row.result.score, row.result.mastered) == (Decimal(75), True)
    # a later attempt replaces the earlier one of the same lab
    submit(second_lab, student, {"p1": 0.5}, attempt=2, days_ago=1)
    row = only_row(selectors.programme_mastery(student, f.programme, student))
    assert (row.result.score, row.result.evidence_count) == (Decimal(25), 2)


def test_unreleased_or_ungraded_work_is_no_evidence(setup):
    f, _run, lab, student = setup
    top = outcome(f)
    services.alignment_add(actor=f.operator, outcome=top, lab=lab, grade_id="q1")
    lab.feedback_release = FeedbackRelease.MANUAL
    lab.save()
    sub = submit(lab, student, {"q1": 2.0})
    assert (
        only_row(selectors.programme_mastery(student, f.programme, student)).result.evidence_count
        == 0
    )
    sub.feedback_released = True
    sub.save()
    assert only_row(selectors.programme_mastery(student, f.programme, student)).result.mastered
    submit(lab, student, {"q1": None}, attempt=2, status=SubmissionStatus.NEEDS_MANUAL)
    assert (
        only_row(selectors.programme_mastery(student, f.programme, student)).result.evidence_count
        == 0
    )


def test_a_grading_category_counts_by_the_runs_policy(setup):
    f, run, lab, student = setup
    category = GradingCategory.objects.create(run=run, name="Labs", weight=100)
    lab.category = category
    lab.save()
    top = outcome(f, mastery_percent=Decimal(60))
    services.alignment_add(actor=f.operator, outcome=top, category=category)
    submit(lab, student, {"q1": 2.0, "q2": 0.5})  # 2.5 of 4: 62.5 %
    row = only_row(selectors.programme_mastery(student, f.programme, student))
    assert (row.result.score, row.result.mastered, row.evidence[0].source) == (
        Decimal("62.50"),
        True,
        "Labs",
    )


def test_course_outcomes_show_in_the_programme_and_in_the_course(setup):
    f, _run, lab, student = setup
    course_outcome = services.outcome_create(
        actor=f.operator, course=f.gpu, title="Use GPUs", method=MasteryMethod.N_MASTERY, n_times=1
    )
    services.alignment_add(actor=f.operator, outcome=course_outcome, lab=lab, grade_id="q2")
    submit(lab, student, {"q1": 0.0, "q2": 2.0})
    sections = selectors.programme_mastery(student, f.programme, student)
    assert [s.course for s in sections] == [f.gpu]
    assert only_row(selectors.course_mastery(student, f.gpu, student)).result.mastered


def test_mastery_is_seen_by_the_person_and_whoever_may_see_them_only(setup):
    f, run, lab, student = setup
    outcome(f)
    other_student = UserFactory()
    other_admin = member(InstitutionFactory(), Role.ADMIN)
    assert selectors.programme_mastery(f.operator, f.programme, student)
    for viewer in (other_student, other_admin):
        with pytest.raises(ObjectDoesNotExist):
            selectors.programme_mastery(viewer, f.programme, student)
        with pytest.raises(ObjectDoesNotExist):
            selectors.programme_summary(viewer, f.programme)
    # a person not following the programme has no mastery there, even for themselves
    with pytest.raises(ObjectDoesNotExist):
        selectors.programme_mastery(other_student, f.programme, other_student)
    # the course: a seat in one of its runs; run staff see their learners
    submit(lab, student, {"q1": 1.0, "q2": 1.0})
    teacher = CourseStaffFactory(run=run, role="assistant").user
    assert selectors.course_mastery(teacher, f.gpu, student) == []
    with pytest.raises(ObjectDoesNotExist):
        selectors.course_mastery(other_student, f.gpu, student)
    assert selectors.run_summary(teacher, run).people[0].person == student
    with pytest.raises(ObjectDoesNotExist):
        selectors.run_summary(other_student, run)


def test_a_programme_admin_of_the_members_institution_sees_them_in_the_summary(setup):
    f, _run, _lab, student = setup
    institution = InstitutionFactory()
    admin = member(institution, Role.ADMIN)
    from academy.models import Membership

    Membership.objects.create(user=student, institution=institution, role=Role.STUDENT)
    outcome(f)
    summary = selectors.programme_summary(admin, f.programme)
    assert [p.person for p in summary.people] == [student]


def test_the_summary_takes_a_constant_number_of_queries(setup):
    f, run, lab, student = setup
    category = GradingCategory.objects.create(run=run, name="Labs", weight=100)
    lab.category = category
    lab.save()

    def grow(people: int, outcomes: int) -> int:
        for _ in range(outcomes):
            made = outcome(f, title=f"LO {LearningOutcome.objects.count()}")
            services.alignment_add(actor=f.operator, outcome=made, lab=lab, grade_id="q1")
            services.alignment_add(actor=f.operator, outcome=made, category=category)
            services.outcome_create(actor=f.operator, course=f.gpu, title="course", parent=None)
        for _ in range(people):
            person = UserFactory()
            Enrolment.objects.create(run=run, user=person, state=EnrolmentState.ACTIVE)
            programme_services.allocation_join(actor=person, programme=f.programme)
            submit(lab, person, {"q1": 2.0, "q2": 1.0})
        with CaptureQueriesContext(connection) as ctx:
            summary = selectors.programme_summary(f.operator, f.programme)
        assert summary.people and summary.outcomes
        return len(ctx.captured_queries)

    small = grow(1, 1)
    large = grow(5, 4)
    assert small == large
    summary = selectors.programme_summary(f.operator, f.programme)
    lo = summary.outcomes[0]
    assert (lo.people, lo.mastered) == (7, 6)  # ana has submitted nothing


# --------------------------------------------------------------------------- pages and API


@pytest.fixture
def graded_setup(setup):  # type: ignore[no-untyped-def]
    """``setup`` with an outcome aligned to q1, another under it aligned to the category, and
    ana's graded submission."""
    f, run, lab, student = setup
    category = GradingCategory.objects.create(run=run, name="Labs", weight=100)
    lab.category = category
    lab.save()
    skill = EscoSkill.objects.create(
        uri="http://data.europa.eu/esco/skill/cuda", label="use CUDA", description="GPU kernels"
    )
    top = outcome(f, code="LO1", title="Write GPU kernels", esco_skills=[skill])
    services.alignment_add(actor=f.operator, outcome=top, lab=lab, grade_id="q1")
    child = outcome(f, title="Profile kernels", parent=top, mastery_percent=Decimal(90))
    services.alignment_add(actor=f.operator, outcome=child, category=category)
    submit(lab, student, {"q1": 2.0, "q2": 1.0})
    return f, run, lab, student, top, child


def test_the_student_sees_their_mastery_page(client, graded_setup, django_assert_max_num_queries):
    f, _run, _lab, student, top, child = graded_setup
    client.force_login(student)
    # session, user, memberships, programme, allocation, outcomes with skills and alignments
    # (3), cells and manual grades (2), runs, categories, labs, seats, submissions, extensions
    # (6), the navigation's roles: none per outcome or per piece of evidence
    with django_assert_max_num_queries(17):
        page = client.get(f"/outcomes/programmes/{f.programme.code}/mastery/")
    assert page.status_code == 200
    rows = page.context["sections"][0].rows
    assert [(r.outcome, r.result.mastered, r.result.score) for r in rows] == [
        (top, True, Decimal(100)),
        (child, False, Decimal(75)),
    ]
    assert "Mastered" in page.content.decode() and "use CUDA" in page.content.decode()
    # the index links to it
    assert (
        f"/outcomes/programmes/{f.programme.code}/mastery/"
        in client.get("/outcomes/").content.decode()
    )


@pytest.mark.parametrize("who", ["anonymous", "stranger", "other_admin"])
def test_outsiders_get_no_mastery_summary_or_editor(client, graded_setup, who):
    f, run, _lab, student, top, _child = graded_setup
    if who == "stranger":
        client.force_login(UserFactory())
    elif who == "other_admin":
        client.force_login(member(InstitutionFactory(), Role.ADMIN))
    urls = [
        f"/outcomes/programmes/{f.programme.code}/mastery/",
        f"/outcomes/programmes/{f.programme.code}/mastery/{student.pk}/",
        f"/outcomes/programmes/{f.programme.code}/summary/",
        f"/outcomes/programmes/{f.programme.code}/",
        f"/outcomes/courses/{f.gpu.pk}/",
        f"/outcomes/{top.pk}/",
        f"/outcomes/runs/{run.pk}/mastery/",
        f"/outcomes/runs/{run.pk}/summary/",
    ]
    for url in urls:
        status = client.get(url).status_code
        assert status == (302 if who == "anonymous" else 404), url
    assert client.post(f"/outcomes/{top.pk}/remove/").status_code in (302, 404)
    assert LearningOutcome.objects.filter(pk=top.pk).exists()


def test_staff_see_the_summary_and_each_person(client, graded_setup, django_assert_max_num_queries):
    f, run, lab, student, top, _child = graded_setup
    for _ in range(3):
        person = UserFactory()
        programme_services.allocation_join(actor=person, programme=f.programme)
        submit(lab, person, {"q1": 1.0, "q2": 1.0})
    client.force_login(f.operator)
    # session, user, programme, rights, people, outcomes (3), cells (2), categories (5)…
    with django_assert_max_num_queries(16):
        page = client.get(f"/outcomes/programmes/{f.programme.code}/summary/")
    assert page.status_code == 200
    summary = page.context["summary"]
    assert (summary.outcomes[0].mastered, summary.outcomes[0].people) == (1, 4)
    assert f"/outcomes/programmes/{f.programme.code}/mastery/{student.pk}/" in page.content.decode()
    person_page = client.get(f"/outcomes/programmes/{f.programme.code}/mastery/{student.pk}/")
    assert person_page.status_code == 200 and person_page.context["person"] == student
    teacher = CourseStaffFactory(run=run, role="assistant").user
    client.force_login(teacher)
    assert client.get(f"/outcomes/runs/{run.pk}/summary/").status_code == 200
    assert client.get(f"/outcomes/runs/{run.pk}/mastery/{student.pk}/").status_code == 200


def test_a_manager_adds_an_outcome_through_the_page_and_bad_input_loses_nothing(client, setup):
    f, _run, lab, _student = setup
    skill = EscoSkill.objects.create(uri="http://data.europa.eu/esco/skill/py", label="Python")
    client.force_login(f.operator)
    url = f"/outcomes/programmes/{f.programme.code}/"
    assert client.get(url).status_code == 200
    form = {
        "code": "LO9",
        "title": "Write Python",
        "method": "decaying_average",
        "mastery_percent": "70",
        "decay_percent": "65",
        "n_times": "2",
        "esco": [str(skill.pk), "junk"],
    }
    assert client.post(url, form).status_code == 302
    made = LearningOutcome.objects.get(code="LO9")
    assert list(made.esco_skills.all()) == [skill] and made.method == "decaying_average"
    bad = client.post(url, {**form, "mastery_percent": "140"})
    assert bad.status_code == 400 and LearningOutcome.objects.count() == 1
    other = services.outcome_create(actor=f.operator, course=f.gpu, title="Course outcome")
    wrong_parent = client.post(url, {**form, "parent": str(other.pk)})
    assert wrong_parent.status_code == 400
    assert "another programme or course" in wrong_parent.content.decode()
    # align through the page: a cell the lab does not grade is refused in words
    page = client.post(
        f"/outcomes/{made.pk}/align/", {"lab": lab.pk, "grade_id": "nope"}, follow=True
    )
    assert "does not grade a cell" in page.content.decode()
    client.post(f"/outcomes/{made.pk}/align/", {"lab": lab.pk, "grade_id": "q2"})
    assert made.alignments.get().grade_id == "q2"
    assert (
        client.post(f"/outcomes/alignments/{made.alignments.get().pk}/remove/").status_code == 302
    )
    assert not made.alignments.exists()
    # a student cannot reach the editor
    client.force_login(UserFactory())
    assert client.post(url, form).status_code == 404


def test_the_esco_search_needs_a_login_and_returns_twenty_at_most(client):
    EscoSkill.objects.bulk_create(
        EscoSkill(uri=f"http://data.europa.eu/esco/skill/{i}", label=f"python task {i}")
        for i in range(30)
    )
    EscoSkill.objects.create(
        uri="http://data.europa.eu/esco/skill/x", label="cooking", description="Python-free"
    )
    assert client.get("/outcomes/esco/?q=python").status_code == 302
    client.force_login(UserFactory())
    found = client.get("/outcomes/esco/?q=python").json()["results"]
    assert len(found) == 20 and all("python" in r["label"] for r in found)
    assert client.get("/outcomes/esco/?q=p").json() == {"results": []}


def test_the_api_creates_aligns_and_reports_mastery(client, graded_setup):
    f, _run, lab, student, top, _child = graded_setup
    client.force_login(f.operator)
    created = client.post(
        "/api/v1/learning-outcomes/",
        {
            "programme": f.programme.code,
            "title": "Use GPUs",
            "parent": top.pk,
            "esco_skills": ["http://data.europa.eu/esco/skill/cuda"],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["esco_skills"] == ["http://data.europa.eu/esco/skill/cuda"]
    aligned = client.post(
        f"/api/v1/learning-outcomes/{pk}/align/",
        {"lab": lab.pk, "grade_id": "zz"},
        content_type="application/json",
    )
    assert aligned.status_code == 400 and "does not grade" in str(aligned.json())
    cycle = client.patch(
        f"/api/v1/learning-outcomes/{top.pk}/", {"parent": pk}, content_type="application/json"
    )
    assert cycle.status_code == 400
    listed = client.get(f"/api/v1/learning-outcomes/?programme={f.programme.code}").json()
    assert {o["id"] for o in listed["results"]} >= {pk, top.pk}
    # the student: their own mastery, but no writes
    client.force_login(student)
    mine = client.get(f"/api/v1/outcome-mastery/?programme={f.programme.code}").json()
    assert mine[0]["rows"][0]["mastered"] is True
    assert client.delete(f"/api/v1/learning-outcomes/{pk}/").status_code == 403
    other = client.get(
        f"/api/v1/outcome-mastery/?programme={f.programme.code}&user={f.operator.pk}"
    )
    assert other.status_code == 404
    assert client.get("/api/v1/outcome-mastery/").status_code == 404
    assert client.get("/api/v1/esco-skills/?q=cuda").json()[0]["label"] == "use CUDA"
    client.logout()
    assert client.get("/api/v1/esco-skills/?q=cuda").status_code in (401, 403)


def test_the_outcome_page_changes_and_moves_and_a_cycle_changes_nothing(client, setup):
    f, *_ = setup
    top = outcome(f, title="Top")
    child = outcome(f, title="Child", parent=top)
    client.force_login(f.operator)
    form = {
        "title": "Top, renamed",
        "method": "highest",
        "mastery_percent": "80",
        "decay_percent": "65",
        "n_times": "2",
    }
    page = client.get(f"/outcomes/{top.pk}/")
    assert page.status_code == 200 and "· Child" in page.content.decode()
    refused = client.post(f"/outcomes/{top.pk}/", {**form, "parent": str(child.pk)})
    assert refused.status_code == 400 and "under itself" in refused.content.decode()
    top.refresh_from_db()
    assert (top.title, top.parent) == ("Top", None)
    assert client.post(f"/outcomes/{child.pk}/", {**form, "title": "Child"}).status_code == 302
    assert LearningOutcome.objects.get(pk=child.pk).parent is None
    assert client.post(f"/outcomes/{top.pk}/remove/").status_code == 302
    assert list(LearningOutcome.objects.all()) == [LearningOutcome.objects.get(pk=child.pk)]


def test_the_student_sees_a_course_runs_mastery_and_operators_read_the_admin(client, graded_setup):
    f, run, lab, student, _top, _child = graded_setup
    course_outcome = services.outcome_create(actor=f.operator, course=f.gpu, title="Use GPUs")
    services.alignment_add(actor=f.operator, outcome=course_outcome, lab=lab, grade_id="q2")
    client.force_login(student)
    page = client.get(f"/outcomes/runs/{run.pk}/mastery/")
    assert page.status_code == 200
    row = page.context["sections"][0].rows[0]
    assert (row.outcome, row.result.score) == (course_outcome, Decimal(50))
    assert client.get(f"/outcomes/runs/{finished_run(f.gpu).pk}/mastery/").status_code == 404
    client.force_login(f.operator)
    for url in (
        "/admin/programmes/escoskill/",
        "/admin/programmes/learningoutcome/",
        f"/admin/programmes/learningoutcome/{course_outcome.pk}/change/",
    ):
        assert client.get(url).status_code == 200, url
