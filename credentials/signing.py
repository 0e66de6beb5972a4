"""Open Badges 3.0 credentials signed with W3C Data Integrity ``eddsa-rdfc-2022``.

Pure Python (no Django), so it can be tested and reused on its own. The algorithm follows
"Data Integrity EdDSA Cryptosuites v1.0", section 3.3 (eddsa-rdfc-2022):

* the document (without ``proof``) and the proof options (the proof without ``proofValue``,
  with the document's ``@context``) are each canonicalised with RDFC-1.0 (URDNA2015);
* the data signed is SHA-256(canonical proof options) followed by SHA-256(canonical document);
* the Ed25519 signature is published as multibase base58btc (``z...``) in ``proofValue``.

Keys are Multikey strings: public ``z6Mk...`` (multicodec ed25519-pub 0xed01), secret
``z3u2...`` (multicodec ed25519-priv 0x1300, varint bytes 0x80 0x26) holding the 32-byte seed.
"""

import copy
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pyld import jsonld
from pyld.canon import URDNA2015

from credentials.loader import CREDENTIALS_V2, MULTIKEY_V1, OPEN_BADGES_V3, load_document

PUBLIC_KEY_PREFIX = b"\xed\x01"
SECRET_KEY_PREFIX = b"\x80\x26"
CRYPTOSUITE = "eddsa-rdfc-2022"
PROOF_TYPE = "DataIntegrityProof"
PROOF_PURPOSE = "assertionMethod"

# Reasons a credential fails verification.
TAMPERED = "tampered"
UNKNOWN_KEY = "unknown_key"
MALFORMED = "malformed"


@dataclass(frozen=True)
class VerifyResult:
    """The verdict on one credential: ``reason`` is one of the constants above on failure."""

    verified: bool
    reason: str | None = None
    detail: str = ""


class _Malformed(Exception):
    """Internal: the input cannot be checked at all (as opposed to failing the check)."""


# --- multibase / multikey ---------------------------------------------------------------


def _encode(prefix: bytes, raw: bytes) -> str:
    return "z" + base58.b58encode(prefix + raw).decode("ascii")


def _decode(value: object, prefix: bytes, length: int, what: str) -> bytes:
    """Decode a base58btc multibase value, checking its multicodec prefix and length."""
    if not isinstance(value, str) or not value.startswith("z"):
        raise _Malformed(f"{what} is not a multibase base58btc ('z') string")
    try:
        data = base58.b58decode(value[1:])
    except ValueError as error:
        raise _Malformed(f"{what} is not valid base58: {error}") from error
    if not data.startswith(prefix) or len(data) != len(prefix) + length:
        raise _Malformed(f"{what} has the wrong multicodec prefix or length")
    return data[len(prefix) :]


def generate_key() -> tuple[str, str]:
    """Return a new Ed25519 key pair as (secret key multibase, public key multibase)."""
    key = Ed25519PrivateKey.generate()
    return (
        _encode(SECRET_KEY_PREFIX, key.private_bytes_raw()),
        _encode(PUBLIC_KEY_PREFIX, key.public_key().public_bytes_raw()),
    )


def public_key_of(private_key_multibase: str) -> str:
    """The public Multikey of a secret Multikey (to publish it without storing it twice)."""
    seed = _decode(private_key_multibase, SECRET_KEY_PREFIX, 32, "secret key")
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    return _encode(PUBLIC_KEY_PREFIX, public)


def multikey_document(*, controller: str, key_id: str, public_key_multibase: str) -> dict:
    """A Multikey verification method, as verifiers dereference it by its id."""
    return {
        "@context": MULTIKEY_V1,
        "id": key_id,
        "type": "Multikey",
        "controller": controller,
        "publicKeyMultibase": public_key_multibase,
    }


def did_document(did: str, public_keys: dict[str, str]) -> dict:
    """A ``did:web`` document publishing every key (``{key id: public multibase}``).

    Old keys stay listed after rotation so that credentials they signed keep verifying;
    removing a key from here is how its credentials stop verifying.
    """
    methods = [
        {"id": key_id, "type": "Multikey", "controller": did, "publicKeyMultibase": public}
        for key_id, public in public_keys.items()
    ]
    return {
        "@context": ["https://www.w3.org/ns/did/v1", MULTIKEY_V1],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": list(public_keys),
    }


# --- Open Badges 3.0 ----------------------------------------------------------------------


def hashed_identity(email: str, salt: str) -> str:
    """``sha256$<hex>`` of the e-mail followed by the salt (OB 3.0 IdentityObject.identityHash).

    The address is lower-cased and stripped first so that the holder can reproduce the hash.
    """
    plaintext = email.strip().lower() + salt
    return "sha256$" + hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _xsd_datetime(value: datetime) -> str:
    """An xsd:dateTime in UTC with whole seconds, as both sides of the proof expect."""
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: int | float | Decimal) -> int | float:
    """JSON numbers that are whole must be ints: JavaScript reads ``6.0`` as the integer 6,
    so a Python float 6.0 would canonicalise differently on a JavaScript verifier."""
    number = float(value)
    return int(number) if number.is_integer() else number


