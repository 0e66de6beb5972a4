"""Abuse has limits (issue 9, item 8): JSON that is malformed or nested too deeply is a 400, the
API is throttled with 429 + Retry-After, CSV exports cannot carry spreadsheet formulas, and the
audit log's client address honours PROXY_COUNT.  (Upload size and submission rates: the labs
side's tests/notebooks/test_abuse_limits.py.)"""

from __future__ import annotations

import csv
import io

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from academy.models import AuditEvent, Role
from courses import services as course_services
from courses.models import Enrolment
from tests.factories import (
    CohortFactory,
    CourseRunFactory,
    CourseStaffFactory,
    UserFactory,
    member,
)

pytestmark = pytest.mark.django_db

NESTED = "[" * 100_000 + "]" * 100_000


# --------------------------------------------------------------------------- JSON


@pytest.fixture
def api(client, people):  # type: ignore[no-untyped-def]
    client.force_login(people.admin_a)
    client.raise_request_exception = False  # a crash must show as the 500 a client would get
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/cohorts/",  # the default parser
        "/api/v1/labs/",
    ],
)
def test_deeply_nested_json_is_a_400_with_a_clear_message(api, url):
    response = api.post(url, data=NESTED, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert "nested" in response.json()["detail"]


def test_deeply_nested_json_to_an_action_with_its_own_parsers_is_a_400(api, people):
    from notebooks.models import Lab
    from tests.notebooks.factories import LabFactory

    run = CourseRunFactory()
    CourseStaffFactory(run=run, user=people.instructor)
    lab: Lab = LabFactory(run=run)
    api.force_login(people.instructor)
    response = api.post(
        f"/api/v1/labs/{lab.pk}/release/", data=NESTED, content_type="application/json"
    )
    assert response.status_code == 400, response.content[:200]
    assert "nested" in response.json()["detail"]


def test_malformed_json_is_a_400(api):
    response = api.post("/api/v1/cohorts/", data='{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


# --------------------------------------------------------------------------- throttling


@pytest.fixture
def low_rates(settings):  # type: ignore[no-untyped-def]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/min", "anon": "2/min"},
    }
    cache.clear()
    yield
    cache.clear()


def test_the_api_is_throttled_per_user_with_retry_after(client, people, low_rates):
    token = Token.objects.create(user=people.student)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    codes = [client.get("/api/v1/me/", **auth).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    response = client.get("/api/v1/me/", **auth)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "throttled" in response.json()["detail"].lower()
    # Someone else is not held back by the first one's requests.
    other = Token.objects.create(user=people.student_b)
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {other.key}").status_code == 200


def test_anonymous_api_calls_are_throttled_by_address(client, low_rates):
    codes = [client.get("/api/v1/schema/").status_code for _ in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429


def test_the_anonymous_limit_is_not_dodged_by_a_forged_forwarded_for(client, settings, low_rates):
    settings.PROXY_COUNT = 0
    codes = [
        client.get("/api/v1/schema/", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(3)
    ]
    assert codes[2] == 429


# --------------------------------------------------------------------------- CSV


FORMULAS = ['=HYPERLINK("http://evil")', "+1+1", "-1+cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\rx"]


def cells(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_the_roster_export_neutralises_formulas(client, people):
    run = CourseRunFactory()
    CourseStaffFactory(run=run, user=people.instructor)
    institution = people.inst_a
    for i, formula in enumerate(FORMULAS):
        user = member(institution, Role.STUDENT, first_name=formula, last_name=f"L{i}")
        cohort = CohortFactory(institution=institution, name=f"{formula} {i}")
        course_services.enrolment_request(run=run, user=user)
        Enrolment.objects.filter(run=run, user=user).update(cohort=cohort)
    client.force_login(people.instructor)
    rows = cells(client.get(f"/runs/{run.pk}/roster.csv"))[1:]
    assert len(rows) == len(FORMULAS)
    for row in rows:
        for cell in row:
            assert not cell or cell[0] not in "=+-@\t\r", row
    first_names = sorted(row[1] for row in rows)
    assert first_names == sorted("'" + f for f in FORMULAS)


def test_the_csv_helper_keeps_numbers_and_plain_text():
    from academy.exports import csv_cell

    assert csv_cell(-12) == -12
    assert csv_cell("-12.5") == "-12.5"  # a genuine negative number stays a number
    assert csv_cell("-1+1") == "'-1+1"
    assert csv_cell("Ana") == "Ana"
    assert csv_cell("") == ""
    assert csv_cell(None) is None


# --------------------------------------------------------------------------- client address


def test_the_audit_log_takes_the_address_our_proxy_saw(client, people, settings):
    settings.PROXY_COUNT = 1
    client.force_login(people.admin_a)
    response = client.post(
        "/institutions/uni-a/cohorts/new/",
        {"name": "Night school", "intake_year": 2027},
        REMOTE_ADDR="10.0.0.1",  # the proxy
        # The client forged the first entry; our proxy appended the address it saw.
        HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7",
    )
    assert response.status_code == 302
    assert AuditEvent.objects.get(action="cohort.create").ip_address == "203.0.113.7"


def test_without_proxies_forwarded_for_is_ignored(client, people, settings):
    settings.PROXY_COUNT = 0
    client.force_login(people.admin_a)
    client.post(
        "/institutions/uni-a/cohorts/new/",
        {"name": "Day school", "intake_year": 2027},
        REMOTE_ADDR="192.0.2.10",
        HTTP_X_FORWARDED_FOR="6.6.6.6",
    )
    assert AuditEvent.objects.get(action="cohort.create").ip_address == "192.0.2.10"


def test_login_lockouts_count_the_client_behind_the_proxy(client, settings):
    """Behind one proxy every request comes from the proxy's address: without PROXY_COUNT an
    attacker's failures would lock the victim's account for everyone."""
    settings.PROXY_COUNT = 1
    UserFactory(username="victim")
    client.post(
        "/accounts/login/",
        {"username": "victim", "password": "wrong"},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.66",
    )
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.66"]
