"""Grading: assemble the notebook to run from the source, run it in a sandbox, score it."""

from __future__ import annotations

import copy
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import nbformat

from . import format as fmt
from .release import release_cell
from .sandbox import CellRun, Limits, Sandbox
from .validate import NotebookInvalid, check_cells, parse

if TYPE_CHECKING:
    from .pool import KernelPool

OK, TIMEOUT, MEMORY, CRASHED, OUTPUT = "ok", "timeout", "memory_limit", "crashed", "output_limit"


@dataclass
class CellResult:
    score: float | None  # None: a human must grade it
    max_score: float
    kind: str  # "test", "manual" or "task"
    output: str = ""  # text of the cell's outputs, capped
    error: str | None = None  # why an automatic grade is 0, if it is
    hidden: bool = False  # a test cell with hidden tests
    # Ran at or after the first hidden-test cell: the student's code may have read hidden test
    # source by then (frames, inspect, linecache, IPython's history...) and may print it in any
    # encoding, so nothing this cell printed or raised may reach a student (staff only).
    withheld: bool = False


@dataclass
class GradeResult:
    score: float
    max_score: float
    needs_manual_grade: bool
    status: str  # ok / timeout / memory_limit / crashed / output_limit
    cells: dict[str, CellResult]
    notebook: Any = field(repr=False, default=None)  # executed notebook (has hidden tests)
    isolation: dict = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict:
        """The JSON shape of ``grade_notebook --json``."""
        return {
            "score": self.score,
            "max_score": self.max_score,
            "needs_manual_grade": self.needs_manual_grade,
            "cells": {
                gid: {"score": c.score, "max_score": c.max_score} for gid, c in self.cells.items()
            },
        }

    def to_dict(self) -> dict:
        data = self.summary()
        data.update(
            status=self.status,
            isolation=self.isolation,
            seconds=self.seconds,
            cells={gid: asdict(c) for gid, c in self.cells.items()},
        )
        return data


@dataclass
class _Slot:
    cell: Any  # the cell to run/keep (nbformat node)
    kind: str
    gid: str | None
    released: Any = None  # the released version (answer/manual cells)


def assemble(source: Any, submission: Any, released: Any | None = None) -> list[_Slot]:
    """The cells to run, in the source's order.

    Locked, test (with hidden tests) and task cells come from the source; answer cells from
    the submission by grade_id (the released stub when missing); the cells a student added
    (no known grade_id) follow the nbgrader cell they follow in the submission. The
    submission's metadata is never used for anything but matching.
    """
    rel_by_id = {}
    if released is not None:
        rel_by_id = {fmt.grade_id(c): c for c in released.cells if fmt.grade_id(c)}
    src_ids = {fmt.grade_id(c) for c in source.cells if fmt.grade_id(c)}
    answers: dict[str, Any] = {}
    follow: dict[str | None, list[Any]] = {None: []}
    anchor: str | None = None
    for cell in submission.cells:
        gid = fmt.grade_id(cell)
        if gid is not None and gid in src_ids and gid not in answers:
            answers[gid] = cell
            anchor = gid
            follow.setdefault(gid, [])
        else:
            free = copy.deepcopy(cell)
            free.metadata.pop("nbgrader", None)
            follow.setdefault(anchor, []).append(free)
    slots = [_Slot(c, fmt.FREE, None) for c in follow[None]]
    for cell in source.cells:
        gid = fmt.grade_id(cell)
        if not gid:
            continue  # unlocked free cells of the source: the student's version counts
        kind = fmt.cell_kind(cell)
        rel = rel_by_id.get(gid) or release_cell(cell)
        if kind in (fmt.ANSWER, fmt.MANUAL):
            run = copy.deepcopy(rel)
            sub = answers.get(gid)
            if sub is not None and sub.cell_type == cell.cell_type:
                run.source = fmt.source_text(sub)
            slots.append(_Slot(run, kind, gid, rel))
        else:
            slots.append(_Slot(copy.deepcopy(cell), kind, gid))
        slots.extend(_Slot(c, fmt.FREE, None) for c in follow.get(gid, []))
    return slots


