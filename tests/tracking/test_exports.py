"""CSV and XLSX downloads of the tracking tables: the same rows as the pages, only the
institution's own figures, no formulas, streamed."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from openpyxl import load_workbook

from tracking import exports

from .test_cohort_pages import rows, world  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def _csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def _xlsx(response) -> list[tuple]:  # type: ignore[no-untyped-def]
    assert isinstance(response, FileResponse)
    assert response["Content-Type"] == exports.XLSX_TYPE
    assert ".xlsx" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return list(book.active.iter_rows(values_only=True))


def cohort_export(p, **params):  # type: ignore[no-untyped-def]
    return reverse("tracking-cohort-export", args=["uni-a", p.cohort_a.pk]), params


def test_cohort_csv_has_the_pages_rows_in_the_pages_order(client, world):  # noqa: F811
    p = world.p
    client.force_login(p.admin_a)
    page = client.get(reverse("tracking-cohort", args=["uni-a", p.cohort_a.pk]), {"sort": "-grade"})
    url, _ = cohort_export(p)
    table = _csv(client.get(url, {"sort": "-grade", "format": "csv"}))
    header, body = table[0], table[1:]
    assert header[:4] == ["Last name", "First name", "Cluster login", "E-mail"]
    by_login = {r[2]: dict(zip(header, r, strict=True)) for r in body}
    assert [r[2] for r in body] == [
        {str(u.pk): u.username for u in page.context["people"]}[pk]
        for pk in rows(page.content.decode())
    ]
    s = by_login["student"]
    assert s["Grade so far (%)"] == "60.00"
    assert (s["Enrolments"], s["Lessons completed"], s["Lessons in all"]) == ("2", "4", "15")
    assert (s["Late submissions"], s["Missed deadlines"], s["Credentials"]) == ("1", "3", "1")
    assert Decimal(s["GPU-hours"]) == Decimal("1.75")
    assert s["Programmes"] == "ai-eng 2/4" and float(s["Programme progress (%)"]) == 50.0
    assert s["Enrolments at risk"] == "1" and "MED201" in s["Reasons"]
    d = by_login["dual"]
    assert (d["Enrolments"], Decimal(d["GPU-hours"]), d["Credentials"]) == ("1", Decimal(2), "0")


def test_cohort_xlsx_opens_and_matches_the_csv(client, world):  # noqa: F811
    p = world.p
    client.force_login(p.admin_a)
    url, _ = cohort_export(p)
    sheet = _xlsx(client.get(url, {"format": "xlsx", "sort": "login"}))
    table = _csv(client.get(url, {"format": "csv", "sort": "login"}))
    assert list(sheet[0]) == table[0]
    assert [r[2] for r in sheet[1:]] == [r[2] for r in table[1:]] == ["dual", "student"]
    student = dict(zip(sheet[0], sheet[2], strict=True))
    assert student["Enrolments"] == 2 and student["Lessons completed"] == 4
    assert float(student["Grade so far (%)"]) == 60.0
    assert student["Last activity"] is not None  # a date the spreadsheet understands


def test_the_search_narrows_the_download_too(client, world):  # noqa: F811
    client.force_login(world.p.admin_a)
    url, _ = cohort_export(world.p)
    table = _csv(client.get(url, {"q": "dual"}))  # CSV is the default
    assert [r[2] for r in table[1:]] == ["dual"]


def test_formulas_in_names_are_neutralised_in_both_formats(client, world):  # noqa: F811
    p = world.p
    p.student.last_name = '=HYPERLINK("http://evil.example","x")'
    p.student.first_name = "@SUM(A1)"
    p.student.save()
    client.force_login(p.admin_a)
    url, _ = cohort_export(p)
    row = next(r for r in _csv(client.get(url, {"format": "csv"})) if r[2] == "student")
    assert row[0] == "'" + p.student.last_name and row[1] == "'@SUM(A1)"
    response = client.get(url, {"format": "xlsx"})
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    cells = [r for r in book.active.iter_rows() if r[2].value == "student"][0]
    assert cells[0].data_type == "s" and cells[0].value.startswith("'=")
    assert cells[1].value == "'@SUM(A1)"


def test_the_dual_members_b_side_is_absent_from_as_downloads(client, world):  # noqa: F811
    p = world.p
    client.force_login(p.admin_a)
    url, _ = cohort_export(p)
    person = reverse("tracking-person-export", args=["uni-a", p.dual.pk])
    for response in (
        client.get(url, {"format": "csv"}),
        client.get(person, {"format": "csv"}),
        client.get(reverse("tracking-dashboard-export", args=["uni-a"]), {"table": "risk"}),
        client.get(reverse("tracking-dashboard-export", args=["uni-a"])),
    ):
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        for secret in ("BSIDE9", "99.99", "b-prog", "B 2026"):
            assert secret not in text, secret
    runs = _xlsx(client.get(person, {"format": "xlsx"}))
    assert [r[0] for r in runs[1:]] == ["GPU101"]


def test_person_runs_download(client, world):  # noqa: F811
    p = world.p
    client.force_login(p.admin_a)
    url = reverse("tracking-person-export", args=["uni-a", p.student.pk])
    table = _csv(client.get(url))
    header = table[0]
    body = {r[0]: dict(zip(header, r, strict=True)) for r in table[1:]}
    assert set(body) == {"GPU101", "MED201"}
    assert Decimal(body["MED201"]["Grade so far (%)"]) == 40
    assert "missed deadlines" in body["MED201"]["At risk"]
    assert body["GPU101"]["At risk"] == ""
    sheet = _xlsx(client.get(url, {"format": "xlsx"}))
    assert len(sheet) == 3 and sheet[0][0] == "Course"


def test_dashboard_downloads_per_cohort_and_at_risk(client, world):  # noqa: F811
    p = world.p
    client.force_login(p.admin_a)
    url = reverse("tracking-dashboard-export", args=["uni-a"])
    cohorts = _csv(client.get(url, {"format": "csv"}))
    assert cohorts[0][0] == "Cohort"
    assert [r[0] for r in cohorts[1:]] == ["A 2026"]
    assert cohorts[1][3] == "3"  # enrolments attributed to A's cohort
    risk = _xlsx(client.get(url, {"table": "risk", "format": "xlsx"}))
    assert [(r[2], r[5]) for r in risk[1:]] == [("student", "MED201")]
    assert "missed deadlines" in risk[1][-1]
    narrowed = client.get(url, {"table": "risk", "cohort": "999999", "start": "not a date"})
    assert narrowed.status_code == 200  # bad filters: the defaults, never an error


@pytest.mark.parametrize("who", ["admin_b", "student", "instructor", "outsider"])
def test_downloads_are_not_found_for_others(client, world, who):  # noqa: F811
    p = world.p
    client.force_login(getattr(p, who))
    for url in (
        reverse("tracking-cohort-export", args=["uni-a", p.cohort_a.pk]),
        reverse("tracking-person-export", args=["uni-a", p.student.pk]),
        reverse("tracking-dashboard-export", args=["uni-a"]),
    ):
        for fmt in ("csv", "xlsx"):
            assert client.get(url, {"format": fmt}).status_code == 404, (url, fmt)


def test_an_unknown_format_is_not_found_and_other_cohorts_too(client, world):  # noqa: F811
    p = world.p
    client.force_login(p.admin_a)
    url, _ = cohort_export(p)
    assert client.get(url, {"format": "pdf"}).status_code == 404
    other = reverse("tracking-cohort-export", args=["uni-a", p.cohort_b.pk])
    assert client.get(other).status_code == 404
    person = reverse("tracking-person-export", args=["uni-a", p.student_b.pk])
    assert client.get(person).status_code == 404


def test_cells_keep_numbers_and_quote_formula_text():
    header = ["a", "b", "c", "d"]
    lines = "".join(exports.csv_lines(header, [["-12.5", Decimal("3.50"), "+1", None]]))
    assert lines.splitlines()[1] == "-12.5,3.50,'+1,"
    target = io.BytesIO()
    assert exports.write_xlsx(target, header, [["=1+1", 2, Decimal("1.5"), None]]) == 1
    sheet = load_workbook(io.BytesIO(target.getvalue())).active
    cells = list(sheet.iter_rows(min_row=2))[0]
    assert cells[0].value == "'=1+1" and cells[0].data_type == "s"
    assert cells[1].value == 2 and cells[2].value == 1.5


def test_a_sheet_is_named_as_excel_accepts():  # type: ignore[no-untyped-def]
    body = io.BytesIO()
    title = "'Data/AI: [2026] evening cohort?'"
    assert exports.write_xlsx(body, ["Name"], [["a"], ["b"]], title=title) == 2
    book = load_workbook(io.BytesIO(body.getvalue()), read_only=True)
    assert book.sheetnames == ["Data-AI- -2026- evening cohort-"]
    assert [r for r in book.active.iter_rows(values_only=True)] == [("Name",), ("a",), ("b",)]
    assert exports.sheet_name("") == "Sheet"
