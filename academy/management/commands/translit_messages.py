"""Derive Serbian Latin (sr_Latn) from Serbian Cyrillic (sr) catalogues and compile both.

Cyrillic to Latin is a one-to-one mapping (Latin to Cyrillic is not: "nj" may be two letters),
so translators write Cyrillic only.  Compiling uses polib, so no GNU gettext is needed to build.
"""

from __future__ import annotations

from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand

CYR = "абвгдђежзијклљмнњопрстћуфхцчџшАБВГДЂЕЖЗИЈКЛЉМНЊОПРСТЋУФХЦЧЏШ"
LAT = [
    "a",
    "b",
    "v",
    "g",
    "d",
    "đ",
    "e",
    "ž",
    "z",
    "i",
    "j",
    "k",
    "l",
    "lj",
    "m",
    "n",
    "nj",
    "o",
    "p",
    "r",
    "s",
    "t",
    "ć",
    "u",
    "f",
    "h",
    "c",
    "č",
    "dž",
    "š",
    "A",
    "B",
    "V",
    "G",
    "D",
    "Đ",
    "E",
    "Ž",
    "Z",
    "I",
    "J",
    "K",
    "L",
    "Lj",
    "M",
    "N",
    "Nj",
    "O",
    "P",
    "R",
    "S",
    "T",
    "Ć",
    "U",
    "F",
    "H",
    "C",
    "Č",
    "Dž",
    "Š",
]
TABLE = {ord(c): latin for c, latin in zip(CYR, LAT, strict=True)}


def to_latin(text: str) -> str:
    """Transliterate, leaving placeholders such as %(name)s and {{ x }} untouched (they are
    ASCII, so the table never touches them)."""
    return text.translate(TABLE)


class Command(BaseCommand):
    help = "Write locale/sr_Latn from locale/sr and compile both catalogues (.mo)."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        locale = Path(settings.LOCALE_PATHS[0])
        for domain in ("django", "djangojs"):
            source = locale / "sr" / "LC_MESSAGES" / f"{domain}.po"
            if not source.exists():
                continue
            cyr = polib.pofile(str(source))
            lat = polib.POFile()
            lat.metadata = {**cyr.metadata, "Language": "sr_Latn"}
            for entry in cyr:
                if entry.obsolete:
                    continue
                new = polib.POEntry(
                    msgid=entry.msgid,
                    msgid_plural=entry.msgid_plural,
                    msgstr=to_latin(entry.msgstr),
                    msgctxt=entry.msgctxt,
                    occurrences=entry.occurrences,
                    flags=list(entry.flags),
                )
                if entry.msgid_plural:
                    new.msgstr_plural = {k: to_latin(v) for k, v in entry.msgstr_plural.items()}
                lat.append(new)
            target = locale / "sr_Latn" / "LC_MESSAGES" / f"{domain}.po"
            target.parent.mkdir(parents=True, exist_ok=True)
            lat.save(str(target))
            cyr.save_as_mofile(str(source.with_suffix(".mo")))
            lat.save_as_mofile(str(target.with_suffix(".mo")))
            self.stdout.write(f"{domain}: {len(cyr)} messages -> sr, sr_Latn")
