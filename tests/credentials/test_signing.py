"""Signing and verifying Open Badges 3.0 credentials with eddsa-rdfc-2022, in Python alone."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime

import base58
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pyld import jsonld

from credentials import signing
from credentials.loader import CONTEXTS, DocumentRefused, load_document

from .conftest import CREATED, ISSUER, KEY_1, KEY_2


def _sign(credential: dict, key: tuple[str, str], key_id: str = KEY_1) -> dict:
    return signing.sign(
        credential, private_key_multibase=key[0], verification_method=key_id, created=CREATED
    )


def _keys(*pairs: tuple[str, tuple[str, str]]):
    """A resolver over {key id: public multibase}, as the did:web document would answer."""
    table = {key_id: key[1] for key_id, key in pairs}
    return table.get


def test_keys_are_multikeys(old_key):
    private, public = old_key
    assert public.startswith("z6Mk")
    assert base58.b58decode(public[1:])[:2] == b"\xed\x01"
    assert base58.b58decode(private[1:])[:2] == b"\x80\x26"
    assert signing.public_key_of(private) == public


def test_it_signs_a_data_integrity_proof(credential, old_key):
    signed = _sign(credential, old_key)
    proof = signed["proof"]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["verificationMethod"] == KEY_1
    assert proof["created"] == "2026-12-07T03:00:00Z"
    assert proof["proofValue"].startswith("z")
    assert len(base58.b58decode(proof["proofValue"][1:])) == 64
    assert "proof" not in credential, "the input is not modified"


def test_the_signature_covers_both_hashes_as_the_spec_says(credential, old_key):
    """Recompute the signed bytes by hand: SHA-256(proof config) || SHA-256(document)."""
    signed = _sign(credential, old_key)
    proof = dict(signed["proof"])
    proof_value = proof.pop("proofValue")
    document = {k: v for k, v in signed.items() if k != "proof"}
    options = {"algorithm": "URDNA2015", "format": "application/n-quads"}
    options["documentLoader"] = load_document
    config = jsonld.normalize({"@context": document["@context"], **proof}, dict(options))
    canonical = jsonld.normalize(copy.deepcopy(document), dict(options))
    data = hashlib.sha256(config.encode()).digest() + hashlib.sha256(canonical.encode()).digest()
    public = base58.b58decode(old_key[1][1:])[2:]
    Ed25519PublicKey.from_public_bytes(public).verify(base58.b58decode(proof_value[1:]), data)


def test_it_round_trips(credential, old_key):
    result = signing.verify(_sign(credential, old_key), resolve_key=_keys((KEY_1, old_key)))
    assert result == signing.VerifyResult(True)


def test_the_credential_is_an_open_badge(credential):
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["creditsAvailable"] == 7.5
    targets = [a["targetUrl"] for a in achievement["alignment"]]
    assert "http://data.europa.eu/snb/eqf/6" in targets
    identity = credential["credentialSubject"]["identifier"][0]
    assert identity["identityHash"] == signing.hashed_identity("ana.student@example.org", "c2FsdA")
    assert "example.org" not in str(credential), "no e-mail is published"


def test_hashed_identity_is_sha256_of_email_and_salt():
    expected = hashlib.sha256(b"ana@example.org" + b"pepper").hexdigest()
    assert signing.hashed_identity("ana@example.org", "pepper") == f"sha256${expected}"


def _name(c: dict) -> None:
    c["credentialSubject"]["achievement"]["name"] = "Deep learning"


def _date(c: dict) -> None:
    c["validFrom"] = "2025-12-01T09:30:00Z"


def _removed(c: dict) -> None:
    del c["validUntil"]


def _credits(c: dict) -> None:
    c["credentialSubject"]["achievement"]["creditsAvailable"] = 75


def _recipient(c: dict) -> None:
    c["credentialSubject"]["identifier"][0]["identityHash"] = signing.hashed_identity("x@y.z", "s")


def _proof_value(c: dict) -> None:
    signature = bytearray(base58.b58decode(c["proof"]["proofValue"][1:]))
    signature[0] ^= 1
    c["proof"]["proofValue"] = "z" + base58.b58encode(bytes(signature)).decode()


def _proof_created(c: dict) -> None:
    c["proof"]["created"] = "2020-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "tamper", [_name, _date, _removed, _credits, _recipient, _proof_value, _proof_created]
)
def test_it_rejects_tampering(credential, old_key, tamper):
    signed = _sign(credential, old_key)
    tamper(signed)
    result = signing.verify(signed, resolve_key=_keys((KEY_1, old_key)))
    assert result.verified is False
    assert result.reason == signing.TAMPERED


def test_an_old_key_still_verifies_after_rotation(credential, old_key, new_key):
    before = _sign(credential, old_key, KEY_1)
    after = _sign(credential, new_key, KEY_2)
    both = _keys((KEY_1, old_key), (KEY_2, new_key))
    assert signing.verify(before, resolve_key=both).verified
    assert signing.verify(after, resolve_key=both).verified


def test_a_key_that_is_not_published_is_unknown(credential, old_key, new_key):
    signed = _sign(credential, old_key, KEY_1)
    result = signing.verify(signed, resolve_key=_keys((KEY_2, new_key)))
    assert (result.verified, result.reason) == (False, signing.UNKNOWN_KEY)

    def raising(key_id: str) -> str:
        raise KeyError(key_id)

    assert signing.verify(signed, resolve_key=raising).reason == signing.UNKNOWN_KEY


def test_a_key_of_another_controller_is_not_the_issuers(credential, old_key):
    other = "did:web:elsewhere.example#key-1"
    signed = _sign(credential, old_key, other)
    result = signing.verify(signed, resolve_key=_keys((other, old_key)))
    assert (result.verified, result.reason) == (False, signing.UNKNOWN_KEY)
    assert "not a key of the issuer" in result.detail


def test_a_signature_from_another_key_is_rejected(credential, old_key, new_key):
    signed = _sign(credential, new_key, KEY_1)  # claims key-1, signed with key-2's secret
    result = signing.verify(signed, resolve_key=_keys((KEY_1, old_key)))
    assert (result.verified, result.reason) == (False, signing.TAMPERED)


def _signed_then(change):
    def make(credential: dict, key: tuple[str, str]) -> object:
        signed = _sign(credential, key)
        return change(signed)

    return make


def _set(path: tuple[str, ...], value: object):
    def change(signed: dict) -> dict:
        target = signed
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        return signed

    return change


def _drop(key: str):
    def change(signed: dict) -> dict:
        del signed[key]
        return signed

    return change


MALFORMED = {
    "not an object": _signed_then(lambda s: [s]),
    "a string": _signed_then(lambda s: "{}"),
    "no context": _signed_then(_drop("@context")),
    "not JSON-LD": _signed_then(_set(("@context",), ["https://www.w3.org/ns/credentials/v2", 7])),
    "other first context": _signed_then(_set(("@context",), ["https://evil.example/c"])),
    "remote context": _signed_then(
        lambda s: {**s, "@context": [*s["@context"], "https://evil.example/ctx.json"]}
    ),
    "missing proof": _signed_then(_drop("proof")),
    "proof set": _signed_then(lambda s: {**s, "proof": [s["proof"], s["proof"]]}),
    "garbage proofValue": _signed_then(_set(("proof", "proofValue"), "z0OIl!!")),
    "not multibase": _signed_then(_set(("proof", "proofValue"), "uAAAA")),
    "short proofValue": _signed_then(_set(("proof", "proofValue"), "z3yMApqCuCjXDWPrbjfR5")),
    "proofValue a number": _signed_then(_set(("proof", "proofValue"), 42)),
    "other cryptosuite": _signed_then(_set(("proof", "cryptosuite"), "ecdsa-rdfc-2019")),
    "other purpose": _signed_then(_set(("proof", "proofPurpose"), "authentication")),
    "no verificationMethod": _signed_then(_set(("proof", "verificationMethod"), None)),
    "invalid value object": _signed_then(_set(("validFrom",), {"@value": {}})),
    "id not a string": _signed_then(_set(("id",), 5)),
}


@pytest.mark.parametrize("make", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_gets_a_verdict_not_an_exception(credential, old_key, make):
    result = signing.verify(make(credential, old_key), resolve_key=_keys((KEY_1, old_key)))
    assert result.verified is False
    assert result.reason == signing.MALFORMED
    assert result.detail


def test_a_malformed_published_key_is_malformed(credential, old_key):
    signed = _sign(credential, old_key)
    result = signing.verify(signed, resolve_key=lambda key_id: "z6MkNotAKey")
    assert (result.verified, result.reason) == (False, signing.MALFORMED)


def test_integral_floats_are_signed_as_integers(credential, old_key):
    """JavaScript parses 6.0 as 6; signing 6.0 as a double would not verify there."""
    credential["credentialSubject"]["achievement"]["creditsAvailable"] = 6.0
    signed = _sign(credential, old_key)
    assert signed["credentialSubject"]["achievement"]["creditsAvailable"] == 6
    assert type(signed["credentialSubject"]["achievement"]["creditsAvailable"]) is int


def test_naive_datetimes_are_refused(credential, old_key):
    with pytest.raises(ValueError, match="timezone-aware"):
        signing.sign(
            credential,
            private_key_multibase=old_key[0],
            verification_method=KEY_1,
            created=datetime(2026, 1, 1),  # naive: the point of the test
        )


def test_the_did_document_lists_every_key(old_key, new_key):
    document = signing.did_document(ISSUER, {KEY_1: old_key[1], KEY_2: new_key[1]})
    assert document["assertionMethod"] == [KEY_1, KEY_2]
    assert [m["publicKeyMultibase"] for m in document["verificationMethod"]] == [
        old_key[1],
        new_key[1],
    ]
    assert all(m["type"] == "Multikey" for m in document["verificationMethod"])


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/context.json",
        "https://www.w3.org/2018/credentials/v1",
        "http://www.w3.org/ns/credentials/v2",
        "file:///etc/passwd",
    ],
)
def test_the_loader_refuses_everything_else(url):
    with pytest.raises(DocumentRefused, match="refusing"):
        load_document(url)


def test_the_loader_serves_the_vendored_contexts():
    for url in CONTEXTS:
        assert "@context" in load_document(url)["document"]
    served = load_document("https://www.w3.org/ns/credentials/v2")["document"]
    served["@context"]["mutated"] = True
    assert "mutated" not in load_document("https://www.w3.org/ns/credentials/v2")["document"]


def test_validity_dates_are_utc_xsd_datetimes(credential):
    assert credential["validFrom"] == "2026-12-01T09:30:00Z"
    assert credential["validUntil"] == "2031-12-01T00:00:00Z"
    assert datetime.fromisoformat(credential["validFrom"]).tzinfo == UTC
