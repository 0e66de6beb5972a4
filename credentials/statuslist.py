"""W3C Bitstring Status List v1.0: the bitstring, its encoding, and the list credential.

The bitstring is GZIP-compressed and published as multibase base64url without padding (a
``u`` prefix).  Bit 0 is the left-most bit of the first byte.  Pure Python, no Django.
"""

from __future__ import annotations

import base64
import gzip
import io
from collections.abc import Iterable
from typing import Any

from .loader import CREDENTIALS_V2

# A status list shrinks to little once compressed, and a hostile one could be a gzip bomb:
# nothing bigger than this is ever inflated (16 MiB of bits is 134 million credentials).
MAX_LIST_BYTES = 16 * 1024 * 1024


class StatusListError(ValueError):
    """An encoded list that cannot be read."""


def encode(set_bits: Iterable[int], size: int) -> str:
    if size % 8:
        raise ValueError("a status list's size is a whole number of bytes")
    bits = bytearray(size // 8)
    for index in set_bits:
        if not 0 <= index < size:
            raise ValueError(f"index {index} is outside a list of {size}")
        bits[index // 8] |= 0x80 >> (index % 8)
    # mtime=0: the same bits always give the same string (and the same signature input).
    compressed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode("ascii").rstrip("=")


def decode(encoded: object) -> bytes:
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise StatusListError("encodedList is not multibase base64url ('u...')")
    body = encoded[1:]
    try:
        compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError as error:
        raise StatusListError(f"encodedList is not base64url: {error}") from None
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as stream:
            data = stream.read(MAX_LIST_BYTES + 1)
    except (OSError, EOFError) as error:
        raise StatusListError(f"encodedList is not GZIP data: {error}") from None
    if len(data) > MAX_LIST_BYTES:
        raise StatusListError("the status list is larger than any list Academy reads")
    return data


def is_set(bits: bytes, index: int) -> bool:
    if not 0 <= index < len(bits) * 8:
        raise StatusListError(f"index {index} is outside a list of {len(bits) * 8}")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def list_credential(
    *, list_url: str, issuer_id: str, purpose: str, encoded: str, valid_from: str
) -> dict[str, Any]:
    """The unsigned BitstringStatusListCredential published at ``list_url``."""
    return {
        "@context": [CREDENTIALS_V2],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_id,
        "validFrom": valid_from,
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encoded,
        },
    }


def entry(*, list_url: str, purpose: str, index: int) -> dict[str, str]:
    """The ``credentialStatus`` entry pointing at one bit of a list."""
    return {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }
