"""Attack (issue 9, item 4): hidden tests stay hidden, whatever the student's code does.

The student's function reads the source of the hidden test that calls it, through every route
Python and IPython offer (the caller's frame and its code constants, ``inspect``, ``linecache``,
IPython's ``In``/``_ih`` and history manager, ``traceback.extract_stack``, ``gc``), and prints
it encoded (base64, zlib + base64, hex, reversed, rot13, character codes), raises it in an
exception, stashes it in a global that a visible test and a manually graded cell *after* the
hidden test print again. The submission is graded by a real Celery worker in the real sandbox
(root), on PostgreSQL. Then, as the student (and as an institution admin who is not the run's
staff), every page and API answer about the submission is decoded in every one of those
encodings: neither the hidden test's constant nor its unique string may appear. The
instructor still sees every output, and the test checks each route really captured the hidden
source there (so the attack is not vacuous).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import html
import re
import zlib
from decimal import Decimal
from typing import Any

import nbformat
import pytest
from django.conf import settings
from django.test import Client

from academy.celery import app
from notebooks import services
from notebooks.grader import feedback_notebook
from notebooks.grader import grade as grader_grade
from notebooks.grader.release import release
from notebooks.models import Submission, SubmissionStatus
from tests.worker import Worker, wait_for

from .factories import LabFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CONSTANT = "7919313"  # a literal that appears nowhere but in the hidden tests
SENTINEL = "zq-hidden-sentinel-kiwi"  # and a unique string of theirs
SECRETS = {CONSTANT, SENTINEL}
ROUTES = {
    "frame", "inspect", "linecache", "In", "_ih", "history", "stack", "gc",  # in the hidden cell
    "raise",  # an exception message from the hidden cell
    "later",  # a visible test cell after the hidden ones prints what was captured
    "manual",  # so does a manually graded code cell after them
}  # fmt: skip


def _meta(**kw: Any) -> dict:
    return {
        "nbgrader": {"schema_version": 3, "grade": False, "solution": False, "locked": False, **kw}
    }


def source_notebook() -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "### BEGIN SOLUTION\ndef square(x):\n    return x * x\n### END SOLUTION",
            metadata=_meta(solution=True, grade_id="answer"),
        ),
        nbformat.v4.new_code_cell(
            "assert square(3) == 9",
            metadata=_meta(grade=True, locked=True, points=1, grade_id="visible_before"),
        ),
        nbformat.v4.new_code_cell(
            "assert square(2) == 4\n### BEGIN HIDDEN TESTS\n"
            f'assert square({CONSTANT}) == {CONSTANT} ** 2, "{SENTINEL}"\n'
            "### END HIDDEN TESTS",
            metadata=_meta(grade=True, locked=True, points=2, grade_id="hidden_one"),
        ),
        nbformat.v4.new_code_cell(
            f'### BEGIN HIDDEN TESTS\nassert square(11) == 121, "{SENTINEL}"\n### END HIDDEN TESTS',
            metadata=_meta(grade=True, locked=True, points=1, grade_id="hidden_two"),
        ),
        nbformat.v4.new_code_cell(
            "assert square(5) == 25",
            metadata=_meta(grade=True, locked=True, points=1, grade_id="visible_after"),
        ),
        nbformat.v4.new_code_cell(
            "### BEGIN SOLUTION\nprint('because')\n### END SOLUTION",
            metadata=_meta(grade=True, solution=True, points=1, grade_id="explain"),
        ),
    ]
    return nbformat.writes(nb)


# The student's answer: ``square`` is right, and steals its caller's source on every call.
# It never names the constant itself ("79193" + "13"), so only the hidden test can supply it.
ATTACK = r"""
import base64, codecs, gc, inspect, linecache, sys, traceback, zlib

