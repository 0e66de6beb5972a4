"""What the issuer publishes without signing in: the DID document and the status lists; and the
status list bitstring itself (encoding, bit order, hostile encodings)."""

from __future__ import annotations

import base64
import gzip

import pytest

from credentials import keys, services, signing, statuslist
from credentials.models import STATUS_LIST_SIZE, Credential
from tests.factories import CourseFactory, OperatorFactory, UserFactory
from tests.programmes.conftest import passed

# --- the bitstring -------------------------------------------------------------------------

# From Digital Bazaar's @digitalbazaar/bitstring tests ("should encode a bitstring"): a list of
# 8 with bits 1 and 4 set, left-to-right indexing (the W3C spec's order).
DB_BITS_1_AND_4 = "uH4sIAAAAAAAAA_MAAC8mBaoBAAAA"
# The W3C Bitstring Status List spec's example list: 131,072 bits, none set.
SPEC_EMPTY_LIST = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"


def _multibase_gzip(data: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(gzip.compress(data, mtime=0)).decode().rstrip("=")


def test_index_zero_is_the_most_significant_bit_of_the_first_byte():
    bits = statuslist.decode(statuslist.encode([0, 9, 131_071], STATUS_LIST_SIZE))
    assert len(bits) * 8 == STATUS_LIST_SIZE
    assert bits[0] == 0b1000_0000
    assert bits[1] == 0b0100_0000
    assert bits[-1] == 0b0000_0001
    assert sum(bin(b).count("1") for b in bits) == 3
    assert [i for i in range(16) if statuslist.is_set(bits, i)] == [0, 9]


def test_digital_bazaars_encoding_reads_alike():
    bits = statuslist.decode(DB_BITS_1_AND_4)
    assert bits == bytes([0b0100_1000])
    assert [i for i in range(8) if statuslist.is_set(bits, i)] == [1, 4]
    # ours gives the same bits (the GZIP header's XFL byte may differ, the data does not)
    assert statuslist.decode(statuslist.encode([1, 4], 8)) == bits


def test_the_specs_example_list_decodes_to_131072_clear_bits():
    bits = statuslist.decode(SPEC_EMPTY_LIST)
    assert len(bits) * 8 == 131_072
    assert not any(bits)


def test_encoding_is_deterministic_and_compact():
    first = statuslist.encode(range(0, 1000, 7), STATUS_LIST_SIZE)
    assert first == statuslist.encode(range(0, 1000, 7), STATUS_LIST_SIZE)  # mtime=0
    assert first.startswith("uH4sI") and "=" not in first
    assert len(first) < 2000  # 16 KiB of mostly zeros


@pytest.mark.parametrize("index", [-1, 8, 1000])
def test_encoding_refuses_an_index_outside_the_list(index):
    with pytest.raises(ValueError, match="outside"):
        statuslist.encode([index], 8)
    with pytest.raises(statuslist.StatusListError):
        statuslist.is_set(bytes(1), index)


def test_a_gzip_bomb_is_refused_unread():
    bomb = _multibase_gzip(bytes(statuslist.MAX_LIST_BYTES + 1))
    assert len(bomb) < 100_000  # small on the wire
    with pytest.raises(statuslist.StatusListError, match="larger"):
        statuslist.decode(bomb)
    # the largest list allowed still reads
    assert len(statuslist.decode(_multibase_gzip(bytes(1024)))) == 1024


@pytest.mark.parametrize(
    "encoded",
    [
        None,
        12,
        ["uH4sI"],
        "",
        "H4sIAAAAAAAAA_MAAC8mBaoBAAAA",  # no multibase prefix
        "zH4sIAAAAAAAAA",  # base58, not base64url
        "u!!!not base64!!!",
        "u" + base64.urlsafe_b64encode(b"plain bytes, not gzip").decode(),
        DB_BITS_1_AND_4[:-6],  # truncated GZIP stream
        "u"
        + base64.urlsafe_b64encode(gzip.compress(b"x", mtime=0)[:-4] + b"\0\0\0\0").decode(),  # CRC
    ],
)
def test_garbage_is_refused_with_a_status_list_error(encoded):
    with pytest.raises(statuslist.StatusListError):
        statuslist.decode(encoded)


# --- the published documents ---------------------------------------------------------------


def test_the_did_document_is_published_for_anyone(client):
    response = client.get("/.well-known/did.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/did+json"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "public" in response["Cache-Control"]
    document = response.json()
    issuer = keys.issuer()
    assert document["id"] == issuer.did
    methods = {m["id"]: m for m in document["verificationMethod"]}
    assert set(methods) == {issuer.key_id}
    method = methods[issuer.key_id]
    assert method["type"] == "Multikey"
    assert method["controller"] == issuer.did
    assert method["publicKeyMultibase"] == signing.public_key_of(issuer.secret)
    assert issuer.key_id in document["assertionMethod"]
    # the secret never leaves the server
    assert issuer.secret not in response.content.decode()


def test_the_did_document_lists_retired_keys(client, settings, issuer_secret):
    settings.CREDENTIAL_KEY = f"key-2:{signing.generate_key()[0]}"
    settings.CREDENTIAL_RETIRED_KEYS = [f"key-1:{signing.public_key_of(issuer_secret)}"]
    ids = {
        m["id"].rsplit("#", 1)[1]
        for m in client.get("/.well-known/did.json").json()["verificationMethod"]
    }
    assert ids == {"key-1", "key-2"}


def test_did_document_refuses_writes(client):
    assert client.post("/.well-known/did.json").status_code == 405


def _issue() -> Credential:
    student = UserFactory()
    credential, _new = services.issue_for_run(
        actor=None, user=student, run=passed(student, CourseFactory(), 90)
    )
    return credential


def _get_list(client, number: int, purpose: str = "revocation") -> dict:  # type: ignore[no-untyped-def]
    response = client.get(f"/credentials/status/{number}/{purpose}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vc+ld+json"
    assert response["Access-Control-Allow-Origin"] == "*"
    return response.json()


@pytest.mark.django_db
def test_a_status_list_is_a_signed_bitstring_status_list_credential(client):
    credential = _issue()
    document = _get_list(client, credential.status_list)
    assert document["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert document["id"] == services.status_list_url(credential.status_list, "revocation")
    assert document["id"] == next(
        s["statusListCredential"]
        for s in credential.document["credentialStatus"]
        if s["statusPurpose"] == "revocation"
    )
    assert document["issuer"] == keys.issuer().did
    subject = document["credentialSubject"]
    assert subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == "revocation"
    bits = statuslist.decode(subject["encodedList"])
    assert len(bits) * 8 == 131_072
    assert not statuslist.is_set(bits, credential.status_index)
    assert signing.verify(document, resolve_key=keys.resolve_key).verified


@pytest.mark.django_db
def test_a_revocation_sets_the_published_bit(client):
    credential, other = _issue(), _issue()
    assert credential.status_list == other.status_list
    services.revoke(actor=OperatorFactory(), credential=credential, reason="Plagiarism")
    document = _get_list(client, credential.status_list)
    assert signing.verify(document, resolve_key=keys.resolve_key).verified
    bits = statuslist.decode(document["credentialSubject"]["encodedList"])
    assert statuslist.is_set(bits, credential.status_index)
    assert not statuslist.is_set(bits, other.status_index)
    assert sum(bin(b).count("1") for b in bits) == 1
    # the suspension list is untouched
    suspension = _get_list(client, credential.status_list, "suspension")
    assert not any(statuslist.decode(suspension["credentialSubject"]["encodedList"]))
    # a forged bit breaks the list's proof
    document["credentialSubject"]["encodedList"] = statuslist.encode(
        [credential.status_index, other.status_index], STATUS_LIST_SIZE
    )
    assert signing.verify(document, resolve_key=keys.resolve_key).reason == signing.TAMPERED


@pytest.mark.django_db
def test_a_suspension_sets_the_suspension_bit(client):
    credential = _issue()
    services.suspend(actor=OperatorFactory(), credential=credential, reason="Under review")
    bits = statuslist.decode(
        _get_list(client, credential.status_list, "suspension")["credentialSubject"]["encodedList"]
    )
    assert statuslist.is_set(bits, credential.status_index)
    revocation = _get_list(client, credential.status_list)
    assert not any(statuslist.decode(revocation["credentialSubject"]["encodedList"]))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/credentials/status/999/revocation",  # a list that holds no credential
        "/credentials/status/{n}/expiry",  # not a purpose
        "/credentials/status/{n}/REVOCATION",
        "/credentials/status/-1/revocation",
        "/credentials/status/99999999999999999999999/revocation",
        "/credentials/status/{n}/revocation/",
    ],
)
def test_unknown_lists_and_purposes_are_404(client, path):
    credential = _issue()
    assert client.get(path.format(n=credential.status_list)).status_code == 404


@pytest.mark.django_db
def test_no_list_is_published_before_any_credential(client):
    assert client.get("/credentials/status/1/revocation").status_code == 404