def build_credential(
    *,
    credential_id: str,
    issuer_id: str,
    issuer_name: str,
    issuer_url: str | None = None,
    achievement_id: str,
    name: str,
    description: str,
    criteria: str,
    recipient_email: str,
    salt: str,
    valid_from: datetime,
    valid_until: datetime | None = None,
    credits: int | float | Decimal | None = None,
    eqf_level: int | None = None,
    esco_skills: Sequence[tuple[str, str]] = (),
    achievement_type: str = "Course",
    evidence: str | None = None,
    creator: dict[str, Any] | None = None,
    credits_earned: int | float | Decimal | None = None,
    activity_end: datetime | None = None,
    credential_status: Sequence[dict[str, str]] = (),
) -> dict:
    """An unsigned OpenBadgeCredential (VC data model 2.0) from plain values.

    ``esco_skills`` are (ESCO URI, label) pairs. Open Badges 3.0 has no EQF property, so the
    EQF level is one more alignment, to the EU's EQF vocabulary. The recipient's e-mail is
    published only as a salted hash.  ``creator`` is the Profile of a co-issuing institution
    (the achievement's creator); ``credential_status`` are Bitstring Status List entries.
    """
    alignment = [
        {
            "type": ["Alignment"],
            "targetName": label,
            "targetUrl": uri,
            "targetFramework": "ESCO",
            "targetType": "ceasn:Competency",
        }
        for uri, label in esco_skills
    ]
    if eqf_level is not None:
        alignment.append(
            {
                "type": ["Alignment"],
                "targetName": f"EQF level {eqf_level}",
                "targetUrl": f"http://data.europa.eu/snb/eqf/{eqf_level}",
                "targetFramework": "European Qualifications Framework",
                "targetCode": str(eqf_level),
            }
        )
    achievement: dict[str, Any] = {
        "id": achievement_id,
        "type": ["Achievement"],
        "achievementType": achievement_type,
        "name": name,
        "description": description,
        "criteria": {"narrative": criteria},
    }
    if credits is not None:
        achievement["creditsAvailable"] = _number(credits)
    if creator is not None:
        achievement["creator"] = creator
    if alignment:
        achievement["alignment"] = alignment
    issuer: dict[str, Any] = {"id": issuer_id, "type": ["Profile"], "name": issuer_name}
    if issuer_url:
        issuer["url"] = issuer_url
    credential: dict[str, Any] = {
        "@context": [CREDENTIALS_V2, OPEN_BADGES_V3],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": name,
        "issuer": issuer,
        "validFrom": _xsd_datetime(valid_from),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityHash": hashed_identity(recipient_email, salt),
                    "identityType": "emailAddress",
                    "hashed": True,
                    "salt": salt,
                }
            ],
            "achievement": achievement,
        },
    }
    subject = credential["credentialSubject"]
    if credits_earned is not None:
        subject["creditsEarned"] = _number(credits_earned)
    if activity_end is not None:
        subject["activityEndDate"] = _xsd_datetime(activity_end)
    if valid_until is not None:
        credential["validUntil"] = _xsd_datetime(valid_until)
    if credential_status:
        credential["credentialStatus"] = [dict(entry) for entry in credential_status]
    if evidence:
        credential["evidence"] = [{"type": ["Evidence"], "narrative": evidence}]
    return credential


# --- proofs -------------------------------------------------------------------------------


