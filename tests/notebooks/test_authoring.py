"""Authoring (issue 14): what changed between versions, "Test this version" and the release it
gates (override with a reason, audited), the lab library and copying, and who may do none of it."""

from __future__ import annotations

import nbformat
import pytest
from django.core.exceptions import PermissionDenied

from academy.models import AuditEvent, Role
from courses.models import CourseStaff, GradingCategory, StaffRole
from notebooks import services
from notebooks.grader.diff import diff
from notebooks.models import Lab, LabDataFile, VersionCheck, VersionCheckStatus
from tests.factories import CourseRunFactory, member

from .factories import LabFactory, small_lab

pytestmark = pytest.mark.django_db


def _cells(nb_bytes: bytes) -> nbformat.NotebookNode:
    return nbformat.reads(nb_bytes.decode(), as_version=4)


def with_new_test(source: bytes, *, grade_id: str = "test_more", points: int = 3) -> bytes:
    nb = _cells(source)
    cell = nbformat.v4.new_code_cell("assert double(5) == 10")
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": grade_id,
        "points": points,
        "schema_version": 3,
    }
    nb.cells.append(cell)
    return nbformat.writes(nb).encode()


def broken_solution(source: bytes) -> bytes:
    return source.replace(b"return 2 * x", b"return 3 * x")


# ------------------------------------------------------------------------------------ the diff


def test_the_diff_of_a_first_version_adds_every_cell():
    d = diff(None, small_lab())
    assert (d.added, d.removed, d.changed) == (2, 0, 0)
    assert d.new_max_score == 1


def test_the_diff_names_an_added_test_cell_and_the_points_it_brings():
    old = small_lab()
    d = diff(old, with_new_test(old))
    assert (d.added, d.removed, d.changed, d.unchanged) == (1, 0, 0, 2)
    (change,) = d.changes
    assert change.label == "test_more" and change.new.kind == "test"
    assert (d.old_max_score, d.new_max_score) == (1, 4)
    assert [c.points_delta for c in d.points_changes] == [3]


def test_the_diff_finds_removed_and_changed_cells_and_changed_points():
    old = small_lab(manual=True)
    nb = _cells(old)
    nb.cells = [c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] != "explain"]
    nb.cells[1].metadata["nbgrader"]["points"] = 5
    nb.cells[0].source = nb.cells[0].source.replace("2 * x", "x + x")
    d = diff(old, nbformat.writes(nb).encode())
    assert d.removed == 1 and d.changed == 2 and d.added == 0
    by_label = {c.label: c for c in d.changes}
    assert by_label["explain"].change == "removed"
    assert by_label["test_double"].fields == ("points",)
    assert by_label["test_double"].points_delta == 4
    assert by_label["answer"].fields == ("source",)
    assert "+    return x + x" in by_label["answer"].source_diff
    assert (d.old_max_score, d.new_max_score) == (3, 5)


def test_a_free_cell_marked_as_a_test_keeps_its_cell_id_and_shows_as_changed():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("assert True")]
    old = nbformat.writes(nb).encode()
    nb.cells[0].metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "t1",
        "points": 2,
        "schema_version": 3,
    }
    d = diff(old, nbformat.writes(nb).encode())
    (change,) = d.changes
    assert change.change == "changed"
    assert set(change.fields) == {"kind", "grade_id", "points"}
    assert (change.old.kind, change.new.kind) == ("free", "test")


def test_an_identical_notebook_has_no_changes():
    source = small_lab()
    assert diff(source, source).is_empty


# ----------------------------------------------------------------- test this version, release


@pytest.fixture
def draft(course):  # type: ignore[no-untyped-def]
    """An unreleased lab of course.run with one version (small_lab)."""
    lab = LabFactory(run=course.run, title="Doubling")
    version = services.lab_version_upload(
        actor=course.people.instructor, lab=lab, content=small_lab()
    )
    return lab, version


