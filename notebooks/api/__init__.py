"""REST API of the labs side: ``register(router)`` adds its viewsets under /api/v1/.

Querysets come from the selectors (scoped to the user: others' objects are 404); writes go
through the services, so the API and the pages enforce the same rules.  Input and output
serializers are separate where the shapes differ."""

from rest_framework.routers import BaseRouter

from .gradebook import extra_urls
from .labs import LabViewSet
from .submissions import SubmissionViewSet

__all__ = ["extra_urls", "register"]


def register(router: BaseRouter) -> None:
    router.register("labs", LabViewSet, basename="lab")
    router.register("submissions", SubmissionViewSet, basename="submission")
