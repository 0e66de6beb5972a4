"""The verifier: everything checked about a credential, step by step, and one verdict.

Academy's own verifier reads the status lists from its database (the same bits it publishes);
an outside verifier fetches them from the published URL.  It verifies only this issuer's
credentials: another issuer's are "unknown issuer".  It never raises on bad input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import keys, services, signing, statuslist
from .models import STATUS_LIST_SIZE, Credential, StatusPurpose

# Verdicts, most to least serious.
MALFORMED = "malformed"
UNKNOWN_ISSUER = "unknown_issuer"
UNKNOWN_KEY = "unknown_key"  # signed with a key the issuer does not (or no longer) publish
TAMPERED = "tampered"
REVOKED = "revoked"
SUSPENDED = "suspended"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
VERIFIED = "verified"

VERDICT_LABELS = {
    VERIFIED: gettext_lazy("Verified"),
    REVOKED: gettext_lazy("Revoked"),
    SUSPENDED: gettext_lazy("Suspended"),
    EXPIRED: gettext_lazy("Expired"),
    NOT_YET_VALID: gettext_lazy("Not yet valid"),
    TAMPERED: gettext_lazy("Tampered with"),
    UNKNOWN_KEY: gettext_lazy("Key not recognised"),
    UNKNOWN_ISSUER: gettext_lazy("Unknown issuer"),
    MALFORMED: gettext_lazy("Not a credential"),
}

# A pasted or uploaded credential larger than this is refused unread (ours are ~3 KB).
MAX_BYTES = 256 * 1024

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Verdict:
    verdict: str
    checks: list[Check] = field(default_factory=list)
    document: dict[str, Any] | None = None
    credential: Credential | None = None  # ours, when it is one of ours

    @property
    def verified(self) -> bool:
        return self.verdict == VERIFIED

    @property
    def label(self) -> str:
        return str(VERDICT_LABELS[self.verdict])


def parse(raw: str | bytes) -> tuple[dict[str, Any] | None, str]:
    """JSON text to a document, or (None, why not)."""
    if len(raw) > MAX_BYTES:
        return None, _("The text is larger than %(kb)d KB: not a credential.") % {
            "kb": MAX_BYTES // 1024
        }
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, _("The file is not UTF-8 text: not a credential.")
    if not raw.strip():
        return None, _("Nothing to check: paste a credential, upload its file or open its link.")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as error:
        return None, _("This is not JSON: %(error)s") % {"error": str(error)[:200]}
    if not isinstance(document, dict):
        return None, _("A credential is a JSON object, not a list or a value.")
    return document, ""


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or not _DATETIME.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _status_bit(entry: object) -> tuple[str, int, bool] | str:
    """(purpose, index, set?) of one credentialStatus entry of ours, or why it can't be read."""
    if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
        return _("a status entry is not a BitstringStatusListEntry")
    purpose = entry.get("statusPurpose")
    url = entry.get("statusListCredential")
    # A string of ASCII digits, as the spec says: int() alone would also take "5_0", " 5" and
    # other scripts' digits, which another verifier reads as a different bit (or not at all).
    raw_index = entry.get("statusListIndex")
    if not isinstance(raw_index, str) or not re.fullmatch(r"[0-9]{1,7}", raw_index):
        return _("statusListIndex is not a number")
    index = int(raw_index)
    url = url if isinstance(url, str) else ""  # str() of a deep structure would recurse
    match = re.search(r"/credentials/status/(\d+)/([a-z]+)$", url)
    if purpose not in StatusPurpose.values or not match or match.group(2) != purpose:
        return _("the status list %(url)s is not one of this issuer's") % {"url": url[:200]}
    if not 0 <= index < STATUS_LIST_SIZE:
        return _("statusListIndex is outside the list")
    # The bit as published: the list's own document, rebuilt from the rows if absent.
    row = services.status_list(int(match.group(1)), purpose)
    if row is None:
        return purpose, index, False
    try:
        bits = statuslist.decode(row.document["credentialSubject"]["encodedList"])
        return purpose, index, statuslist.is_set(bits, index)
    except (KeyError, statuslist.StatusListError) as error:
        return str(error)


