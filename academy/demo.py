"""Demo data: idempotent, safe to run on every `make run`."""

from __future__ import annotations

from django.db import transaction

from .models import Cohort, Institution, Invitation, Membership, Role, User

DEMO_PASSWORD = "academy-demo"  # noqa: S105 - demo accounts of a development instance
DEMO_ACCOUNTS = [
    ("student", "student (University of Belgrade, AI 2026)"),
    ("instructor", "instructor (University of Belgrade)"),
    ("uniadmin", "institution admin (University of Belgrade)"),
    ("operator", "platform operator"),
]

INSTITUTIONS = [
    ("University of Belgrade", "ubg", Institution.Kind.UNIVERSITY),
    ("University of Novi Sad", "uns", Institution.Kind.UNIVERSITY),
    ("Public Administration Agency", "paa", Institution.Kind.PUBLIC_BODY),
]
COHORTS = [
    ("ubg", "AI Engineering 2026", "MSc AI Engineering", 2026),
    ("ubg", "Faculty upskilling 2026", "Staff training", 2026),
    ("uns", "Data Science 2026", "MSc Data Science", 2026),
    ("paa", "Digital government 2026", "Civil service AI literacy", 2026),
]
PEOPLE = [
    # username, first, last, institution, role, cohort
    ("student", "Ana", "Petrović", "ubg", Role.STUDENT, "AI Engineering 2026"),
    ("marko", "Marko", "Jovanović", "ubg", Role.STUDENT, "AI Engineering 2026"),
    ("jelena", "Jelena", "Nikolić", "ubg", Role.STUDENT, "Faculty upskilling 2026"),
    ("nikola", "Nikola", "Ilić", "uns", Role.STUDENT, "Data Science 2026"),
    ("milica", "Milica", "Đorđević", "paa", Role.STUDENT, "Digital government 2026"),
    ("instructor", "Dragan", "Marković", "ubg", Role.INSTRUCTOR, None),
    ("uniadmin", "Vesna", "Stojanović", "ubg", Role.ADMIN, None),
    ("unsadmin", "Goran", "Pavlović", "uns", Role.ADMIN, None),
]


def _user(username: str, first: str, last: str, **extra: object) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={
            "email": f"{username}@academy.example",
            "first_name": first,
            "last_name": last,
            **extra,
        },
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def seed_people() -> dict[str, User]:
    institutions = {
        slug: Institution.objects.get_or_create(slug=slug, defaults={"name": name, "kind": kind})[0]
        for name, slug, kind in INSTITUTIONS
    }
    cohorts = {
        name: Cohort.objects.get_or_create(
            institution=institutions[slug],
            name=name,
            defaults={"programme": programme, "intake_year": year},
        )[0]
        for slug, name, programme, year in COHORTS
    }
    users = {"operator": _user("operator", "Olga", "Operator", is_staff=True, is_superuser=True)}
    for username, first, last, slug, role, cohort in PEOPLE:
        user = _user(username, first, last)
        Membership.objects.get_or_create(
            user=user, institution=institutions[slug], defaults={"role": role}
        )
        if cohort:
            cohorts[cohort].members.add(user)
        users[username] = user
    # Memberships above are the platform's own seed.  An admin never adds an existing account:
    # they invite it, and the person accepts or declines (the student sees this one on the
    # Institutions page).  Created once; an answered invitation is not sent again.
    Invitation.objects.get_or_create(
        email=users["student"].email,
        institution=institutions["uns"],
        defaults={"role": Role.STUDENT, "invited_by": users["unsadmin"]},
    )
    return users
