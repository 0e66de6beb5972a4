"""Services of the labs side: upload, release, submit, grade (with the real grader, Celery
eager), regrade, manual grading, feedback."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from academy.models import AuditEvent
from notebooks import grading, selectors, services
from notebooks.models import (
    Extension,
    GradingRun,
    GradingRunStatus,
    LabVersion,
    Submission,
    SubmissionStatus,
)  # fmt: skip

from .factories import LabFactory, fixture, small_lab

pytestmark = pytest.mark.django_db


def submit(lab, student, content, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.submission_create(actor=student, lab=lab, content=content)
    sub.refresh_from_db()
    return sub


# ------------------------------------------------------------------ versions


def test_an_invalid_source_gives_per_cell_errors_and_stores_nothing(course):
    lab = LabFactory(run=course.run)
    bad = fixture("submitted-unchanged.ipynb").replace(b'"grade_id": "bar"', b'"grade_id": "foo"')
    with pytest.raises(services.NotebookRejected) as info:
        services.lab_version_upload(actor=course.people.instructor, lab=lab, content=bad)
    assert any(
        "duplicate grade_id" in e.message and e.cell_index is not None
        for e in info.value.cell_errors
    )
    assert not LabVersion.objects.exists()
    with pytest.raises(services.NotebookRejected) as info:
        services.lab_version_upload(actor=course.people.instructor, lab=lab, content=b"{nope")
    assert "not valid JSON" in str(info.value.cell_errors[0])


def test_each_upload_is_a_new_immutable_version(course):
    lab = LabFactory(run=course.run)
    v1 = services.lab_version_upload(
        actor=course.people.instructor, lab=lab, content=fixture("submitted-unchanged.ipynb")
    )
    v2 = services.lab_version_upload(actor=course.people.instructor, lab=lab, content=small_lab())
    assert (v1.number, v2.number) == (1, 2)
    assert v1.max_score == Decimal(7)
    assert {c["grade_id"] for c in v1.cells} >= {"foo", "bar", "baz", "quux"}
    student = v2.student.open("rb").read()
    assert b"BEGIN HIDDEN TESTS" not in student and b"return 2 * x" not in student
    assert AuditEvent.objects.filter(action="lab.version_upload").count() == 2


def test_only_instructors_of_the_run_manage_labs(course):
    lab = LabFactory(run=course.run)
    for who in (course.ta, course.other_instructor, course.people.student):
        with pytest.raises(PermissionDenied):
            services.lab_version_upload(actor=who, lab=lab, content=small_lab())


def test_release_needs_a_version(course):
    lab = LabFactory(run=course.run)
    with pytest.raises(ValidationError):
        services.lab_release(actor=course.people.instructor, lab=lab)


# --------------------------------------------------------------- submissions


def test_a_submission_gets_server_time_attempts_and_lateness(lab, course):
    student = course.people.student
    lab.due_at = timezone.now() - timedelta(hours=2)
    lab.save()
    first = services.submission_create(
        actor=student, lab=lab, content=fixture("submitted-changed.ipynb")
    )
    assert first.attempt == 1 and 7190 <= first.late_seconds <= 7300
    assert abs((first.submitted_at - timezone.now()).total_seconds()) < 5
    Extension.objects.create(lab=lab, student=student, due_at=timezone.now() + timedelta(hours=1))
    second = services.submission_create(
        actor=student, lab=lab, content=fixture("submitted-changed.ipynb")
    )
    assert second.attempt == 2 and second.late_seconds == 0
    assert second.status == SubmissionStatus.QUEUED


def test_attempt_limit_and_bad_uploads_store_nothing(lab, course):
    lab.attempt_limit = 1
    lab.save()
    student = course.people.student
    with pytest.raises(services.NotebookRejected):
        services.submission_create(actor=student, lab=lab, content=b"not json")
    services.submission_create(actor=student, lab=lab, content=fixture("submitted-changed.ipynb"))
    with pytest.raises(ValidationError):
        services.submission_create(
            actor=student, lab=lab, content=fixture("submitted-changed.ipynb")
        )
    assert Submission.objects.count() == 1


def test_only_enrolled_students_submit(lab, course):
    with pytest.raises(PermissionDenied):
        services.submission_create(
            actor=course.people.outsider, lab=lab, content=fixture("submitted-changed.ipynb")
        )


# ------------------------------------------------------------------- grading
# The conformance notebooks through the upload path (README of ../shared/conformance/nbgrader).

BASIC = [
    (
        "submitted-unchanged.ipynb",
        Decimal(1),
        SubmissionStatus.GRADED,
        {"foo": 1, "bar": 0, "baz": 0, "quux": 0},
    ),
    (
        "submitted-changed.ipynb",
        Decimal(2),
        SubmissionStatus.NEEDS_MANUAL,
        {"foo": 1, "bar": 1, "baz": None, "quux": None},
    ),
    (
        "submitted-cheat-attempt.ipynb",
        Decimal(1),
        SubmissionStatus.NEEDS_MANUAL,
        {"foo": 1, "bar": 0, "baz": None, "quux": None},
    ),
    (
        "submitted-cheat-attempt-alternative.ipynb",
        Decimal(1),
        SubmissionStatus.NEEDS_MANUAL,
        {"foo": 1, "bar": 0, "baz": None, "quux": None},
    ),
]


@pytest.mark.parametrize(("name", "score", "status", "cells"), BASIC)
def test_the_conformance_submissions_grade_to_the_readme_scores(
    lab, course, eager, django_capture_on_commit_callbacks, name, score, status, cells
):  # type: ignore[no-untyped-def]
    sub = submit(lab, course.people.student, fixture(name), django_capture_on_commit_callbacks)
    assert (sub.status, sub.score, sub.max_score) == (status, score, Decimal(7)), sub.reason
    run = sub.latest_run
    assert {gid: c["score"] for gid, c in run.cells.items()} == cells
    assert run.status == GradingRunStatus.DONE and run.deliveries == 1


def test_hidden_tests_grade_and_never_reach_the_feedback(
    course, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    instructor = course.people.instructor
    lab = LabFactory(run=course.run)
    source = fixture("test-hidden-tests.ipynb")
    services.lab_data_file_add(
        actor=instructor, lab=lab, name="jupyter.png", content=fixture("jupyter.png")
    )
    version = services.lab_version_upload(actor=instructor, lab=lab, content=source)
    services.lab_release(actor=instructor, lab=lab)
    lab.refresh_from_db()
    released = version.student.open("rb").read()
    assert b"BEGIN HIDDEN TESTS" not in released
    stubbed = released.replace(b"raise NotImplementedError()", b"")
    sub = submit(lab, course.people.student, stubbed, django_capture_on_commit_callbacks)
    assert (sub.score, sub.max_score, sub.status) == (Decimal("1.5"), Decimal(3), "graded")
    scores = {gid: c["score"] for gid, c in sub.latest_run.cells.items()}
    assert scores == {
        "correct_squares": 0,
        "squares_invalid_input": 1,
        "correct_sum_of_squares": 0,
        "sum_of_squares_uses_squares": 0.5,
    }
    hidden = grading.hidden_lines(source)
    assert hidden
    shown = "\n".join(c.output for c in selectors.feedback(sub))
    assert not any(line in shown for line in hidden)


@pytest.mark.parametrize(("timeout", "score"), [(2, Decimal(0)), (30, Decimal(1))])
def test_the_timeout_notebook_respects_the_per_cell_limit(
    course, eager, settings, django_capture_on_commit_callbacks, timeout, score
):  # type: ignore[no-untyped-def]
    settings.NOTEBOOK_GRADING_TIMEOUT = timeout
    lab = LabFactory(run=course.run)
    services.lab_version_upload(
        actor=course.people.instructor, lab=lab, content=fixture("timeout.ipynb")
    )
    services.lab_release(actor=course.people.instructor, lab=lab)
    lab.refresh_from_db()
    sub = submit(
        lab, course.people.student, fixture("timeout.ipynb"), django_capture_on_commit_callbacks
    )
    assert sub.score == score
    if timeout == 2:
        assert sub.latest_run.outcome == "timeout"
        assert "timed out" in "".join(
            c["output"] + c["error"] for c in sub.latest_run.cells.values()
        )


def test_grading_twice_records_one_run_and_stale_numbers_do_nothing(lab, course):
    sub = services.submission_create(
        actor=course.people.student, lab=lab, content=fixture("submitted-unchanged.ipynb")
    )
    first = services.grading_run_execute(submission_id=sub.pk, number=1)
    again = services.grading_run_execute(submission_id=sub.pk, number=1)
    stale = services.grading_run_execute(submission_id=sub.pk, number=7)
    assert (first.ran, again.ran, stale.ran) == (True, False, False)
    assert GradingRun.objects.filter(submission=sub).count() == 1


def test_an_interrupted_run_is_taken_over_by_the_next_delivery(lab, course):
    """A worker died mid-grading: the run row is RUNNING; the redelivered task finishes it."""
    sub = services.submission_create(
        actor=course.people.student, lab=lab, content=fixture("submitted-unchanged.ipynb")
    )
    GradingRun.objects.create(
        submission=sub, number=1, lab_version=lab.released_version, deliveries=1
    )
    result = services.grading_run_execute(submission_id=sub.pk, number=1)
    run = GradingRun.objects.get(submission=sub)
    assert result.ran and run.status == GradingRunStatus.DONE and run.deliveries == 2


def test_infrastructure_failures_raise_for_a_retry_and_exhaustion_fails_visibly(
    lab, course, monkeypatch
):  # type: ignore[no-untyped-def]
    sub = services.submission_create(
        actor=course.people.student, lab=lab, content=fixture("submitted-unchanged.ipynb")
    )

    def broken(**kwargs):  # type: ignore[no-untyped-def]
        raise grading.GraderUnavailable("kernel did not start")

    monkeypatch.setattr(grading, "grade", broken)
    with pytest.raises(grading.GraderUnavailable):
        services.grading_run_execute(submission_id=sub.pk, number=1)
    services.grading_run_fail(submission_id=sub.pk, number=1, reason="kernel did not start")
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.FAILED and "kernel" in sub.reason


def test_regrade_keeps_history(lab, course, eager, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    sub = submit(
        lab,
        course.people.student,
        fixture("submitted-unchanged.ipynb"),
        django_capture_on_commit_callbacks,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.lab_regrade(actor=course.people.instructor, lab=lab).total == 1
    sub.refresh_from_db()
    assert list(sub.runs.values_list("number", "status")) == [(2, "done"), (1, "done")]
    assert sub.latest_run.number == 2 and sub.score == Decimal(1)


def test_manual_grades_complete_the_score_and_are_audited(
    lab, course, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sub = submit(
        lab,
        course.people.student,
        fixture("submitted-changed.ipynb"),
        django_capture_on_commit_callbacks,
    )
    assert [gid for _s, gid in selectors.manual_queue(lab)] == ["baz", "quux"]
    with pytest.raises(ValidationError):
        services.manual_grade_save(
            actor=course.ta, submission=sub, grade_id="baz", score=Decimal(5)
        )
    with pytest.raises(PermissionDenied):
        services.manual_grade_save(
            actor=course.other_instructor, submission=sub, grade_id="baz", score=Decimal(1)
        )
    services.manual_grade_save(
        actor=course.ta, submission=sub, grade_id="baz", score=Decimal(2), comment="Good."
    )
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.NEEDS_MANUAL and sub.score == Decimal(4)
    services.manual_grade_save(
        actor=course.ta, submission=sub, grade_id="quux", score=Decimal("1.5")
    )
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.GRADED and sub.score == Decimal("5.5")
    assert selectors.manual_queue(lab) == []
    assert AuditEvent.objects.filter(action="submission.manual_grade").count() == 2


def test_feedback_waits_for_release_when_the_lab_says_so(
    lab, course, eager, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    lab.feedback_release = "manual"
    lab.save()
    student = course.people.student
    sub = submit(
        lab, student, fixture("submitted-unchanged.ipynb"), django_capture_on_commit_callbacks
    )
    assert not selectors.feedback_visible(sub, student)
    assert selectors.feedback_visible(sub, course.people.instructor)
    services.lab_feedback_release(actor=course.people.instructor, lab=lab)
    sub = Submission.objects.select_related("lab").get(pk=sub.pk)
    assert selectors.feedback_visible(sub, student)


def test_feedback_lists_cells_in_notebook_order(lab, course):  # type: ignore[no-untyped-def]
    """jsonb keeps no key order: without the stored position PostgreSQL returned bar, baz, foo…
    for a notebook whose graded cells run foo, bar, baz…; the page showed a cell "run after
    hidden tests" above the hidden tests themselves."""
    sub = services.submission_create(
        actor=course.people.student, lab=lab, content=fixture("submitted-unchanged.ipynb")
    )
    services.grading_run_execute(submission_id=sub.pk, number=1)
    sub.refresh_from_db()
    notebook_order = [c["grade_id"] for c in lab.released_version.cells]
    shown = [c.grade_id for c in selectors.feedback(sub, course.people.instructor)]
    assert shown == [g for g in notebook_order if g in shown]
    assert len(shown) >= 3
