"""CSV exports that a spreadsheet opens as data, never as formulas.

Rosters and gradebooks carry text that people chose (names, cohort names).  A cell starting
with ``=``, ``+``, ``-``, ``@``, tab or carriage return is a formula to Excel and LibreOffice
(``=HYPERLINK(…)``, DDE payloads), so such a cell gets a leading single quote, as OWASP's
"CSV injection" page advises: the spreadsheet shows the text, the quote marks it as text.

Numbers stay numbers: a Python number, or a string that is only a (negative) decimal number
such as ``-12.5``, is written as it is, because a bare number cannot carry a formula and a
quote would turn a genuine negative score into text.  ``-1+1`` is not a bare number and is
quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BARE_NUMBER = re.compile(r"-?\d+(\.\d+)?\Z")


def csv_cell(value: Any) -> Any:
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _BARE_NUMBER.match(value)
    ):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_cell(v) for v in values]
