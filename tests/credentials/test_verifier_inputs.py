"""The verifier on hostile input: ``verification.parse`` and ``verification.verify`` never
raise, and every input gets the verdict it deserves.  Credentials with a valid signature but
odd content are signed here with the test issuer's key (only the issuer could make them, but
the verifier must still not trust what it signed blindly)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials import keys, services, signing, verification
from credentials.verification import (
    EXPIRED,
    MALFORMED,
    NOT_YET_VALID,
    TAMPERED,
    UNKNOWN_ISSUER,
    UNKNOWN_KEY,
    VERIFIED,
)
from tests.factories import CourseFactory, UserFactory
from tests.programmes.conftest import passed

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


def _unsigned(**overrides: Any) -> dict:
    issuer = keys.issuer()
    credential = signing.build_credential(
        credential_id="urn:uuid:0b5ed0c4-54a8-4c3b-9f43-5a3f2a8f1c11",
        issuer_id=issuer.did,
        issuer_name=issuer.name,
        issuer_url=issuer.url,
        achievement_id="https://academy.example/courses/GPU101",
        name="GPU programming",
        description="CUDA kernels.",
        criteria="Passed.",
        recipient_email="ana@example.org",
        salt="c2FsdA",
        valid_from=overrides.pop("valid_from", NOW - timedelta(days=30)),
        valid_until=overrides.pop("valid_until", None),
    )
    credential.update(overrides)
    return credential


def _signed(credential: dict, *, secret: str | None = None, method: str | None = None) -> dict:
    issuer = keys.issuer()
    return signing.sign(
        credential,
        private_key_multibase=secret or issuer.secret,
        verification_method=method or issuer.key_id,
        created=NOW - timedelta(days=30),
    )


def _verdict(document: Any) -> verification.Verdict:
    result = verification.verify(document, now=NOW)
    assert result.verdict in verification.VERDICT_LABELS
    assert str(result.label)
    return result


# --- parse ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   \n",
        "null",
        "42",
        '"a string"',
        "[1, 2, 3]",
        "true",
        "{not json",
        "[" * 10_000 + "]" * 10_000,  # deep nesting
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        "1" * 5000,  # an integer longer than Python converts
        b"\xff\xfe not utf-8",
        b"\x00" * 100,
        "x" * (verification.MAX_BYTES + 1),
        "\ud800",  # a lone surrogate
        '{"a": NaN}'.replace("NaN", "1e999999"),
    ],
)
def test_parse_refuses_what_is_not_a_json_object(raw):
    document, error = verification.parse(raw)
    if document is None:
        assert error
    else:  # a valid object (1e999999 is JSON, a float infinity): verify must then cope
        assert isinstance(document, dict) and error == ""


def test_parse_accepts_an_object():
    assert verification.parse(b'{"a": 1}') == ({"a": 1}, "")


# --- verify: not ours, not a credential -----------------------------------------------------


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"a": [value]}
    return value


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, MALFORMED),
        ({"type": "VerifiableCredential"}, MALFORMED),  # a string, not a list
        ({"type": [["VerifiableCredential"]]}, MALFORMED),
        ({"type": ["VerifiableCredential"], "issuer": 42}, UNKNOWN_ISSUER),
        ({"type": ["VerifiableCredential"], "issuer": ["did:web:x"]}, UNKNOWN_ISSUER),
        ({"type": ["VerifiableCredential"], "issuer": {"id": {"id": "x"}}}, UNKNOWN_ISSUER),
        ({"type": ["VerifiableCredential"], "issuer": _deep(10_000)}, UNKNOWN_ISSUER),
        ({"type": ["VerifiableCredential"], "issuer": {"id": _deep(10_000)}}, UNKNOWN_ISSUER),
        ({"type": ["VerifiableCredential"], "issuer": "did:web:" + "x" * 200_000}, UNKNOWN_ISSUER),
        ({"type": ["VerifiableCredential"], "issuer": None}, UNKNOWN_ISSUER),
    ],
)
def test_shapes_that_are_not_ours(document, expected):
    result = _verdict(document)
    assert result.verdict == expected
    assert all(len(c.detail) < 1000 for c in result.checks)


def test_a_document_that_is_not_an_object_is_malformed():
    for value in (None, [], "text", 3, [{"type": ["VerifiableCredential"]}]):
        result = _verdict(value)
        assert result.verdict == MALFORMED and result.document is None


def test_another_issuers_credential_is_unknown_issuer():
    secret, _public = signing.generate_key()
    credential = _unsigned(issuer={"id": "did:web:other.example", "type": ["Profile"]})
    signed = _signed(credential, secret=secret, method="did:web:other.example#key-1")
    result = _verdict(signed)
    assert result.verdict == UNKNOWN_ISSUER
    assert "did:web:other.example" in result.checks[-1].detail


def test_a_proof_made_with_another_issuers_key_is_an_unknown_key():
    """Our issuer id, someone else's key (their DID): the key does not speak for us."""
    secret, _public = signing.generate_key()
    signed = _signed(_unsigned(), secret=secret, method="did:web:other.example#key-1")
    result = _verdict(signed)
    assert result.verdict == UNKNOWN_KEY
    assert "not a key of the issuer" in result.checks[-1].detail