def test_a_good_version_passes_its_test_and_shows_both_gradings_per_cell(
    draft, course, eager, django_capture_on_commit_callbacks
):
    lab, version = draft
    with django_capture_on_commit_callbacks(execute=True):
        check = services.version_check_request(actor=course.people.instructor, version=version)
    check.refresh_from_db()
    assert check.status == VersionCheckStatus.DONE, check.reason
    assert check.passed is True and check.problems == []
    assert check.solution["cells"]["test_double"]["score"] == 1
    assert check.student["cells"]["test_double"]["score"] == 0
    assert check.student["outcome"] == "ok"  # the stub's NotImplementedError fails cleanly
    assert services.release_block_reason(version) == ""
    services.lab_release(actor=course.people.instructor, lab=lab, version=version)
    assert not AuditEvent.objects.filter(action="lab.release_override").exists()


def test_a_solution_short_of_full_marks_fails_the_test_and_blocks_the_release(
    draft, course, eager, django_capture_on_commit_callbacks
):
    lab, _ = draft
    instructor = course.people.instructor
    broken = services.lab_version_upload(
        actor=instructor, lab=lab, content=broken_solution(small_lab())
    )
    with django_capture_on_commit_callbacks(execute=True):
        check = services.version_check_request(actor=instructor, version=broken)
    check.refresh_from_db()
    assert check.passed is False
    assert [p["code"] for p in check.problems] == ["solution_not_full"]
    assert check.problems[0]["cell"] == "test_double"
    with pytest.raises(services.ReleaseBlocked):
        services.lab_release(actor=instructor, lab=lab, version=broken)
    lab.refresh_from_db()
    assert lab.released_version is None


def test_an_override_with_a_reason_releases_and_is_audited(draft, course):
    lab, version = draft
    VersionCheck.objects.create(
        version=version, status=VersionCheckStatus.DONE, passed=False, problems=[{"code": "x"}]
    )
    instructor = course.people.instructor
    with pytest.raises(services.ReleaseBlocked):
        services.lab_release(actor=instructor, lab=lab, version=version, override_reason="   ")
    services.lab_release(
        actor=instructor, lab=lab, version=version, override_reason="the GPU test needs a GPU"
    )
    lab.refresh_from_db()
    assert lab.released_version == version
    event = AuditEvent.objects.get(action="lab.release_override")
    assert event.actor == instructor
    assert event.data["reason"] == "the GPU test needs a GPU"
    assert event.data["version"] == version.number


def test_an_unfinished_or_failed_test_also_blocks(draft, course):
    lab, version = draft
    check = VersionCheck.objects.create(version=version)
    assert "not finished" in services.release_block_reason(version)
    services.version_check_fail(check_id=check.pk, reason="grading infrastructure failed")
    assert "could not run" in services.release_block_reason(version)
    # a later passing test lifts the block
    VersionCheck.objects.create(version=version, status=VersionCheckStatus.DONE, passed=True)
    assert services.release_block_reason(version) == ""


def test_the_release_page_asks_for_the_override_reason(client, draft, course):
    lab, version = draft
    VersionCheck.objects.create(version=version, status=VersionCheckStatus.DONE, passed=False)
    client.force_login(course.people.instructor)
    url = f"/labs/{lab.pk}/versions/{version.number}/"
    page = client.get(url)
    assert page.status_code == 200
    assert b'id="release-blocked"' in page.content and b"override_reason" in page.content
    response = client.post(f"/labs/{lab.pk}/release/", {"version": version.number})
    assert response.status_code == 302 and response["Location"] == url
    lab.refresh_from_db()
    assert lab.released_version is None
    client.post(
        f"/labs/{lab.pk}/release/", {"version": version.number, "override_reason": "known issue"}
    )
    lab.refresh_from_db()
    assert lab.released_version == version
    # the released version's page says students have it, and offers no second release
    page = client.get(url).content.decode()
    assert 'id="release-current"' in page and "Students have this version" in page
    assert 'id="release-version"' not in page
    newer = services.lab_version_upload(
        actor=course.people.instructor, lab=lab, content=with_new_test(small_lab())
    )
    page = client.get(f"/labs/{lab.pk}/versions/{newer.number}/").content.decode()
    assert 'id="release-version"' in page and 'id="release-current"' not in page


