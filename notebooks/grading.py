"""The thin adapter between the Django side and the grader library (``notebooks.grader``).

Everything the services need from the grader goes through here: validating a source notebook,
releasing it, parsing a submission and grading one.  The adapter turns the library's results
into plain dicts for the database (every output kept, for the run's staff), and decides once,
in ``student_view_of_result``, what of them a student may see: pages, the API and any download
all go through it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from notebooks.grader import format as fmt
from notebooks.grader.diff import NotebookDiff
from notebooks.grader.diff import diff as notebook_diff
from notebooks.grader.release import release as _release
from notebooks.grader.validate import CellError, NotebookInvalid, parse, validate

__all__ = [
    "CellError",
    "GradeResult",
    "GraderUnavailable",
    "NotebookDiff",
    "NotebookInvalid",
    "OUTPUT_LIMIT",
    "graded_cells",
    "grade",
    "hidden_lines",
    "notebook_diff",
    "parse",
    "release",
    "result_from_grader",
    "scrub",
    "student_view_of_result",
    "validate",
]

OUTPUT_LIMIT = 20_000  # characters of output kept per cell for the feedback


class GraderUnavailable(RuntimeError):
    """The grading infrastructure failed (kernel did not start, sandbox could not be set up):
    worth a retry.  Failures of the student's code are results, never this."""


@dataclass
class GradeResult:
    score: float
    max_score: float
    needs_manual: bool
    # {grade_id: {"score": float|None, "max_score": float, "kind": str, "output": str,
    #             "error": str, "hidden": bool, "withheld": bool}}
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcome: str = "ok"  # ok / timeout / memory / crash / output / invalid
    reason: str = ""


def release(source: bytes) -> str:
    return _release(source)


def graded_cells(source: bytes) -> list[dict[str, Any]]:
    """The nbgrader cells of a (valid) source notebook, in order, without their code."""
    nb = parse(source)
    out = []
    for cell in nb.cells:
        kind = fmt.cell_kind(cell)
        if kind == fmt.FREE:
            continue
        out.append(
            {
                "grade_id": fmt.grade_id(cell),
                "kind": kind,
                "cell_type": cell.cell_type,
                "points": fmt.points(cell) if kind in (fmt.TEST, fmt.MANUAL, fmt.TASK) else 0.0,
            }
        )
    return out


def hidden_lines(source: bytes) -> set[str]:
    """The (stripped, non-trivial) lines of every hidden-test block of a source notebook.
    Not a protection (the student's code can print them encoded): the rule is that outputs of
    hidden-test cells, and of every cell after the first one, never reach a student."""
    lines: set[str] = set()
    for cell in parse(source).cells:
        inside = False
        for line in fmt.source_text(cell).splitlines():
            stripped = line.strip()
            if stripped.startswith(fmt.BEGIN_HIDDEN):
                inside = True
            elif stripped.startswith(fmt.END_HIDDEN):
                inside = False
            elif inside and len(stripped) > 3:
                lines.add(stripped)
    return lines


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def scrub(text: str, hidden: set[str] | frozenset[str] = frozenset()) -> str:
    """Output without colour codes, without lines quoting ``hidden`` (if given), capped in
    length.  Line scrubbing cannot stop an encoded copy: see ``student_view_of_result``."""
    text = _ANSI.sub("", text)
    if hidden:
        kept = []
        for line in text.splitlines():
            bare = re.sub(r"^\s*(-+>\s*)?\d*\s*", "", line).strip()
            if bare in hidden or any(h in line for h in hidden if len(h) > 8):
                kept.append("[hidden test]")
            else:
                kept.append(line)
        text = "\n".join(kept)
    if len(text) > OUTPUT_LIMIT:
        text = text[:OUTPUT_LIMIT] + "\n[output truncated]"
    return text