def test_a_proof_made_with_an_unpublished_key_of_ours_is_an_unknown_key():
    secret, _public = signing.generate_key()
    signed = _signed(_unsigned(), secret=secret, method=f"{keys.issuer().did}#key-9")
    result = _verdict(signed)
    assert result.verdict == UNKNOWN_KEY
    assert not result.verified
    assert "#key-9" in result.checks[-1].detail


def test_a_proof_claiming_our_key_but_made_with_another_is_tampered():
    secret, _public = signing.generate_key()
    assert _verdict(_signed(_unsigned(), secret=secret)).verdict == TAMPERED


# --- verify: the proof itself malformed -----------------------------------------------------


def _with_proof(proof: Any) -> dict:
    signed = _signed(_unsigned())
    signed["proof"] = proof
    return signed


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: [p],  # a proof set (a list)
        lambda p: "z" + p["proofValue"],
        lambda p: None,
        lambda p: {**p, "proofValue": 12},
        lambda p: {**p, "proofValue": "z" + "1" * 100_000},
        lambda p: {**p, "proofValue": "not base58 0OIl"},
        lambda p: {**p, "verificationMethod": ["x"]},
        lambda p: {**p, "verificationMethod": 7},
        lambda p: {**p, "cryptosuite": "ecdsa-rdfc-2019"},
        lambda p: {**p, "proofPurpose": "authentication"},
        lambda p: {**p, "@context": ["https://example.org/remote"]},
        lambda p: {**p, "created": "yesterday"},
    ],
)
def test_a_broken_proof_never_verifies(mutate):
    signed = _signed(_unsigned())
    result = _verdict(_with_proof(mutate(signed["proof"])))
    assert result.verdict in (MALFORMED, TAMPERED)


def test_wrong_types_in_the_body_break_the_signature_or_are_malformed():
    signed = _signed(_unsigned())
    for key, value in [
        ("@context", "https://www.w3.org/ns/credentials/v2"),
        ("@context", [{"@vocab": "https://evil.example/#"}]),
        ("@context", [*signed["@context"], "https://example.org/remote-context.json"]),
        # an inline context, even one that changes no statement (and so keeps the signature)
        ("@context", [*signed["@context"], {"@version": 1.1, "x": "https://e.org/x"}]),
        ("@context", [*signed["@context"], {"title": "@nest"}]),
        ("credentialSubject", "me"),
        ("credentialSubject", [1, 2]),
        ("validFrom", 20261207),
        ("name", {"@value": 1, "@type": "https://e.org/weird"}),
        ("credentialStatus", "status"),
        ("id", ["urn:uuid:x"]),
    ]:
        document = {**signed, key: value}
        assert _verdict(document).verdict in (MALFORMED, TAMPERED), (key, value)


def test_huge_strings_are_tampered_not_a_crash():
    signed = _signed(_unsigned())
    signed["credentialSubject"]["achievement"]["description"] = "x" * 250_000
    assert _verdict(signed).verdict == TAMPERED


def test_deep_nesting_in_a_signed_looking_credential_is_malformed():
    signed = _signed(_unsigned())
    signed["credentialSubject"]["achievement"]["criteria"] = _deep(10_000)
    assert _verdict(signed).verdict in (MALFORMED, TAMPERED)


# --- verify: validly signed by us, but odd ---------------------------------------------------


def test_a_past_valid_until_is_expired():
    signed = _signed(_unsigned(valid_until=NOW - timedelta(days=1)))
    result = _verdict(signed)
    assert result.verdict == EXPIRED
    assert [c.passed for c in result.checks] == [True, True, True, False]


def test_a_future_valid_from_is_not_yet_valid():
    assert _verdict(_signed(_unsigned(valid_from=NOW + timedelta(days=1)))).verdict == NOT_YET_VALID


def test_a_valid_window_verifies():
    signed = _signed(_unsigned(valid_until=NOW + timedelta(days=1)))
    assert _verdict(signed).verdict == VERIFIED


