"""The student side of programmes: the catalogue (with "My programmes"), a programme's page and
joining under each policy, and the map drawn from the computed progress."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from academy.models import Role
from programmes import rules, selectors, services
from programmes.models import (
    Allocation,
    AllocationState,
    Completion,
    JoinPolicy,
    Programme,
    Requirement,
    Rule,
)
from tests.factories import CourseFactory, InstitutionFactory, OperatorFactory, UserFactory, member

from .conftest import Foundation, passed, result

# Progress follows results after commit (on_commit), as in production: real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def join(foundation: Foundation, user=None) -> Allocation:  # type: ignore[no-untyped-def]
    user = user or UserFactory()
    return services.allocation_join(actor=user, programme=foundation.programme)


def node(html: str, requirement: Requirement) -> str:
    """The map's box of one node, up to the next node's box."""
    start = html.index(f'id="node-{requirement.pk}"')
    end = html.find('id="node-', start + 10)
    return html[start : end if end != -1 else len(html)]


def item(foundation: Foundation, course) -> Requirement:  # type: ignore[no-untyped-def]
    return Requirement.objects.get(version__programme=foundation.programme, course=course)


def build_flat(
    code: str, n_items: int, operator=None, *, rule: str = Rule.ALL, count: int = 0
) -> Programme:  # type: ignore[no-untyped-def]
    """A published programme whose root set holds ``n_items`` courses (5 points each)."""
    operator = operator or OperatorFactory()
    programme = services.programme_create(
        actor=operator, code=code, title=f"Programme {code}", ects=Decimal(5 * n_items)
    )
    root = Requirement.objects.get(version__programme=programme, parent=None)
    if rule != Rule.ALL:
        services.requirement_change(actor=operator, requirement=root, rule=rule, count=count)
    for _n in range(n_items):
        services.requirement_add(actor=operator, parent=root, course=CourseFactory(), points=5)
    services.version_publish(actor=operator, version=programme.versions.get())
    return programme


# --- the catalogue ----------------------------------------------------------------------------


def test_anonymous_visitors_see_published_programmes_and_no_drafts(foundation):
    operator = foundation.operator
    services.programme_create(actor=operator, code="secret-draft", title="Not yet")
    response = Client().get(reverse("programme-catalogue"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "AI engineer, foundation" in html
    assert "AI factory" in html  # no owner: the factory itself
    assert "EQF level 5" in html and "20 ECTS" in html
    assert "secret-draft" not in html
    assert 'id="my-programmes"' not in html


def test_the_catalogue_searches_and_filters_by_level_and_sector(foundation):
    owner = InstitutionFactory(name="University of Novi Sad")
    other = services.programme_create(
        actor=foundation.operator, code="gpu-teaching", title="Teaching with GPUs", eqf_level=7
    )
    other.owner, other.sectors, other.status = owner, ["health"], "published"
    other.save()
    url = reverse("programme-catalogue")

    def codes(**params: str) -> list[str]:
        page = Client().get(url, params).context["page"]
        return [p.code for p in page]

    assert codes() == ["ai-foundation", "gpu-teaching"]
    assert codes(q="teaching") == ["gpu-teaching"]
    assert codes(q="AI-FOUND") == ["ai-foundation"]
    assert codes(level="7") == ["gpu-teaching"]
    assert codes(level="9") == ["ai-foundation", "gpu-teaching"]  # out of range: ignored
    assert codes(sector="health") == ["gpu-teaching"]
    assert codes(q="nothing like it") == []
    assert "University of Novi Sad" in Client().get(url, {"q": "teaching"}).content.decode()


def test_a_follower_sees_my_programmes_and_the_mark_on_the_card(foundation):
    allocation = join(foundation)
    passed(allocation.user, foundation.gpu)
    html = signed_in(allocation.user).get(reverse("programme-catalogue")).content.decode()
    mine = html[html.index('id="my-programmes"') : html.index('role="search"')]
    assert "AI engineer, foundation" in mine
    assert "Following" in mine
    assert "1 / 5" in mine and "5 ECTS" in mine
    assert reverse("programme-map", args=["ai-foundation"]) in mine
    card = html[html.index('data-code="ai-foundation"', html.index('id="programmes"')) :]
    assert "You follow it" in card


def test_the_catalogue_paginates_like_the_course_catalogue():
    operator = OperatorFactory()
    for n in range(23):
        Programme.objects.create(code=f"p-{n:02d}", title=f"P {n}", status="published")
    client = signed_in(operator)
    first = client.get(reverse("programme-catalogue"), {"q": "p-"})
    assert len(first.context["page"]) == 20
    assert "page=2" in first.content.decode() and "q=p-" in first.content.decode()
    second = client.get(reverse("programme-catalogue"), {"q": "p-", "page": "2"})
    assert [p.code for p in second.context["page"]] == ["p-20", "p-21", "p-22"]


def test_the_catalogue_query_count_does_not_grow_with_programmes(django_assert_num_queries):
    operator = OperatorFactory()
    student = UserFactory()
    client = signed_in(student)

    def add(n: int) -> None:
        start = Programme.objects.count()
        for i in range(start, start + n):
            programme = build_flat(f"prog-{i}", 1, operator)
            services.allocation_join(actor=student, programme=programme)

    add(2)
    client.get(reverse("programme-catalogue"))  # warm the session
    # session, user, the user's admin institutions (scope), count, page, my allocations,
    # the navigation's roles
    with django_assert_num_queries(7):
        client.get(reverse("programme-catalogue"))
    add(6)
    with django_assert_num_queries(7):
        response = client.get(reverse("programme-catalogue"))
    assert len(response.context["mine"]) == 8


# --- the programme page -------------------------------------------------------------------------


def test_anyone_reads_the_published_tree_in_words(foundation):
    response = Client().get(reverse("programme-detail", args=["ai-foundation"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "All, in order" in html
    assert "At least 2 of 3" in html
    assert "Two electives" in html
    assert reverse("course-detail", args=["MED210"]) in html
    assert "grade 60% or more" in html
    assert "5 points" in html
    assert "Sign in to join" in html


def test_a_set_of_minimum_points_reads_in_words():
    build_flat("points", 3, rule=Rule.MIN_POINTS, count=10)
    html = Client().get(reverse("programme-detail", args=["points"])).content.decode()
    assert "Minimum 10 points" in html


def test_drafts_are_found_only_by_their_managers():
    operator = OperatorFactory()
    institution = InstitutionFactory()
    admin = member(institution, Role.ADMIN)
    services.programme_create(actor=admin, code="draft-one", title="Draft one", owner=institution)
    url = reverse("programme-detail", args=["draft-one"])
    assert Client().get(url).status_code == 404
    assert signed_in(UserFactory()).get(url).status_code == 404
    assert signed_in(member(InstitutionFactory(), Role.ADMIN)).get(url).status_code == 404
    assert signed_in(member(institution, Role.STUDENT)).get(url).status_code == 404
    for manager in (operator, admin):
        response = signed_in(manager).get(url)
        assert response.status_code == 200
        assert "not open to join yet" in response.content.decode()
    assert "draft-one" not in Client().get(reverse("programme-catalogue")).content.decode()
    assert (
        signed_in(UserFactory()).post(reverse("programme-join", args=["draft-one"])).status_code
        == 404
    )


def test_the_join_action_follows_the_policy(foundation):
    programme = foundation.programme
    url = reverse("programme-detail", args=[programme.code])
    client = signed_in(UserFactory())
    assert ">Join</button>" in client.get(url).content.decode()
    programme.join_policy = JoinPolicy.APPROVAL
    programme.save()
    assert "Ask to join" in client.get(url).content.decode()
    programme.join_policy, programme.invite_code = JoinPolicy.INVITE, "GPU-2027"
    programme.save()
    html = client.get(url).content.decode()
    assert 'name="code"' in html and "invite code" in html


# --- joining --------------------------------------------------------------------------------------


def test_joining_an_open_programme_opens_the_map(foundation):
    student = UserFactory()
    client = signed_in(student)
    response = client.post(reverse("programme-join", args=["ai-foundation"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("programme-map", args=["ai-foundation"])
    allocation = Allocation.objects.get(user=student)
    assert allocation.state == AllocationState.ACTIVE
    html = client.get(response["Location"]).content.decode()
    assert "You follow this programme now" in html


def test_a_second_join_is_refused_with_a_clear_message(foundation):
    allocation = join(foundation)
    client = signed_in(allocation.user)
    response = client.post(reverse("programme-join", args=["ai-foundation"]), follow=True)
    assert response.status_code == 200
    assert "already follows this programme" in response.content.decode()
    assert Allocation.objects.filter(user=allocation.user).count() == 1


def test_asking_to_join_waits_for_approval(foundation):
    programme = foundation.programme
    programme.join_policy = JoinPolicy.APPROVAL
    programme.save()
    student = UserFactory()
    client = signed_in(student)
    response = client.post(reverse("programme-join", args=[programme.code]), follow=True)
    html = response.content.decode()
    assert "waiting for approval" in html
    assert "Waiting for approval" in html  # the state on the page
    assert Allocation.objects.get(user=student).state == AllocationState.PENDING
    map_html = client.get(reverse("programme-map", args=[programme.code])).content.decode()
    assert "once your request is approved" in map_html
    assert "Not computed yet" in map_html


def test_a_wrong_invite_code_is_refused_and_the_right_one_joins(foundation):
    programme = foundation.programme
    programme.join_policy, programme.invite_code = JoinPolicy.INVITE, "GPU-2027"
    programme.save()
    student = UserFactory()
    client = signed_in(student)
    url = reverse("programme-join", args=[programme.code])
    response = client.post(url, {"code": "guess"}, follow=True)
    assert "This invite code is not valid." in response.content.decode()
    assert not Allocation.objects.filter(user=student).exists()
    response = client.post(url, {"code": " GPU-2027 "})
    assert response["Location"] == reverse("programme-map", args=[programme.code])
    assert Allocation.objects.get(user=student).source == "invite"


def test_joining_needs_a_signed_in_post_with_the_csrf_token(foundation):
    url = reverse("programme-join", args=["ai-foundation"])
    anonymous = Client().post(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    student = UserFactory()
    assert signed_in(student).get(url).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(student)
    assert strict.post(url).status_code == 403
    assert not Allocation.objects.filter(user=student).exists()


# --- the map ------------------------------------------------------------------------------------


def test_the_map_needs_a_signed_in_follower(foundation):
    url = reverse("programme-map", args=["ai-foundation"])
    response = Client().get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert signed_in(UserFactory()).get(url).status_code == 404
    assert signed_in(foundation.operator).get(url).status_code == 404  # managers: staff pages
    assert signed_in(UserFactory()).get(reverse("programme-map", args=["nope"])).status_code == 404
    allocation = join(foundation)
    assert signed_in(allocation.user).get(url).status_code == 200


def test_a_new_follower_sees_the_first_course_available_and_the_rest_locked(foundation):
    allocation = join(foundation)
    html = (
        signed_in(allocation.user)
        .get(reverse("programme-map", args=["ai-foundation"]))
        .content.decode()
    )
    gpu = node(html, item(foundation, foundation.gpu))
    assert 'data-state="available"' in gpu and "Available" in gpu
    assert reverse("course-detail", args=["GPU101"]) in gpu and "Enrol" in gpu
    electives = node(html, foundation.elective_set)
    assert 'data-state="locked"' in electives and "At least 2 of 3" in electives
    assert "0 of 2 done" in electives
    assert 'data-state="locked"' in node(html, item(foundation, foundation.capstone))
    assert "0 / 5" in html  # courses done
    next_courses = html[html.index('id="next-courses"') : html.index('id="map-title"')]
    assert "GPU101" in next_courses and "MED210" not in next_courses
    assert "Last computed" in html


def test_the_map_shows_the_run_and_grade_that_did_each_item(foundation):
    allocation = join(foundation)
    user = allocation.user
    run = passed(user, foundation.gpu, percent=84)
    med, ene, llm = foundation.electives
    passed(user, med, percent=55)  # under the item's minimum grade 60: does not count
    passed(user, ene, percent=91)
    html = signed_in(user).get(reverse("programme-map", args=["ai-foundation"])).content.decode()
    gpu = node(html, item(foundation, foundation.gpu))
    assert 'data-state="done"' in gpu
    assert run.title in gpu and "grade 84%" in gpu
    assert 'data-state="available"' in node(html, item(foundation, med))
    assert 'data-state="done"' in node(html, item(foundation, ene))
    electives = node(html, foundation.elective_set)
    assert 'data-state="in_progress"' in electives and "1 of 2 done" in electives
    assert "2 / 5" in html
    assert "10" in html[html.index('id="map-credits"') :]


def test_a_completed_map_shows_the_frozen_record_and_the_review_flag(foundation):
    allocation = join(foundation)
    user = allocation.user
    runs = [passed(user, foundation.gpu)]
    runs += [passed(user, course) for course in foundation.electives[:2]]
    capstone = passed(user, foundation.capstone, percent=88)
    runs.append(capstone)
    url = reverse("programme-map", args=["ai-foundation"])
    client = signed_in(user)
    html = client.get(url).content.decode()
    record = html[html.index('id="completion"') : html.index('id="map-title"')]
    assert "Completed on" in record and "version 1" in record and "20 credits" in record
    for run in runs:
        assert run.title in record
    assert "88%" in record
    assert "needs-review" not in record
    # The third elective was never needed: it says so, and is not offered as "next".
    llm = node(html, item(foundation, foundation.electives[2]))
    assert "Not needed" in llm
    # A later grade change flags the record; it never changes by itself.
    result(user, capstone, 40)
    html = client.get(url).content.decode()
    assert "Flagged for review" in html
    assert Completion.objects.get().needs_review
    catalogue = client.get(reverse("programme-catalogue")).content.decode()
    assert "Flagged for review" in catalogue


def test_the_map_selector_gives_rules_progress_and_evidence(foundation):
    allocation = join(foundation)
    run = passed(allocation.user, foundation.gpu, percent=77)
    allocation.refresh_from_db()
    the_map = selectors.programme_map(allocation)
    root = the_map.root
    assert root.rule_text == "All, in order" and root.progress_text == "1 of 3 done"
    gpu, electives, capstone = root.children
    assert (gpu.state, gpu.course.code, gpu.evidence.run_id) == (rules.DONE, "GPU101", run.pk)
    assert gpu.evidence.grade == Decimal("77.00") and gpu.evidence.run_title == run.title
    assert electives.is_set and electives.state == rules.AVAILABLE
    assert [c.course.code for c in the_map.next_items] == ["MED210", "ENE220", "LLM230"]
    assert capstone.state == rules.LOCKED and capstone.evidence is None


def test_minimum_points_progress_reads_as_points():
    programme = build_flat("points", 3, rule=Rule.MIN_POINTS, count=10)
    student = UserFactory()
    allocation = services.allocation_join(actor=student, programme=programme)
    course = Requirement.objects.filter(version__programme=programme, parent__isnull=False)
    passed(student, course.first().course)  # type: ignore[union-attr]
    allocation.refresh_from_db()
    root = selectors.programme_map(allocation).root
    assert root.rule_text == "Minimum 10 points"
    assert root.progress_text == "5 / 10 points"


def test_the_map_query_count_does_not_grow_with_the_tree(django_assert_num_queries):
    operator = OperatorFactory()
    small, large = build_flat("small", 3, operator), build_flat("large", 8, operator)
    student = UserFactory()
    client = signed_in(student)
    for programme in (small, large):
        services.allocation_join(actor=student, programme=programme)
        first = Requirement.objects.filter(version__programme=programme, course__isnull=False)
        passed(student, first.first().course)  # type: ignore[union-attr]
    client.get(reverse("programme-map", args=["small"]))  # warm the session
    counts = []
    for code in ("small", "large"):
        # session, user, admin institutions (scope), programme, allocation (with version and
        # completion), requirements, excluded runs, the six of ``finished_results`` (for the
        # evidence), run titles, the navigation's roles
        with django_assert_num_queries(15) as captured:
            response = client.get(reverse("programme-map", args=[code]))
        assert response.status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


def test_the_map_partial_renders_on_its_own_for_staff_pages(foundation):
    """Staff's per-person page includes ``programmes/_map.html`` with ``map``: it needs nothing
    else, and words its links for staff."""
    from django.template.loader import render_to_string

    allocation = join(foundation)
    allocation.refresh_from_db()
    html = render_to_string("programmes/_map.html", {"map": selectors.programme_map(allocation)})
    assert f'id="node-{item(foundation, foundation.gpu).pk}"' in html
    assert "Course page" in html and ">Enrol<" not in html


def test_a_retired_programme_leaves_the_catalogue_but_its_followers_keep_their_map(foundation):
    allocation = join(foundation)
    programme = foundation.programme
    programme.status = "retired"
    programme.save()
    detail = reverse("programme-detail", args=[programme.code])
    assert Client().get(detail).status_code == 404
    assert signed_in(UserFactory()).get(detail).status_code == 404
    follower = signed_in(allocation.user)
    assert follower.get(detail).status_code == 200
    assert follower.get(reverse("programme-map", args=[programme.code])).status_code == 200
    catalogue = follower.get(reverse("programme-catalogue")).content.decode()
    assert 'id="my-programmes"' in catalogue
    assert f'data-code="{programme.code}"' not in catalogue[catalogue.index('id="programmes"') :]
    html = signed_in(foundation.operator).get(detail).content.decode()
    assert "it takes no new people" in html
