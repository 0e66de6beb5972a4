# ruff: noqa: E501  (sample sacct lines are long)
"""Unit tests: parsing of sacct / squeue output (notebooks/clients/slurm.py)."""

from datetime import datetime

import pytest

from notebooks.clients.slurm import (
    SlurmError,
    SlurmReader,
    explain_reason,
    parse_sacct,
    parse_squeue,
    parse_tres,
)

SACCT = """\
4|student1|training|gpu|CANCELLED by 1001|2026-11-28T00:59:05|2026-11-28T00:59:11|6|billing=1,cpu=1,gres/gpu=1,mem=1G,node=1
5|student2|course1|gpu|COMPLETED|2026-11-28T01:00:00|2026-11-28T02:00:00|3600|billing=2,cpu=2,gres/gpu:a100=2,mem=2G,node=1
6|student2|course1|cpu|RUNNING|2026-11-28T03:00:00|Unknown|120|billing=1,cpu=1,mem=1G,node=1
7|student3|course1|gpu|PENDING|Unknown|Unknown|0|
8|student1|training||TIMEOUT|2026-11-28T04:00:00|2026-11-28T04:01:27|87|billing=1,cpu=1,gres/gpu=4,mem=1G,node=1

garbage line
"""


def test_parse_sacct():
    recs = parse_sacct(SACCT)
    assert [r.job_id for r in recs] == ["4", "5", "6", "7", "8"]
    r4 = recs[0]
    assert (r4.user, r4.account, r4.partition, r4.state, r4.state_raw) == (
        "student1",
        "training",
        "gpu",
        "CANCELLED",
        "CANCELLED by 1001",
    )
    assert r4.start == datetime(2026, 11, 28, 0, 59, 5) and r4.elapsed_seconds == 6
    assert (r4.gpus, r4.gpu_seconds, r4.finished) == (1, 6, True)
    assert recs[1].gpus == 2 and recs[1].gpu_seconds == 7200  # typed GRES summed
    assert recs[2].gpu_seconds == 0 and recs[2].end is None and not recs[2].finished
    assert recs[3].start is None and recs[3].tres == {} and recs[3].state == "PENDING"
    assert recs[4].partition == "" and recs[4].gpu_seconds == 348


def test_parse_tres():
    assert parse_tres("billing=1,cpu=1,gres/gpu=1,mem=1G,node=1") == {
        "billing": "1",
        "cpu": "1",
        "gres/gpu": "1",
        "mem": "1G",
        "node": "1",
    }
    assert parse_tres("") == {}


def test_parse_squeue_pending():
    q = parse_squeue("12", "PENDING|AssocGrpGRESMinutes|2026-11-29T10:00:00|\n")
    assert q.pending and q.reason == "AssocGrpGRESMinutes"
    assert "GPU-time budget" in q.reason_text
    assert q.expected_start == datetime(2026, 11, 29, 10, 0)


def test_parse_squeue_running_and_gone():
    q = parse_squeue("13", "RUNNING|None|2026-11-28T03:33:05|vm")
    assert (q.state, q.reason_text, q.nodes, q.pending) == ("RUNNING", "", "vm", False)
    q = parse_squeue("14", "PENDING|Priority|N/A|")
    assert q.expected_start is None and "higher priority" in q.reason_text
    assert parse_squeue("15", "").state == "GONE"


@pytest.mark.parametrize(
    "reason, words",
    [
        ("Resources", "all matching resources are in use"),
        ("Priority", "higher priority"),
        ("AssocGrpGRESMinutes", "GPU-time budget"),
        ("AssocGrpGRES", "all GPUs it may use at once"),
        ("QOSMaxGRESPerUser", "all GPUs you may use"),
        ("QOSSomethingNew", "service level"),
        ("ReqNodeNotAvail, UnavailableNodes:vm", "not available"),
        ("JobHeldUser", "Held by the user"),
        ("WeirdNewReason", "Waiting (WeirdNewReason)"),
        ("None", ""),
    ],
)
def test_explain_reason(reason, words):
    assert words in explain_reason(reason)


def test_reader_builds_commands_with_prefix():
    calls = []

    def runner(cmd, timeout):
        calls.append(list(cmd))
        if cmd[2] == "sacct":
            return SACCT
        if cmd[2] == "squeue":
            raise SlurmError("squeue: error: Invalid job id specified")
        return ""

    r = SlurmReader("ssh login1", runner=runner)
    recs = r.jobs_since(datetime(2026, 11, 28, 0, 0, 0))
    assert len(recs) == 5
    assert calls[0] == [
        "ssh",
        "login1",
        "sacct",
        "-X",
        "-a",
        "-n",
        "-P",
        "-S",
        "2026-11-28T00:00:00",
        "-o",
        "JobID,User,Account,Partition,State,Start,End,ElapsedRaw,AllocTRES,NodeList,ExitCode",
    ]
    assert r.queue_info(99).state == "GONE"
    assert calls[1] == ["ssh", "login1", "squeue", "-j", "99", "-h", "-o", "%T|%r|%S|%N"]
    assert r.job("5").gpu_seconds == 7200


def test_reader_raises_on_failure():
    def runner(cmd, timeout):
        raise SlurmError("sacct: error: slurmdbd: connection refused")

    with pytest.raises(SlurmError):
        SlurmReader(runner=runner).jobs_since("2026-01-01")


def test_sacct_node_and_exit_code_are_read_when_present():
    line = (
        "42|root|grading|gpu|CANCELLED by 0|2026-12-07T06:00:00|2026-12-07T06:00:09|9|"
        "billing=1,cpu=1,gres/gpu=1,mem=2G,node=1|vm|0:15\n"
        "43|root|grading|gpu|PENDING|Unknown|Unknown|0|billing=1|None assigned|0:0\n"
    )
    first, second = parse_sacct(line)
    assert (first.state, first.nodes, first.exit_code, first.gpu_seconds) == (
        "CANCELLED",
        "vm",
        "0:15",
        9,
    )
    assert (second.nodes, second.finished) == ("", False)
