"""One URL name, one page: a name shared by a page and an API route made {% url %} send the
Institutions link of the navigation (and the institution list's links) to the REST API."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver, reverse


def _routes(patterns: list, prefix: str = "", ns: str = "") -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for p in patterns:
        if isinstance(p, URLResolver):
            inner = f"{ns}{p.namespace}:" if p.namespace else ns
            for name, routes in _routes(p.url_patterns, prefix + str(p.pattern), inner).items():
                found.setdefault(name, set()).update(routes)
        elif isinstance(p, URLPattern) and p.name:
            route = prefix + str(p.pattern)
            if "format" not in route:  # DRF's .json/.api variants of the same route
                found.setdefault(ns + p.name, set()).add(route)
    return found


def test_no_url_name_names_two_routes():
    shared = {n: r for n, r in _routes(get_resolver().url_patterns).items() if len(r) > 1}
    assert not shared, shared


def test_page_names_reverse_to_pages():
    assert reverse("institution-list") == "/institutions/"
    assert reverse("institution-detail", args=["ubg"]) == "/institutions/ubg/"
    assert reverse("api:institution-list") == "/api/v1/institutions/"
    assert reverse("api:api-docs") == "/api/v1/docs/"
