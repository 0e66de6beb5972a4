"""The weekly digest to institution admins: when it is due, what it says (the institution's
numbers and at-risk list only), links, language, opting out (page and audit), idempotence,
and the beat schedule that sends it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from academy.models import AuditEvent
from tests.tracking import test_api
from tests.tracking.test_api import client_for
from tracking import digest, tasks
from tracking.models import DigestPreference

world = test_api.world  # the shared fixture

BELGRADE = ZoneInfo("Europe/Belgrade")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BELGRADE)


# ---- when -----------------------------------------------------------------------------------


def test_the_digest_week_starts_on_monday_at_seven_local_time(settings):
    settings.TIME_ZONE = "Europe/Belgrade"
    # 2026-12-07 is a Monday.
    assert digest.week_start(at("2026-12-07T07:00")) == at("2026-12-07T07:00")
    assert digest.week_start(at("2026-12-09T15:00")) == at("2026-12-07T07:00")
    assert digest.week_start(at("2026-12-07T06:59")) == at("2026-11-30T07:00")
    assert digest.week_start(at("2026-12-13T23:59")) == at("2026-12-07T07:00")


def test_a_digest_is_due_once_per_week(settings):
    settings.TIME_ZONE = "Europe/Belgrade"
    monday = at("2026-12-07T07:30")
    assert digest.is_due(None, monday)
    assert digest.is_due(at("2026-12-01T07:30"), monday)  # last week's
    assert not digest.is_due(at("2026-12-07T07:10"), monday)  # this week's
    assert not digest.is_due(at("2026-12-07T07:10"), at("2026-12-13T23:00"))
    # missed on Monday (workers down): sent on Wednesday, and not again until next Monday
    assert digest.is_due(at("2026-11-30T07:05"), at("2026-12-09T10:00"))
    assert not digest.is_due(at("2026-12-09T10:00"), at("2026-12-14T06:00"))
    assert digest.is_due(at("2026-12-09T10:00"), at("2026-12-14T07:00"))


# ---- what -----------------------------------------------------------------------------------


def _to(address: str) -> list[mail.EmailMessage]:
    return [m for m in mail.outbox if m.to == [address]]


@pytest.mark.django_db
def test_each_admin_gets_their_institutions_numbers_and_at_risk_list(world):
    p = world.people
    assert digest.send_due() == 2
    assert len(mail.outbox) == 2
    (to_a,) = _to(p.admin_a.email)
    (to_b,) = _to(p.admin_b.email)
    assert to_a.subject == "Weekly digest: University A"
    body = to_a.body
    assert "People: 4" in body  # A's members: student, instructor, admin, dual
    assert "Active enrolments: 2" in body
    assert "GPU-hours used: 3.00 / 100" in body  # A's cohort: not dual's 7 hours in B
    assert "GPU-hours this week: 3" in body
    # A's list: the student, silent for 30 days; nobody of B, not dual's B enrolment
    assert "student" in body and "no activity for 30 days" in body
    assert "studentb" not in body and "missed deadlines" not in body
    assert "Needing attention: 1 enrolment" in body
    assert "dual" not in body
    # B's list: dual's B enrolment with its reasons
    assert "dual" in to_b.body and "3 missed deadlines" in to_b.body
    assert "University A" not in to_b.body
    dashboard = settings.SITE_URL + reverse("tracking-dashboard", args=["uni-a"])
    opt_out = settings.SITE_URL + reverse("tracking-digest", args=["uni-a"])
    assert dashboard in body and opt_out in body
    assert to_a.extra_headers["List-Unsubscribe"] == f"<{opt_out}>"
    html, kind = to_a.alternatives[0]
    assert kind == "text/html"
    assert f'href="{dashboard}"' in html and f'href="{opt_out}"' in html
    assert "no activity for 30 days" in html


@pytest.mark.django_db
def test_only_admins_receive_it(world):
    p = world.people
    digest.send_due()
    receivers = {m.to[0] for m in mail.outbox}
    assert receivers == {p.admin_a.email, p.admin_b.email}
    assert p.operator.email not in receivers and p.student.email not in receivers


@pytest.mark.django_db
def test_an_admin_of_two_institutions_gets_one_digest_each(world):
    p = world.people
    from academy.models import Membership, Role

    Membership.objects.create(user=p.admin_a, institution=p.inst_b, role=Role.ADMIN)
    digest.send_due()
    subjects = sorted(m.subject for m in _to(p.admin_a.email))
    assert subjects == ["Weekly digest: University A", "Weekly digest: University B"]


@pytest.mark.django_db
def test_the_digest_is_in_the_recipients_language(world):
    p = world.people
    p.admin_a.preferred_language = "sr-latn"
    p.admin_a.save()
    digest.send_due()
    (to_a,) = _to(p.admin_a.email)
    (to_b,) = _to(p.admin_b.email)
    html = to_a.alternatives[0][0]
    assert '<html lang="sr-latn">' in html
    assert '<html lang="en">' in to_b.alternatives[0][0]
    # Serbian dates (day.month.year.), English ones for B's admin
    assert re.search(r"\d{1,2}\.\d{1,2}\.\d{4}\.", to_a.body)
    assert not re.search(r"\d{1,2}\.\d{1,2}\.\d{4}\.", to_b.body)


@pytest.mark.django_db
def test_an_unknown_preferred_language_falls_back_to_the_default(world):
    p = world.people
    p.admin_a.preferred_language = "xx"
    p.admin_a.save()
    digest.send_due()
    (to_a,) = _to(p.admin_a.email)
    assert '<html lang="en">' in to_a.alternatives[0][0]


# ---- idempotence --------------------------------------------------------------------------


@pytest.mark.django_db
def test_sending_twice_in_a_week_sends_once_and_next_week_again(world):
    p = world.people
    # A fixed Wednesday noon: an hour later is the same digest week whatever today is (on a
    # Monday just before the send hour, "now + 1 hour" would start a new week).
    now = timezone.make_aware(datetime(2026, 12, 9, 12, 0))
    assert digest.send_due(now) == 2
    assert digest.send_due(now + timedelta(hours=1)) == 0
    assert len(mail.outbox) == 2
    preference = DigestPreference.objects.get(user=p.admin_a, institution=p.inst_a)
    assert preference.last_sent_at == now
    assert digest.send_due(now + timedelta(days=7)) == 2
    assert len(mail.outbox) == 4


@pytest.mark.django_db
def test_a_failed_send_is_not_recorded_as_sent(world, monkeypatch):
    p = world.people

    def broken(self, fail_silently=False):  # type: ignore[no-untyped-def]
        raise OSError("mail server down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", broken)
    with pytest.raises(OSError):
        digest.send_due()
    assert not DigestPreference.objects.filter(last_sent_at__isnull=False).exists()
    monkeypatch.undo()
    assert digest.send_due() == 2
    assert _to(p.admin_a.email)


@pytest.mark.django_db
def test_the_beat_schedule_runs_the_task_hourly():
    entry = settings.CELERY_BEAT_SCHEDULE["tracking-weekly-digest"]
    assert entry["task"] == "tracking.tasks.send_weekly_digests"
    assert entry["schedule"] == 3600.0
    assert tasks.send_weekly_digests.name == "tracking.tasks.send_weekly_digests"


# ---- opting out -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_admin_who_opted_out_gets_nothing(world):
    p = world.people
    digest.set_preference(actor=p.admin_a, institution=p.inst_a, weekly=False)
    assert digest.send_due() == 1
    assert not _to(p.admin_a.email)
    assert _to(p.admin_b.email)


@pytest.mark.django_db
def test_the_opt_out_page_turns_it_off_and_on_audited(world):
    p = world.people
    client = client_for(p.admin_a)
    url = reverse("tracking-digest", args=["uni-a"])
    page = client.get(url)
    assert page.status_code == 200
    assert "You receive the weekly digest." in page.content.decode()
    response = client.post(url, {"weekly_digest": "off"})
    assert response.status_code == 302
    preference = DigestPreference.objects.get(user=p.admin_a, institution=p.inst_a)
    assert preference.weekly_digest is False
    assert AuditEvent.objects.filter(
        action="tracking.digest_opt_out", actor=p.admin_a, institution=p.inst_a
    ).exists()
    assert "You do not receive the weekly digest." in client.get(url).content.decode()
    assert digest.send_due() == 1 and not _to(p.admin_a.email)
    client.post(url, {"weekly_digest": "on"})
    preference.refresh_from_db()
    assert preference.weekly_digest is True
    assert AuditEvent.objects.filter(action="tracking.digest_opt_in").count() == 1


@pytest.mark.django_db
def test_the_opt_out_page_refuses_bad_input_without_change(world):
    p = world.people
    client = client_for(p.admin_a)
    url = reverse("tracking-digest", args=["uni-a"])
    response = client.post(url, {"weekly_digest": "maybe"}, follow=True)
    assert response.status_code == 200
    assert "Choose whether" in response.content.decode()
    assert not DigestPreference.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "status"),
    [("admin_b", 404), ("student", 404), ("operator", 404), ("dual", 404), ("outsider", 404)],
)
def test_only_the_institutions_admins_have_the_page(world, role, status):
    url = reverse("tracking-digest", args=["uni-a"])
    client = client_for(getattr(world.people, role))
    assert client.get(url).status_code == status
    assert client.post(url, {"weekly_digest": "off"}).status_code == status
    assert not DigestPreference.objects.exists()


@pytest.mark.django_db
def test_the_page_asks_anonymous_people_to_sign_in(world):
    response = client_for(None).get(reverse("tracking-digest", args=["uni-a"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# ---- in the browser -------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_follows_the_digests_link_and_opts_out(live_server, page, artifacts, settings):
    from playwright.sync_api import expect

    from tests.browser.support import login
    from tests.factories import InstitutionFactory, member

    settings.SITE_URL = live_server.url
    institution = InstitutionFactory(name="University of Kragujevac", slug="ukg")
    admin = member(institution, "admin", username="mila", first_name="Mila", last_name="Ilić")
    digest.send_due()
    (sent,) = mail.outbox
    opt_out = re.search(r"(http\S+/tracking/digest/)", sent.body).group(1)

    login(page, live_server.url, "mila")
    page.goto(opt_out)
    expect(page.locator("#digest-state")).to_contain_text("You receive the weekly digest.")
    expect(page.locator("#digest-state")).to_contain_text("Last sent:")
    page.screenshot(path=str(artifacts / "tracking-digest-on.png"), full_page=True)
    page.click("main button:has-text('Stop the weekly digest')")
    expect(page.locator(".messages")).to_contain_text("no longer receive the weekly digest")
    expect(page.locator("#digest-state")).to_contain_text("You do not receive")
    page.screenshot(path=str(artifacts / "tracking-digest-off.png"), full_page=True)
    assert not DigestPreference.objects.get(user=admin, institution=institution).weekly_digest
    assert digest.send_due(timezone.now() + timedelta(days=7)) == 0
