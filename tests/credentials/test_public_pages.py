"""The public side (issue 12, items 4 and 8): the credential's own page and the verifier.

Anyone may check a credential without signing in, three ways (paste, upload, link); the
verdict is in words with what was checked; bad input of every kind is a clear message, never a
500; a link is opened only if it is one of this site's, from the database, without a request."""

from __future__ import annotations

import copy
import json
import socket
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from credentials import keys, services, signing
from credentials.models import Credential
from programmes.models import EscoSkill, LearningOutcome
from tests.factories import CourseFactory, UserFactory
from tests.programmes.conftest import passed

pytestmark = pytest.mark.django_db

VERIFY = "/verify/"


@pytest.fixture
def credential() -> Credential:
    student = UserFactory(
        first_name="Ana", last_name="Jović", email="ana@example.org", username="ana"
    )
    course = CourseFactory(
        code="GPU101", title="GPU computing fundamentals", ects=Decimal("2.5"), eqf_level=6
    )
    skill = EscoSkill.objects.create(
        uri="http://data.europa.eu/esco/skill/cuda", label="parallel programming"
    )
    LearningOutcome.objects.create(course=course, title="Write kernels").esco_skills.add(skill)
    run = passed(student, course, 85)
    issued, _new = services.issue_for_run(actor=None, user=student, run=run)
    return issued


@pytest.fixture
def visitor() -> Client:
    client = Client()
    client.raise_request_exception = False  # a crash must show as the 500 a visitor would get
    return client


def text_of(credential: Credential) -> str:
    return json.dumps(credential.document)


def verdict_of(html: str) -> str | None:
    marker = 'data-verdict="'
    if marker not in html:
        return None
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def signed_document(**changes) -> dict:  # type: ignore[no-untyped-def]
    """A credential signed with the issuer's key, without status entries (for the clock)."""
    issuer = keys.issuer()
    now = timezone.now()
    fields = {
        "credential_id": "urn:uuid:2b1f0c3e-6a0e-4c52-9a3e-2f1d8a7b9c10",
        "issuer_id": issuer.did,
        "issuer_name": issuer.name,
        "achievement_id": "https://academy.example/courses/X",
        "name": "Clock test",
        "description": "d",
        "criteria": "c",
        "recipient_email": "x@example.org",
        "salt": "c2FsdA",
        "valid_from": now - timedelta(days=10),
        **changes,
    }
    return signing.sign(
        signing.build_credential(**fields),
        private_key_multibase=issuer.secret,
        verification_method=issuer.key_id,
        created=now,
    )


# --------------------------------------------------------------------------- the public page


