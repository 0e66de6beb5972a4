from django.core.management.base import BaseCommand

from academy.demo import seed_people


class Command(BaseCommand):
    help = (
        "Create the demo data (idempotent): institutions, cohorts, people, courses, labs, "
        "programmes, credentials and tracking."
    )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        users = seed_people()
        for app in ("courses", "notebooks", "programmes", "credentials", "tracking"):
            module = __import__(f"{app}.demo", fromlist=["seed"])
            module.seed(users)
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
