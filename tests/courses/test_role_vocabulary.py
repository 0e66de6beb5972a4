"""Issue 10, item 4: one role vocabulary, defined once in ``courses.selectors``.

``can_teach_run`` (instructors, teaching assistants, operators: roster, requests, grading,
every submission, a lab's versions) and ``can_author_run`` (instructors, TAs granted
``CourseStaff.can_edit``, operators: seats, codes, policy, content, labs) are the only run-role
predicates; the labs side imports them.  The copies that disagreed are pinned here: a TA
without editing was offered a "New lab" link that 404'd, was shown version links that 404'd,
and was refused the versions list through the API while the lab page showed it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import notebooks.selectors as lab_selectors
import notebooks.sessions.selectors as session_selectors
from academy.selectors import admin_institution_ids
from courses import selectors
from notebooks import services as lab_services
from tests.factories import CourseRunFactory, CourseStaffFactory, UserFactory
from tests.notebooks.factories import LabFactory, small_lab

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(people):  # type: ignore[no-untyped-def]
    """A run with an instructor, a TA, and a TA granted editing (the "editor")."""
    run = CourseRunFactory()
    ta, editor = UserFactory(username="ta"), UserFactory(username="editor")
    for user, role, can_edit in (
        (people.instructor, "instructor", False),
        (ta, "ta", False),
        (editor, "ta", True),
    ):
        CourseStaffFactory(run=run, user=user, role=role, can_edit=can_edit)
    return people, run, ta, editor


def test_one_definition_of_each_role(staff):
    # the labs side has no copies of its own
    for name in ("can_manage_run", "can_grade_run", "_staff_roles", "managed_lab", "graded_lab"):
        assert not hasattr(lab_selectors, name), name
    assert lab_selectors.staff_run_ids is selectors.staff_run_ids
    assert session_selectors.can_teach_run is selectors.can_teach_run
    for name in ("can_manage_run", "can_edit_run", "is_run_staff"):
        assert not hasattr(selectors, name), name


def test_the_role_matrix(staff):
    people, run, ta, editor = staff
    other = CourseRunFactory()
    cases = [
        # user, teaches, authors, grants
        (people.instructor, True, True, True),
        (editor, True, True, False),
        (ta, True, False, False),
        (people.operator, True, True, True),
        (people.student, False, False, False),
        (people.admin_a, False, False, False),
    ]
    for user, teaches, authors, grants in cases:
        assert selectors.can_teach_run(user, run) is teaches, user
        assert selectors.can_teach_run(user, run.pk) is teaches, user
        assert selectors.can_author_run(user, run) is authors, user
        assert selectors.can_grant_run(user, run) is grants, user
        # nobody but an operator has a role on a run they are not staff of
        assert selectors.can_teach_run(user, other) is (user == people.operator), user
    assert selectors.staff_run_ids(ta) == {run.pk}
    assert selectors.authored_run_ids(ta) == set()
    assert selectors.authored_run_ids(editor) == {run.pk}
    assert selectors.authored_run_ids(people.operator) == set()  # operators are not listed


def test_one_cache_answers_every_role_question(staff):
    people, run, ta, editor = staff
    user = type(editor).objects.get(pk=editor.pk)  # a fresh object, as a request has
    with CaptureQueriesContext(connection) as first:
        selectors.staff_run_ids(user)
        admin_institution_ids(user)
    with CaptureQueriesContext(connection) as again:
        for _ in range(3):
            selectors.can_teach_run(user, run)
            selectors.can_author_run(user, run)
            selectors.can_grant_run(user, run)
            selectors.authored_run_ids(user)
            lab_selectors.staff_run_ids(user)
            admin_institution_ids(user)
    assert len(first) == 2  # the staff rows, the admin memberships
    assert len(again) == 0


def test_a_ta_without_editing_is_offered_no_new_lab_link(staff, client):
    people, run, ta, editor = staff
    create = f"/runs/{run.pk}/labs/new/"
    client.force_login(ta)
    page = client.get("/labs/").content.decode()
    assert f"/runs/{run.pk}/gradebook/" in page  # the run is listed ...
    assert create not in page  # ... without a link the TA may not follow
    assert client.get(create).status_code == 404
    client.force_login(editor)
    assert create in client.get("/labs/").content.decode()
    assert client.get(create).status_code == 200
    client.force_login(people.instructor)
    assert create in client.get("/labs/").content.decode()


def test_every_staff_member_reads_a_labs_versions_only_authors_upload(staff, client):
    people, run, ta, editor = staff
    lab = LabFactory(run=run)
    lab_services.lab_version_upload(actor=people.instructor, lab=lab, content=small_lab())
    client.force_login(ta)
    # the lab page lists the versions with these links: they work for a TA too
    page = client.get(f"/labs/{lab.pk}/").content.decode()
    assert f"/labs/{lab.pk}/versions/1/preview/" in page
    assert client.get(f"/labs/{lab.pk}/versions/1/preview/").status_code == 200
    assert client.get(f"/labs/{lab.pk}/versions/1/source.ipynb").status_code == 200
    # and the API says the same as the page
    response = client.get(f"/api/v1/labs/{lab.pk}/versions/")
    assert response.status_code == 200
    assert [v["number"] for v in response.json()] == [1]
    # uploading stays an author's
    response = client.post(f"/api/v1/labs/{lab.pk}/versions/", {"file": small_lab()})
    assert response.status_code == 404
    assert lab.versions.count() == 1
    # a student of the run sees none of it
    client.force_login(people.student)
    assert client.get(f"/labs/{lab.pk}/versions/1/source.ipynb").status_code == 404
    assert client.get(f"/api/v1/labs/{lab.pk}/versions/").status_code == 404