def test_the_public_page_shows_the_verified_credential_and_its_downloads(visitor, credential):
    response = visitor.get(f"/credentials/{credential.uuid}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert verdict_of(html) == "verified"
    assert '<meta name="robots" content="noindex">' in html
    assert "Ana Jović" in html and "GPU computing fundamentals" in html
    assert keys.issuer().did in html and settings.CREDENTIAL_ISSUER_NAME in html
    # what it says: credits, EQF, the ESCO skill, the evidence
    assert "2.5 ECTS" in html and "parallel programming" in html
    assert "http://data.europa.eu/esco/skill/cuda" in html and "85.00%" in html
    # the checks, each with its result
    for name in ("Format", "Issuer", "Signature", "Revocation", "Suspension", "Validity"):
        assert f"<td>{name}</td>" in html
    assert "Failed" not in html
    # downloads: the JSON, the PDF in three languages, the QR code
    uuid = credential.uuid
    assert reverse("credential-json", args=[uuid]) in html
    assert reverse("credential-qr", args=[uuid]) in html
    for lang in ("en", "sr", "sr-latn"):
        assert f"{reverse('credential-pdf', args=[uuid])}?lang={lang}" in html
    assert "Српски" in html and "Srpski" in html


def test_an_unknown_id_is_a_404(visitor, credential):
    assert visitor.get("/credentials/00000000-0000-4000-8000-000000000000/").status_code == 404
    assert visitor.get("/credentials/not-a-uuid/").status_code == 404


def test_a_revoked_credential_says_so_publicly_without_the_reason(visitor, credential, people):
    services.revoke(actor=people.operator, credential=credential, reason="plagiarised lab")
    html = visitor.get(f"/credentials/{credential.uuid}/").content.decode()
    assert verdict_of(html) == "revoked"
    assert "Revoked on" in html
    assert "plagiarised lab" not in html


def test_a_suspended_credential_says_so_publicly_without_the_reason(visitor, credential, people):
    services.suspend(actor=people.operator, credential=credential, reason="under investigation")
    html = visitor.get(f"/credentials/{credential.uuid}/").content.decode()
    assert verdict_of(html) == "suspended"
    assert "Suspended since" in html
    assert "under investigation" not in html


def test_the_holder_sees_a_way_to_their_wallet_on_the_public_page(credential):
    client = Client()
    client.force_login(credential.user)
    html = client.get(f"/credentials/{credential.uuid}/").content.decode()
    assert reverse("credential-wallet") in html


# --------------------------------------------------------------------------- the verifier


def test_the_verifier_is_open_to_anyone(visitor):
    response = visitor.get(VERIFY)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="document"' in html and 'name="upload"' in html and 'name="link"' in html
    assert "csrfmiddlewaretoken" in html


def test_a_pasted_credential_is_verified_with_what_it_says(visitor, credential):
    html = visitor.post(VERIFY, {"document": text_of(credential)}).content.decode()
    assert verdict_of(html) == "verified"
    assert "GPU computing fundamentals" in html and "Ana Jović" in html
    assert "parallel programming" in html and "2.5 ECTS" in html and "85.00%" in html
    assert f"<td>{'Signature'}</td>" in html
    assert reverse("credential-public", args=[credential.uuid]) in html


def test_a_tampered_copy_is_tampered_with(visitor, credential):
    document = copy.deepcopy(credential.document)
    document["credentialSubject"]["achievement"]["name"] = "Doctor of Everything"
    html = visitor.post(VERIFY, {"document": json.dumps(document)}).content.decode()
    assert verdict_of(html) == "tampered"
    assert "Tampered with" in html
    assert "What the document claims" in html  # not "what it says": the signature failed
    assert "Ana Jović" not in html  # a forged copy does not earn the holder's name


def test_an_uploaded_file_is_verified(visitor, credential):
    upload = SimpleUploadedFile(
        "credential.json", text_of(credential).encode(), content_type="application/json"
    )
    html = visitor.post(VERIFY, {"upload": upload}).content.decode()
    assert verdict_of(html) == "verified"


@pytest.mark.parametrize(
    "link",
    [
        "{site}/credentials/{uuid}/",
        "  {site}/credentials/{uuid}/  ",
        "{site}/credentials/{uuid}/credential.json",
        "{uuid}",
    ],
)
def test_a_link_of_this_site_or_a_bare_id_is_read_from_the_database(visitor, credential, link):
    link = link.format(site=settings.SITE_URL, uuid=credential.uuid)
    html = visitor.post(VERIFY, {"link": link}).content.decode()
    assert verdict_of(html) == "verified"


def test_a_revoked_credential_is_revoked_in_the_verifier(visitor, credential, people):
    services.revoke(actor=people.operator, credential=credential, reason="plagiarised lab")
    html = visitor.post(VERIFY, {"document": text_of(credential)}).content.decode()
    assert verdict_of(html) == "revoked"
    assert "Revoked on" in html and "plagiarised lab" not in html


@pytest.fixture
def no_network(monkeypatch):  # type: ignore[no-untyped-def]
    """Any outgoing connection fails the test (the database's is already open)."""
    attempts: list[object] = []

    def refuse(self, address):  # type: ignore[no-untyped-def]
        attempts.append(address)
        raise AssertionError(f"the verifier tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))
    return attempts


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/credentials/{uuid}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:9/credentials/{uuid}/",
        "file:///etc/passwd",
        "{site}.evil.example/credentials/{uuid}/",
        "{site}/admin/",
        "{site}/credentials/{uuid}/../../admin/",
        "//evil.example/credentials/{uuid}/",
        "http://[::1",
        "javascript:alert(1)",
    ],
)
def test_a_foreign_link_is_refused_without_any_request(visitor, credential, no_network, link):
    link = link.format(site=settings.SITE_URL, uuid=credential.uuid)
    response = visitor.post(VERIFY, {"link": link})
    html = response.content.decode()
    assert response.status_code == 200
    assert verdict_of(html) is None
    assert "Only Academy&#x27;s own credential links can be opened here" in html
    assert "paste its JSON" in html
    assert no_network == []