def holds_hidden_tests(cell: Any) -> bool:
    """A test cell with a ``### BEGIN HIDDEN TESTS`` block (recognised as release() does)."""
    return fmt.cell_kind(cell) == fmt.TEST and any(
        line.strip().startswith(fmt.BEGIN_HIDDEN) for line in fmt.source_text(cell).splitlines()
    )


def _outputs_text(outputs: list[dict], cap: int = 4000) -> str:
    parts = []
    for out in outputs:
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}\n")
        else:
            parts.append(str(out.get("data", {}).get("text/plain", "")) + "\n")
    text = "".join(parts)
    return text if len(text) <= cap else text[:cap] + "\n[truncated]"


def _out_of_memory(run: CellRun) -> bool:
    for out in run.outputs:
        if out["output_type"] == "error" and out.get("ename") == "MemoryError":
            return True
        if (
            out["output_type"] == "stream"
            and out["name"] == "stderr"
            and "MemoryError" in out["text"]
        ):
            return True
    return False


def _score_test(run: CellRun | None, pts: float, nonce: str) -> tuple[float, str | None]:
    if run is None:
        return 0.0, "not run: the kernel had stopped (see the notebook status)"
    if run.timed_out:
        return 0.0, "timed out"
    if run.kernel_died or run.reply is None:
        return 0.0, "the kernel died while running this cell"
    if run.saw_error or run.reply.get("status") != "ok":
        return 0.0, "the test raised an error"
    if run.saw_stderr:
        return 0.0, "the test wrote to stderr"
    check = run.reply.get("x_check") or {}
    if check.get("nonce") != nonce or not check.get("ran"):
        return 0.0, "the test did not run to completion"
    if check.get("tampered"):
        return 0.0, "the grading environment was modified: " + ", ".join(check["tampered"])
    if run.last_result_text is not None:
        try:
            value = float(run.last_result_text)
        except ValueError:
            return pts, None
        if not math.isfinite(value) or value < 0 or value > pts:
            return 0.0, f"partial credit {run.last_result_text!r} is outside 0..{pts:g}"
        return value, None
    return pts, None


