"""nbgrader's cell metadata (schema version 3) and the source markers.

A cell's role comes from ``cell.metadata.nbgrader``:

| grade | solution | locked | task | kind          | graded how                              |
| ----- | -------- | ------ | ---- | ------------- | --------------------------------------- |
| False | True     | -      | -    | ``answer``    | not graded; the student's code runs     |
| True  | False    | -      | -    | ``test``      | automatically (code cells only)         |
| True  | True     | -      | -    | ``manual``    | by a human; 0 if left unchanged         |
| -     | -        | -      | True | ``task``      | by a human                              |
| False | False    | True   | -    | ``locked``    | not graded; restored from the source    |
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

SCHEMA_VERSION = 3
GRADE_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"

ANSWER, TEST, MANUAL, TASK, LOCKED, FREE = "answer", "test", "manual", "task", "locked", "free"


def nbgrader_meta(cell: Any) -> dict | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else None


def cell_kind(cell: Any) -> str:
    meta = nbgrader_meta(cell)
    if not meta:
        return FREE
    if meta.get("task"):
        return TASK
    grade, solution = bool(meta.get("grade")), bool(meta.get("solution"))
    if grade and solution:
        return MANUAL
    if grade:
        return TEST
    if solution:
        return ANSWER
    if meta.get("locked"):
        return LOCKED
    return FREE


def grade_id(cell: Any) -> str | None:
    meta = nbgrader_meta(cell)
    if not meta or cell_kind(cell) == FREE:
        return None
    gid = meta.get("grade_id")
    return gid if isinstance(gid, str) else None


def points(cell: Any) -> float:
    meta = nbgrader_meta(cell) or {}
    return float(meta.get("points") or 0)


def source_text(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def normalized(text: str) -> str:
    """What counts as "the same answer": line endings and trailing blanks ignored."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def checksum(cell: Any) -> str:
    """Checksum of a cell's content as released (stored in ``nbgrader.checksum``)."""
    h = hashlib.sha256()
    h.update(cell.get("cell_type", "").encode())
    h.update(b"\0")
    h.update(normalized(source_text(cell)).encode())
    return h.hexdigest()