def test_an_unknown_id_in_a_link_is_said_so(visitor, credential):
    link = f"{settings.SITE_URL}/credentials/00000000-0000-4000-8000-000000000000/"
    html = visitor.post(VERIFY, {"link": link}).content.decode()
    assert "Academy has no credential with this id." in html
    assert verdict_of(html) is None


NESTED_DEEP = "[" * 100_000 + "]" * 100_000


def _nested_credential(credential: Credential) -> str:
    """A credential whose evidence is nested 900 deep: still JSON Python can read."""
    document = copy.deepcopy(credential.document)
    deep: object = "x"
    for _ in range(900):
        deep = {"a": deep}
    document["evidence"] = [{"type": ["Evidence"], "narrative": deep}]
    return json.dumps(document)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("garbage, not JSON at all", "This is not JSON"),
        ("[1, 2, 3]", "A credential is a JSON object, not a list or a value."),
        ('"a string"', "A credential is a JSON object"),
        ("null", "A credential is a JSON object"),
        ("x" * (300 * 1024), "larger than 256 KB"),
        (NESTED_DEEP, "This is not JSON"),
        ("   \n  ", "Nothing to check"),
        ("{}", "not a W3C Verifiable Credential"),
        ('{"type": "VerifiableCredential"}', "not a W3C Verifiable Credential"),
        ("nul\x00char", "Null characters are not allowed"),
    ],
)
def test_bad_pasted_input_gets_a_clear_message(visitor, document, message):
    response = visitor.post(VERIFY, {"document": document})
    assert response.status_code == 200
    assert message in response.content.decode()


WRONG_TYPES = [
    {"type": ["VerifiableCredential"], "issuer": 5, "credentialSubject": "x"},
    {"type": ["VerifiableCredential"], "issuer": {"id": ["a"]}, "proof": []},
    {"@context": 7, "type": ["VerifiableCredential"], "issuer": "{did}", "proof": "x"},
    {
        "@context": ["https://www.w3.org/ns/credentials/v2", 5],
        "type": ["VerifiableCredential", {"x": 1}],
        "issuer": {"id": "{did}", "name": ["n"]},
        "validFrom": 12,
        "credentialSubject": {"achievement": ["not", "a", "dict"], "identifier": 3},
        "evidence": "none",
        "credentialStatus": {"type": 5},
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-rdfc-2022",
            "proofPurpose": "assertionMethod",
            "verificationMethod": "{did}#key-1",
            "proofValue": 42,
        },
    },
    {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": "{did}",
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-rdfc-2022",
            "proofPurpose": "assertionMethod",
            "verificationMethod": "{did}#key-1",
            "proofValue": "z" + "1" * 88,
        },
    },
]


@pytest.mark.parametrize("document", WRONG_TYPES)
def test_wrong_types_everywhere_get_a_verdict_not_a_500(visitor, document):
    text = json.dumps(document).replace("{did}", keys.issuer().did)
    response = visitor.post(VERIFY, {"document": text})
    assert response.status_code == 200
    assert verdict_of(response.content.decode()) in {"malformed", "tampered", "unknown_issuer"}


def test_each_field_of_a_real_credential_with_a_wrong_type_is_never_a_500(visitor, credential):
    visitor.force_login(UserFactory())  # the signed-in are not rate-limited
    values = [None, 5, "x", [], {}, [1, {"a": None}], True]
    for key in list(credential.document):
        for value in values:
            document = {**credential.document, key: value}
            response = visitor.post(VERIFY, {"document": json.dumps(document)})
            assert response.status_code == 200, (key, value)
            assert verdict_of(response.content.decode()) != "verified", (key, value)


