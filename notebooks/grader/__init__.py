"""Academy's notebook grader: nbgrader-format notebooks in, scores out. No Django here.

Public API::

    validate(nb_bytes, *, max_bytes=...) -> list[CellError]    # warnings; raises NotebookInvalid
    release(source_nb, *, code_stub=..., text_stub=...) -> str  # student notebook JSON
    grade(source_nb, submission_nb, *, limits=None, data_files=None, released_nb=None,
          pool=None) -> GradeResult
    KernelPool(size, limits).acquire() / .close()

See README.md for the sandbox design and its limits.
"""

from .format import CODE_STUB, TEXT_STUB
from .grade import CellResult, GradeResult, feedback_notebook, grade
from .pool import KernelPool
from .release import release
from .sandbox import Limits, Sandbox, SandboxError
from .validate import CellError, NotebookInvalid, validate

__all__ = [
    "CODE_STUB",
    "TEXT_STUB",
    "CellError",
    "CellResult",
    "GradeResult",
    "KernelPool",
    "Limits",
    "NotebookInvalid",
    "Sandbox",
    "SandboxError",
    "feedback_notebook",
    "grade",
    "release",
    "validate",
]