def _as_dict(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


# The grader's run status -> GradingRun.outcome
_OUTCOMES = {
    "ok": "ok",
    "timeout": "timeout",
    "memory_limit": "memory",
    "crashed": "crash",
    "output_limit": "output",
}


def sandbox_limits(timeout: float | None = None) -> Any:
    """The grader's limits, with Academy's own storage hidden from student code as well (the
    project folder, /root and /home are hidden by the grader already)."""
    from notebooks.grader.sandbox import Limits

    hidden = (
        *Limits().hidden_paths,
        str(settings.VAR_DIR),
        str(settings.MEDIA_ROOT),
        str(settings.NOTEBOOKS_PRIVATE_ROOT),
        str(settings.STATIC_ROOT),
    )
    kwargs: dict[str, Any] = {"hidden_paths": tuple(dict.fromkeys(hidden))}
    if timeout is not None:
        kwargs["cell_timeout"] = timeout
    return Limits(**kwargs)


def grade(
    *,
    source: bytes,
    submission: bytes,
    released: bytes | None = None,
    data_files: dict[str, bytes] | None = None,
    timeout: float | None = None,
    pool: Any = None,
) -> GradeResult:
    """Grade ``submission`` against ``source`` in the grader's sandbox.

    ``timeout`` is the per-cell limit; ``pool`` a kernel pool of this worker process (kernels
    started ahead of need, never reused).  Raises NotebookInvalid for a submission that is not
    a notebook, GraderUnavailable when the sandbox itself fails."""
    from notebooks.grader.grade import grade as grader_grade
    from notebooks.grader.sandbox import SandboxError

    kwargs: dict[str, Any] = {"data_files": data_files or None, "released_nb": released}
    if pool is not None:
        kwargs["pool"] = pool
    else:
        kwargs["limits"] = sandbox_limits(timeout)
    try:
        result = grader_grade(source, submission, **kwargs)
    except SandboxError as exc:
        raise GraderUnavailable(str(exc)) from exc
    return result_from_grader(_as_dict(result))


def result_from_grader(raw: dict[str, Any]) -> GradeResult:
    """The grader's ``GradeResult.to_dict()`` (here, or read back from a grading job on the
    cluster) as this adapter's GradeResult."""
    raw = dict(raw)
    raw["outcome"] = _OUTCOMES.get(str(raw.get("status", "ok")), "crash")
    if raw["outcome"] != "ok":
        raw.setdefault(
            "reason",
            {
                "timeout": "time limit reached",
                "memory": "memory limit reached",
                "crash": "the kernel crashed",
                "output": "output limit reached",
            }[raw["outcome"]],
        )
    return normalise(raw)


def normalise(raw: dict[str, Any]) -> GradeResult:
    """The grader's result (the ``grade_notebook --json`` shape, plus optional per-cell
    ``output``/``kind``/``error``/``hidden``/``withheld`` and a top-level ``outcome``/``reason``)
    as a GradeResult.  Outputs are kept whole (capped) for the run's staff; a cell without a
    ``withheld`` flag counts as withheld (nothing is shown to a student by default)."""
    cells: dict[str, dict[str, Any]] = {}
    # The grader reports cells in notebook order; PostgreSQL's jsonb does not keep key order, so
    # each cell keeps its position for the pages that list them.
    for order, (gid, cell) in enumerate((raw.get("cells") or {}).items()):
        cell = _as_dict(cell)
        output = cell.get("output") or ""
        if isinstance(output, list):
            output = "\n".join(str(o) for o in output)
        cells[gid] = {
            "score": None if cell.get("score") is None else float(cell["score"]),
            "max_score": float(cell.get("max_score") or 0),
            "kind": cell.get("kind", ""),
            "output": scrub(str(output)),
            "error": scrub(str(cell.get("error") or "")),
            "hidden": bool(cell.get("hidden", False)),
            "withheld": cell.get("withheld", True) is not False,
            "order": order,
        }
    outcome = raw.get("outcome") or "ok"
    return GradeResult(
        score=float(raw.get("score") or 0),
        max_score=float(raw.get("max_score") or 0),
        needs_manual=bool(raw.get("needs_manual_grade", raw.get("needs_manual", False))),
        cells=cells,
        outcome=str(outcome),
        reason=str(raw.get("reason") or "")[:500],
    )


def student_view_of_result(cells: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a student (or anyone not on the run's staff) may see of a grading run's cells.

    The rule: a hidden-test cell, and every cell that ran after the first one, shows its score
    and a neutral note, never its output, error or traceback.  From that cell on the student's
    code may have read the hidden tests (the caller's frame, ``inspect``, ``linecache``,
    IPython's history, ``gc``...) and can print them in any encoding, so no scrubbing of the
    text could be sound; cells that ran before it cannot have seen them (the hidden tests
    reach the kernel only with their cell).  A stored cell without the ``withheld`` flag
    (graded before this rule) is withheld too.  Returns ``{grade_id: {kind, score, max_score,
    output, hidden, withheld, note}}``; ``note`` is translated for the current request.
    """
    view: dict[str, dict[str, Any]] = {}
    for gid, cell in cells.items():
        known = "withheld" in cell
        withheld = cell.get("withheld", True) is not False
        hidden = bool(cell.get("hidden"))
        score, max_score = cell.get("score"), cell.get("max_score") or 0
        note = ""
        if hidden:
            passed = score is not None and float(score) >= float(max_score)
            note = _("Hidden tests passed.") if passed else _("A hidden test failed.")
        elif withheld:
            note = (
                _("Output not shown: this cell ran after hidden tests.")
                if known
                else _("Output not shown.")
            )
        view[gid] = {
            "kind": cell.get("kind", ""),
            "score": score,
            "max_score": max_score,
            "output": "" if withheld else str(cell.get("output") or ""),
            "hidden": hidden,
            "withheld": withheld,
            "note": note,
        }
    return view


# ------------------------------------------------------------------ "Test this version"

# What a version check found, as {"code": ..., "cell": ..., ...}: stored so, and worded in the
# reader's language when shown (``check_message``).
SOLUTION_DID_NOT_RUN = "solution_did_not_run"
SOLUTION_NOT_FULL = "solution_not_full"
STUDENT_DID_NOT_RUN = "student_did_not_run"
STUDENT_TEST_PASSES = "student_test_passes"


def check_verdict(solution: GradeResult, student: GradeResult) -> tuple[list[dict], list[dict]]:
    """(problems, warnings) of a version check.

    Problems block a release: the source's own solution must run to the end and score full marks
    in every automatically graded cell (cells a human grades are left to the human), and the
    student version must run to the end (its tests fail, but as tests: an assertion or the stub's
    NotImplementedError, not a crash, a time-out or a grader error).  A test that passes on the
    student version is only a warning: it tests nothing the student writes."""
    problems: list[dict] = []
    warnings: list[dict] = []
    if solution.outcome != "ok":
        problems.append({"code": SOLUTION_DID_NOT_RUN, "reason": solution.reason})
    for gid, cell in solution.cells.items():
        score = cell.get("score")
        if score is not None and float(score) < float(cell.get("max_score") or 0):
            problems.append(
                {
                    "code": SOLUTION_NOT_FULL,
                    "cell": gid,
                    "score": float(score),
                    "max_score": float(cell.get("max_score") or 0),
                    "error": str(cell.get("error") or "")[:300],
                }
            )
    if student.outcome != "ok":
        problems.append({"code": STUDENT_DID_NOT_RUN, "reason": student.reason})
    for gid, cell in student.cells.items():
        score = cell.get("score")
        if cell.get("kind") == "test" and score is not None and float(score) > 0:
            warnings.append({"code": STUDENT_TEST_PASSES, "cell": gid, "score": float(score)})
    return problems, warnings


def check_message(item: dict) -> str:
    """One finding of a version check, in the reader's language."""
    code = item.get("code")
    if code == SOLUTION_DID_NOT_RUN:
        return _("The solution did not run to the end: %(reason)s.") % {
            "reason": item.get("reason") or _("unknown")
        }
    if code == SOLUTION_NOT_FULL:
        return _("Cell %(cell)s: the solution scores %(score)g of %(max)g.") % {
            "cell": item.get("cell"),
            "score": item.get("score", 0),
            "max": item.get("max_score", 0),
        }
    if code == STUDENT_DID_NOT_RUN:
        return _("The student version did not run cleanly: %(reason)s.") % {
            "reason": item.get("reason") or _("unknown")
        }
    if code == STUDENT_TEST_PASSES:
        return _("Cell %(cell)s passes on the student version: it tests nothing they write.") % {
            "cell": item.get("cell")
        }
    return str(item)


def result_as_dict(result: GradeResult) -> dict[str, Any]:
    return {
        "score": result.score,
        "max_score": result.max_score,
        "outcome": result.outcome,
        "reason": result.reason,
        "cells": result.cells,
    }
