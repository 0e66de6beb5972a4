"""Pages of the lab side: gradebook."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from academy.exports import csv_row
from academy.typing import AuthedRequest

from .. import selectors


def _cohort_param(request: HttpRequest) -> int | None:
    try:
        return int(request.GET["cohort"]) if request.GET.get("cohort") else None
    except ValueError:
        return None


@login_required
def gradebook(request: AuthedRequest, run_id: int) -> HttpResponse:
    book = selectors.gradebook(request.user, run_id, cohort_id=_cohort_param(request))
    distribution = book.distribution()
    return render(
        request,
        "notebooks/gradebook.html",
        {
            "book": book,
            "cohort": _cohort_param(request),
            "cohorts": book.run.enrolments.exclude(cohort=None)
            .values_list("cohort_id", "cohort__name")
            .distinct()
            .order_by("cohort__name"),
            "chart": {
                "labels": [f"{i * 10}–{i * 10 + 10}" for i in range(10)],
                "counts": distribution,
                "label": _("Students"),
            },
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def gradebook_csv_rows(book: selectors.Gradebook) -> Iterator[list[str]]:
    yield [
        _("Cluster login"),
        _("Name"),
        _("Cohort"),
        *[f"{lab.title} (%)" for lab in book.labs],
        _("Course grade (%)"),
        _("Passed"),
    ]
    for row in book.rows:
        yield [
            row.student.username,
            row.student.get_full_name(),
            row.cohort,
            *["" if c.percent is None else str(c.percent) for c in row.cells],
            "" if row.course_grade is None else str(row.course_grade),
            _("yes") if row.passed else _("no"),
        ]


@login_required
def gradebook_csv(request: AuthedRequest, run_id: int) -> StreamingHttpResponse:
    book = selectors.gradebook(request.user, run_id, cohort_id=_cohort_param(request))
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        # Names and cohort names are people's text: no cell may start a formula.
        (writer.writerow(csv_row(r)) for r in gradebook_csv_rows(book)),
        content_type="text/csv",
    )
    response["Content-Disposition"] = f'attachment; filename="gradebook-run{run_id}.csv"'
    return response
