"""Print a new Ed25519 signing key for ACADEMY_CREDENTIAL_KEY (and its public half)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from credentials import signing


class Command(BaseCommand):
    help = "Make a credential signing key: ACADEMY_CREDENTIAL_KEY=<id>:<secret multikey>."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", default=f"key-{timezone.now():%Y%m%d}", help="the key id")

    def handle(self, *args: Any, **options: Any) -> None:
        secret, public = signing.generate_key()
        self.stdout.write(f"ACADEMY_CREDENTIAL_KEY={options['id']}:{secret}")
        self.stderr.write(
            f"public key (for ACADEMY_CREDENTIAL_RETIRED_KEYS once rotated): "
            f"{options['id']}:{public}"
        )