def _json_data(value: Any) -> Any:
    """A deep copy with whole floats as ints (see ``_number``)."""
    if isinstance(value, dict):
        return {key: _json_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_data(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# RDFC-1.0 takes factorial time on "poison" datasets, whose blank nodes all look alike (a 2 KB
# document can take hours); the verifier canonicalises what strangers paste, so the work is
# bounded, as the RDFC-1.0 spec asks (section 4.4 and "Dataset Poisoning").  A step is one
# N-degree hash or one order of alike neighbours tried; Academy's own credentials take none.
MAX_CANONICALISATION_STEPS = 2000
MAX_ALIKE_NEIGHBOURS = 5  # 5! = 120 orders to try per group of alike neighbours, at most


class _BoundedURDNA2015(URDNA2015):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def _spend(self, steps: int) -> None:
        self.steps += steps
        if self.steps > MAX_CANONICALISATION_STEPS:
            raise _Malformed("too many alike blank nodes to canonicalise (a poison graph?)")

    def hash_n_degree_quads(self, id_, issuer):  # type: ignore[no-untyped-def]
        self._spend(1)
        return super().hash_n_degree_quads(id_, issuer)

    def create_hash_to_related(self, id_, issuer):  # type: ignore[no-untyped-def]
        related = super().create_hash_to_related(id_, issuer)
        if any(len(nodes) > MAX_ALIKE_NEIGHBOURS for nodes in related.values()):
            raise _Malformed("a blank node has too many alike neighbours (a poison graph?)")
        self._spend(sum(math.factorial(len(nodes)) for nodes in related.values()))
        return related


def _canonical(document: dict) -> bytes:
    """RDFC-1.0 (URDNA2015) N-Quads of a JSON-LD document, contexts served offline only.

    As ``jsonld.normalize`` does it (to RDF, then URDNA2015), with the work bounded."""
    dataset = jsonld.to_rdf(copy.deepcopy(document), {"documentLoader": load_document, "base": ""})
    nquads = _BoundedURDNA2015().main(
        dataset, {"algorithm": "URDNA2015", "format": "application/n-quads"}
    )
    if not nquads:
        raise _Malformed("the document expands to no statements (is it JSON-LD?)")
    return nquads.encode("utf-8")


def _hash_data(document: dict, proof_options: dict) -> bytes:
    """SHA-256(canonical proof options) || SHA-256(canonical document), per the cryptosuite."""
    proof_config = {"@context": document["@context"], **proof_options}
    return (
        hashlib.sha256(_canonical(proof_config)).digest()
        + hashlib.sha256(_canonical(document)).digest()
    )


def sign(
    credential: dict, *, private_key_multibase: str, verification_method: str, created: datetime
) -> dict:
    """Return a copy of ``credential`` with an ``eddsa-rdfc-2022`` DataIntegrityProof."""
    document = _json_data(credential)
    document.pop("proof", None)
    seed = _decode(private_key_multibase, SECRET_KEY_PREFIX, 32, "secret key")
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": _xsd_datetime(created),
        "verificationMethod": verification_method,
        "proofPurpose": PROOF_PURPOSE,
    }
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(_hash_data(document, proof))
    proof["proofValue"] = _encode(b"", signature)
    return {**document, "proof": proof}


def _unsecured_parts(credential: object) -> tuple[dict, dict, bytes]:
    """Split a secured credential into (document, proof options, signature), or raise."""
    if not isinstance(credential, dict):
        raise _Malformed("a credential must be a JSON object")
    context = credential.get("@context")
    if not isinstance(context, list) or not context or context[0] != CREDENTIALS_V2:
        raise _Malformed(f"@context must be a list starting with {CREDENTIALS_V2}")
    proof = credential.get("proof")
    if not isinstance(proof, dict):
        raise _Malformed("missing proof (or a proof set, which is not supported)")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise _Malformed(f"proof is not a {PROOF_TYPE} with cryptosuite {CRYPTOSUITE}")
    if proof.get("proofPurpose") != PROOF_PURPOSE:
        raise _Malformed(f"proofPurpose must be {PROOF_PURPOSE}")
    if not isinstance(proof.get("verificationMethod"), str):
        raise _Malformed("proof.verificationMethod must be a string")
    if "@context" in proof:
        # The spec allows a proof @context only if the document's context starts with it.
        proof_context = proof["@context"]
        proof_context = proof_context if isinstance(proof_context, list) else [proof_context]
        if context[: len(proof_context)] != proof_context:
            raise _Malformed("proof @context does not match the document's @context")
    signature = _decode(proof.get("proofValue"), b"", 64, "proofValue")
    document = _json_data({k: v for k, v in credential.items() if k != "proof"})
    options = {k: v for k, v in proof.items() if k not in ("proofValue", "@context")}
    return document, _json_data(options), signature


def verify(credential: dict, *, resolve_key: Callable[[str], str | None]) -> VerifyResult:
    """Check a credential's proof; never raises on bad input.

    ``resolve_key`` maps a verification method id to its public key multibase; it returns
    None or raises for a key it does not know or cannot fetch (both: ``unknown_key``).
    The key must belong to the issuer: its id is ``<issuer id>#<fragment>``, as in did:web.
    """
    try:
        document, options, signature = _unsecured_parts(credential)
        # A key only speaks for its controller: without this, any resolvable key (another
        # issuer's in the same directory) could sign a credential in this issuer's name.
        issuer = document.get("issuer")
        issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
        controller = options["verificationMethod"].split("#", 1)[0]
        if not isinstance(issuer_id, str) or controller != issuer_id:
            return VerifyResult(
                False, UNKNOWN_KEY, f"{options['verificationMethod']} is not a key of the issuer"
            )
        try:
            public_multibase = resolve_key(options["verificationMethod"])
        except Exception as error:  # a resolver that fails cannot vouch for the key
            return VerifyResult(False, UNKNOWN_KEY, f"cannot resolve the key: {error!r}")
        if public_multibase is None:
            return VerifyResult(False, UNKNOWN_KEY, f"no key {options['verificationMethod']}")
        public = _decode(public_multibase, PUBLIC_KEY_PREFIX, 32, "public key")
        data = _hash_data(document, options)
    except _Malformed as error:
        return VerifyResult(False, MALFORMED, str(error))
    except Exception as error:  # pyld raises many kinds of error on bad JSON-LD
        return VerifyResult(False, MALFORMED, f"cannot canonicalise: {error}")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
    except InvalidSignature:
        return VerifyResult(False, TAMPERED, "the signature does not match the content")
    return VerifyResult(True)


xsd_datetime = _xsd_datetime  # public: status lists date themselves the same way
