"""Key rotation: a new signing key, the old one's public half kept in the DID document.

Credentials signed with the retired key keep verifying; new ones are signed with the new key;
withdrawing the retired key (dropping it from ACADEMY_CREDENTIAL_RETIRED_KEYS, as after a
compromise) makes the old credentials fail, with the unknown key named.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from credentials import keys, services, signing, statuslist, verification
from credentials.models import Credential, StatusPurpose
from tests.factories import CourseFactory, OperatorFactory, UserFactory
from tests.programmes.conftest import passed

pytestmark = pytest.mark.django_db


def _issue() -> Credential:
    student = UserFactory()
    credential, new = services.issue_for_run(
        actor=None, user=student, run=passed(student, CourseFactory(), 90)
    )
    assert new
    return credential


@pytest.fixture
def rotated(settings, issuer_secret):  # type: ignore[no-untyped-def]
    """Sign with key-2 from now on; key-1 (the conftest's key) is retired, still published."""
    old = _issue()
    assert old.document["proof"]["verificationMethod"].endswith("#key-1")
    new_secret, _new_public = signing.generate_key()
    settings.CREDENTIAL_KEY = f"key-2:{new_secret}"
    settings.CREDENTIAL_RETIRED_KEYS = [f"key-1:{signing.public_key_of(issuer_secret)}"]
    return old


def _methods() -> dict[str, str]:
    return {m["id"]: m["publicKeyMultibase"] for m in keys.did_document()["verificationMethod"]}


def test_the_old_credential_verifies_after_rotation(rotated, issuer_secret):
    did = keys.issuer().did
    assert _methods() == {
        f"{did}#key-1": signing.public_key_of(issuer_secret),
        f"{did}#key-2": signing.public_key_of(keys.issuer().secret),
    }
    document = keys.did_document()
    # both may sign credentials (assertionMethod), as a verifier checks the proof's purpose
    assert {f"{did}#key-1", f"{did}#key-2"} <= set(document["assertionMethod"])
    assert verification.verify(rotated.document).verdict == verification.VERIFIED


def test_new_credentials_are_signed_with_the_new_key(rotated):
    new = _issue()
    assert new.key_id.endswith("#key-2")
    assert new.document["proof"]["verificationMethod"] == keys.issuer().key_id
    assert verification.verify(new.document).verified
    # the new key cannot pass for the old one: the same proof claiming key-1 fails
    forged = {**new.document, "proof": {**new.document["proof"]}}
    forged["proof"]["verificationMethod"] = rotated.document["proof"]["verificationMethod"]
    assert verification.verify(forged).verdict == verification.TAMPERED


def test_revoking_an_old_credential_after_rotation(rotated):
    services.revoke(actor=OperatorFactory(), credential=rotated, reason="Issued in error")
    row = services.status_list(rotated.status_list, StatusPurpose.REVOCATION)
    assert row is not None
    # the list is re-signed with the current key, and says revoked
    assert row.document["proof"]["verificationMethod"].endswith("#key-2")
    assert signing.verify(row.document, resolve_key=keys.resolve_key).verified
    bits = statuslist.decode(row.document["credentialSubject"]["encodedList"])
    assert statuslist.is_set(bits, rotated.status_index)
    assert verification.verify(rotated.document).verdict == verification.REVOKED


def test_withdrawing_the_old_key_makes_its_credentials_fail(rotated, settings):
    settings.CREDENTIAL_RETIRED_KEYS = []
    assert len(_methods()) == 1
    result = verification.verify(rotated.document)
    # not "tampered with": nothing changed, but the key no longer speaks for the issuer
    assert result.verdict == verification.UNKNOWN_KEY
    assert not result.verified
    signature = [c for c in result.checks if not c.passed]
    assert len(signature) == 1
    assert "#key-1" in signature[0].detail  # the withdrawn key is named
    # the issuer is still recognised: only the signature check failed
    assert [c.passed for c in result.checks] == [True, True, False]


def test_a_retired_key_given_as_a_secret_is_refused(settings, issuer_secret):
    settings.CREDENTIAL_RETIRED_KEYS = [f"key-0:{issuer_secret}"]
    with pytest.raises(ImproperlyConfigured, match="public keys"):
        keys.issuer()
