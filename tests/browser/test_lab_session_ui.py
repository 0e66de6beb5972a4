"""A student signs in to Academy, opens a GPU lab, watches the card go from queued to running,
clicks Connect and lands in JupyterLab without a second login (the hub logs in through Academy's
OAuth2 provider).  Real stack: JupyterHub + SlurmSpawner, Slurm, a Celery worker."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from academy.celery import app
from courses.models import Enrolment, EnrolmentState
from notebooks.sessions.models import LabSession
from tests.browser.support import hub_oauth_client, login, sh
from tests.factories import UserFactory
from tests.worker import Worker, wait_for


@pytest.mark.browser
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_open_lab_queued_running_connect_without_second_login(
    page: Page, live_server, lab_setup, artifacts, stop_sessions_after
):
    hub_oauth_client()
    student = UserFactory(username=f"ui{uuid.uuid4().hex[:8]}")
    Enrolment.objects.create(run=lab_setup.run, user=student, state=EnrolmentState.ACTIVE)

    # Fill the node's CPUs so that the lab's job has to queue first.
    blocker = sh(
        "sbatch",
        "--parsable",
        "-o",
        "/dev/null",
        "-p",
        "cpu",
        "-c",
        "2",
        "-t",
        "5",
        "--wrap",
        "sleep 300",
    )
    assert blocker.isdigit(), blocker
    try:
        with Worker(concurrency=1) as worker:
            app.conf.task_default_queue = worker.queue
            try:
                base = live_server.url
                login(page, base, student.username)
                page.goto(f"{base}/labs/{lab_setup.lab.pk}/")
                page.click("#session-open")
                card = page.locator("#session-card")
                expect(card).to_have_attribute("data-state", "queued", timeout=60_000)
                expect(card).to_contain_text("Queued")
                page.screenshot(path=str(artifacts / "session-queued.png"), full_page=True)
                sh("scancel", blocker)
                expect(card).to_have_attribute("data-state", "running", timeout=120_000)
                expect(page.locator("#session-connect")).to_be_visible()
                page.screenshot(path=str(artifacts / "session-running.png"), full_page=True)

                with page.context.expect_page() as new_tab:
                    page.click("#session-connect")
                lab_page = new_tab.value
                lab_page.wait_for_load_state()
                # No hub login form: straight through Academy's OAuth2 into JupyterLab.
                expect(lab_page.locator("#jp-main-dock-panel")).to_be_visible(timeout=60_000)
                assert f"/user/{student.username}/" in lab_page.url
                # nbgrader is in the hub's environment for authoring only: none of it here.
                expect(lab_page.locator("li[title='Nbgrader Create Assignment']")).to_have_count(0)
                expect(
                    lab_page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")
                ).to_have_count(0)
                lab_page.wait_for_timeout(1500)
                lab_page.screenshot(path=str(artifacts / "session-jupyterlab.png"))
                session = LabSession.objects.get(user=student)
                page.click("#session-stop")
                expect(card).not_to_have_attribute("data-state", "running", timeout=30_000)
                wait_for(
                    lambda: sh("squeue", "-h", "-j", session.slurm_job_id) == "",
                    timeout=30,
                    what="the job to leave the queue",
                )
            finally:
                app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    finally:
        sh("scancel", blocker)
