from __future__ import annotations

import json

import nbformat
import pytest

from notebooks.grader import NotebookInvalid, release, validate

from .conftest import read


def _nb(*cells) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nbformat.writes(nb)


def _code(source, **meta):
    cell = nbformat.v4.new_code_cell(source)
    if meta:
        cell.metadata.nbgrader = {
            "schema_version": 3,
            "grade": False,
            "solution": False,
            "locked": False,
            **meta,
        }
    return cell


def _md(source, **meta):
    cell = nbformat.v4.new_markdown_cell(source)
    if meta:
        cell.metadata.nbgrader = {
            "schema_version": 3,
            "grade": False,
            "solution": False,
            "locked": False,
            **meta,
        }
    return cell


def _errors(nb: str) -> list[str]:
    with pytest.raises(NotebookInvalid) as exc:
        validate(nb)
    return [str(e) for e in exc.value.errors]


@pytest.mark.parametrize(
    "name", ["submitted-unchanged.ipynb", "test-hidden-tests.ipynb", "timeout.ipynb"]
)
def test_it_accepts_the_conformance_sources(name):
    assert validate(read(name)) == []


def test_it_rejects_invalid_json():
    assert "not valid JSON" in _errors("{nope")[0]


def test_it_rejects_json_that_is_not_a_notebook():
    assert "not a Jupyter notebook" in _errors(json.dumps({"cells": 3}))[0]
    assert (
        "not a valid Jupyter notebook"
        in _errors(
            json.dumps(
                {
                    "cells": [{"cell_type": "code"}],
                    "nbformat": 4,
                    "nbformat_minor": 5,
                    "metadata": {},
                }
            )
        )[0]
    )


def test_it_rejects_an_oversized_notebook():
    assert "over the limit" in str(
        pytest.raises(NotebookInvalid, validate, read("timeout.ipynb"), max_bytes=100).value
    )


def test_it_rejects_duplicate_and_bad_grade_ids():
    errors = _errors(
        _nb(
            _code("x", grade=True, points=1, grade_id="t1"),
            _code("y", grade=True, points=1, grade_id="t1"),
            _code("z", solution=True, grade_id="bad id!"),
        )
    )
    assert any("cell 2" in e and "duplicate grade_id" in e for e in errors)
    assert any("cell 3" in e and "grade_id 'bad id!'" in e for e in errors)


def test_it_rejects_graded_cells_without_or_with_negative_points():
    errors = _errors(
        _nb(_code("x", grade=True, grade_id="a"), _code("y", grade=True, points=-1, grade_id="b"))
    )
    assert "'a': graded cell has no points" in errors[0]
    assert "'b': points must be zero or more" in errors[1]


def test_it_rejects_a_graded_markdown_cell_that_is_not_a_solution():
    errors = _errors(_nb(_md("text", grade=True, points=1, grade_id="m")))
    assert "must also be a solution cell" in errors[0]


def test_it_rejects_other_schema_versions():
    cell = _code("x", solution=True, grade_id="a")
    cell.metadata.nbgrader["schema_version"] = 2
    assert "schema_version 2" in _errors(_nb(cell))[0]


def test_it_rejects_unpaired_markers_and_markers_in_plain_cells():
    errors = _errors(
        _nb(
            _code("### BEGIN SOLUTION\nx = 1", solution=True, grade_id="a"),
            _code("### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"),
        )
    )
    assert "do not pair up" in errors[0]
    assert "not marked as an nbgrader cell" in errors[1]


def test_it_warns_when_nothing_is_graded():
    warnings = validate(_nb(_code("x = 1")))
    assert [w.warning for w in warnings] == [True]
    assert "no graded cells" in str(warnings[0])


def test_release_replaces_solutions_and_removes_hidden_tests():
    source = _nb(
        _code(
            "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
            solution=True,
            grade_id="f",
        ),
        _md("secret answer", grade=True, solution=True, points=2, grade_id="essay"),
        _code(
            "assert f() == 1\n### BEGIN HIDDEN TESTS\nassert f() != 2\n### END HIDDEN TESTS",
            grade=True,
            points=1,
            grade_id="t",
        ),
    )
    nb = nbformat.from_dict(json.loads(source))
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="old")]
    nb.cells[2].execution_count = 3
    student = nbformat.reads(release(nbformat.writes(nb)), as_version=4)
    f, essay, t = student.cells
    assert f.source == "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert essay.source == "YOUR ANSWER HERE"
    assert t.source == "assert f() == 1"
    assert t.outputs == [] and t.execution_count is None
    assert t.metadata.nbgrader["points"] == 1 and t.metadata.nbgrader["grade_id"] == "t"
    assert all(len(c.metadata.nbgrader["checksum"]) == 64 for c in student.cells)


def test_release_names_a_kernel_unless_the_author_did():
    plain = nbformat.reads(release(_nb(_code("x = 1"))), as_version=4)
    assert plain.metadata.kernelspec == {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb = nbformat.v4.new_notebook(cells=[_code("x = 1")])
    nb.metadata.kernelspec = {"name": "python", "display_name": "Python", "language": "python"}
    generic = nbformat.reads(release(nbformat.writes(nb)), as_version=4)
    assert generic.metadata.kernelspec.name == "python3"
    nb.metadata.kernelspec = {"name": "torch", "display_name": "PyTorch", "language": "python"}
    kept = nbformat.reads(release(nbformat.writes(nb)), as_version=4)
    assert kept.metadata.kernelspec.name == "torch"


def test_release_refuses_an_invalid_source():
    with pytest.raises(NotebookInvalid):
        release(_nb(_code("x", grade=True, grade_id="a")))
