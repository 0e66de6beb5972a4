"""A course page shows the published programmes the course counts towards (issue 11, item 8),
through the programmes' template tag: the course side never imports programmes."""

from __future__ import annotations

import pytest

from programmes import services
from programmes.models import Requirement
from programmes.templatetags.programmes_tags import programmes_counting
from tests.factories import CourseFactory, UserFactory

from .conftest import build_foundation

pytestmark = pytest.mark.django_db


def test_the_course_page_links_the_programmes_it_counts_towards(client):
    foundation = build_foundation()
    draft = services.programme_create(
        actor=foundation.operator, code="draft-one", title="Secret draft programme"
    )
    root = Requirement.objects.get(version__programme=draft, parent=None)
    services.requirement_add(actor=foundation.operator, parent=root, course=foundation.gpu)
    client.force_login(UserFactory())
    body = client.get("/courses/GPU101/").content.decode()
    counts = body[body.index('id="counts-towards"') :]
    assert "Counts towards" in body
    assert '<a href="/programmes/ai-foundation/">AI engineer, foundation</a>' in counts
    assert "Secret draft programme" not in body  # drafts count towards nothing yet


def test_the_programme_title_follows_the_language(client):
    foundation = build_foundation()
    foundation.programme.title_sr = "Инжењер вештачке интелигенције"
    foundation.programme.save(update_fields=["title_sr"])
    client.force_login(UserFactory())
    body = client.get("/courses/GPU101/", headers={"accept-language": "sr"}).content.decode()
    assert "Инжењер вештачке интелигенције</a>" in body


def test_a_course_in_no_programme_shows_no_section(client):
    build_foundation()
    CourseFactory(code="SOLO1")
    client.force_login(UserFactory())
    assert 'id="counts-towards"' not in client.get("/courses/SOLO1/").content.decode()


def test_the_tag_is_one_query_whatever_the_number_of_programmes(django_assert_num_queries):
    foundation = build_foundation()
    for n in range(3):
        programme = services.programme_create(
            actor=foundation.operator, code=f"p{n}", title=f"Programme {n}"
        )
        root = Requirement.objects.get(version__programme=programme, parent=None)
        services.requirement_add(actor=foundation.operator, parent=root, course=foundation.gpu)
        services.version_publish(actor=foundation.operator, version=programme.versions.get())
    with django_assert_num_queries(1):
        found = programmes_counting(foundation.gpu)
    assert [p.code for p in found] == ["ai-foundation", "p0", "p1", "p2"]
