"""Register (or update) JupyterHub as an OAuth2 client of Academy, idempotently."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from oauth2_provider.models import get_application_model


class Command(BaseCommand):
    help = "Create or update the OAuth2 application JupyterHub logs in through."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--client-secret", required=True)
        parser.add_argument(
            "--redirect-uri",
            required=True,
            help="The hub's callback, e.g. https://hub.example.org/hub/oauth_callback",
        )
        parser.add_argument("--name", default="JupyterHub")

    def handle(
        self, *args, client_id: str, client_secret: str, redirect_uri: str, name: str, **options
    ):  # type: ignore[no-untyped-def]
        if len(client_secret) < 32:
            raise CommandError("The client secret must have at least 32 characters.")
        Application = get_application_model()
        app, created = Application.objects.get_or_create(
            client_id=client_id,
            defaults={
                "name": name,
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                # first-party: no consent screen between Academy and its hub
                "skip_authorization": True,
            },
        )
        app.name = name
        app.redirect_uris = redirect_uri
        app.client_secret = client_secret
        app.skip_authorization = True
        app.save()
        self.stdout.write(
            f"{'Created' if created else 'Updated'} OAuth2 client {client_id} -> {redirect_uri}"
        )
