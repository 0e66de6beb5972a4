"""Validation of instructor (source) notebooks and student submissions."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import nbformat

from . import format as fmt

DEFAULT_MAX_BYTES = 20 * 1024 * 1024


def gettext_noop(template: str) -> str:
    """Marks a message for translation (Django's ``makemessages`` extracts these); the
    library itself stays English and Django-free: pages translate ``template`` % ``params``."""
    return template


@dataclass(frozen=True)
class CellError:
    """One problem, tied to a cell when it is about a cell (index is 0-based).  ``message`` is
    English; ``template`` and ``params`` let a translated interface say the same."""

    message: str
    cell_index: int | None = None
    grade_id: str | None = None
    warning: bool = False
    template: str = ""
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(
        cls,
        template: str,
        cell_index: int | None = None,
        grade_id: str | None = None,
        *,
        warning: bool = False,
        **params: Any,
    ) -> CellError:
        return cls(
            template % params,
            cell_index,
            grade_id,
            warning,
            template,
            tuple(sorted(params.items())),
        )

    def __str__(self) -> str:
        where = []
        if self.cell_index is not None:
            where.append(f"cell {self.cell_index + 1}")
        if self.grade_id:
            where.append(f"'{self.grade_id}'")
        prefix = f"{' '.join(where)}: " if where else ""
        return f"{'warning: ' if self.warning else ''}{prefix}{self.message}"


class NotebookInvalid(ValueError):
    """The notebook cannot be used; ``errors`` lists every problem found."""

    def __init__(self, errors: list[CellError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def parse(nb_bytes: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> nbformat.NotebookNode:
    """Parse and structurally validate a notebook; raise NotebookInvalid if unusable."""
    size = len(nb_bytes.encode() if isinstance(nb_bytes, str) else nb_bytes)
    if size > max_bytes:
        raise NotebookInvalid(
            [
                CellError.of(
                    gettext_noop(
                        "the notebook is %(size)s bytes, over the limit of %(limit)s bytes"
                    ),
                    size=size,
                    limit=max_bytes,
                )
            ]
        )
    try:
        data = json.loads(nb_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotebookInvalid(
            [CellError.of(gettext_noop("not valid JSON: %(error)s"), error=str(exc))]
        ) from None
    except RecursionError:
        # Deeper than Python's parser goes: the uploader's error, not a crash of ours.
        raise NotebookInvalid(
            [CellError.of(gettext_noop("not valid JSON: nested too deeply"))]
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookInvalid(
            [CellError.of(gettext_noop("not a Jupyter notebook (no list of cells)"))]
        )
    if data.get("nbformat") != 4:
        raise NotebookInvalid(
            [
                CellError.of(
                    gettext_noop("unsupported notebook format %(format)r; need version 4"),
                    format=data.get("nbformat"),
                )
            ]
        )
    try:
        nb = nbformat.from_dict(data)
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        msg = str(exc).split("\n", 1)[0]
        raise NotebookInvalid(
            [CellError.of(gettext_noop("not a valid Jupyter notebook: %(error)s"), error=msg)]
        ) from None
    except RecursionError:
        raise NotebookInvalid(
            [CellError.of(gettext_noop("not valid JSON: nested too deeply"))]
        ) from None
    return nb


def check_cells(nb: Any) -> list[CellError]:
    """The nbgrader-metadata problems of a parsed notebook (warnings included)."""
    errors: list[CellError] = []
    seen: dict[str, int] = {}
    gradable = 0
    for i, cell in enumerate(nb.cells):
        meta = fmt.nbgrader_meta(cell)
        if cell.get("metadata", {}).get("nbgrader") is not None and meta is None:
            errors.append(CellError.of(gettext_noop("nbgrader metadata must be an object"), i))
            continue
        if not meta:
            text = fmt.source_text(cell)
            for marker in (fmt.BEGIN_SOLUTION, fmt.BEGIN_HIDDEN):
                if marker in text:
                    errors.append(
                        CellError.of(
                            gettext_noop(
                                "contains '%(marker)s' but is not marked as an nbgrader cell"
                            ),
                            i,
                            marker=marker,
                        )
                    )
            continue
        gid = meta.get("grade_id")
        err = _cell_error(cell, meta, i)
        if err:
            errors.append(err)
        if meta.get("schema_version") != fmt.SCHEMA_VERSION:
            errors.append(
                CellError.of(
                    gettext_noop(
                        "unsupported nbgrader schema_version %(version)r; "
                        "only version %(supported)s is supported"
                    ),
                    i,
                    gid if isinstance(gid, str) else None,
                    version=meta.get("schema_version"),
                    supported=fmt.SCHEMA_VERSION,
                )
            )
        kind = fmt.cell_kind(cell)
        if kind == fmt.FREE:
            continue
        if not isinstance(gid, str) or not fmt.GRADE_ID_RE.match(gid):
            errors.append(
                CellError.of(
                    gettext_noop(
                        "grade_id %(value)r is missing or invalid: use letters, digits, '_' or '-'"
                    ),
                    i,
                    value=gid,
                )
            )
        elif gid in seen:
            errors.append(
                CellError.of(
                    gettext_noop("duplicate grade_id (also used by cell %(cell)s)"),
                    i,
                    gid,
                    cell=seen[gid] + 1,
                )
            )
        else:
            seen[gid] = i
        if kind in (fmt.TEST, fmt.MANUAL, fmt.TASK):
            gradable += 1
    if not gradable:
        errors.append(
            CellError.of(
                gettext_noop("no graded cells: this notebook gives no score"), warning=True
            )
        )
    return errors


def _cell_error(cell: Any, meta: dict, i: int) -> CellError | None:
    gid = meta.get("grade_id") if isinstance(meta.get("grade_id"), str) else None
    kind = fmt.cell_kind(cell)
    text = fmt.source_text(cell)
    if kind in (fmt.TEST, fmt.MANUAL, fmt.TASK):
        pts = meta.get("points")
        if pts is None:
            return CellError.of(gettext_noop("graded cell has no points"), i, gid)
        try:
            value = float(pts)
        except (TypeError, ValueError):
            return CellError.of(
                gettext_noop("points %(points)r is not a number"), i, gid, points=pts
            )
        if not math.isfinite(value) or value < 0:
            return CellError.of(
                gettext_noop("points must be zero or more, not %(points)r"), i, gid, points=pts
            )
    if kind == fmt.TEST and cell.cell_type != "code":
        return CellError.of(
            gettext_noop(
                "a graded markdown cell must also be a solution cell (a manually graded answer)"
            ),
            i,
            gid,
        )
    if kind == fmt.TASK and cell.cell_type != "markdown":
        return CellError.of(gettext_noop("a task cell must be a markdown cell"), i, gid)
    if fmt.BEGIN_SOLUTION in text and kind not in (fmt.ANSWER, fmt.MANUAL):
        return CellError.of(
            gettext_noop("contains '%(marker)s' but is not a solution cell"),
            i,
            gid,
            marker=fmt.BEGIN_SOLUTION,
        )
    if fmt.BEGIN_HIDDEN in text and kind != fmt.TEST:
        return CellError.of(
            gettext_noop("contains '%(marker)s' but is not a test cell"),
            i,
            gid,
            marker=fmt.BEGIN_HIDDEN,
        )
    for begin, end in ((fmt.BEGIN_SOLUTION, fmt.END_SOLUTION), (fmt.BEGIN_HIDDEN, fmt.END_HIDDEN)):
        if _unbalanced(text, begin, end):
            return CellError.of(
                gettext_noop("'%(begin)s' and '%(end)s' do not pair up"),
                i,
                gid,
                begin=begin,
                end=end,
            )
    return None


def _unbalanced(text: str, begin: str, end: str) -> bool:
    depth = 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(begin):
            depth += 1
            if depth > 1:
                return True
        elif stripped.startswith(end):
            depth -= 1
            if depth < 0:
                return True
    return depth != 0


def validate(nb_bytes: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[CellError]:
    """Validate a source notebook.

    Raises NotebookInvalid (with every error) when it cannot be used; returns the warnings
    (e.g. "no graded cells") otherwise.
    """
    nb = parse(nb_bytes, max_bytes=max_bytes)
    problems = check_cells(nb)
    errors = [p for p in problems if not p.warning]
    if errors:
        raise NotebookInvalid(errors)
    return problems
