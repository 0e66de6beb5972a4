"""REST API of the course side (``/api/v1/``).  Querysets come from the selectors, writes go
through the services: the API and the pages enforce the same rules."""

from rest_framework.routers import BaseRouter

from ._common import extra_urls
from .bulk import BulkEnrolmentViewSet
from .catalogue import CourseViewSet
from .content import LessonViewSet, ModuleViewSet
from .enrolments import EnrolmentViewSet
from .runs import CourseRunViewSet

__all__ = ["extra_urls", "register"]


def register(router: BaseRouter) -> None:
    router.register("courses", CourseViewSet, basename="course")
    router.register("runs", CourseRunViewSet, basename="run")
    router.register("enrolments", EnrolmentViewSet, basename="enrolment")
    router.register("modules", ModuleViewSet, basename="module")
    router.register("lessons", LessonViewSet, basename="lesson")
    router.register("bulk-enrolments", BulkEnrolmentViewSet, basename="bulk-enrolment")
