"""Register (or update) JupyterHub as an OAuth2 client of Academy, idempotently.

The hub is a first-party client: it skips the consent screen. So this command never adopts an
application that someone registered under the same ``client_id`` (an owner could add a redirect of
their own and receive codes for other people): it refuses, or with ``--repair`` takes the
application over, drops its other redirects and revokes every grant and token it was issued.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from academy.audit import audit


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
        parser.add_argument(
            "--repair",
            action="store_true",
            help="Take over an application of that client id owned by a person: clear its "
            "owner, keep only this redirect, revoke every grant and token it was issued.",
        )

    @transaction.atomic
    def handle(
        self,
        *args,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        name: str,
        repair: bool = False,
        **options,
    ):  # type: ignore[no-untyped-def]
        if len(client_secret) < 32:
            raise CommandError("The client secret must have at least 32 characters.")
        Application = get_application_model()
        app = Application.objects.select_for_update().filter(client_id=client_id).first()
        created = app is None
        if app is None:
            app = Application(
                client_id=client_id,
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            )
        elif app.user_id is not None:
            owner = app.user
            if not repair:
                raise CommandError(
                    f"The OAuth2 application {client_id!r} is owned by {owner} "
                    f"({owner.username}), not by Academy: it may have been planted to receive "
                    "other people's codes. Inspect it in the admin, or run again with --repair "
                    "to take it over and revoke everything it was issued."
                )
            revoked = _revoke_everything(app)
            audit(
                None,
                "oauth.client_repaired",
                app,
                client_id=client_id,
                former_owner=owner.username,
                revoked=revoked,
            )
            self.stdout.write(
                f"Took over {client_id} from {owner.username}; revoked "
                + ", ".join(f"{n} {kind}" for kind, n in revoked.items())
            )
            app.user = None
        if app.client_type != Application.CLIENT_CONFIDENTIAL or (
            app.authorization_grant_type != Application.GRANT_AUTHORIZATION_CODE
        ):
            raise CommandError(
                f"The OAuth2 application {client_id!r} is not a confidential authorization-code "
                "client; remove it in the admin first."
            )
        app.name = name
        app.redirect_uris = redirect_uri
        app.post_logout_redirect_uris = ""
        app.allowed_origins = ""
        app.client_secret = client_secret
        # first-party: no consent screen between Academy and its hub
        app.skip_authorization = True
        app.save()
        self.stdout.write(
            f"{'Created' if created else 'Updated'} OAuth2 client {client_id} -> {redirect_uri}"
        )


def _revoke_everything(app) -> dict[str, int]:  # type: ignore[no-untyped-def]
    counts = {}
    for kind, model in (
        ("grants", get_grant_model()),
        ("refresh tokens", get_refresh_token_model()),
        ("access tokens", get_access_token_model()),
        ("ID tokens", get_id_token_model()),
    ):
        counts[kind], _ = model.objects.filter(application=app).delete()
    return counts
