"""Command-line front end (``python -m notebooks.grader``), shared by the Django commands.

Only the result goes to stdout; messages go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from .grade import grade
from .job import run_job
from .release import release
from .sandbox import Limits, SandboxError
from .validate import NotebookInvalid, validate


class CommandFailed(Exception):
    """A user-facing failure: the message is printed, the exit code is 1."""


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CommandFailed(f"cannot read {path}: {exc.strerror}") from None


def _invalid(what: str, exc: NotebookInvalid) -> CommandFailed:
    lines = "\n".join(f"  - {e}" for e in exc.errors)
    return CommandFailed(f"{what} is not a usable notebook:\n{lines}")


def run_grade(
    source: str,
    submission: str,
    *,
    timeout: float | None,
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> None:
    limits = Limits(cell_timeout=timeout) if timeout else Limits()
    src = _read(source)
    sub = _read(submission)
    try:
        validate(src)
    except NotebookInvalid as exc:
        raise _invalid(source, exc) from None
    try:
        result = grade(src, sub, limits=limits)
    except NotebookInvalid as exc:
        raise _invalid(submission, exc) from None
    except SandboxError as exc:
        raise CommandFailed(f"grading failed: {exc}") from None
    if result.status != "ok":
        err.write(f"status: {result.status}\n")
    if as_json:
        out.write(json.dumps(result.summary()) + "\n")
        return
    for gid, cell in result.cells.items():
        score = "needs manual grading" if cell.score is None else f"{cell.score:g}"
        note = f" ({cell.error})" if cell.error else ""
        out.write(f"{gid}: {score} / {cell.max_score:g}{note}\n")
    manual = " (needs manual grading)" if result.needs_manual_grade else ""
    out.write(f"total: {result.score:g} / {result.max_score:g}{manual}\n")


def run_release(source: str, output: str, *, err: TextIO) -> None:
    src = _read(source)
    try:
        student = release(src)
    except NotebookInvalid as exc:
        raise _invalid(source, exc) from None
    for warning in validate(src):
        err.write(f"{warning}\n")
    try:
        Path(output).write_text(student)
    except OSError as exc:
        raise CommandFailed(f"cannot write {output}: {exc.strerror}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notebooks.grader")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a submission")
    g.add_argument("--source", required=True)
    g.add_argument("--submission", required=True)
    g.add_argument("--timeout", type=float, help="per-cell timeout in seconds")
    g.add_argument("--json", action="store_true")
    r = sub.add_parser("release", help="write the student version")
    r.add_argument("source")
    r.add_argument("--output", required=True)
    v = sub.add_parser("validate", help="check a source notebook")
    v.add_argument("source")
    j = sub.add_parser("job", help="grade a job folder of the grading spool (Slurm batch job)")
    j.add_argument("folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "job":
            return run_job(args.folder)
        if args.command == "grade":
            run_grade(
                args.source,
                args.submission,
                timeout=args.timeout,
                as_json=args.json,
                out=sys.stdout,
                err=sys.stderr,
            )
        elif args.command == "release":
            run_release(args.source, args.output, err=sys.stderr)
        else:
            try:
                warnings = validate(_read(args.source))
            except NotebookInvalid as exc:
                raise _invalid(args.source, exc) from None
            for warning in warnings:
                sys.stderr.write(f"{warning}\n")
    except CommandFailed as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0