def test_a_deeply_nested_but_readable_credential_is_a_verdict(visitor, credential):
    response = visitor.post(VERIFY, {"document": _nested_credential(credential)})
    assert response.status_code == 200
    assert verdict_of(response.content.decode()) in {"tampered", "malformed"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00not utf-8 \xc3\x28", "The file is not UTF-8 text"),
        (b"x" * (300 * 1024), "larger than 256 KB"),
        (b"[]", "A credential is a JSON object"),
        (b"", "The submitted file is empty."),
    ],
)
def test_a_bad_file_gets_a_clear_message(visitor, content, message):
    upload = SimpleUploadedFile("credential.json", content, content_type="application/json")
    response = visitor.post(VERIFY, {"upload": upload})
    assert response.status_code == 200
    assert message in response.content.decode()


def test_invalid_utf8_in_the_form_itself_is_a_message(visitor):
    response = visitor.post(
        VERIFY,
        data=b"document=%ff%fe%fd",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "This is not JSON" in response.content.decode()


def test_giving_two_ways_at_once_is_refused_with_a_message(visitor, credential):
    response = visitor.post(VERIFY, {"document": text_of(credential), "link": str(credential.uuid)})
    assert "one way at a time" in response.content.decode()
    assert verdict_of(response.content.decode()) is None


def test_an_unknown_issuer_is_said_so(visitor, credential):
    document = copy.deepcopy(credential.document)
    document["issuer"]["id"] = "did:web:elsewhere.example"
    html = visitor.post(VERIFY, {"document": json.dumps(document)}).content.decode()
    assert verdict_of(html) == "unknown_issuer"


def test_expired_and_not_yet_valid_credentials(visitor):
    now = timezone.now()
    expired = signed_document(valid_until=now - timedelta(days=1))
    html = visitor.post(VERIFY, {"document": json.dumps(expired)}).content.decode()
    assert verdict_of(html) == "expired" and "Expired" in html
    early = signed_document(valid_from=now + timedelta(days=3))
    html = visitor.post(VERIFY, {"document": json.dumps(early)}).content.decode()
    assert verdict_of(html) == "not_yet_valid" and "Not yet valid" in html


def test_a_pasted_document_cannot_inject_markup_or_script_links(visitor, credential):
    document = copy.deepcopy(credential.document)
    achievement = document["credentialSubject"]["achievement"]
    achievement["name"] = "<script>alert(1)</script>"
    achievement["alignment"][0]["targetUrl"] = "javascript:alert(1)"
    html = visitor.post(VERIFY, {"document": json.dumps(document)}).content.decode()
    assert verdict_of(html) == "tampered"
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html


def test_the_holders_email_is_checked_against_the_salted_hash(visitor, credential):
    good = visitor.post(VERIFY, {"document": text_of(credential), "email": " ANA@example.org "})
    assert "matches the credential's recipient" in good.content.decode()
    bad = visitor.post(VERIFY, {"document": text_of(credential), "email": "eve@example.org"})
    assert "does NOT match" in bad.content.decode()
    invalid = visitor.post(VERIFY, {"document": text_of(credential), "email": "not an address"})
    assert "Enter a valid email address." in invalid.content.decode()


def test_the_public_page_links_to_the_email_check_with_the_link_filled_in(visitor, credential):
    html = visitor.get(f"/credentials/{credential.uuid}/").content.decode()
    assert "/verify/?link=" in html
    form = visitor.get(VERIFY, {"link": services.credential_url(credential)}).content.decode()
    assert f'value="{services.credential_url(credential)}"' in form


def test_posting_needs_the_csrf_token(credential):
    client = Client(enforce_csrf_checks=True)
    response = client.post(VERIFY, {"document": text_of(credential)})
    assert response.status_code == 403


def test_anonymous_checks_are_rate_limited(visitor, settings, credential):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "credential_verify": "2/min",
        },
    }
    codes = [visitor.post(VERIFY, {"document": "{}"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = visitor.post(VERIFY, {"document": text_of(credential)})
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "Too many checks" in response.content.decode()
    assert visitor.get(VERIFY).status_code == 200  # reading the page is not limited
