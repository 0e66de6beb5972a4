from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "credentials"

    def ready(self) -> None:
        # Django's place to connect receivers: the models are loaded only now.
        from . import checks, receivers  # noqa: F401