def test_the_version_page_shows_the_diff_against_the_previous_version(client, draft, course):
    lab, version = draft
    services.lab_version_upload(
        actor=course.people.instructor, lab=lab, content=with_new_test(small_lab())
    )
    client.force_login(course.people.instructor)
    page = client.get(f"/labs/{lab.pk}/versions/2/").content.decode()
    assert "Changes from version 1" in page
    assert 'data-cell="test_more"' in page and "1 cell added" in page
    assert "Points: 1 → 4" in page


# ------------------------------------------------------------------------ library and copy


@pytest.fixture
def library(course, people):  # type: ignore[no-untyped-def]
    """Institution A: people.instructor (course.run) and a colleague teaching another run with
    a lab (data file, category); institution B: an instructor with a lab of their own."""
    colleague = member(people.inst_a, Role.INSTRUCTOR, username="colleague")
    colleague_run = CourseRunFactory()
    CourseStaff.objects.create(run=colleague_run, user=colleague, role=StaffRole.INSTRUCTOR)
    category = GradingCategory.objects.create(run=colleague_run, name="Labs", weight=50)
    shared = LabFactory(run=colleague_run, title="Shared lab", category=category, weight=2)
    services.lab_version_upload(actor=colleague, lab=shared, content=small_lab())
    services.lab_version_upload(actor=colleague, lab=shared, content=with_new_test(small_lab()))
    services.lab_data_file_add(actor=colleague, lab=shared, name="data.csv", content=b"x,y\n1,2\n")
    outsider = member(people.inst_b, Role.INSTRUCTOR, username="instructorb")
    b_run = CourseRunFactory()
    CourseStaff.objects.create(run=b_run, user=outsider, role=StaffRole.INSTRUCTOR)
    b_lab = LabFactory(run=b_run, title="B's lab")
    services.lab_version_upload(actor=outsider, lab=b_lab, content=small_lab())
    GradingCategory.objects.create(run=course.run, name="Labs", weight=40)
    return type(
        "Library",
        (),
        {
            "shared": shared,
            "b_lab": b_lab,
            "b_run": b_run,
            "outsider": outsider,
            "colleague": colleague,
        },
    )


