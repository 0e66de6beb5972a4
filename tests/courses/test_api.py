import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from courses import services
from tests.factories import CourseFactory, CourseRunFactory, CourseStaffFactory, LessonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():  # type: ignore[no-untyped-def]
    return APIClient()


def test_catalogue_api_filters(api, people):
    CourseFactory(code="HLT1", sectors=["health"])
    CourseFactory(code="ENR1", sectors=["energy"])
    CourseFactory(code="DRF1", is_published=False)
    api.force_authenticate(people.student)
    codes = [c["code"] for c in api.get("/api/v1/courses/?sector=health").json()["results"]]
    assert codes == ["HLT1"]
    assert api.get("/api/v1/courses/DRF1/").status_code == 404
    api.force_authenticate(people.operator)
    assert api.get("/api/v1/courses/DRF1/").status_code == 200


def test_enrol_withdraw_and_errors_are_400_not_500(api, people):
    run = CourseRunFactory(capacity=1, policy="invite")
    api.force_authenticate(people.student)
    response = api.post(f"/api/v1/runs/{run.pk}/enrol/", {"invite_code": "nope"}, format="json")
    assert response.status_code == 400 and "invite_code" in response.json()
    response = api.post(f"/api/v1/runs/{run.pk}/enrol/", {"invite_code": ["x"] * 3}, format="json")
    assert response.status_code == 400
    run.policy = "open"
    run.save()
    response = api.post(f"/api/v1/runs/{run.pk}/enrol/", {}, format="json")
    assert response.status_code == 201 and response.json()["state"] == "active"
    assert api.post(f"/api/v1/runs/{run.pk}/enrol/").status_code == 400
    api.force_authenticate(people.student_b)
    assert api.post(f"/api/v1/runs/{run.pk}/enrol/").json()["state"] == "waitlisted"
    api.force_authenticate(people.student)
    assert api.post(f"/api/v1/runs/{run.pk}/withdraw/").json()["state"] == "withdrawn"
    api.force_authenticate(people.student_b)
    mine = api.get("/api/v1/enrolments/").json()["results"]
    assert [(e["user"], e["state"]) for e in mine] == [("studentb", "active")]


