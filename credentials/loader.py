"""A pyld document loader that serves the vendored contexts and nothing else.

Signing and verifying must not depend on the network: a context fetched at run time could be
unavailable, slow, or changed by whoever controls the URL, which would change what a signature
covers. So every URL not in ``CONTEXTS`` is refused.
"""

import json
from functools import cache
from pathlib import Path
from typing import Any

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
OPEN_BADGES_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"

CONTEXTS = {
    CREDENTIALS_V2: "credentials-v2.json",
    OPEN_BADGES_V3: "ob-v3p0-3.0.3.json",
    DATA_INTEGRITY_V2: "data-integrity-v2.json",
    MULTIKEY_V1: "multikey-v1.json",
}

_DIRECTORY = Path(__file__).parent / "contexts"


class DocumentRefused(Exception):
    """Raised for any URL that is not one of the vendored contexts."""


@cache
def _read(filename: str) -> str:
    return (_DIRECTORY / filename).read_text(encoding="utf-8")


def load_document(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a pyld remote document for a vendored context; refuse every other URL.

    A fresh parsed copy is returned each time, so pyld can never mutate the cached text.
    """
    filename = CONTEXTS.get(url)
    if filename is None:
        raise DocumentRefused(
            f"refusing to load {url!r}: only the vendored contexts are served "
            f"(no network access while signing or verifying)"
        )
    return {
        "contextUrl": None,
        "documentUrl": url,
        "contentType": "application/ld+json",
        "document": json.loads(_read(filename)),
    }
