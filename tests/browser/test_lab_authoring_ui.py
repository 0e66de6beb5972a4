"""An instructor edits a lab in JupyterLab on the test hub (issue 14's acceptance): "Edit in
JupyterLab" starts their own server with the source, nbgrader's create-assignment toolbar marks a
new cell as an autograded test, "Save as new version" stores it and shows what changed, "Test
this version" grades the solution and the student version, and the version is released.  Real
stack: JupyterHub + SlurmSpawner, Slurm, a Celery worker (starts the session, runs the test)."""

from __future__ import annotations

import pwd
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from academy.celery import app
from notebooks import services as lab_services
from notebooks.models import Lab, ResourceProfile
from notebooks.sessions import services as session_services
from notebooks.sessions.models import LabSession, SessionKind
from tests.browser.support import hub_oauth_client, login, sh
from tests.notebooks.factories import small_lab
from tests.worker import Worker, wait_for


@pytest.mark.browser
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_instructor_edits_marks_a_test_saves_tests_and_releases_a_version(
    page: Page, live_server, lab_setup, artifacts, stop_sessions_after
):
    hub_oauth_client()
    instructor = lab_setup.people.instructor
    # A small CPU lab: one answer, one test; version 1 released.
    profile = ResourceProfile.objects.create(
        name="cpu-1", partition="cpu", gpus=0, cpus=1, memory_gb=1, max_walltime_minutes=30
    )
    lab = lab_services.lab_create(
        actor=instructor,
        run=lab_setup.run,
        title="Doubling",
        due_at=timezone.now() + timedelta(days=7),
        resource_profile=profile,
    )
    lab_services.lab_version_upload(actor=instructor, lab=lab, content=small_lab())
    lab_services.lab_data_file_add(
        actor=instructor, lab=lab, name="factors.csv", content=b"x,double\n3,6\n"
    )
    lab_services.lab_release(actor=instructor, lab=lab)
    # The authoring folder in the instructor's home (this dev cluster: same machine), left by an
    # earlier run of this test with the same lab id, goes: the modes below are of new files.
    try:
        home = Path(pwd.getpwnam(instructor.username).pw_dir)
    except KeyError:
        home = None  # the hub creates the account at the first spawn
    if home is not None:
        shutil.rmtree(home / session_services.author_folder_for(lab), ignore_errors=True)

    with Worker(concurrency=1) as worker:
        app.conf.task_default_queue = worker.queue
        try:
            base = live_server.url
            page.set_default_timeout(30_000)
            login(page, base, instructor.username)
            page.goto(f"{base}/labs/{lab.pk}/")
            page.click("#author-open")
            card = page.locator("#author-card")
            expect(card).to_have_attribute("data-state", "running", timeout=150_000)
            page.screenshot(path=str(artifacts / "authoring-running.png"), full_page=True)

            with page.context.expect_page() as new_tab:
                page.click("#author-connect")
            jl = new_tab.value
            jl.set_default_timeout(60_000)
            jl.wait_for_load_state()
            expect(jl.locator(".jp-Notebook")).to_be_visible(timeout=90_000)
            assert f"/user/{instructor.username}/edit-{lab.pk}/" in jl.url
            # JupyterLab may ask "Select Kernel" (the source names none), seconds after the
            # notebook shows on a busy machine: accept it whenever it comes, until the cells are in.
            cells, dialog = jl.locator(".jp-Notebook .jp-Cell"), jl.locator(".jp-Dialog")
            for _ in range(120):
                if dialog.count():
                    dialog.locator(".jp-mod-accept").click()
                if cells.count() == 2 and not dialog.count():
                    break
                jl.wait_for_timeout(500)
            jl.wait_for_timeout(1000)
            if dialog.count():
                dialog.locator(".jp-mod-accept").click()
            expect(cells).to_have_count(2, timeout=30_000)
            # The data file sits beside the source, as in the grading sandbox.
            expect(jl.locator(".jp-DirListing-item", has_text="factors.csv")).to_be_visible()
            # A new cell below the last one, with a test of the answer.
            jl.locator(".jp-Notebook .jp-Cell").last.click()
            jl.keyboard.press("Escape")
            jl.keyboard.press("b")
            expect(jl.locator(".jp-Notebook .jp-Cell")).to_have_count(3)
            jl.keyboard.press("Enter")
            jl.keyboard.type("assert double(3) == 6")
            jl.keyboard.press("Escape")
            # nbgrader's create-assignment toolbar (the only nbgrader part enabled here).
            jl.locator("li[title='Nbgrader Create Assignment']").click()
            widget = jl.locator(".nbgrader-CellWidget").last
            widget.locator("select").select_option(label="Autograded tests")
            widget.locator(".nbgrader-CellId input").fill("test_triple")
            widget.locator(".nbgrader-CellPoints input").fill("2")
            widget.locator(".nbgrader-CellPoints input").press("Enter")
            # Students' toolbars are off: no assignment list, course list or formgrader menu.
            expect(jl.locator("text=Assignment List")).to_have_count(0)
            expect(jl.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")).to_have_count(0)
            jl.locator(".jp-Notebook .jp-Cell").last.click()
            jl.keyboard.press("Escape")
            jl.keyboard.press("Control+s")
            expect(jl.locator(".jp-mod-dirty")).to_have_count(0, timeout=20_000)
            jl.screenshot(path=str(artifacts / "authoring-create-assignment.png"))

            # The source (solutions, hidden tests) is its author's alone on the cluster.
            home = Path(pwd.getpwnam(instructor.username).pw_dir)
            folder = home / session_services.author_folder_for(lab)
            notebook = home / session_services.author_notebook_path_for(lab)
            assert folder.stat().st_mode & 0o077 == 0, oct(folder.stat().st_mode)
            assert notebook.stat().st_mode & 0o077 == 0, oct(notebook.stat().st_mode)

            page.bring_to_front()
            page.click("#author-save")
            page.wait_for_url(f"{base}/labs/{lab.pk}/versions/2/", timeout=60_000)
            diff = page.locator("#version-diff")
            expect(diff).to_contain_text("1 cell added")
            expect(page.locator("#diff-points")).to_contain_text("1 → 3")
            expect(page.locator("tr.diff-added[data-cell='test_triple']")).to_be_visible()
            page.screenshot(path=str(artifacts / "authoring-saved-diff.png"), full_page=True)

            page.click("#test-version")
            check = page.locator("#version-check")
            expect(check).to_have_attribute("data-status", "done", timeout=240_000)
            expect(check).to_have_attribute("data-passed", "yes")
            row = check.locator("tr[data-cell='test_triple']")
            expect(row.locator(".check-solution")).to_contain_text("2 / 2")
            expect(row.locator(".check-student")).to_contain_text("0 / 2")
            page.screenshot(path=str(artifacts / "authoring-tested.png"), full_page=True)

            page.click("#release-version")
            page.wait_for_url(f"{base}/labs/{lab.pk}/")
            expect(page.locator("#released")).to_contain_text("v2")
            page.screenshot(path=str(artifacts / "authoring-released.png"), full_page=True)
            lab = Lab.objects.get(pk=lab.pk)
            assert lab.released_version is not None and lab.released_version.number == 2
            assert "test_triple" in [c["grade_id"] for c in lab.released_version.cells]

            session = LabSession.objects.get(user=instructor, kind=SessionKind.AUTHOR)
            page.goto(f"{base}/labs/{lab.pk}/")
            page.click("#author-stop")
            expect(page.locator("#author-card")).not_to_have_attribute(
                "data-state", "running", timeout=30_000
            )
            wait_for(
                lambda: sh("squeue", "-h", "-j", session.slurm_job_id) == "",
                timeout=30,
                what="the job to leave the queue",
            )
        finally:
            app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
