from django.apps import AppConfig


class NotebooksConfig(AppConfig):
    name = "notebooks"
    verbose_name = "Notebook labs"

    def ready(self) -> None:
        # Django's place to connect receivers: the models are loaded only now.
        from . import receivers  # noqa: F401