_NEEDLE = "79193" + "13"
_LOOT = []
_ENCODINGS = {
    "b64": lambda s: base64.b64encode(s.encode()).decode(),
    "zlib": lambda s: base64.b64encode(zlib.compress(s.encode())).decode(),
    "hex": lambda s: s.encode().hex(),
    "rev": lambda s: s[::-1],
    "rot13": lambda s: codecs.encode(s, "rot13"),
    "ord": lambda s: repr([ord(c) for c in s]),
}

def _line(text):
    for line in str(text).splitlines():
        if _NEEDLE in line:
            return line.strip()[:90]
    return ""

def _routes(frame):
    ip = get_ipython()
    found = {}
    def route(name, fn):
        try:
            found[name] = _line(fn())
        except Exception:
            found[name] = ""
    route("frame", lambda: repr(frame.f_code.co_consts))
    route("inspect", lambda: inspect.getsource(frame))
    route("linecache", lambda: "".join(linecache.getlines(frame.f_code.co_filename)))
    route("In", lambda: ip.user_ns["In"][-1])
    route("_ih", lambda: ip.user_ns["_ih"][-1])
    route("history", lambda: ip.history_manager.input_hist_raw[-1])
    route("stack", lambda: "\n".join(f.line or "" for f in traceback.extract_stack()))
    route("gc", lambda: "\n".join(s for o in gc.get_objects() if isinstance(o, list)
                                   for s in o if isinstance(s, str) and _NEEDLE in s))
    return found

def square(x):
    if x == 3:
        print("square says hello before the hidden tests")
    names = list(_ENCODINGS)
    for i, (route, text) in enumerate(_routes(sys._getframe(1)).items()):
        if text:
            # each route in two encodings, so that every encoding is used
            for enc in (names[i % len(names)], names[(i + 3) % len(names)]):
                print("LEAK", route, enc, _ENCODINGS[enc](text))
            _LOOT.append(text)
    if x == 11 and _LOOT:
        raise ValueError("LEAK raise b64 " + _ENCODINGS["b64"](_LOOT[0]))
    if x == 5 and _LOOT:
        for enc, fn in _ENCODINGS.items():
            print("LEAK later", enc, fn(_LOOT[0]))
    return x * x
"""

MANUAL_ANSWER = "for enc, fn in _ENCODINGS.items():\n    print('LEAK manual', enc, fn(_LOOT[0]))\n"


def attack_submission(released: str) -> bytes:
    nb = nbformat.reads(released, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "answer":
            cell.source = ATTACK
        elif gid == "explain":
            cell.source = MANUAL_ANSWER
    return nbformat.writes(nb).encode()


# ------------------------------------------------------------------------------ decoding

_B64 = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){6,}")
_ORDS = re.compile(r"\[\s*\d+(?:\s*,\s*\d+){3,}\s*\]")


def _decodings(text: str) -> list[str]:
    """``text`` and everything it may carry under the encodings the attack uses."""
    text = html.unescape(text).replace('\\"', '"')
    out = [text, text[::-1], codecs.encode(text, "rot13")]
    for token in _B64.findall(text):
        for pad in ("", "=", "=="):
            try:
                raw = base64.b64decode(token + pad, validate=True)
            except (binascii.Error, ValueError):
                continue
            out.append(raw.decode("latin-1"))
            with contextlib.suppress(zlib.error):
                out.append(zlib.decompress(raw).decode("latin-1"))
            break
    for token in _HEX.findall(text):
        out.append(bytes.fromhex(token).decode("latin-1"))
    for token in _ORDS.findall(text):
        codes = [int(n) for n in re.findall(r"\d+", token)]
        out.append("".join(chr(c) for c in codes if c < 0x110000))
    return out


def revealed(text: str) -> set[str]:
    """Which hidden test secrets ``text`` carries, in any of the attack's encodings."""
    return {s for s in SECRETS for d in _decodings(text) if s in d}


def routes_that_leaked(text: str) -> set[str]:
    """The attack routes whose printed blob decodes to a hidden test secret."""
    routes = set()
    text = html.unescape(text).replace("\\n", "\n")  # JSON escapes the line ends
    for route, blob in re.findall(r"LEAK (\S+) \S+ (.+)", text):
        if revealed(blob):
            routes.add(route)
    return routes