def test_the_library_lists_the_institutions_labs_and_no_other(client, course, library):
    client.force_login(course.people.instructor)
    page = client.get("/labs/library/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f'data-lab="{library.shared.pk}"' in text
    assert f'data-lab="{library.b_lab.pk}"' not in text
    client.force_login(library.outsider)
    text = client.get("/labs/library/").content.decode()
    assert f'data-lab="{library.b_lab.pk}"' in text
    assert f'data-lab="{library.shared.pk}"' not in text


def test_a_copy_takes_the_latest_version_data_files_and_settings(course, library):
    instructor = course.people.instructor
    copy = services.lab_copy(actor=instructor, lab=library.shared, run=course.run)
    assert copy.run == course.run and copy.copied_from == library.shared
    assert copy.released_version is None
    (version,) = copy.versions.all()
    assert version.number == 1 and version.max_score == 4
    assert version.source_sha256 == library.shared.versions.get(number=2).source_sha256
    assert version.source.read() == library.shared.versions.get(number=2).source.read()
    (data,) = LabDataFile.objects.filter(lab=copy)
    assert (data.name, data.file.read()) == ("data.csv", b"x,y\n1,2\n")
    assert copy.weight == 2 and copy.title == "Shared lab"
    assert copy.category is not None and copy.category.run == course.run  # matched by name
    event = AuditEvent.objects.get(action="lab.copy")
    assert event.data["source_lab"] == library.shared.pk


def test_the_copy_view_copies_into_a_run_the_user_authors(client, course, library):
    client.force_login(course.people.instructor)
    response = client.post(f"/labs/{library.shared.pk}/copy/", {"run": course.run.pk})
    copy = Lab.objects.get(copied_from=library.shared)
    assert response.status_code == 302 and response["Location"] == f"/labs/{copy.pk}/"


def test_another_institutions_instructor_can_neither_see_nor_copy(client, course, library):
    with pytest.raises(Lab.DoesNotExist):
        services.lab_copy(actor=library.outsider, lab=library.shared, run=library.b_run)
    client.force_login(library.outsider)
    response = client.post(f"/labs/{library.shared.pk}/copy/", {"run": library.b_run.pk})
    assert response.status_code == 404
    assert not Lab.objects.filter(copied_from=library.shared).exists()


def test_a_copy_goes_only_into_a_run_the_user_authors(client, course, library):
    instructor = course.people.instructor
    with pytest.raises(PermissionDenied):
        services.lab_copy(actor=instructor, lab=library.shared, run=library.b_run)
    client.force_login(instructor)
    response = client.post(f"/labs/{library.shared.pk}/copy/", {"run": library.b_run.pk})
    assert response.status_code == 404
    # a TA without editing rights cannot copy into their run either
    client.force_login(course.ta)
    assert (
        client.post(f"/labs/{library.shared.pk}/copy/", {"run": course.run.pk}).status_code == 404
    )
    assert not Lab.objects.filter(copied_from=library.shared).exists()


def test_a_student_gets_no_library_and_no_copy(client, course, library):
    client.force_login(course.people.student)
    assert client.get("/labs/library/").status_code == 403
    assert (
        client.post(f"/labs/{library.shared.pk}/copy/", {"run": course.run.pk}).status_code == 404
    )


@pytest.mark.parametrize("who", ["student", "ta", "other_instructor", "admin_a"])
def test_only_authors_see_versions_and_test_them(client, draft, course, who):
    lab, version = draft
    user = {
        "student": course.people.student,
        "ta": course.ta,
        "other_instructor": course.other_instructor,
        "admin_a": course.people.admin_a,
    }[who]
    client.force_login(user)
    base = f"/labs/{lab.pk}/versions/{version.number}/"
    assert client.get(base).status_code == 404
    assert client.get(base + "check/card/").status_code == 404
    assert client.post(base + "check/").status_code == 404
    assert not VersionCheck.objects.exists()
    with pytest.raises(PermissionDenied):
        services.version_check_request(actor=user, version=version)


def test_cells_with_new_ids_still_match_by_grade_id_or_content():
    # small_lab() makes new cell ids at each call, as a tool that rewrites ids would
    d = diff(small_lab(), with_new_test(small_lab()))
    assert (d.added, d.removed, d.changed, d.unchanged) == (1, 0, 0, 2)


def test_the_api_release_is_blocked_too_and_takes_an_override_reason(client, draft, course):
    lab, version = draft
    VersionCheck.objects.create(version=version, status=VersionCheckStatus.DONE, passed=False)
    client.force_login(course.people.instructor)
    url = f"/api/v1/labs/{lab.pk}/release/"
    response = client.post(url, {"version": 1}, content_type="application/json")
    assert response.status_code == 400
    lab.refresh_from_db()
    assert lab.released_version is None
    response = client.post(
        url, {"version": 1, "override_reason": "checked by hand"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["released_version"] == 1
    assert AuditEvent.objects.get(action="lab.release_override").data["reason"] == "checked by hand"


def test_the_library_page_reads_a_constant_number_of_queries(
    client, course, library, django_assert_max_num_queries
):
    client.force_login(course.people.instructor)
    with django_assert_max_num_queries(12):
        first = client.get("/labs/library/").content.decode().count("data-lab=")
    for i in range(5):
        extra = LabFactory(run=library.shared.run, title=f"More {i}")
        services.lab_version_upload(actor=library.colleague, lab=extra, content=small_lab())
    with django_assert_max_num_queries(12):
        assert client.get("/labs/library/").content.decode().count("data-lab=") == first + 5
