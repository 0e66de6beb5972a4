"""Academy's credentials verified by an independent implementation: Digital Bazaar's
``@digitalbazaar/vc`` with the ``eddsa-rdfc-2022`` cryptosuite, offline (``interop/verify.mjs``),
and their revocation and suspension read through the published status lists by
``@digitalbazaar/vc-bitstring-status-list`` (which also verifies each list's own proof and that
its issuer is the credential's).

Needs Node and npm; the test fails (never skips) without them, because a skipped interop test
would let an incompatible signer pass unnoticed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from credentials import keys, services, signing, statuslist
from credentials.models import Credential, StatusPurpose
from programmes import services as programme_services
from tests.factories import CourseFactory, OperatorFactory, UserFactory
from tests.programmes.conftest import build_foundation, passed

from .conftest import CREATED, ISSUER, KEY_1, KEY_2

pytestmark = pytest.mark.integration

INTEROP = Path(__file__).parent / "interop"


def _installed() -> bool:
    """node_modules holds every pinned package at its pinned version (a checkout whose
    package.json gained a package since the last ``npm ci`` is reinstalled)."""
    pinned = json.loads((INTEROP / "package.json").read_text())["dependencies"]
    for name, version in pinned.items():
        manifest = INTEROP / "node_modules" / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text())["version"] != version:
            return False
    return True


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are needed for the interop test (Node 20)")
    if not _installed():
        # The lock file pins every package; only the npm registry is contacted.
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=INTEROP, check=True, timeout=600)
    return node


def _verify_with_node(
    node: str,
    tmp_path: Path,
    credential: object,
    did_document: dict,
    status_lists: Sequence[dict] = (),
) -> dict:
    credential_file, did_file = tmp_path / "credential.json", tmp_path / "did.json"
    credential_file.write_text(json.dumps(credential))
    did_file.write_text(json.dumps(did_document))
    args = []
    for n, status_list in enumerate(status_lists):
        status_file = tmp_path / f"status-{n}.json"
        status_file.write_text(json.dumps(status_list))
        args += ["--status", str(status_file)]
    run = subprocess.run(
        [node, "verify.mjs", str(credential_file), str(did_file), *args],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(run.stdout)


def _sign(credential: dict, key: tuple[str, str], key_id: str = KEY_1) -> dict:
    return signing.sign(
        credential, private_key_multibase=key[0], verification_method=key_id, created=CREATED
    )


def test_digital_bazaar_verifies_academys_credential(node, tmp_path, credential, old_key):
    signed = _sign(credential, old_key)
    did_document = signing.did_document(ISSUER, {KEY_1: old_key[1]})
    assert _verify_with_node(node, tmp_path, signed, did_document) == {
        "verified": True,
        "status": None,
        "error": None,
    }


def test_digital_bazaar_rejects_a_tampered_copy(node, tmp_path, credential, old_key):
    signed = _sign(credential, old_key)
    signed["credentialSubject"]["achievement"]["name"] = "Deep learning"
    did_document = signing.did_document(ISSUER, {KEY_1: old_key[1]})
    result = _verify_with_node(node, tmp_path, signed, did_document)
    assert result["verified"] is False
    assert "signature" in result["error"].lower()


def test_an_old_key_verifies_after_rotation(node, tmp_path, credential, old_key, new_key):
    did_document = signing.did_document(ISSUER, {KEY_1: old_key[1], KEY_2: new_key[1]})
    for signed in (_sign(credential, old_key, KEY_1), _sign(credential, new_key, KEY_2)):
        assert _verify_with_node(node, tmp_path, signed, did_document)["verified"] is True


def test_whole_credits_canonicalise_alike(node, tmp_path, credential, old_key):
    """6.0 in Python is 6 in JavaScript; both sides must sign the same number."""
    credential["credentialSubject"]["achievement"]["creditsAvailable"] = 6.0
    did_document = signing.did_document(ISSUER, {KEY_1: old_key[1]})
    signed = _sign(credential, old_key)
    assert _verify_with_node(node, tmp_path, signed, did_document)["verified"] is True


def test_the_verifier_refuses_the_network(node, tmp_path, credential, old_key):
    """A context Python would refuse to sign with, added afterwards: node must refuse it too."""
    signed = _sign(credential, old_key)
    signed["@context"].append("https://example.org/remote-context.json")
    did_document = signing.did_document(ISSUER, {KEY_1: old_key[1]})
    result = _verify_with_node(node, tmp_path, signed, did_document)
    assert result["verified"] is False
    assert "refusing to load https://example.org/remote-context.json" in result["error"]


# --- credentials issued by Academy itself (the Django side) -----------------------------------


def _published_lists(credential: Credential) -> list[dict]:
    """Both status lists of the credential as they are published now."""
    lists = []
    for purpose in (StatusPurpose.REVOCATION, StatusPurpose.SUSPENSION):
        row = services.status_list(credential.status_list, purpose)
        assert row is not None
        lists.append(row.document)
    return lists


def _check(node: str, tmp_path: Path, credential: Credential, document: dict | None = None):  # type: ignore[no-untyped-def]
    return _verify_with_node(
        node,
        tmp_path,
        document if document is not None else credential.document,
        keys.did_document(),
        _published_lists(credential),
    )


@pytest.fixture
def issued(db) -> Credential:  # type: ignore[no-untyped-def]
    student = UserFactory()
    run = passed(student, CourseFactory(code="GPU101", title="GPU programming"), 85)
    credential, new = services.issue_for_run(actor=None, user=student, run=run)
    assert new
    return credential


def test_an_issued_credential_verifies_with_its_status_unset(node, tmp_path, issued):
    assert _check(node, tmp_path, issued) == {
        "verified": True,
        "status": {"revocation": False, "suspension": False},
        "error": None,
    }


def test_a_tampered_issued_credential_fails(node, tmp_path, issued):
    document = json.loads(json.dumps(issued.document))
    document["credentialSubject"]["achievement"]["name"] = "Doctor of Everything"
    result = _check(node, tmp_path, issued, document)
    assert result["verified"] is False
    assert "signature" in result["error"].lower()
    assert result["status"] is None  # the status is not read once the proof fails


def test_a_revoked_credential_shows_revoked_through_the_status_list(node, tmp_path, issued):
    before = _published_lists(issued)
    services.revoke(actor=OperatorFactory(), credential=issued, reason="Plagiarism")
    after = _check(node, tmp_path, issued)
    # the signature still holds; the list says revoked
    assert after == {
        "verified": True,
        "status": {"revocation": True, "suspension": False},
        "error": None,
    }
    # the list as it was before the revocation still says not revoked (the bit is what changed)
    stale = _verify_with_node(node, tmp_path, issued.document, keys.did_document(), before)
    assert stale["status"] == {"revocation": False, "suspension": False}


def test_a_suspended_credential_shows_suspended(node, tmp_path, issued):
    operator = OperatorFactory()
    services.suspend(actor=operator, credential=issued, reason="Under review")
    assert _check(node, tmp_path, issued)["status"] == {"revocation": False, "suspension": True}
    services.reinstate(actor=operator, credential=issued)
    assert _check(node, tmp_path, issued)["status"] == {"revocation": False, "suspension": False}


def test_a_forged_status_list_is_refused(node, tmp_path, issued):
    """A list whose bits were changed after signing fails its own proof: the status check
    (and so the whole verification) fails rather than reporting a forged status."""
    revocation, suspension = _published_lists(issued)
    size = len(statuslist.decode(revocation["credentialSubject"]["encodedList"])) * 8
    revocation["credentialSubject"]["encodedList"] = statuslist.encode([issued.status_index], size)
    result = _verify_with_node(
        node, tmp_path, issued.document, keys.did_document(), [revocation, suspension]
    )
    assert result["verified"] is False
    assert "BitstringStatusListCredential" in result["error"]


def test_status_lists_must_be_served(node, tmp_path, issued):
    """Without the lists the status cannot be read, and the verifier will not fetch them."""
    result = _verify_with_node(node, tmp_path, issued.document, keys.did_document())
    assert result["verified"] is False
    assert (
        f"refusing to load {services.status_list_url(issued.status_list, 'revocation')}"
        in (result["error"])
    )


def test_after_rotation_old_credentials_and_new_lists_verify(
    node, tmp_path, issued, settings, issuer_secret
):
    """key-1 signed the credential; after rotation key-2 re-signs its status list on
    revocation; the DID document lists both, so Digital Bazaar accepts both proofs."""
    settings.CREDENTIAL_KEY = f"key-2:{signing.generate_key()[0]}"
    settings.CREDENTIAL_RETIRED_KEYS = [f"key-1:{signing.public_key_of(issuer_secret)}"]
    services.revoke(actor=OperatorFactory(), credential=issued, reason="Issued in error")
    revocation, _suspension = _published_lists(issued)
    assert revocation["proof"]["verificationMethod"].endswith("#key-2")
    assert issued.document["proof"]["verificationMethod"].endswith("#key-1")
    assert _check(node, tmp_path, issued)["status"] == {"revocation": True, "suspension": False}
    settings.CREDENTIAL_RETIRED_KEYS = []  # key-1 withdrawn: the credential no longer verifies
    assert _check(node, tmp_path, issued)["verified"] is False


def test_a_programme_credential_verifies(node, tmp_path, transactional_db, eager):
    f = build_foundation()
    student = UserFactory()
    programme_services.allocation_join(actor=student, programme=f.programme)
    for course in [f.gpu, *f.electives[:2], f.capstone]:
        passed(student, course, 80)
    credential = Credential.objects.get(user=student, programme=f.programme)
    assert credential.document["credentialSubject"]["achievement"]["achievementType"] == (
        "Certificate"
    )
    assert _check(node, tmp_path, credential) == {
        "verified": True,
        "status": {"revocation": False, "suspension": False},
        "error": None,
    }
