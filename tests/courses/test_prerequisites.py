"""Prerequisites between courses (issue 11, item 3): a hard prerequisite refuses enrolment and
names the missing courses (page, service, API); the evidence is a run passed under the run's own
grading policy; a recommended course is shown, never enforced; a cycle is refused with its
path (service, admin, API)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from academy.models import AuditEvent, User
from courses import services
from courses.models import Course, CourseRun, Enrolment, EnrolmentState
from courses.selectors import PersonContext, passed_course_ids
from courses.signals import passed_courses
from notebooks.models import Lab, Submission
from notebooks.receivers import courses_passed
from notebooks.selectors import finished_results
from tests.factories import CourseFactory, CourseRunFactory, OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db


def finished_run(course: Course, *, pass_mark: int = 50, labs: int = 1) -> CourseRun:
    """A run of ``course`` that ended yesterday, with ``labs`` labs due before it ended."""
    now = timezone.now()
    run = CourseRunFactory(
        course=course,
        enrolment_opens_at=now - timedelta(days=90),
        enrolment_closes_at=now - timedelta(days=80),
        starts_at=now - timedelta(days=70),
        ends_at=now - timedelta(days=1),
        pass_mark=Decimal(pass_mark),
    )
    for i in range(labs):
        Lab.objects.create(run=run, title=f"Lab {i}", due_at=now - timedelta(days=5))
    return run


def took(user: User, run: CourseRun, percent: int | None, state: str = "active") -> Enrolment:
    """``user`` was enrolled in ``run`` and scored ``percent`` on its lab (None: nothing)."""
    enrolment = Enrolment.objects.create(run=run, user=user, state=state)
    if percent is not None:
        Submission.objects.create(
            lab=run.labs.get(),
            student=user,
            attempt=1,
            file="x.ipynb",
            sha256="0" * 64,
            status="graded",
            score=Decimal(percent),
            max_score=Decimal(100),
        )
    return enrolment


@pytest.fixture
def llm(db):  # type: ignore[no-untyped-def]
    """LLM201 needs GPU101 and MED210 first; its run is open now."""
    gpu = CourseFactory(code="GPU101", title="GPU computing fundamentals")
    med = CourseFactory(code="MED210", title="Medical imaging")
    course = CourseFactory(code="LLM201", title="Fine-tuning language models")
    course.prerequisites.add(gpu, med)
    return CourseRunFactory(course=course)


# --------------------------------------------------------------------------- refusal


def test_the_service_refuses_naming_every_missing_course(llm):
    with pytest.raises(ValidationError) as refused:
        services.enrolment_request(run=llm, user=UserFactory())
    message = " ".join(refused.value.messages)
    assert "Prerequisite missing" in message
    assert "GPU101 GPU computing fundamentals" in message and "MED210" in message
    assert not Enrolment.objects.filter(run=llm).exists()


def test_the_page_names_the_missing_courses_and_offers_no_enrol_button(client, llm):
    user = UserFactory()
    took(user, finished_run(Course.objects.get(code="GPU101")), 90)
    client.force_login(user)
    body = client.get("/courses/LLM201/").content.decode()
    assert "Prerequisite missing: MED210 Medical imaging." in body
    assert f'action="/runs/{llm.pk}/enrol/"' not in body
    # The list of what to pass first shows the person's state of each.
    before = body[body.index('class="prerequisites"') :]
    assert before.index("GPU101") < before.index("passed") < before.index("MED210")
    assert "not passed yet" in before
    response = client.post(f"/runs/{llm.pk}/enrol/", follow=True)
    assert "Prerequisite missing: MED210" in response.content.decode()
    assert not Enrolment.objects.filter(run=llm).exists()


def test_the_api_refuses_with_a_400_naming_the_missing_courses(llm):
    api = APIClient()
    api.force_authenticate(UserFactory())
    response = api.post(f"/api/v1/runs/{llm.pk}/enrol/", {}, format="json")
    assert response.status_code == 400
    assert "GPU101" in str(response.json()) and "MED210" in str(response.json())


def test_the_api_lists_prerequisites_and_recommended_courses(llm):
    llm.course.recommended.add(CourseFactory(code="PY100"))
    api = APIClient()
    api.force_authenticate(UserFactory())
    data = api.get("/api/v1/courses/LLM201/").json()
    assert data["prerequisites"] == ["GPU101", "MED210"]
    assert data["recommended"] == ["PY100"]


# --------------------------------------------------------------------------- the evidence


def test_a_run_passed_under_its_policy_unlocks_and_a_failed_one_does_not(llm):
    user = UserFactory()
    gpu, med = Course.objects.get(code="GPU101"), Course.objects.get(code="MED210")
    took(user, finished_run(gpu), 80)
    took(user, finished_run(med), 40)  # under the pass mark of 50
    with pytest.raises(ValidationError, match="Prerequisite missing: MED210") as refused:
        services.enrolment_request(run=llm, user=user)
    assert "GPU101" not in " ".join(refused.value.messages)
    took(user, finished_run(med), 75)  # a later run of the same course, passed
    assert services.enrolment_request(run=llm, user=user).state == EnrolmentState.ACTIVE


def test_the_pass_mark_is_the_runs_own(llm):
    user = UserFactory()
    gpu, med = Course.objects.get(code="GPU101"), Course.objects.get(code="MED210")
    took(user, finished_run(gpu, pass_mark=85), 80)  # 80 % fails a run whose pass mark is 85
    took(user, finished_run(med, pass_mark=70), 70)  # the pass mark itself passes
    assert passed_course_ids(user) == {med.pk}


def test_a_completed_enrolment_with_a_failing_grade_is_no_evidence(llm):
    user = UserFactory()
    gpu = Course.objects.get(code="GPU101")
    took(user, finished_run(gpu), 20, state=EnrolmentState.COMPLETED)
    assert gpu.pk not in passed_course_ids(user)


def test_nothing_graded_counts_as_passed_only_when_staff_marked_it_completed():
    user = UserFactory()
    ended, marked = CourseFactory(), CourseFactory()
    took(user, finished_run(ended, labs=0), None)  # the run ended, nobody marked anything
    took(user, finished_run(marked, labs=0), None, state=EnrolmentState.COMPLETED)
    results = {r.course_id: r for r in finished_results([user.pk])}
    assert results[ended.pk].grade is None and results[ended.pk].passed is False
    assert results[marked.pk].grade is None and results[marked.pk].passed is True
    assert passed_course_ids(user) == {marked.pk}


def test_an_active_run_of_the_course_is_no_evidence(llm):
    user = UserFactory()
    Enrolment.objects.create(
        run=CourseRunFactory(course=Course.objects.get(code="GPU101")), user=user
    )
    assert passed_course_ids(user) == set()


def test_without_the_labs_side_a_completed_enrolment_is_the_evidence():
    user = UserFactory()
    course = CourseFactory()
    took(user, finished_run(course), 10, state=EnrolmentState.COMPLETED)
    assert passed_course_ids(user) == set()  # the labs side: the grade fails it
    passed_courses.disconnect(dispatch_uid="notebooks.passed_courses")
    try:
        assert passed_course_ids(user) == {course.pk}  # the course side alone: completed
    finally:
        passed_courses.connect(courses_passed, dispatch_uid="notebooks.passed_courses")


def test_the_person_is_only_graded_when_a_rule_asks(django_assert_num_queries):
    user = UserFactory()
    person = PersonContext.load(user)
    with django_assert_num_queries(1):  # the finished enrolments (none: nothing to grade)
        assert person.passed_course_ids == set()
    with django_assert_num_queries(0):
        assert person.passed_course_ids == set()


# --------------------------------------------------------------------------- recommended


def test_a_recommended_course_is_shown_and_never_blocks(client):
    run = CourseRunFactory(course=CourseFactory(code="LLM201"))
    run.course.recommended.add(CourseFactory(code="PY100", title="Python for data"))
    user = UserFactory()
    client.force_login(user)
    body = client.get("/courses/LLM201/").content.decode()
    recommended = body[body.index("Recommended first:") :]
    assert "PY100 Python for data" in recommended and "not passed yet" in recommended
    assert "Prerequisite missing" not in body
    assert services.enrolment_request(run=run, user=user).state == EnrolmentState.ACTIVE


# --------------------------------------------------------------------------- cycles


@pytest.fixture
def chain(db):  # type: ignore[no-untyped-def]
    """GPU101 ← LLM201 ← CAP300: each needs the one before."""
    gpu, llm, cap = (CourseFactory(code=c) for c in ("GPU101", "LLM201", "CAP300"))
    llm.prerequisites.add(gpu)
    cap.prerequisites.add(llm)
    return gpu, llm, cap


def test_a_cycle_is_refused_with_its_path_and_nothing_changes(chain):
    gpu, llm, cap = chain
    operator = OperatorFactory()
    with pytest.raises(ValidationError) as refused:
        services.course_prerequisites_set(actor=operator, course=gpu, prerequisites=[llm])
    assert refused.value.message_dict["prerequisites"] == [
        "A prerequisite cycle: GPU101 → LLM201 → GPU101. Nobody could ever enrol in these courses."
    ]
    with pytest.raises(ValidationError, match="GPU101 → LLM201 → CAP300 → GPU101"):
        services.course_prerequisites_set(actor=operator, course=gpu, prerequisites=[cap])
    with pytest.raises(ValidationError, match="GPU101 → GPU101"):
        services.course_prerequisites_set(actor=operator, course=gpu, prerequisites=[gpu])
    assert list(gpu.prerequisites.all()) == []
    assert not AuditEvent.objects.filter(action="course.prerequisites").exists()


def test_prerequisites_without_a_cycle_are_set_and_audited(chain):
    gpu, llm, cap = chain
    operator = OperatorFactory()
    extra = CourseFactory(code="PY100")
    services.course_prerequisites_set(
        actor=operator, course=cap, prerequisites=[llm, gpu], recommended=[extra]
    )
    assert set(cap.prerequisites.all()) == {llm, gpu}
    assert list(cap.recommended.all()) == [extra]
    event = AuditEvent.objects.get(action="course.prerequisites")
    assert event.data == {"prerequisites": ["GPU101", "LLM201"], "recommended": ["PY100"]}
    with pytest.raises(PermissionDenied):
        services.course_prerequisites_set(actor=UserFactory(), course=cap, prerequisites=[])


def test_a_recommended_cycle_is_no_prerequisite_cycle_but_itself_is_refused(chain):
    gpu, llm, _cap = chain
    operator = OperatorFactory()
    # Recommended courses are advice: "LLM201 recommended before GPU101" blocks nobody.
    services.course_prerequisites_set(
        actor=operator, course=gpu, prerequisites=[], recommended=[llm]
    )
    with pytest.raises(ValidationError, match="recommended before itself"):
        services.course_prerequisites_set(
            actor=operator, course=gpu, prerequisites=[], recommended=[gpu]
        )


def test_the_admin_form_refuses_a_cycle_with_its_path(chain):
    gpu, llm, cap = chain
    request = RequestFactory().get("/")
    request.user = OperatorFactory()
    form_class = admin.site._registry[Course].get_form(request, obj=gpu)
    data = {
        "code": "GPU101",
        "title": gpu.title,
        "language": "en",
        "level": "introductory",
        "sectors": '["research"]',
        "effort_hours": 10,
    }
    form = form_class(instance=gpu, data={**data, "prerequisites": [cap.pk]})
    assert not form.is_valid()
    assert "GPU101 → LLM201 → CAP300 → GPU101" in str(form.errors["prerequisites"])
    form = form_class(instance=cap, data={**data, "code": "CAP300", "prerequisites": [gpu.pk]})
    assert form.is_valid(), form.errors


def test_the_api_sets_prerequisites_for_operators_and_refuses_a_cycle(chain):
    gpu, llm, cap = chain
    api = APIClient()
    api.force_authenticate(UserFactory())
    url = "/api/v1/courses/GPU101/prerequisites/"
    assert api.put(url, {"prerequisites": []}, format="json").status_code == 403
    api.force_authenticate(OperatorFactory())
    response = api.put(url, {"prerequisites": ["CAP300"]}, format="json")
    assert response.status_code == 400
    assert response.json()["prerequisites"] == [
        "A prerequisite cycle: GPU101 → LLM201 → CAP300 → GPU101. "
        "Nobody could ever enrol in these courses."
    ]
    assert api.put(url, {"prerequisites": ["NOPE"]}, format="json").status_code == 400
    assert api.put(url, {"prerequisites": "GPU"}, format="json").status_code == 400
    assert list(gpu.prerequisites.all()) == []
    response = api.put(
        "/api/v1/courses/CAP300/prerequisites/",
        {"prerequisites": ["LLM201"], "recommended": ["GPU101"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["recommended"] == ["GPU101"]


def test_the_course_page_grades_a_long_history_in_a_fixed_number_of_queries(client, llm):
    user = UserFactory()
    client.force_login(user)

    def history(n: int) -> int:
        for _ in range(n):
            took(user, finished_run(CourseFactory()), 70)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/courses/LLM201/").status_code == 200
        return len(ctx)

    assert history(1) == history(3)
