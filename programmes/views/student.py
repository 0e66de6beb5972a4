"""Pages of the student side: the catalogue (with "My programmes"), a programme's page with
joining under its policy, and the person's map of their progress."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from academy.models import User
from academy.selectors import admin_institution_ids
from academy.typing import AuthedRequest
from courses.models import Sector

from .. import selectors, services
from ..models import AllocationState, Programme, ProgrammeStatus

PAGE_SIZE = 20
EQF_LEVELS = range(1, 9)


def _user(request: HttpRequest) -> User:
    """The acting user, possibly anonymous: the selectors scope by it either way."""
    return cast(User, request.user)


def _visible(request: HttpRequest, code: str) -> Programme:
    """A programme the person may see: published ones, drafts only for their managers."""
    return get_object_or_404(selectors.programmes_for(_user(request)), code=code)


def catalogue(request: HttpRequest) -> HttpResponse:
    filters = selectors.CatalogueFilters.from_query(request.GET.dict())
    programmes = selectors.catalogue(_user(request), filters)
    page = Paginator(programmes, PAGE_SIZE).get_page(request.GET.get("page"))
    mine = selectors.own_allocations(_user(request))
    following = {a.programme_id: a for a in mine}
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "programmes/catalogue.html",
        {
            "page": page,
            "rows": [(p, following.get(p.pk)) for p in page],
            "mine": mine,
            "filters": filters,
            "sectors": Sector.choices,
            "levels": EQF_LEVELS,
            "sector_labels": dict(Sector.choices),
            "query": query.urlencode(),
        },
    )


def programme_detail(request: HttpRequest, code: str) -> HttpResponse:
    programme = _visible(request, code)
    version = selectors.current_version(programme)
    shown = version or selectors.latest_version(programme)
    return render(
        request,
        "programmes/detail.html",
        {
            "programme": programme,
            "version": shown,
            "published": version is not None and programme.status == ProgrammeStatus.PUBLISHED,
            "outline": selectors.programme_outline(shown),
            "allocation": selectors.allocation_of(_user(request), programme),
            "can_manage": selectors.can_manage_programme(_user(request), programme),
            "institution_admin": bool(admin_institution_ids(_user(request))),
            "sector_labels": dict(Sector.choices),
        },
    )


@login_required
@require_POST
def programme_join(request: AuthedRequest, code: str) -> HttpResponse:
    programme = _visible(request, code)
    try:
        allocation = services.allocation_join(
            actor=request.user, programme=programme, code=request.POST.get("code", "")[:100]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("programme-detail", code=programme.code)
    except IntegrityError:  # a second click raced the first: the first one joined
        messages.error(request, _("You already follow this programme."))
        return redirect("programme-detail", code=programme.code)
    if allocation.state == AllocationState.PENDING:
        messages.success(request, _("Your request to join is waiting for approval."))
        return redirect("programme-detail", code=programme.code)
    messages.success(request, _("You follow this programme now: here is your map."))
    return redirect("programme-map", code=programme.code)


@login_required
def programme_map(request: AuthedRequest, code: str) -> HttpResponse:
    programme = _visible(request, code)
    allocation = selectors.allocation_of(request.user, programme)
    if allocation is None:
        raise Http404
    allocation.programme = programme  # already loaded: the map reads its title
    return render(
        request,
        "programmes/map.html",
        {"programme": programme, "map": selectors.programme_map(allocation)},
    )


urlpatterns: list[URLPattern] = [
    path("programmes/", catalogue, name="programme-catalogue"),
    path("programmes/<slug:code>/", programme_detail, name="programme-detail"),
    path("programmes/<slug:code>/join/", programme_join, name="programme-join"),
    path("programmes/<slug:code>/map/", programme_map, name="programme-map"),
]
