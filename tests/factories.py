"""factory_boy factories shared by the whole suite."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from academy.models import Cohort, Institution, Membership, Role, User

PASSWORD = "correct-horse-battery-staple"
# A valid 1x1 PNG, for uploads.
TINY_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password(PASSWORD)


class OperatorFactory(UserFactory):
    is_staff = True
    is_superuser = True


class InstitutionFactory(DjangoModelFactory):
    class Meta:
        model = Institution

    name = factory.Sequence(lambda n: f"University {n}")
    slug = factory.Sequence(lambda n: f"uni-{n}")
    kind = Institution.Kind.UNIVERSITY


class CohortFactory(DjangoModelFactory):
    class Meta:
        model = Cohort

    institution = factory.SubFactory(InstitutionFactory)
    name = factory.Sequence(lambda n: f"Cohort {n}")
    programme = "AI engineering"
    intake_year = 2026


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    institution = factory.SubFactory(InstitutionFactory)
    role = Role.STUDENT


def member(institution: Institution, role: str = Role.STUDENT, **kwargs) -> User:  # type: ignore[no-untyped-def]
    user = UserFactory(**kwargs)
    Membership.objects.create(user=user, institution=institution, role=role)
    return user


# --- courses ----------------------------------------------------------------------------------


class CourseFactory(DjangoModelFactory):
    class Meta:
        model = "courses.Course"

    code = factory.Sequence(lambda n: f"AI{n:04d}")
    title = factory.Sequence(lambda n: f"Deep learning on GPUs {n}")
    summary = "Train models on the AI factory."
    description = "# Welcome\n\nSome **Markdown**."
    language = "en"
    level = "introductory"
    sectors = factory.LazyFunction(lambda: ["research"])
    is_published = True


class CourseRunFactory(DjangoModelFactory):
    """A run whose enrolment window is open now, starting in two weeks."""

    class Meta:
        model = "courses.CourseRun"

    course = factory.SubFactory(CourseFactory)
    title = factory.Sequence(lambda n: f"Intake {n}")
    enrolment_opens_at = factory.LazyFunction(lambda: _now() - _days(7))
    enrolment_closes_at = factory.LazyFunction(lambda: _now() + _days(7))
    starts_at = factory.LazyFunction(lambda: _now() + _days(14))
    ends_at = factory.LazyFunction(lambda: _now() + _days(60))
    capacity = 20
    policy = "open"


class CourseStaffFactory(DjangoModelFactory):
    class Meta:
        model = "courses.CourseStaff"

    run = factory.SubFactory(CourseRunFactory)
    user = factory.SubFactory(UserFactory)
    role = "instructor"


class EnrolmentFactory(DjangoModelFactory):
    """A raw enrolment row (no capacity accounting): for read tests; writes use the services."""

    class Meta:
        model = "courses.Enrolment"

    run = factory.SubFactory(CourseRunFactory)
    user = factory.SubFactory(UserFactory)
    state = "active"


class ModuleFactory(DjangoModelFactory):
    class Meta:
        model = "courses.Module"

    run = factory.SubFactory(CourseRunFactory)
    title = factory.Sequence(lambda n: f"Module {n}")
    position = factory.Sequence(lambda n: n)


class LessonFactory(DjangoModelFactory):
    class Meta:
        model = "courses.Lesson"

    module = factory.SubFactory(ModuleFactory)
    title = factory.Sequence(lambda n: f"Lesson {n}")
    body = "Run this:\n\n```python\nimport torch\nprint(torch.cuda.is_available())\n```\n"
    position = factory.Sequence(lambda n: n)


def _now():  # type: ignore[no-untyped-def]
    from django.utils import timezone

    return timezone.now()


def _days(n: int):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(days=n)
