from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"

    def ready(self) -> None:
        # Django's place to connect receivers: the models are loaded only now.
        from . import receivers  # noqa: F401