def test_the_decoder_sees_every_encoding_the_attack_uses():
    line = f'assert square({CONSTANT}) == 1, "{SENTINEL}"'
    encoded = [
        base64.b64encode(line.encode()).decode(),
        base64.b64encode(zlib.compress(line.encode())).decode(),
        line.encode().hex(),
        line[::-1],
        codecs.encode(line, "rot13"),
        repr([ord(c) for c in line]),
    ]
    for blob in encoded:
        assert revealed(f"<pre>LEAK x y {html.escape(blob)}</pre>") == SECRETS, blob
    assert not revealed("nothing to see: 7919 313, zq-hidden")


# --------------------------------------------------------------------------------- tests


@pytest.fixture
def worker_env(tmp_path):  # type: ignore[no-untyped-def]
    # The worker's private root is this test's (the conftest sets NOTEBOOKS_PRIVATE_ROOT under
    # tmp_path; the worker derives it from ACADEMY_VAR_DIR).
    return {"ACADEMY_VAR_DIR": str(tmp_path)}


def _final(pk: int) -> Submission | None:
    sub = Submission.objects.get(pk=pk)
    return sub if sub.is_final else None


def _student_facing(client: Client, sub: Submission, *, owner: bool) -> dict[str, str]:
    """Everything a student can fetch about their submission and its grading (the owner gets
    each; anyone else may also be refused)."""
    urls = [
        f"/submissions/{sub.pk}/",
        f"/submissions/{sub.pk}/status/",
        f"/submissions/{sub.pk}/download/",
        f"/labs/{sub.lab_id}/",
        f"/api/v1/submissions/{sub.pk}/",
        f"/api/v1/submissions/{sub.pk}/feedback/",
        "/api/v1/submissions/",
        f"/api/v1/labs/{sub.lab_id}/",
    ]
    seen = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code in ((200,) if owner else (200, 403, 404)), url
        body = (
            b"".join(response.streaming_content)  # type: ignore[attr-defined]
            if response.streaming
            else response.content
        )
        seen[url] = body.decode("utf-8", "replace")
    return seen


