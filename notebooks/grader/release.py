"""Make the student version of a source notebook."""

from __future__ import annotations

import copy
from typing import Any

import nbformat

from . import format as fmt


def _replace_regions(text: str, begin: str, end: str, stub: str | None) -> tuple[str, bool]:
    """Replace each begin/end region (markers included) by ``stub`` indented like ``begin``."""
    out: list[str] = []
    inside = replaced = False
    for line in text.splitlines():
        stripped = line.strip()
        if not inside and stripped.startswith(begin):
            inside = replaced = True
            if stub is not None:
                indent = line[: len(line) - len(line.lstrip())]
                out.extend(indent + s if s else s for s in stub.split("\n"))
        elif inside and stripped.startswith(end):
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out), replaced


def release_cell(cell: Any, *, code_stub: str = fmt.CODE_STUB, text_stub: str = fmt.TEXT_STUB):
    """The student version of one cell (a new cell; the argument is not modified)."""
    cell = copy.deepcopy(cell)
    kind = fmt.cell_kind(cell)
    text = fmt.source_text(cell)
    if kind in (fmt.ANSWER, fmt.MANUAL):
        stub = code_stub if cell.cell_type == "code" else text_stub
        text, replaced = _replace_regions(text, fmt.BEGIN_SOLUTION, fmt.END_SOLUTION, stub)
        if not replaced:
            text = stub
    elif kind == fmt.TEST:
        text, _ = _replace_regions(text, fmt.BEGIN_HIDDEN, fmt.END_HIDDEN, None)
    cell.source = text
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    if kind != fmt.FREE:
        cell.metadata.nbgrader["checksum"] = fmt.checksum(cell)
    return cell


GENERIC_KERNEL_NAMES = {"", "python", "python3"}
DEFAULT_KERNELSPEC = {
    "name": "python3",
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
}


def release_nb(
    nb: Any, *, code_stub: str = fmt.CODE_STUB, text_stub: str = fmt.TEXT_STUB
) -> nbformat.NotebookNode:
    """Release a parsed (and validated) source notebook."""
    student = copy.deepcopy(nb)
    student.cells = [release_cell(c, code_stub=code_stub, text_stub=text_stub) for c in nb.cells]
    # Without a kernelspec, or with a generic one ("python" is no installed kernel's name),
    # JupyterLab asks the student which kernel to start; the grader runs Python 3, so say so.
    # A named kernel of the author's (say an environment with PyTorch) is kept.
    kernelspec = student.metadata.get("kernelspec") or {}
    if kernelspec.get("name", "") in GENERIC_KERNEL_NAMES:
        student.metadata["kernelspec"] = dict(DEFAULT_KERNELSPEC)
    return student


def release(
    source_nb: bytes | str, *, code_stub: str = fmt.CODE_STUB, text_stub: str = fmt.TEXT_STUB
) -> str:
    """Validate a source notebook and return its student version as notebook JSON.

    Solutions become stubs, hidden tests are removed, outputs and execution counts are
    cleared; nbgrader metadata stays, with ``checksum`` set on each nbgrader cell so that an
    unchanged manually graded answer can be recognised (grade() recomputes it from the
    source and never trusts the submission's copy). Raises NotebookInvalid.
    """
    from .validate import parse, validate

    validate(source_nb)
    return nbformat.writes(release_nb(parse(source_nb), code_stub=code_stub, text_stub=text_stub))
