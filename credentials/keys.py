"""The issuer: its ``did:web`` identifier, its signing key and the keys it still vouches for.

The DID follows from ``SITE_URL`` (``https://academy.example.org`` is
``did:web:academy.example.org``, whose document did:web resolvers fetch from
``/.well-known/did.json``).  The signing key comes from ``ACADEMY_CREDENTIAL_KEY``; production
refuses to start without one (settings).  A development instance (DEBUG=1) with none makes
one in ``VAR_DIR`` on first use, so a fresh clone issues credentials at once.

Rotation: put the new key in ``ACADEMY_CREDENTIAL_KEY`` and the old key's *public* half in
``ACADEMY_CREDENTIAL_RETIRED_KEYS``; the DID document keeps listing it, so credentials it
signed keep verifying, while only the new one signs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import signing

KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DEV_KEY_FILE = "credential-signing-key"


@dataclass(frozen=True)
class Issuer:
    did: str
    name: str
    url: str
    key_id: str  # the full verification method id, "<did>#<fragment>"
    secret: str
    public_keys: dict[str, str]  # every published key: {method id: public multibase}


def did_for(site_url: str) -> str:
    """did:web for a site URL: the host (a port's colon percent-encoded), then path segments."""
    parts = urlsplit(site_url)
    if not parts.hostname:
        raise ImproperlyConfigured(f"SITE_URL has no host name: {site_url!r}")
    host = parts.hostname + (f"%3A{parts.port}" if parts.port else "")
    segments = [quote(s, safe="") for s in parts.path.split("/") if s]
    return ":".join(["did:web", host, *segments])


def _split(entry: str, what: str) -> tuple[str, str]:
    fragment, sep, value = entry.strip().partition(":")
    if not sep or not KEY_ID.match(fragment) or not value:
        raise ImproperlyConfigured(
            f"{what} must be '<key id>:<multikey>' with a key id of letters, digits, '.', '_' "
            f"or '-' (got {entry[:12]!r}...)"
        )
    return fragment, value


def _dev_key() -> str:
    """The development instance's own key, made once and kept in VAR_DIR (never in DEBUG=0)."""
    path = settings.VAR_DIR / DEV_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    secret, _public = signing.generate_key()
    entry = f"dev-1:{secret}"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(entry + "\n")
    return entry


@cache
def _issuer(site_url: str, key_entry: str, retired: tuple[str, ...], name: str) -> Issuer:
    did = did_for(site_url)
    fragment, secret = _split(key_entry, "ACADEMY_CREDENTIAL_KEY")
    try:
        public = signing.public_key_of(secret)
    except Exception as error:
        raise ImproperlyConfigured(
            f"ACADEMY_CREDENTIAL_KEY is not an Ed25519 secret multikey (z3u2...): {error}"
        ) from None
    keys = {f"{did}#{fragment}": public}
    for entry in retired:
        old_fragment, old_public = _split(entry, "ACADEMY_CREDENTIAL_RETIRED_KEYS")
        if not old_public.startswith("z6Mk"):
            raise ImproperlyConfigured(
                f"ACADEMY_CREDENTIAL_RETIRED_KEYS holds public keys (z6Mk...), not {old_fragment}'s"
            )
        keys.setdefault(f"{did}#{old_fragment}", old_public)
    return Issuer(
        did=did,
        name=name,
        url=site_url,
        key_id=f"{did}#{fragment}",
        secret=secret,
        public_keys=keys,
    )


def issuer() -> Issuer:
    """The issuer as configured now (settings are read on every call: tests override them)."""
    entry = settings.CREDENTIAL_KEY
    if not entry:
        if not settings.DEBUG:
            raise ImproperlyConfigured("ACADEMY_CREDENTIAL_KEY is not set")
        entry = _dev_key()
    return _issuer(
        settings.SITE_URL,
        entry,
        tuple(settings.CREDENTIAL_RETIRED_KEYS),
        settings.CREDENTIAL_ISSUER_NAME,
    )


def resolve_key(method_id: str) -> str | None:
    """The public key of one of our verification methods, or None (another issuer's key, a
    key withdrawn from the DID document)."""
    return issuer().public_keys.get(method_id)


def did_document() -> dict:
    current = issuer()
    return signing.did_document(current.did, current.public_keys)