def test_staff_actions_and_roster(api, people):
    run = CourseRunFactory(policy="approval")
    CourseStaffFactory(run=run, user=people.instructor)
    e = services.enrolment_request(run=run, user=people.student)
    api.force_authenticate(people.student_b)
    assert api.get(f"/api/v1/runs/{run.pk}/roster/").status_code == 403
    assert api.post(f"/api/v1/enrolments/{e.pk}/approve/").status_code == 404  # not visible
    api.force_authenticate(people.instructor)
    roster = api.get(f"/api/v1/runs/{run.pk}/roster/?state=pending").json()
    assert [r["user"] for r in roster["results"]] == ["student"]
    assert api.post(f"/api/v1/enrolments/{e.pk}/approve/").json()["state"] == "active"
    assert api.post(f"/api/v1/enrolments/{e.pk}/approve/").status_code == 400
    response = api.post(f"/api/v1/enrolments/{e.pk}/remove/", {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()
    response = api.post(f"/api/v1/enrolments/{e.pk}/remove/", {"reason": "Duplicate account"})
    assert response.json()["state"] == "withdrawn"


def test_lesson_completion_api(api, people):
    lesson = LessonFactory()
    api.force_authenticate(people.student)
    assert api.get(f"/api/v1/lessons/{lesson.pk}/").status_code == 404
    services.enrolment_request(run=lesson.module.run, user=people.student)
    assert 'class="codehilite"' in api.get(f"/api/v1/lessons/{lesson.pk}/").json()["body_html"]
    assert api.post(f"/api/v1/lessons/{lesson.pk}/complete/").json() == {"done": True}
    assert api.delete(f"/api/v1/lessons/{lesson.pk}/complete/").json() == {"done": False}


def test_bulk_enrolment_api(api, people):
    run = CourseRunFactory()
    csv = b"email,first_name,last_name,cohort\nstudentb@example.org,S,B,\nbad,,,\n"
    api.force_authenticate(people.admin_b)
    response = api.post(
        "/api/v1/bulk-enrolments/",
        {"institution": "uni-a", "run": run.pk, "file": SimpleUploadedFile("a.csv", csv)},
    )
    assert response.status_code == 400 and "institution" in response.json()
    response = api.post(
        "/api/v1/bulk-enrolments/",
        {"institution": "uni-b", "run": run.pk, "file": SimpleUploadedFile("a.csv", b"\x00\x01")},
    )
    assert response.status_code == 400 and "binary" in str(response.json())
    response = api.post(
        "/api/v1/bulk-enrolments/",
        {"institution": "uni-b", "run": run.pk, "file": SimpleUploadedFile("a.csv", csv)},
    )
    assert response.status_code == 201
    preview = response.json()
    # studentb is a member of uni-b (accepted): enrolled at once.
    assert [ln["outcome"] for ln in preview["lines"]] == ["enrol", "bad_email"]
    assert preview["overrides"] == []  # an open run, enrolment window open
    applied = api.post(f"/api/v1/bulk-enrolments/{preview['id']}/apply/").json()
    assert applied["counts"] == {"enrol": 1, "bad_email": 1}
    again = api.post(f"/api/v1/bulk-enrolments/{preview['id']}/apply/").json()
    assert again["counts"] == {"already_enrolled": 1, "bad_email": 1}
    api.force_authenticate(people.admin_a)
    assert api.get(f"/api/v1/bulk-enrolments/{preview['id']}/").status_code == 404


def test_schema_includes_the_course_api(api, people):
    api.force_authenticate(people.student)
    schema = api.get("/api/v1/schema/").content.decode()
    for path in (
        "/api/v1/runs/{id}/enrol/",
        "/api/v1/enrolments/{id}/approve/",
        "/api/v1/bulk-enrolments/{id}/apply/",
        "/api/v1/runs/{id}/roster/",
        "/api/v1/modules/{id}/move/",
        "/api/v1/lessons/{id}/move/",
    ):
        assert path in schema


def test_content_authoring_api(api, people):
    run = CourseRunFactory()
    CourseStaffFactory(run=run, user=people.instructor)
    api.force_authenticate(people.instructor)
    first = api.post("/api/v1/modules/", {"run": run.pk, "title": "Basics"}, format="json")
    assert first.status_code == 201, first.content
    second = api.post("/api/v1/modules/", {"run": run.pk, "title": "Scaling"}, format="json")
    assert [second.json()["position"], first.json()["position"]] == [1, 0]
    bad = api.post("/api/v1/modules/", {"run": run.pk, "title": " "}, format="json")
    assert bad.status_code == 400 and "title" in bad.json()
    assert api.post("/api/v1/modules/", {"run": "x"}, format="json").status_code == 400

    lesson = api.post(
        "/api/v1/lessons/",
        {"module": first.json()["id"], "title": "Tensors", "body": "`x`"},
        format="json",
    )
    assert lesson.status_code == 201, lesson.content
    lesson_id = lesson.json()["id"]
    moved = api.patch(
        f"/api/v1/lessons/{lesson_id}/", {"module": second.json()["id"]}, format="json"
    )
    assert moved.status_code == 200 and moved.json()["module"] == second.json()["id"]
    assert (
        api.post(
            f"/api/v1/modules/{second.json()['id']}/move/", {"direction": "up"}, format="json"
        ).json()["position"]
        == 0
    )
    assert (
        api.post(
            f"/api/v1/modules/{second.json()['id']}/move/", {"direction": "sideways"}, format="json"
        ).status_code
        == 400
    )
    listed = api.get(f"/api/v1/modules/?run={run.pk}").json()["results"]
    assert [(m["title"], m["lessons"]) for m in listed] == [
        ("Scaling", [lesson_id]),
        ("Basics", []),
    ]

    # A student with a seat reads but may not write; others do not see the content at all.
    services.enrolment_request(run=run, user=people.student)
    api.force_authenticate(people.student)
    assert api.get(f"/api/v1/modules/?run={run.pk}").json()["count"] == 2
    assert api.get(f"/api/v1/lessons/{lesson_id}/").json()["title"] == "Tensors"
    assert (
        api.patch(f"/api/v1/lessons/{lesson_id}/", {"title": "X"}, format="json").status_code == 403
    )
    assert (
        api.post("/api/v1/modules/", {"run": run.pk, "title": "Mine"}, format="json").status_code
        == 403
    )
    api.force_authenticate(people.student_b)
    assert api.get(f"/api/v1/modules/?run={run.pk}").json()["count"] == 0
    assert api.delete(f"/api/v1/lessons/{lesson_id}/").status_code == 404
    assert (
        api.post("/api/v1/modules/", {"run": run.pk, "title": "Mine"}, format="json").status_code
        == 404
    )

    api.force_authenticate(people.instructor)
    assert api.delete(f"/api/v1/modules/{second.json()['id']}/").status_code == 204
    assert api.get(f"/api/v1/lessons/{lesson_id}/").status_code == 404


def test_seats_and_invite_codes_api(api, people):
    run = CourseRunFactory(capacity=1, policy="invite")
    CourseStaffFactory(run=run, user=people.instructor)
    api.force_authenticate(people.student)
    assert api.get(f"/api/v1/runs/{run.pk}/invite-codes/").status_code == 403
    assert (
        api.post(f"/api/v1/runs/{run.pk}/capacity/", {"capacity": 9}, format="json").status_code
        == 403
    )

    api.force_authenticate(people.instructor)
    created = api.post(
        f"/api/v1/runs/{run.pk}/invite-codes/", {"code": "", "max_uses": 2}, format="json"
    )
    assert created.status_code == 201, created.content
    code = created.json()["code"]
    assert len(code) >= 8 and created.json()["is_active"] is True
    for bad in ({"max_uses": 0}, {"expires_at": "2001-01-01T00:00:00Z"}, {"code": code}):
        response = api.post(f"/api/v1/runs/{run.pk}/invite-codes/", bad, format="json")
        assert response.status_code == 400, (bad, response.content)

    api.force_authenticate(people.student)
    assert (
        api.post(f"/api/v1/runs/{run.pk}/enrol/", {"invite_code": code}, format="json").json()[
            "state"
        ]
        == "active"
    )
    api.force_authenticate(people.student_b)
    assert (
        api.post(f"/api/v1/runs/{run.pk}/enrol/", {"invite_code": code}, format="json").json()[
            "state"
        ]
        == "waitlisted"
    )

    api.force_authenticate(people.instructor)
    for bad in ({"capacity": -1}, {"capacity": "many"}, {}):
        response = api.post(f"/api/v1/runs/{run.pk}/capacity/", bad, format="json")
        assert response.status_code == 400, bad
    response = api.post(f"/api/v1/runs/{run.pk}/capacity/", {"capacity": None}, format="json")
    assert response.status_code == 200
    assert run.enrolments.get(user=people.student_b).state == "active"

    invite_id = created.json()["id"]
    off = api.post(f"/api/v1/runs/{run.pk}/invite-codes/{invite_id}/deactivate/")
    assert off.status_code == 200 and off.json()["is_active"] is False
    listed = api.get(f"/api/v1/runs/{run.pk}/invite-codes/").json()
    assert [(c["code"], c["uses"], c["is_active"]) for c in listed] == [(code, 2, False)]
    other = CourseRunFactory()
    assert api.post(
        f"/api/v1/runs/{other.pk}/invite-codes/{invite_id}/deactivate/"
    ).status_code in (403, 404)


def test_grading_policy_api(api, people):
    run = CourseRunFactory()
    CourseStaffFactory(run=run, user=people.instructor)
    url = f"/api/v1/runs/{run.pk}/grading-policy/"
    policy = {
        "pass_mark": "60",
        "categories": [
            {"name": "Labs", "weight": "70", "drop_lowest": 1},
            {"name": "Exam", "weight": 30},
        ],
    }
    api.force_authenticate(people.student)
    assert api.put(url, policy, format="json").status_code == 403

    api.force_authenticate(people.instructor)
    response = api.put(url, policy, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["pass_mark"] == "60.00"
    by_name = {c["name"]: c for c in body["categories"]}
    assert by_name["Labs"]["drop_lowest"] == 1 and by_name["Exam"]["weight"] == "30.00"

    for bad in (
        {"pass_mark": "101", "categories": []},
        {"pass_mark": "50", "categories": [{"name": "", "weight": 1}]},
        {"pass_mark": "50", "categories": [{"name": "A", "weight": 1}, {"name": "A", "weight": 2}]},
        {"pass_mark": "50", "categories": [{"id": 999999, "name": "A", "weight": 1}]},
        {"pass_mark": "50", "categories": "Labs"},
        [],
    ):
        response = api.put(url, bad, format="json")
        assert response.status_code == 400, (bad, response.content)
    assert run.categories.count() == 2

    exam = by_name["Exam"]["id"]
    response = api.put(
        url,
        {
            "pass_mark": "50",
            "categories": [{"id": exam, "name": "Exam", "weight": 30, "delete": True}],
        },
        format="json",
    )
    assert response.status_code == 200
    assert [c["name"] for c in response.json()["categories"]] == ["Labs"]
