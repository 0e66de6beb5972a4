"""Every string on every page is translated in Serbian Cyrillic and Latin, and the catalogues
are current with the code (a new string without a translation fails here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = {
    lang: ROOT / "locale" / lang / "LC_MESSAGES" / "django.po" for lang in ("sr", "sr_Latn")
}


@pytest.mark.parametrize("lang", sorted(CATALOGUES))
def test_every_message_is_translated(lang):
    catalogue = polib.pofile(str(CATALOGUES[lang]))
    missing = [
        e.msgid for e in catalogue if not e.obsolete and (not e.translated() or "fuzzy" in e.flags)
    ]
    assert not missing, f"{len(missing)} untranslated in {lang}: {missing[:20]}"
    assert (CATALOGUES[lang].with_suffix(".mo")).stat().st_mtime >= CATALOGUES[
        lang
    ].stat().st_mtime - 1


def test_latin_is_the_transliteration_of_cyrillic():
    from academy.management.commands.translit_messages import to_latin

    cyr = {e.msgid: e.msgstr for e in polib.pofile(str(CATALOGUES["sr"]))}
    lat = {e.msgid: e.msgstr for e in polib.pofile(str(CATALOGUES["sr_Latn"]))}
    assert cyr.keys() == lat.keys()
    assert all(lat[k] == to_latin(v) for k, v in cyr.items())


def test_the_catalogue_holds_every_string_of_the_code(tmp_path):
    if shutil.which("xgettext") is None:
        pytest.fail("GNU gettext (xgettext) is needed to extract messages: apt-get install gettext")
    for name in (
        "academy",
        "courses",
        "notebooks",
        "programmes",
        "credentials",
        "tracking",
        "templates",
        "manage.py",
    ):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(
                src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
            )
        else:
            shutil.copy(src, tmp_path / name)
    (tmp_path / "locale").mkdir()
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
        "ACADEMY_VAR_DIR": str(tmp_path / "var"),
    }
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "sr", "--no-location"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    extracted = {e.msgid for e in polib.pofile(str(tmp_path / "locale/sr/LC_MESSAGES/django.po"))}
    known = {e.msgid for e in polib.pofile(str(CATALOGUES["sr"])) if not e.obsolete}
    new = sorted(extracted - known)
    assert not new, f"{len(new)} strings are not in locale/sr (run `make messages`): {new[:20]}"
