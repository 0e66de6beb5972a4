"""REST API of programmes (``/api/v1/``): querysets from the selectors, writes through the
services, as the pages."""

from rest_framework.routers import BaseRouter

from . import outcomes, programmes


def register(router: BaseRouter) -> None:
    programmes.register(router)
    outcomes.register(router)
