from django.apps import AppConfig


class CoursesConfig(AppConfig):
    name = "courses"

    def ready(self) -> None:
        # Django's place to connect receivers: the models are loaded only now.
        from . import receivers  # noqa: F401
