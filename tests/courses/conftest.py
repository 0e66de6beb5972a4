import pytest

from academy.celery import app


@pytest.fixture(autouse=True)
def _eager_celery():  # type: ignore[no-untyped-def]
    """Run tasks inline, so e-mails land in the locmem outbox."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
