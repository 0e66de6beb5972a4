"""What changed between two versions of a source notebook: cells added, removed, changed, and
the points of graded cells.  No Django here.

Cells are matched by their nbformat cell id (JupyterLab keeps it while a cell is edited, so a
free cell marked as a test in the create-assignment toolbar shows as *changed*, not as removed
and added), then by nbgrader grade id, then by content; the order of the matches comes from
difflib's longest common subsequence, so a moved block shows as removed and added.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from typing import Any

from . import format as fmt
from .validate import parse

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class CellSummary:
    position: int  # 1-based, in its own notebook
    cell_type: str
    kind: str  # format's kinds: answer, test, manual, task, locked, free
    grade_id: str
    points: float
    source: str

    @property
    def label(self) -> str:
        return self.grade_id or f"#{self.position}"


@dataclass(frozen=True)
class CellChange:
    change: str  # added / removed / changed
    old: CellSummary | None
    new: CellSummary | None
    # for "changed": which of source, type, kind, grade_id, points differ
    fields: tuple[str, ...] = ()
    source_diff: str = ""  # unified diff of the source, for "changed" and its source

    @property
    def label(self) -> str:
        cell = self.new or self.old
        assert cell is not None
        return cell.label

    @property
    def points_delta(self) -> float:
        before = self.old.points if self.old else 0.0
        after = self.new.points if self.new else 0.0
        return after - before


@dataclass
class NotebookDiff:
    changes: list[CellChange] = field(default_factory=list)
    unchanged: int = 0
    old_max_score: float = 0.0
    new_max_score: float = 0.0

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)

    @property
    def added(self) -> int:
        return self.count(ADDED)

    @property
    def removed(self) -> int:
        return self.count(REMOVED)

    @property
    def changed(self) -> int:
        return self.count(CHANGED)

    @property
    def points_changes(self) -> list[CellChange]:
        return [c for c in self.changes if c.points_delta]

    @property
    def is_empty(self) -> bool:
        return not self.changes


def _summaries(nb: Any) -> list[CellSummary]:
    out = []
    for i, cell in enumerate(nb.cells, start=1):
        kind = fmt.cell_kind(cell)
        graded = kind in (fmt.TEST, fmt.MANUAL, fmt.TASK)
        out.append(
            CellSummary(
                position=i,
                cell_type=cell.cell_type,
                kind=kind,
                grade_id=fmt.grade_id(cell) or "",
                points=fmt.points(cell) if graded else 0.0,
                source=fmt.source_text(cell),
            )
        )
    return out


def _keys(nb: Any, cells: list[CellSummary]) -> list[str]:
    keys = []
    for raw, cell in zip(nb.cells, cells, strict=True):
        cell_id = raw.get("id")
        if isinstance(cell_id, str) and cell_id:
            keys.append(f"id:{cell_id}")
        elif cell.grade_id:
            keys.append(f"grade:{cell.grade_id}")
        else:
            digest = hashlib.sha256(fmt.normalized(cell.source).encode()).hexdigest()
            keys.append(f"src:{cell.cell_type}:{digest}")
    return keys


def _compare(old: CellSummary, new: CellSummary) -> tuple[str, ...]:
    fields = []
    if fmt.normalized(old.source) != fmt.normalized(new.source):
        fields.append("source")
    if old.cell_type != new.cell_type:
        fields.append("type")
    if old.kind != new.kind:
        fields.append("kind")
    if old.grade_id != new.grade_id:
        fields.append("grade_id")
    if old.points != new.points:
        fields.append("points")
    return tuple(fields)


def _source_diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), "before", "after", lineterm="", n=2
    )
    return "\n".join(lines)


def diff(old: bytes | str | None, new: bytes | str) -> NotebookDiff:
    """The changes from ``old`` to ``new`` (``old=None``: every cell of ``new`` is added).
    Both are notebook JSON; raises the grader's NotebookInvalid when one is not a notebook."""
    new_nb = parse(new)
    new_cells = _summaries(new_nb)
    result = NotebookDiff(new_max_score=sum(c.points for c in new_cells))
    if old is None:
        result.changes = [CellChange(ADDED, None, c) for c in new_cells]
        return result
    old_nb = parse(old)
    old_cells = _summaries(old_nb)
    result.old_max_score = sum(c.points for c in old_cells)
    old_keys, new_keys = _keys(old_nb, old_cells), _keys(new_nb, new_cells)
    matcher = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        pairs: list[tuple[CellSummary | None, CellSummary | None]]
        if tag == "equal":
            pairs = list(zip(old_cells[i1:i2], new_cells[j1:j2], strict=True))
        else:
            # Cells whose ids differ (a notebook saved by a tool that made new ids) still match
            # by grade id, or by their very content.
            pairs = _pair_unmatched(old_cells[i1:i2], new_cells[j1:j2])
        for a, b in pairs:
            if a is None:
                result.changes.append(CellChange(ADDED, None, b))
            elif b is None:
                result.changes.append(CellChange(REMOVED, a, None))
            elif fields := _compare(a, b):
                source_diff = _source_diff(a.source, b.source) if "source" in fields else ""
                result.changes.append(CellChange(CHANGED, a, b, fields, source_diff))
            else:
                result.unchanged += 1
    return result


def _pair_unmatched(
    old: list[CellSummary], new: list[CellSummary]
) -> list[tuple[CellSummary | None, CellSummary | None]]:
    def identity(cell: CellSummary) -> str:
        if cell.grade_id:
            return f"grade:{cell.grade_id}"
        return f"src:{cell.cell_type}:{fmt.normalized(cell.source)}"

    unpaired: dict[str, CellSummary] = {}
    for cell in old:
        unpaired.setdefault(identity(cell), cell)
    pairs: list[tuple[CellSummary | None, CellSummary | None]] = []
    for cell in new:
        match = unpaired.pop(identity(cell), None)
        pairs.append((match, cell))
    matched = {id(a) for a, _ in pairs if a is not None}
    pairs.extend((cell, None) for cell in old if id(cell) not in matched)
    return pairs
