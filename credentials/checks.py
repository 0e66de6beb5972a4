"""System checks: a signing key that cannot sign is found at start, not at the first issue."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from . import keys


@checks.register(checks.Tags.security)
def signing_key(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        keys.issuer()
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="credentials.E001")]
    return []