def grade(
    source_nb: bytes | str,
    submission_nb: bytes | str,
    *,
    limits: Limits | None = None,
    data_files: Mapping[str, Any] | None = None,
    released_nb: bytes | str | None = None,
    pool: KernelPool | None = None,
) -> GradeResult:
    """Grade a submission against its source notebook.

    ``released_nb`` is the student version as released (to recognise an unchanged manual
    answer); by default the source is released again with the default stubs. With ``pool``
    a pre-started kernel is taken from it (its start-up limits apply). Raises NotebookInvalid
    when the source is unusable or the submission is not a notebook.
    """
    t0 = time.monotonic()
    lim = limits or (pool.limits if pool is not None else Limits())
    source = parse(source_nb)
    errors = [e for e in check_cells(source) if not e.warning]
    if errors:
        raise NotebookInvalid(errors)
    submission = parse(submission_nb)
    released = parse(released_nb) if released_nb is not None else None
    slots = assemble(source, submission, released)

    sandbox = pool.acquire() if pool is not None else Sandbox(lim).start()
    runs: dict[int, CellRun] = {}
    run: CellRun | None  # below, None for a cell that did not run
    nonces: dict[int, str] = {}
    status = OK
    try:
        if data_files:
            sandbox.add_files(data_files)
        deadline = time.monotonic() + lim.notebook_timeout
        total_left = lim.output_total_bytes
        for i, slot in enumerate(slots):
            if slot.cell.cell_type != "code" or not fmt.source_text(slot.cell).strip():
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                status = TIMEOUT
                break
            if sandbox.dead:
                break
            nonce = secrets.token_hex(16) if slot.kind == fmt.TEST else None
            run = sandbox.execute(
                fmt.source_text(slot.cell),
                timeout=min(lim.cell_timeout, left),
                nonce=nonce,
                total_left=max(total_left, 0),
                flood_left=lim.flood_bytes - sandbox.received_bytes,
            )
            runs[i] = run
            if nonce:
                nonces[i] = nonce
            total_left -= sum(len(_outputs_text([o], 1 << 30)) for o in run.outputs)
            if run.timed_out:
                status = TIMEOUT if status == OK else status
                run.outputs.append(
                    {
                        "output_type": "error",
                        "ename": "CellTimeoutError",
                        "evalue": "cell execution timed out after "
                        f"{min(lim.cell_timeout, left):g} s",
                        "traceback": [],
                    }
                )
            if _out_of_memory(run):
                status = MEMORY if status in (OK, TIMEOUT) else status
            if run.truncated and status == OK:
                status = OUTPUT
            if run.flooded:
                status = OUTPUT
                break
            if run.stuck:
                status = TIMEOUT
                break
            if run.kernel_died:
                rc = sandbox.proc.returncode if sandbox.proc else None
                status = TIMEOUT if rc in (-24, 152) else (status if status == MEMORY else CRASHED)
                run.outputs.append(
                    {
                        "output_type": "error",
                        "ename": "DeadKernelError",
                        "evalue": f"the kernel died (exit status {rc})",
                        "traceback": [],
                    }
                )
                break
    finally:
        isolation = dict(sandbox.isolation, sandbox_uid=sandbox.uid)
        left_over = sandbox.close()
        if left_over:
            isolation["survivors"] = left_over

    cells: dict[str, CellResult] = {}
    executed = copy.deepcopy(source)
    executed.cells = []
    after_hidden = False  # slots run in this order: from the first hidden test on, withheld
    for i, slot in enumerate(slots):
        cell = copy.deepcopy(slot.cell)
        run = runs.get(i)
        hidden = slot.kind == fmt.TEST and holds_hidden_tests(cell)
        after_hidden = after_hidden or hidden
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(o) for o in run.outputs] if run else []
            cell.execution_count = run.execution_count if run else None
        executed.cells.append(cell)
        if slot.kind not in (fmt.TEST, fmt.MANUAL, fmt.TASK) or not slot.gid:
            continue
        pts = fmt.points(cell)
        output = _outputs_text(run.outputs) if run else ""
        if slot.kind == fmt.TEST:
            if run is None and not fmt.source_text(cell).strip():
                score, err = pts, None  # an empty test cell passes, as in nbgrader
            else:
                score, err = _score_test(run, pts, nonces.get(i, ""))
            cells[slot.gid] = CellResult(score, pts, slot.kind, output, err, hidden, after_hidden)
        elif slot.kind == fmt.MANUAL:
            unchanged = fmt.normalized(fmt.source_text(cell)) == fmt.normalized(
                fmt.source_text(slot.released)
            )
            cells[slot.gid] = CellResult(
                0.0 if unchanged else None,
                pts,
                slot.kind,
                output,
                "no response" if unchanged else None,
                withheld=after_hidden,
            )
        else:
            cells[slot.gid] = CellResult(None, pts, slot.kind, output, withheld=after_hidden)
    score = sum(c.score for c in cells.values() if c.score is not None)
    return GradeResult(
        score=float(score),
        max_score=float(sum(c.max_score for c in cells.values())),
        needs_manual_grade=any(c.score is None for c in cells.values()),
        status=status,
        cells=cells,
        notebook=executed,
        isolation=isolation,
        seconds=round(time.monotonic() - t0, 3),
    )


def feedback_notebook(result: GradeResult) -> nbformat.NotebookNode:
    """The executed notebook as a student may see it: hidden tests' code blanked out, and no
    outputs of any cell from the first hidden-test cell on (see ``CellResult.withheld``:
    whatever the student's code printed there may carry hidden test source, encoded)."""
    from .release import _replace_regions

    nb = copy.deepcopy(result.notebook)
    after_hidden = False
    for cell in nb.cells:
        if holds_hidden_tests(cell):
            after_hidden = True
        if fmt.cell_kind(cell) == fmt.TEST:
            cell.source, _ = _replace_regions(
                fmt.source_text(cell), fmt.BEGIN_HIDDEN, fmt.END_HIDDEN, "# (hidden tests)"
            )
        if after_hidden and cell.cell_type == "code":
            cell.outputs = []
    return nb