@pytest.mark.parametrize(
    "overrides",
    [
        {"validFrom": "yesterday"},
        {"validFrom": "2026-13-45T99:99:99Z"},
        {"validFrom": "0000-01-01T00:00:00Z"},
        {"validUntil": "tomorrow"},
        {"validUntil": "2026-02-30T00:00:00Z"},
        {"validFrom": "0001-01-01T00:00:00+14:00"},  # before datetime.min in UTC
        {"validUntil": "9999-12-31T23:59:59-14:00"},  # after datetime.max in UTC
    ],
)
def test_dates_that_are_not_dates_are_malformed_or_judged(overrides):
    signed = _signed(_unsigned(**overrides))
    assert signing.verify(signed, resolve_key=keys.resolve_key).verified  # truly ours
    assert _verdict(signed).verdict in (MALFORMED, EXPIRED, VERIFIED)


def _status_entry(**changes: Any) -> dict:
    entry = {
        "id": services.status_list_url(1, "revocation") + "#5",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "5",
        "statusListCredential": services.status_list_url(1, "revocation"),
    }
    entry.update(changes)
    return entry


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("a string", MALFORMED),
        (42, MALFORMED),
        ([None], MALFORMED),
        ([_status_entry(statusListIndex="-1")], MALFORMED),
        ([_status_entry(statusListIndex="1e9")], MALFORMED),
        ([_status_entry(statusListIndex="9" * 5000)], MALFORMED),
        ([_status_entry(statusListIndex="131072")], MALFORMED),
        ([_status_entry(statusListIndex="5_0")], MALFORMED),  # Python's int() would say 50
        ([_status_entry(statusListIndex=" 5")], MALFORMED),
        ([_status_entry(statusListIndex="\u0665")], MALFORMED),  # an Arabic-Indic five
        ([_status_entry(statusListIndex=5)], MALFORMED),  # the spec wants a string
        ([_status_entry(statusListIndex=None)], MALFORMED),
        ([_status_entry(statusPurpose="expiry")], MALFORMED),
        ([_status_entry(statusPurpose="suspension")], MALFORMED),  # the URL says revocation
        (
            [_status_entry(statusListCredential="https://evil.example/status/1/revocation")],
            MALFORMED,
        ),
        ([_status_entry(statusListCredential=["x"])], MALFORMED),
        ([_status_entry(type="StatusList2021Entry")], MALFORMED),
        # a well-formed entry in a list that holds no credential: nothing set
        (
            [_status_entry(statusListCredential=services.status_list_url(99, "revocation"))],
            VERIFIED,
        ),
        (_status_entry(), VERIFIED),  # one entry, not a list
        ([_status_entry(statusListIndex="0")], VERIFIED),
    ],
)
def test_status_entries_of_every_shape(status, expected):
    signed = _signed(_unsigned(credentialStatus=status))
    assert signing.verify(signed, resolve_key=keys.resolve_key).verified
    assert _verdict(signed).verdict == expected


@pytest.mark.django_db
def test_an_issued_credential_round_trips_through_parse():
    student = UserFactory()
    credential, _new = services.issue_for_run(
        actor=None, user=student, run=passed(student, CourseFactory(), 90)
    )
    document, error = verification.parse(json.dumps(credential.document).encode())
    assert error == "" and document is not None
    result = verification.verify(document)
    assert result.verdict == VERIFIED
    assert result.credential == credential


# --- canonicalisation cost: a small document must not take minutes -------------------------


def _poison_clique(n: int) -> dict:
    """n blank nodes, each linked to all the others: RDFC-1.0 tries n! orders."""
    credential = _unsigned()
    credential["evidence"] = [
        {
            "id": f"_:b{i}",
            "type": ["Evidence"],
            "https://example.org/related": [{"id": f"_:b{j}"} for j in range(n) if j != i],
        }
        for i in range(n)
    ]
    return credential


def _poison_list(n: int) -> dict:
    """A list of n identical blank nodes."""
    credential = _unsigned()
    credential["https://example.org/list"] = {"@list": [{"https://example.org/v": "x"}] * n}
    return credential


@pytest.mark.parametrize(
    ("build", "size"), [(_poison_clique, 12), (_poison_list, 400)], ids=["clique", "list"]
)
def test_poison_graphs_are_refused_quickly(build, size):
    """Without a bound on the canonicalisation work, these take hours (a clique of 8 takes
    about a minute, a list of 200 as long)."""
    document = build(size)
    document["proof"] = _signed(_unsigned())["proof"]
    assert len(json.dumps(document)) < 20_000  # small enough to paste into the verifier
    started = time.perf_counter()
    result = _verdict(document)
    assert time.perf_counter() - started < 5
    assert result.verdict in (MALFORMED, TAMPERED)
