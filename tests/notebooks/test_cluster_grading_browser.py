"""The submission card of a lab graded on the cluster, in Chromium: queued with Slurm's reason in
plain words, running, graded, without reloading; the staff's page lists the Slurm job, the run's
GPU usage page shows the grading's GPU time.  Slurm is the fake of test_cluster_grading (the
real one is in tests/cluster/test_grading_cluster.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from notebooks import cluster_grading, services
from notebooks.models import GradingJob
from tests.browser.support import login

from .factories import fixture
from .test_cluster_grading import _write_result, gpu_lab, slurm  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_card_follows_the_grading_job(  # type: ignore[no-untyped-def]
    page: Page,
    live_server,
    course,
    gpu_lab,  # noqa: F811
    slurm,  # noqa: F811
    eager,
    artifacts,
):
    base = live_server.url
    people = course.people
    sub = services.submission_create(
        actor=people.student, lab=gpu_lab, content=fixture("submitted-changed.ipynb")
    )
    job = GradingJob.objects.get(submission=sub)
    slurm.set(job.job_id, "PENDING", "Resources")
    cluster_grading.poll()

    login(page, base, people.student.username)
    page.goto(f"{base}/labs/{gpu_lab.pk}/")
    card = page.locator(f"#status-{sub.pk}")
    expect(card).to_contain_text("Queued")
    expect(card).to_contain_text(
        "Queued on the cluster: Waiting for free GPUs/CPUs: all matching resources are in use."
    )
    page.screenshot(path=str(artifacts / "cluster-grading-1-queued.png"), full_page=True)

    slurm.set(job.job_id, "RUNNING", node="gpu-node-1", elapsed=5)
    cluster_grading.poll()
    expect(page.locator(f"#status-{sub.pk}")).to_contain_text("Running on the cluster.")
    page.screenshot(path=str(artifacts / "cluster-grading-2-running.png"), full_page=True)

    _write_result(job)
    slurm.set(job.job_id, "COMPLETED", elapsed=40)
    cluster_grading.poll()
    expect(page.locator(f"#status-{sub.pk}")).to_contain_text("2 / 7")
    page.screenshot(path=str(artifacts / "cluster-grading-3-graded.png"), full_page=True)

    login(page, base, people.instructor.username)
    page.goto(f"{base}/submissions/{sub.pk}/")
    jobs = page.locator("#grading-jobs")
    expect(jobs).to_contain_text(job.job_id)
    expect(jobs).to_contain_text("gpu-node-1")
    expect(jobs).to_contain_text("COMPLETED")
    page.screenshot(path=str(artifacts / "cluster-grading-4-staff-jobs.png"), full_page=True)

    page.goto(f"{base}/runs/{course.run.pk}/gpu/")
    expect(page.locator("#grading-usage")).to_contain_text("1 grading job")
    page.screenshot(path=str(artifacts / "cluster-grading-5-usage.png"), full_page=True)
