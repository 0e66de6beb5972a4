"""The holder's wallet (issue 12, item 6, the holder's part): their credentials with state,
downloads, share link and "Add to LinkedIn"; what they earned and may claim; nobody else's."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from academy.models import User
from credentials import services
from credentials.models import Credential
from programmes import services as programme_services
from programmes.models import Completion
from tests.factories import CourseFactory, UserFactory
from tests.programmes.conftest import build_foundation, finished_run, passed, result

pytestmark = pytest.mark.django_db

WALLET = "/credentials/"
CLAIM = "/credentials/claim/"


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    client.raise_request_exception = False
    return client


@pytest.fixture
def ana() -> User:
    return UserFactory(first_name="Ana", last_name="Jović", username="ana")


def item(html: str, credential: Credential) -> str:
    start = html.index(f'id="credential-{credential.uuid}"')
    end = html.find("</li>", start)
    return html[start:end]


def test_the_wallet_needs_signing_in():
    response = Client().get(WALLET)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert Client().post(CLAIM, {"run": "1"}).status_code == 302


def test_an_empty_wallet_says_so_and_points_to_the_catalogue(ana):
    html = signed_in(ana).get(WALLET).content.decode()
    assert 'id="empty"' in html
    assert reverse("course-catalogue") in html


def test_the_navigation_links_to_the_wallet(ana):
    html = signed_in(ana).get(reverse("home")).content.decode()
    assert f'href="{WALLET}"' in html and "My credentials" in html


def test_a_passed_run_is_offered_and_claimed(ana):
    run = passed(ana, CourseFactory(code="GPU101", title="GPU computing fundamentals"), 85)
    client = signed_in(ana)
    html = client.get(WALLET).content.decode()
    assert 'id="due"' in html and "GPU computing fundamentals" in html
    assert f'name="run" value="{run.pk}"' in html

    response = client.post(CLAIM, {"run": str(run.pk)})
    credential = Credential.objects.get(user=ana, run=run)
    assert response.status_code == 302
    assert response["Location"] == f"{WALLET}#credential-{credential.uuid}"

    html = client.get(WALLET).content.decode()
    assert 'id="due"' not in html  # nothing left to claim
    assert "is issued" in html
    mine = item(html, credential)
    assert "badge-ok" in mine and "Valid" in mine
    url = services.credential_url(credential)
    assert f'value="{url}"' in mine and "Copy link" in mine
    assert reverse("credential-public", args=[credential.uuid]) in mine
    assert reverse("credential-json", args=[credential.uuid]) in mine
    assert reverse("credential-qr", args=[credential.uuid]) in mine
    assert f"{reverse('credential-pdf', args=[credential.uuid])}?lang=en" in mine
    assert "credentials/wallet.js" in html

    # claiming again issues nothing twice
    client.post(CLAIM, {"run": str(run.pk)})
    assert Credential.objects.filter(user=ana).count() == 1


def test_the_linkedin_link_is_filled_in_and_encoded(ana):
    run = passed(ana, CourseFactory(title="GPUs & CUDA: a start"), 85)
    credential, _ = services.issue_for_run(actor=None, user=ana, run=run)
    html = signed_in(ana).get(WALLET).content.decode()
    mine = item(html, credential)
    match = re.search(
        r'<a class="[^"]*linkedin" href="([^"]+)" target="_blank" rel="([^"]+)"', mine
    )
    assert match is not None
    assert "noopener" in match.group(2)
    link = urlsplit(unescape(match.group(1)))
    assert (link.scheme, link.netloc, link.path) == ("https", "www.linkedin.com", "/profile/add")
    query = parse_qs(link.query)
    issued = timezone.localtime(credential.issued_at)
    assert query == {
        "startTask": ["CERTIFICATION_NAME"],
        "name": ["GPUs & CUDA: a start"],
        "organizationName": [settings.CREDENTIAL_ISSUER_NAME],
        "issueYear": [str(issued.year)],
        "issueMonth": [str(issued.month)],
        "certUrl": [services.credential_url(credential)],
        "certId": [str(credential.uuid)],
    }
    assert "GPUs%20%26%20CUDA" in unescape(match.group(1))


def test_the_pdf_is_in_the_persons_language(ana):
    ana.preferred_language = "sr-latn"
    ana.save()
    run = passed(ana, CourseFactory(), 85)
    credential, _ = services.issue_for_run(actor=None, user=ana, run=run)
    html = signed_in(ana).get(WALLET).content.decode()
    assert f"{reverse('credential-pdf', args=[credential.uuid])}?lang=sr-latn" in html


def test_revoked_and_suspended_credentials_show_the_reason_to_the_holder(ana, people):
    first, _ = services.issue_for_run(actor=None, user=ana, run=passed(ana, CourseFactory(), 85))
    second, _ = services.issue_for_run(actor=None, user=ana, run=passed(ana, CourseFactory(), 90))
    services.revoke(actor=people.operator, credential=first, reason="plagiarised lab")
    services.suspend(actor=people.operator, credential=second, reason="grade under review")
    html = signed_in(ana).get(WALLET).content.decode()
    revoked, suspended = item(html, first), item(html, second)
    assert "Revoked on" in revoked and "plagiarised lab" in revoked and "badge-err" in revoked
    assert "Suspended since" in suspended and "grade under review" in suspended
    assert "badge-warn" in suspended
    assert "linkedin" not in revoked and "linkedin" not in suspended


def test_the_wallet_shows_only_the_persons_own_credentials(ana):
    other = UserFactory()
    theirs, _ = services.issue_for_run(
        actor=None, user=other, run=passed(other, CourseFactory(title="Not Ana's"), 85)
    )
    html = signed_in(ana).get(WALLET).content.decode()
    assert str(theirs.uuid) not in html and "Not Ana" not in html


def test_claiming_someone_elses_run_is_a_404(ana):
    other = UserFactory()
    run = passed(other, CourseFactory(), 85)
    response = signed_in(ana).post(CLAIM, {"run": str(run.pk)})
    assert response.status_code == 404
    assert not Credential.objects.exists()


@pytest.mark.parametrize(
    "data",
    [{}, {"run": "abc"}, {"run": "-1"}, {"run": "9" * 30}, {"completion": "x"}, {"run": "999999"}],
)
def test_a_claim_for_nothing_real_is_a_404(ana, data):
    assert signed_in(ana).post(CLAIM, data).status_code == 404


def test_claiming_needs_a_post(ana):
    assert signed_in(ana).get(CLAIM).status_code == 405


def test_claiming_what_was_not_earned_says_why(ana):
    run = finished_run(CourseFactory(code="LLM230"))
    result(ana, run, 40)
    client = signed_in(ana)
    response = client.post(CLAIM, {"run": str(run.pk)}, follow=True)
    html = response.content.decode()
    assert "No certificate yet" in html and "below the pass mark" in html
    assert not Credential.objects.exists()


def test_claiming_a_programme_completion(transactional_db, eager, monkeypatch):
    monkeypatch.setattr(services, "issue_after_commit", lambda user_ids: None)  # claim by hand
    f = build_foundation()
    student = UserFactory()
    programme_services.allocation_join(actor=student, programme=f.programme)
    for course in [f.gpu, *f.electives[:2], f.capstone]:
        passed(student, course, 80)
    completion = Completion.objects.get(allocation__user=student)
    client = signed_in(student)
    html = client.get(WALLET).content.decode()
    assert f'name="completion" value="{completion.pk}"' in html
    # someone else cannot claim it
    assert signed_in(UserFactory()).post(CLAIM, {"completion": completion.pk}).status_code == 404
    response = client.post(CLAIM, {"completion": str(completion.pk)})
    assert response.status_code == 302
    credential = Credential.objects.get(completion=completion)
    assert credential.user == student
