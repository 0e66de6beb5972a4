"""nbgrader conformance (see /work/shared/conformance/nbgrader/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from notebooks.grader import Limits, grade, release

from .conftest import FIXTURES, read

ROOT = Path(__file__).resolve().parents[2]
A_SOURCE = "submitted-unchanged.ipynb"
A_CASES = {
    # submission: (foo, bar, baz, quux), total, needs manual
    "submitted-unchanged.ipynb": ((1, 0, 0, 0), 1, False),
    "submitted-changed.ipynb": ((1, 1, None, None), 2, True),
    "submitted-cheat-attempt.ipynb": ((1, 0, None, None), 1, True),
    "submitted-cheat-attempt-alternative.ipynb": ((1, 0, None, None), 1, True),
}


def _cells(summary: dict) -> dict:
    return {gid: (c["score"], c["max_score"]) for gid, c in summary["cells"].items()}


@pytest.mark.parametrize("submission", sorted(A_CASES))
def test_basic_notebook_scores_like_nbgrader(submission, pool):
    (foo, bar, baz, quux), total, manual = A_CASES[submission]
    result = grade(read(A_SOURCE), read(submission), pool=pool)
    assert _cells(result.summary()) == {
        "foo": (foo, 1.0),
        "bar": (bar, 1.0),
        "baz": (baz, 2.0),
        "quux": (quux, 3.0),
    }
    assert (result.score, result.max_score, result.needs_manual_grade) == (total, 7.0, manual)
    assert result.status == "ok"


def test_hidden_tests_are_restored(pool):
    source = read("test-hidden-tests.ipynb")
    student = release(source, code_stub="# YOUR CODE HERE")
    assert "BEGIN HIDDEN TESTS" not in student and "BEGIN SOLUTION" not in student
    assert "squares(11)" not in student
    result = grade(
        source,
        student,
        pool=pool,
        data_files={"jupyter.png": (FIXTURES / "jupyter.png").read_bytes()},
    )
    assert _cells(result.summary()) == {
        "correct_squares": (0, 1.0),
        "squares_invalid_input": (1, 1.0),
        "correct_sum_of_squares": (0, 0.5),
        "sum_of_squares_uses_squares": (0.5, 0.5),
    }
    assert (result.score, result.max_score, result.needs_manual_grade) == (1.5, 3.0, False)


def test_timeout_notebook_passes_with_a_long_cell_timeout():
    nb = read("timeout.ipynb")
    result = grade(nb, nb, limits=Limits(cell_timeout=30))
    assert (result.score, result.max_score, result.status) == (1.0, 1.0, "ok")


def test_timeout_notebook_fails_with_a_2s_cell_timeout_and_records_it(pool):
    nb = read("timeout.ipynb")
    result = grade(nb, nb, limits=Limits(cell_timeout=2), pool=pool)
    cell = result.cells["correct_squares"]
    assert (cell.score, cell.max_score, result.score) == (0, 1.0, 0)
    assert result.status == "timeout"
    assert "timed out after 2 s" in cell.output
    outputs = result.notebook.cells[1].outputs
    assert any(o.output_type == "error" and o.ename == "CellTimeoutError" for o in outputs)


def _manage(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DEBUG="1", DJANGO_SETTINGS_MODULE="academy.settings")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_grade_notebook_command_prints_one_json_object():
    proc = _manage(
        "grade_notebook",
        "--source",
        str(FIXTURES / A_SOURCE),
        "--submission",
        str(FIXTURES / "submitted-changed.ipynb"),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "score": 2.0,
        "max_score": 7.0,
        "needs_manual_grade": True,
        "cells": {
            "foo": {"score": 1.0, "max_score": 1.0},
            "bar": {"score": 1.0, "max_score": 1.0},
            "baz": {"score": None, "max_score": 2.0},
            "quux": {"score": None, "max_score": 3.0},
        },
    }


def test_grade_notebook_command_applies_the_cell_timeout():
    nb = str(FIXTURES / "timeout.ipynb")
    proc = _manage("grade_notebook", "--source", nb, "--submission", nb, "--timeout", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cells"] == {"correct_squares": {"score": 0.0, "max_score": 1.0}}


def test_grade_notebook_command_rejects_a_bad_submission(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    proc = _manage(
        "grade_notebook", "--source", str(FIXTURES / A_SOURCE), "--submission", str(bad), "--json"
    )
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "not valid JSON" in proc.stderr


def test_release_notebook_command_writes_the_student_version(tmp_path):
    out = tmp_path / "student.ipynb"
    proc = _manage(
        "release_notebook", str(FIXTURES / "test-hidden-tests.ipynb"), "--output", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "BEGIN HIDDEN TESTS" not in text and "raise NotImplementedError()" in text