def verify(document: dict[str, Any], *, now: datetime | None = None) -> Verdict:
    now = now or timezone.now()
    checks: list[Check] = []
    issuer = keys.issuer()
    if not isinstance(document, dict):
        checks.append(Check(_("Format"), False, _("not a JSON object")))
        return Verdict(MALFORMED, checks, None)
    verdict = Verdict(VERIFIED, checks, document)

    raw_issuer = document.get("issuer")
    issuer_id = raw_issuer.get("id") if isinstance(raw_issuer, dict) else raw_issuer
    raw_types = document.get("type")
    types: list[Any] = raw_types if isinstance(raw_types, list) else []
    if "VerifiableCredential" not in types:
        checks.append(Check(_("Format"), False, _("not a W3C Verifiable Credential")))
        verdict.verdict = MALFORMED
        return verdict
    kind = "Open Badges 3.0" if "OpenBadgeCredential" in types else "W3C VC 2.0"
    checks.append(Check(_("Format"), True, kind))
    if issuer_id != issuer.did:
        checks.append(
            Check(
                _("Issuer"),
                False,
                _("%(issuer)s is not this issuer (%(ours)s)")
                % {
                    # str() of a deeply nested value would recurse: only strings are shown
                    "issuer": issuer_id[:200] if isinstance(issuer_id, str) else "?",
                    "ours": issuer.did,
                },
            )
        )
        verdict.verdict = UNKNOWN_ISSUER
        return verdict
    checks.append(Check(_("Issuer"), True, f"{issuer.name} ({issuer.did})"))

    # An inline context can alias terms (or @nest them) so that the JSON reads differently
    # while the signed statements stay the same; Academy's credentials only name contexts.
    context = document.get("@context")
    if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
        checks.append(Check(_("Signature"), False, _("@context must be a list of URLs")))
        verdict.verdict = MALFORMED
        return verdict
    result = signing.verify(document, resolve_key=keys.resolve_key)
    if not result.verified:
        checks.append(Check(_("Signature"), False, result.detail))
        verdict.verdict = {
            signing.TAMPERED: TAMPERED,
            signing.UNKNOWN_KEY: UNKNOWN_KEY,
            signing.MALFORMED: MALFORMED,
        }[result.reason or signing.MALFORMED]
        return verdict
    proof = document.get("proof", {})
    checks.append(
        Check(_("Signature"), True, f"{signing.CRYPTOSUITE}, {proof.get('verificationMethod')}")
    )

    credential_id = str(document.get("id", ""))
    verdict.credential = _ours(credential_id)

    entries = document.get("credentialStatus", [])
    entries = entries if isinstance(entries, list) else [entries]
    revoked = suspended = False
    for entry in entries:
        bit = _status_bit(entry)
        if isinstance(bit, str):
            checks.append(Check(_("Status"), False, bit))
            verdict.verdict = MALFORMED
            return verdict
        purpose, index, is_set = bit
        label = _("Revocation") if purpose == StatusPurpose.REVOCATION else _("Suspension")
        checks.append(
            Check(
                label,
                not is_set,
                (
                    _("set in the status list (index %(index)d)")
                    if is_set
                    else _("not set (index %(index)d)")
                )
                % {"index": index},
            )
        )
        revoked |= is_set and purpose == StatusPurpose.REVOCATION
        suspended |= is_set and purpose == StatusPurpose.SUSPENSION

    valid_from = _when(document.get("validFrom"))
    valid_until = _when(document.get("validUntil")) if "validUntil" in document else None
    if valid_from is None or ("validUntil" in document and valid_until is None):
        checks.append(Check(_("Validity"), False, _("validFrom/validUntil are not dates")))
        verdict.verdict = MALFORMED
        return verdict
    expired = valid_until is not None and valid_until < now
    early = valid_from > now
    window = _("from %(start)s") % {"start": f"{valid_from:%Y-%m-%d}"}
    if valid_until is not None:
        window += " " + _("until %(end)s") % {"end": f"{valid_until:%Y-%m-%d}"}
    checks.append(Check(_("Validity"), not (expired or early), window))

    if revoked:
        verdict.verdict = REVOKED
    elif suspended:
        verdict.verdict = SUSPENDED
    elif expired:
        verdict.verdict = EXPIRED
    elif early:
        verdict.verdict = NOT_YET_VALID
    return verdict


def _ours(credential_id: str) -> Credential | None:
    match = re.search(r"/credentials/([0-9a-f-]{36})/?$", credential_id)
    if not match:
        return None
    return (
        Credential.objects.select_related("user", "run__course", "programme")
        .filter(uuid=match.group(1))
        .first()
    )