def test_hidden_test_source_never_reaches_the_student_under_any_encoding(course, worker_env):  # type: ignore[no-untyped-def]
    instructor, student = course.people.instructor, course.people.student
    lab = LabFactory(run=course.run, title="Squares")
    services.lab_version_upload(actor=instructor, lab=lab, content=source_notebook().encode())
    services.lab_release(actor=instructor, lab=lab)
    lab.refresh_from_db()
    released = lab.released_version.student.open("rb").read().decode()  # type: ignore[union-attr]
    assert CONSTANT not in released and SENTINEL not in released

    with Worker(extra_env=worker_env) as worker:
        app.conf.task_default_queue = worker.queue
        try:
            sub = services.submission_create(
                actor=student, lab=lab, content=attack_submission(released)
            )
            sub = wait_for(lambda: _final(sub.pk), timeout=120, what="graded")
        finally:
            app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    assert sub.status == SubmissionStatus.NEEDS_MANUAL, sub.reason
    # square() is right: everything passes but hidden_two, where the attack raises.
    scores = {gid: c["score"] for gid, c in sub.latest_run.cells.items()}  # type: ignore[union-attr]
    assert scores == {
        "visible_before": 1,
        "hidden_one": 2,
        "hidden_two": 0,
        "visible_after": 1,
        "explain": None,
    }
    services.manual_grade_save(
        actor=instructor, submission=sub, grade_id="explain", score=Decimal(1), comment="Fine."
    )
    sub.refresh_from_db()
    assert (sub.status, sub.score) == (SubmissionStatus.GRADED, Decimal(5))

    # The instructor sees every output, and every route did capture the hidden source.
    staff = Client()
    staff.force_login(instructor)
    staff_api = staff.get(f"/api/v1/submissions/{sub.pk}/feedback/").content.decode()
    staff_page = staff.get(f"/submissions/{sub.pk}/").content.decode()
    assert routes_that_leaked(staff_api) == ROUTES
    assert routes_that_leaked(staff_page) == ROUTES
    assert revealed(staff_api) == SECRETS

    # The student (and an institution admin, who is not the run's staff) see none of it.
    for viewer in (student, course.people.admin_a):
        client = Client()
        client.force_login(viewer)
        for url, body in _student_facing(client, sub, owner=viewer == student).items():
            if not url.endswith("/download/"):  # the student's own upload has the attack code
                assert "LEAK" not in body, (viewer.username, url)
            assert not revealed(body), (viewer.username, url, revealed(body))

    # ... but the score, a neutral word for the hidden tests, and the outputs of the cells that
    # ran before any hidden test (the student's own code could not have seen them yet).
    client = Client()
    client.force_login(student)
    feedback = client.get(f"/api/v1/submissions/{sub.pk}/feedback/").json()
    cells = {c["grade_id"]: c for c in feedback["cells"]}
    assert feedback["score"] == "5.00"
    assert {gid: c["score"] for gid, c in cells.items()} == {
        "visible_before": "1.00",
        "hidden_one": "2.00",
        "hidden_two": "0.00",
        "visible_after": "1.00",
        "explain": "1.00",
    }
    assert "square says hello before the hidden tests" in cells["visible_before"]["output"]
    assert cells["visible_before"]["withheld"] is False
    assert cells["hidden_two"]["note"] == "A hidden test failed."
    assert cells["hidden_one"]["note"] == "Hidden tests passed."
    for gid in ("hidden_one", "hidden_two", "visible_after", "explain"):
        assert cells[gid]["withheld"] is True and cells[gid]["output"] == "", gid
    assert cells["explain"]["comment"] == "Fine."
    page = client.get(f"/submissions/{sub.pk}/").content.decode()
    assert "A hidden test failed." in page and "square says hello" in page


def test_the_grader_feedback_notebook_carries_no_hidden_test_output():
    """The grader library's student notebook (``feedback_notebook``): hidden code blanked, and
    no output of any cell from the first hidden test on (the real sandbox, as root)."""
    source = source_notebook()
    result = grader_grade(source, attack_submission(release(source)))
    executed = nbformat.writes(result.notebook)
    assert routes_that_leaked(executed) == ROUTES  # the staff copy has it all
    student_nb = feedback_notebook(result)
    student_copy = nbformat.writes(student_nb)
    outputs = nbformat.writes(
        nbformat.v4.new_notebook(cells=[c for c in student_nb.cells if c.get("outputs")])
    )
    assert "LEAK" not in outputs  # (the student's own code says LEAK too: that may stay)
    assert not revealed(student_copy), revealed(student_copy)
    assert "square says hello before the hidden tests" in student_copy
    flags = {gid: (c.hidden, c.withheld) for gid, c in result.cells.items()}
    assert flags == {
        "visible_before": (False, False),
        "hidden_one": (True, True),
        "hidden_two": (True, True),
        "visible_after": (False, True),
        "explain": (False, True),
    }


def test_a_result_stored_before_the_rule_shows_students_no_output():
    """Runs graded before the cells carried a ``withheld`` flag: nothing is shown by default."""
    from notebooks.grading import student_view_of_result

    legacy = {"t": {"score": 1.0, "max_score": 1.0, "kind": "test", "output": "LEAK x"}}
    assert student_view_of_result(legacy)["t"]["output"] == ""
    assert student_view_of_result(legacy)["t"]["note"] == "Output not shown."
    fresh = {
        "before": {"score": 1.0, "max_score": 1.0, "output": "mine", "withheld": False},
        "hid": {"score": 0.5, "max_score": 1.0, "output": "LEAK", "hidden": True, "withheld": True},
    }
    view = student_view_of_result(fresh)
    assert view["before"]["output"] == "mine" and view["before"]["note"] == ""
    assert view["hid"]["output"] == "" and view["hid"]["note"] == "A hidden test failed."
