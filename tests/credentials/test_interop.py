"""Academy's credentials verified by an independent implementation: Digital Bazaar's
``@digitalbazaar/vc`` with the ``eddsa-rdfc-2022`` cryptosuite, offline (``interop/verify.mjs``).

Needs Node and npm; the test fails (never skips) without them, because a skipped interop test
would let an incompatible signer pass unnoticed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from credentials import signing

from .conftest import CREATED, ISSUER, KEY_1, KEY_2

pytestmark = pytest.mark.integration

INTEROP = Path(__file__).parent / "interop"


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are needed for the interop test (Node 20)")
    if not (INTEROP / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=INTEROP, check=True, timeout=600)
    return node


def _verify_with_node(node: str, tmp_path: Path, credential: object, did_document: dict) -> dict:
    credential_file, did_file = tmp_path / "credential.json", tmp_path / "did.json"
    credential_file.write_text(json.dumps(credential))
    did_file.write_text(json.dumps(did_document))
    run = subprocess.run(
        [node, "verify.mjs", str(credential_file), str(did_file)],
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
