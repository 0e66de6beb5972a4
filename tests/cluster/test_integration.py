"""Integration tests against the REAL stack from ops/cluster/up.sh (Slurm + slurmdbd + JupyterHub).

Run:  ops/cluster/up.sh && DEBUG=1 .venv/bin/pytest -m integration tests/cluster -s
They fail (not skip) when the stack is missing. Timings are printed, never asserted tightly.
"""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import datetime, timedelta

import pytest

from notebooks.clients.hub import HubClient, HubError, HubUnavailable

pytestmark = pytest.mark.integration

NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# Lab 1"},
        {
            "cell_type": "code",
            "id": "c1",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "import os\nprint(os.environ.get('CUDA_VISIBLE_DEVICES'))",
        },
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout


def wait_until(predicate, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def jobs_of(slurm, user: str, since: datetime):
    return [r for r in slurm.jobs_since(since) if r.user == user]


def test_gpu_lab_lifecycle(hub, slurm, student):
    since = datetime.now() - timedelta(minutes=1)
    t0 = time.monotonic()
    state = hub.start_server(
        student, "lab-1", {"partition": "gpu", "gpus": 1, "runtime": "00:10:00"}
    )
    assert state.status in ("pending", "ready"), state
    state = hub.wait_ready(student, "lab-1", timeout=120)
    spawn_s = time.monotonic() - t0
    print(f"\nspawn-to-ready (partition gpu, 1 GPU): {spawn_s:.1f} s")
    assert state.ready, state
    assert state.job_id and state.url == f"/user/{student}/lab-1/"

    # Slurm sees the job on the gpu partition with one GPU
    job = sh("scontrol", "show", "job", "-o", state.job_id)
    assert "Partition=gpu" in job and "gres/gpu=1" in job and "JobState=RUNNING" in job, job
    assert f"UserId={student}(" in job
    q = slurm.queue_info(state.job_id)
    assert q.state == "RUNNING" and q.nodes

    # the lab notebook goes in through the contents API and comes back unchanged
    hub.add_file(student, "lab-1", "labs/lab1/lab1.ipynb", NOTEBOOK)
    back = hub.get_file(student, "lab-1", "labs/lab1/lab1.ipynb")
    assert [c["source"] for c in back["cells"]] == [c["source"] for c in NOTEBOOK["cells"]]

    time.sleep(1.5)  # at least a second of elapsed time for the accounting check
    t1 = time.monotonic()
    stopped = hub.stop_server(student, "lab-1", wait=30)
    print(f"stop -> stopped: {time.monotonic() - t1:.1f} s")
    assert stopped.stopped, stopped
    assert wait_until(lambda: slurm.queue_info(state.job_id).state in ("GONE", "CANCELLED"), 30), (
        slurm.queue_info(state.job_id)
    )

    # accounting: ElapsedRaw x gres/gpu > 0 (record may show an empty partition for a moment)
    def finished_record():
        rec = slurm.job(state.job_id)
        return rec if rec and rec.finished and rec.partition else None

    rec = wait_until(finished_record, 30, 1.0)
    assert rec, f"no finished sacct record for job {state.job_id}"
    print(
        f"sacct: job {rec.job_id} {rec.state} elapsed {rec.elapsed_seconds}s gpus {rec.gpus} "
        f"gpu_seconds {rec.gpu_seconds}"
    )
    assert (rec.user, rec.partition, rec.gpus) == (student, "gpu", 1)
    assert rec.gpu_seconds > 0
    assert rec.job_id in {r.job_id for r in jobs_of(slurm, student, since)}


@pytest.mark.parametrize(
    "options, message",
    [
        ({"partition": "gpu\n#SBATCH --gres=gpu:4"}, "partition must be one of"),
        ({"partition": "gpu", "gpus": "1\n#SBATCH --gres=gpu:4"}, "gpus must be an integer"),
        ({"partition": "gpu", "gpus": 1, "prologue": "touch /tmp/academy-pwned"}, "unknown option"),
        ({"partition": "gpu", "options": "--gres=gpu:4"}, "unknown option"),
        ({"partition": "gpu", "srun": "bash -c id;"}, "unknown option"),
        ({"partition": "cpu", "gpus": 1}, "gpus must be 0..0 on partition cpu"),
        ({"partition": "gpu", "gpus": 5}, "gpus must be 0..4"),
        ({"partition": "gpu", "runtime": "99:00:00"}, "runtime must be between"),
    ],
)
def test_bad_options_rejected_without_a_job(hub, slurm, student, options, message):
    since = datetime.now() - timedelta(seconds=5)
    with pytest.raises(HubError) as exc:
        hub.start_server(student, "lab-2", options)
    assert exc.value.status == 400
    assert message in exc.value.message
    assert hub.server_state(student, "lab-2").stopped
    time.sleep(0.5)
    assert jobs_of(slurm, student, since) == [], "a job was submitted for rejected options"
    assert student not in sh("squeue", "-h", "-o", "%u").split()


@pytest.mark.parametrize("server", ["mine", "lab-1x", "lab"])
def test_only_lab_session_names_are_started(hub, slurm, student, server):
    """Even the service token cannot start a server Academy would not name (nor, through the
    user-less path of a hub admin, the unnamed default server)."""
    with pytest.raises(HubError) as exc:
        hub.start_server(student, server, {"partition": "cpu"})
    assert exc.value.status == 400 and "only lab sessions" in exc.value.message
    assert student not in sh("squeue", "-h", "-o", "%u").split()


def test_scancel_mid_session_stops_server(hub, slurm, student):
    state = hub.start_server(student, "lab-3", {"partition": "cpu", "runtime": "00:05:00"})
    state = hub.wait_ready(student, "lab-3", timeout=120)
    assert state.ready and state.job_id, state
    subprocess.run(["scancel", state.job_id], check=True, timeout=30)
    t0 = time.monotonic()
    after = wait_until(lambda: hub.server_state(student, "lab-3").stopped, 45, 0.5)
    print(f"\nscancel -> hub shows server stopped: {time.monotonic() - t0:.1f} s")
    assert after, hub.server_state(student, "lab-3")
    # and the same lab can be started again right away
    again = hub.start_server(student, "lab-3", {"partition": "cpu", "runtime": "00:05:00"})
    assert again.status in ("pending", "ready")
    hub.stop_server(student, "lab-3", wait=30)


def test_pending_reason_in_plain_words(slurm):
    out = sh(
        "sbatch",
        "--parsable",
        "-H",
        "-p",
        "gpu",
        "--gres=gpu:1",
        "-t",
        "00:01:00",
        "--wrap",
        "true",
    )
    job_id = out.strip().split(";")[0]
    assert job_id.isdigit(), out
    try:
        q = slurm.queue_info(job_id)
        assert q.pending and q.reason == "JobHeldUser" and "Held" in q.reason_text, q
    finally:
        sh("scancel", job_id)


def test_hub_down_is_unavailable(cluster_env):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    client = HubClient(f"http://127.0.0.1:{port}", cluster_env["ACADEMY_HUB_API_TOKEN"], retries=1)
    with pytest.raises(HubUnavailable):
        client.ensure_user("nobody")
    with pytest.raises(HubUnavailable):
        client.start_server("nobody", "lab", {"partition": "cpu"})
