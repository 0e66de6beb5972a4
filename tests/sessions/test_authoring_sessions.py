"""Authoring sessions ("Edit in JupyterLab", issue 14 item 1) against fakes of the hub and Slurm:
the source and the data files go in, "Save as new version" pulls the notebook back, validates it
and stores a version; nobody but the run's authors gets one."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied

from courses.models import CourseStaff, StaffRole
from notebooks import services as lab_services
from notebooks.models import LabVersion
from notebooks.sessions import services
from notebooks.sessions.models import LabSession, SessionKind, SessionState
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def authoring(setup, hub):  # type: ignore[no-untyped-def]
    hub.start_as = "ready"
    session = services.session_open(
        actor=setup.people.instructor, lab=setup.lab, kind=SessionKind.AUTHOR
    )
    return services.session_start(session_id=session.pk)


def test_an_authoring_session_gets_its_own_server_the_source_and_the_data_files(
    lab_setup, fake_hub, fake_slurm
):
    lab = lab_setup.lab
    lab_services.lab_data_file_add(
        actor=lab_setup.people.instructor, lab=lab, name="weights.bin", content=b"\x00\x01"
    )
    session = authoring(lab_setup, fake_hub)
    assert session.state == SessionState.RUNNING and session.kind == SessionKind.AUTHOR
    assert session.base_version == lab.versions.get(number=1)
    ((user, server, _options),) = fake_hub.starts
    assert (user, server) == ("instructor", f"edit-{lab.pk}")
    folder = services.author_folder_for(lab)
    notebook = fake_hub.files[("instructor", server, services.author_notebook_path_for(lab))]
    with lab.versions.get(number=1).source.open("rb") as fh:
        assert notebook == json.load(fh)  # the source, not the student version
    assert fake_hub.files[("instructor", server, f"{folder}/weights.bin")] == b"\x00\x01"
    # ?reset: JupyterLab opens this source alone, not the tabs of the user's last workspace
    # (another lab's notebook), which all their servers share.
    assert services.connect_url(session).endswith(services.author_notebook_path_for(lab) + "?reset")


def test_an_authoring_session_does_not_take_the_place_of_a_lab_session(
    lab_setup, fake_hub, fake_slurm
):
    author = authoring(lab_setup, fake_hub)
    work = services.session_open(actor=lab_setup.people.instructor, lab=lab_setup.lab)
    assert work.pk != author.pk and work.server_name == f"lab-{lab_setup.lab.pk}"
    again = services.session_open(
        actor=lab_setup.people.instructor, lab=lab_setup.lab, kind=SessionKind.AUTHOR
    )
    assert again.pk == author.pk


def _add_test_cell(hub, session) -> None:  # type: ignore[no-untyped-def]
    key = ("instructor", session.server_name, services.author_notebook_path_for(session.lab))
    notebook = json.loads(json.dumps(hub.files[key]))
    notebook["cells"].append(
        {
            "cell_type": "code",
            "metadata": {
                "nbgrader": {
                    "grade": True,
                    "solution": False,
                    "locked": True,
                    "grade_id": "test_new",
                    "points": 2,
                    "schema_version": 3,
                }
            },
            "source": "assert True",
            "outputs": [],
            "execution_count": None,
        }
    )
    hub.files[key] = notebook


def test_save_as_new_version_pulls_validates_and_stores_the_next_version(
    lab_setup, fake_hub, fake_slurm
):
    session = authoring(lab_setup, fake_hub)
    _add_test_cell(fake_hub, session)
    version = services.authoring_save(actor=lab_setup.people.instructor, session=session)
    assert version.number == 2 and version.created_by == lab_setup.people.instructor
    assert "test_new" in [c["grade_id"] for c in version.cells]
    assert version.max_score == lab_setup.lab.versions.get(number=1).max_score + 2
    # the released version stays what it was until a release
    lab_setup.lab.refresh_from_db()
    assert lab_setup.lab.released_version.number == 1


def test_saving_an_unchanged_notebook_stores_nothing(lab_setup, fake_hub, fake_slurm):
    session = authoring(lab_setup, fake_hub)
    with pytest.raises(services.SessionRefused, match="Nothing changed"):
        services.authoring_save(actor=lab_setup.people.instructor, session=session)
    assert LabVersion.objects.filter(lab=lab_setup.lab).count() == 1


def test_an_invalid_notebook_is_refused_with_its_cell_errors(lab_setup, fake_hub, fake_slurm):
    session = authoring(lab_setup, fake_hub)
    _add_test_cell(fake_hub, session)
    key = ("instructor", session.server_name, services.author_notebook_path_for(session.lab))
    fake_hub.files[key]["cells"][-1]["metadata"]["nbgrader"]["grade_id"] = "bad id!"
    with pytest.raises(lab_services.NotebookRejected) as exc:
        services.authoring_save(actor=lab_setup.people.instructor, session=session)
    assert exc.value.cell_errors
    assert LabVersion.objects.filter(lab=lab_setup.lab).count() == 1


def test_the_save_view_redirects_to_the_new_versions_changes(
    client, lab_setup, fake_hub, fake_slurm
):
    session = authoring(lab_setup, fake_hub)
    _add_test_cell(fake_hub, session)
    client.force_login(lab_setup.people.instructor)
    response = client.post(f"/sessions/{session.pk}/save-version/")
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"/labs/{lab_setup.lab.pk}/versions/2/"


def test_students_tas_and_other_instructors_get_no_authoring_session(
    client, lab_setup, fake_hub, fake_slurm, people
):
    ta = UserFactory(username="ta")
    CourseStaff.objects.create(run=lab_setup.run, user=ta, role=StaffRole.TEACHING_ASSISTANT)
    other = UserFactory(username="elsewhere")
    for user in (lab_setup.student, ta, other):
        with pytest.raises(PermissionDenied):
            services.session_open(actor=user, lab=lab_setup.lab, kind=SessionKind.AUTHOR)
        client.force_login(user)
        assert client.post(f"/labs/{lab_setup.lab.pk}/authoring/open/").status_code == 404
        assert client.get(f"/labs/{lab_setup.lab.pk}/authoring/").status_code == 404
    assert not LabSession.objects.filter(kind=SessionKind.AUTHOR).exists()


def test_nobody_saves_from_someone_elses_authoring_session(
    client, lab_setup, fake_hub, fake_slurm, people
):
    session = authoring(lab_setup, fake_hub)
    _add_test_cell(fake_hub, session)
    co_instructor = UserFactory(username="coinstructor")
    CourseStaff.objects.create(run=lab_setup.run, user=co_instructor, role=StaffRole.INSTRUCTOR)
    for user in (lab_setup.student, co_instructor):
        with pytest.raises(PermissionDenied):
            services.authoring_save(actor=user, session=session)
        client.force_login(user)
        assert client.post(f"/sessions/{session.pk}/save-version/").status_code == 404
    # nor does a student submit from it, even their instructor's
    with pytest.raises(PermissionDenied):
        services.session_submit(actor=lab_setup.people.instructor, session=session)
    assert LabVersion.objects.filter(lab=lab_setup.lab).count() == 1


def test_a_lab_renamed_during_an_authoring_session_is_saved_from_the_file_being_edited(
    lab_setup, fake_hub, fake_slurm
):
    session = authoring(lab_setup, fake_hub)
    _add_test_cell(fake_hub, session)
    lab_services.lab_update(actor=lab_setup.people.instructor, lab=lab_setup.lab, title="Renamed")
    session = LabSession.objects.select_related("lab").get(pk=session.pk)
    assert session.lab.title == "Renamed"
    version = services.authoring_save(actor=lab_setup.people.instructor, session=session)
    assert "test_new" in [c["grade_id"] for c in version.cells]
