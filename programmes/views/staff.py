"""Pages of programmes for the people who build and run them: the programmes one manages, the
builder of a version's requirement tree, the people following a programme and their progress;
and, for institution admins, allocating a cohort and following its progress.

Every page first loads its object through one helper that checks rights (``_managed``,
``_requirement``, ``_allocation``, ``_visible_published``): what the user may not manage is
not found, as elsewhere on the site.  Writes go through ``services``; a refusal is shown with
its reason and the input kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from academy.models import Cohort, Institution, User
from academy.selectors import admin_institution_ids, is_operator, people_for
from academy.typing import AuthedRequest

from .. import selectors, services
from ..forms import (
    ChangeItemForm,
    ChangeSetForm,
    CohortChoiceForm,
    ItemForm,
    MoveForm,
    PersonForm,
    ProgrammeForm,
    SetForm,
    course_choices,
)
from ..models import (
    Allocation,
    AllocationState,
    Programme,
    ProgrammeCohort,
    ProgrammeStatus,
    ProgrammeVersion,
    Requirement,
)

PEOPLE_PAGE_SIZE = 50


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# --- access --------------------------------------------------------------------------------


def _managed(request: AuthedRequest, code: str) -> Programme:
    programme = get_object_or_404(Programme.objects.select_related("owner"), code=code)
    if not selectors.can_manage_programme(request.user, programme):
        raise Http404
    return programme


def _version(programme: Programme, number: int | None) -> ProgrammeVersion:
    if number is None:
        return selectors.latest_version(programme)
    return get_object_or_404(programme.versions, number=number)


def _requirement(request: AuthedRequest, pk: int) -> Requirement:
    requirement = get_object_or_404(
        Requirement.objects.select_related("version__programme__owner", "course"), pk=pk
    )
    if not selectors.can_manage_programme(request.user, requirement.version.programme):
        raise Http404
    return requirement


def _owners(user: User) -> tuple[Any, bool]:
    """The institutions the user may own programmes for, and whether the factory itself may."""
    if is_operator(user):
        return Institution.objects.order_by("name"), True
    return Institution.objects.filter(pk__in=admin_institution_ids(user)).order_by("name"), False


# --- programmes I manage -------------------------------------------------------------------


@login_required
def manage_list(request: AuthedRequest) -> HttpResponse:
    """The programmes one manages, and a form for a new one (institution admins for their
    institutions, operators for any or for the factory)."""
    owners, factory = _owners(request.user)
    may_create = factory or owners.exists()
    form = ProgrammeForm(owners=owners, factory_allowed=factory)
    status = 200
    if request.method == "POST":
        if not may_create:
            raise Http404
        form = ProgrammeForm(request.POST, owners=owners, factory_allowed=factory)
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                programme = services.programme_create(
                    actor=request.user, code=data.pop("code"), title=data.pop("title"), **data
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            except PermissionDenied:
                raise Http404 from None
            else:
                messages.success(
                    request,
                    _("Programme “%(title)s” created. Build its requirements now.")
                    % {"title": programme.title},
                )
                return redirect("programme-builder", code=programme.code)
        status = 400
    programmes = selectors.managed_programmes(request.user)
    if not may_create and not programmes.exists():
        raise Http404
    return render(
        request,
        "programmes/staff_list.html",
        {"programmes": programmes, "form": form, "may_create": may_create},
        status=status,
    )


@login_required
def programme_edit(request: AuthedRequest, code: str) -> HttpResponse:
    programme = _managed(request, code)
    owners, factory = _owners(request.user)
    # A manager named on the programme may keep its owner even without rights over it.
    factory = factory or programme.owner_id is None
    if programme.owner_id is not None and not owners.filter(pk=programme.owner_id).exists():
        owners = Institution.objects.filter(pk=programme.owner_id)
    form = ProgrammeForm(instance=programme, owners=owners, factory_allowed=factory)
    status = 200
    if request.method == "POST":
        original = Programme.objects.get(pk=programme.pk)
        form = ProgrammeForm(
            request.POST, instance=original, owners=owners, factory_allowed=factory
        )
        if form.is_valid():
            try:
                services.programme_update(
                    actor=request.user,
                    programme=Programme.objects.get(pk=programme.pk),
                    **form.changes(),
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            except PermissionDenied:
                form.add_error("owner", _("You may not give the programme to this owner."))
            else:
                messages.success(request, _("Programme saved."))
                return redirect("programme-builder", code=programme.code)
        status = 400
    return render(
        request,
        "programmes/staff_edit.html",
        {"programme": programme, "form": form},
        status=status,
    )


# --- the builder ---------------------------------------------------------------------------


@dataclass
class BuilderNode:
    row: Requirement
    children: list[BuilderNode] = field(default_factory=list)
    first: bool = False
    last: bool = False
    set_form: SetForm | None = None
    item_form: ItemForm | None = None
    open_form: str = ""  # "set" or "item": a refused form shown again, open


def _nodes(rows: list[Requirement]) -> BuilderNode | None:
    nodes = {row.pk: BuilderNode(row) for row in rows}
    root = None
    for row in rows:
        if row.parent_id is None:
            root = nodes[row.pk]
        else:
            nodes[row.parent_id].children.append(nodes[row.pk])
    for node in nodes.values():
        if node.children:
            node.children[0].first = True
            node.children[-1].last = True
    return root


def _walk(node: BuilderNode | None) -> list[BuilderNode]:
    if node is None:
        return []
    out = [node]
    for child in node.children:
        out.extend(_walk(child))
    return out


def _render_builder(
    request: AuthedRequest,
    programme: Programme,
    version: ProgrammeVersion,
    *,
    bound: tuple[int, str, Any] | None = None,
    error: str = "",
    publish_errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The builder page.  ``bound`` is (set id, "set" or "item", form) to show a refused
    form again with what was typed."""
    rows = selectors.requirement_rows(version)
    versions = list(selectors.versions(programme))
    followers: int = next(v.followers for v in versions if v.pk == version.pk)  # type: ignore[attr-defined]
    root = _nodes(rows)
    if not followers:
        courses = course_choices()
        for node in _walk(root):
            if node.row.is_set:
                pk = node.row.pk
                node.set_form = SetForm(prefix=f"set{pk}")
                node.item_form = ItemForm(prefix=f"item{pk}", courses=courses)
                if bound is not None and bound[0] == pk:
                    node.open_form = bound[1]
                    if bound[1] == "set":
                        node.set_form = bound[2]
                    else:
                        node.item_form = bound[2]
    return render(
        request,
        "programmes/staff_builder.html",
        {
            "programme": programme,
            "version": version,
            "versions": versions,
            "followers": followers,
            "editable": not followers,
            "is_latest": version.pk == versions[0].pk,
            "root": root,
            "problems": services.problem_texts(selectors.tree(version, rows)),
            "error": error,
            "publish_errors": publish_errors or [],
        },
        status=status,
    )


@login_required
def builder(request: AuthedRequest, code: str, number: int | None = None) -> HttpResponse:
    programme = _managed(request, code)
    return _render_builder(request, programme, _version(programme, number))


def _builder_url(requirement: Requirement, anchor: int | None = None) -> str:
    version = requirement.version
    url = reverse("programme-builder-version", args=[version.programme.code, version.number])
    return f"{url}#node-{anchor or requirement.pk}"


@login_required
@require_POST
def requirement_add(request: AuthedRequest, pk: int) -> HttpResponse:
    parent = _requirement(request, pk)
    kind = "set" if request.POST.get("kind") == "set" else "item"
    form: SetForm | ItemForm = (
        SetForm(request.POST, prefix=f"set{pk}")
        if kind == "set"
        else ItemForm(request.POST, prefix=f"item{pk}")
    )
    error = ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            if kind == "set":
                added = services.requirement_add(
                    actor=request.user,
                    parent=parent,
                    title=data["title"],
                    rule=data["rule"],
                    count=data["count"] or 0,
                )
            else:
                added = services.requirement_add(
                    actor=request.user,
                    parent=parent,
                    course=data["course"],
                    points=data["points"],
                    min_grade=data["min_grade"],
                )
        except ValidationError as exc:
            error = _errors(exc)
        except PermissionDenied:
            raise Http404 from None
        else:
            messages.success(request, _("“%(label)s” added.") % {"label": added.label})
            return redirect(_builder_url(parent, added.pk))
    version = parent.version
    return _render_builder(
        request, version.programme, version, bound=(pk, kind, form), error=error, status=400
    )


@login_required
def requirement_change(request: AuthedRequest, pk: int) -> HttpResponse:
    requirement = _requirement(request, pk)
    form: ChangeSetForm | ChangeItemForm
    if requirement.is_set:
        initial = {"title": requirement.title, "rule": requirement.rule, "count": requirement.count}
        form = ChangeSetForm(request.POST or None, initial=initial)
    else:
        assert requirement.course is not None
        initial = {
            "points": requirement.points,
            "min_grade": requirement.min_grade,
            "excluded_runs": list(requirement.excluded_runs.all()),
        }
        form = ChangeItemForm(request.POST or None, initial=initial, course=requirement.course)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = dict(form.cleaned_data)
            runs = data.pop("excluded_runs", None)
            if requirement.is_set:
                data["count"] = data["count"] or 0
            try:
                services.requirement_change(actor=request.user, requirement=requirement, **data)
                if runs is not None:
                    services.requirement_exclude_runs(
                        actor=request.user, requirement=requirement, runs=list(runs)
                    )
            except ValidationError as exc:
                form.add_error(None, exc)
            except PermissionDenied:
                raise Http404 from None
            else:
                messages.success(request, _("“%(label)s” saved.") % {"label": requirement.label})
                return redirect(_builder_url(requirement))
        status = 400
    return render(
        request,
        "programmes/staff_change.html",
        {"requirement": requirement, "form": form, "version": requirement.version},
        status=status,
    )


def _below(requirement: Requirement) -> list[Requirement]:
    """Every node under ``requirement`` (what goes with it when it is removed)."""
    rows = selectors.requirement_rows(requirement.version)
    children: dict[int | None, list[Requirement]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    out, pending = [], list(children.get(requirement.pk, []))
    while pending:
        row = pending.pop(0)
        out.append(row)
        pending.extend(children.get(row.pk, []))
    return out


@login_required
def requirement_remove(request: AuthedRequest, pk: int) -> HttpResponse:
    """A confirmation naming what goes with the node; the removal on POST."""
    requirement = _requirement(request, pk)
    error = ""
    if request.method == "POST":
        parent_url = _builder_url(requirement, requirement.parent_id)
        try:
            services.requirement_remove(actor=request.user, requirement=requirement)
        except ValidationError as exc:
            error = _errors(exc)
        except PermissionDenied:
            raise Http404 from None
        else:
            messages.success(request, _("“%(label)s” removed.") % {"label": requirement.label})
            return redirect(parent_url)
    return render(
        request,
        "programmes/staff_remove.html",
        {
            "requirement": requirement,
            "version": requirement.version,
            "below": _below(requirement),
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_POST
def requirement_move(request: AuthedRequest, pk: int) -> HttpResponse:
    requirement = _requirement(request, pk)
    try:
        services.requirement_move(
            actor=request.user, requirement=requirement, up=request.POST.get("direction") == "up"
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    except PermissionDenied:
        raise Http404 from None
    return redirect(_builder_url(requirement))


@login_required
@require_POST
def version_new(request: AuthedRequest, code: str) -> HttpResponse:
    programme = _managed(request, code)
    try:
        version = services.version_new(actor=request.user, programme=programme)
    except PermissionDenied:
        raise Http404 from None
    messages.success(
        request,
        _("Version %(n)s made: a copy of the newest one, ready to change.") % {"n": version.number},
    )
    return redirect("programme-builder-version", code=code, number=version.number)


@login_required
@require_POST
def version_publish(request: AuthedRequest, code: str, number: int) -> HttpResponse:
    programme = _managed(request, code)
    version = _version(programme, number)
    try:
        services.version_publish(actor=request.user, version=version)
    except ValidationError as exc:
        return _render_builder(request, programme, version, publish_errors=exc.messages, status=400)
    except PermissionDenied:
        raise Http404 from None
    messages.success(
        request,
        _("Version %(n)s is published: new people follow it.") % {"n": version.number},
    )
    return redirect("programme-builder-version", code=code, number=number)


@login_required
@require_POST
def programme_retire(request: AuthedRequest, code: str) -> HttpResponse:
    programme = _managed(request, code)
    try:
        services.programme_retire(actor=request.user, programme=programme)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    except PermissionDenied:
        raise Http404 from None
    else:
        messages.success(
            request,
            _("The programme is retired: nobody new joins; those following keep their progress."),
        )
    return redirect("programme-builder", code=code)


# --- people --------------------------------------------------------------------------------


def _people_context(request: AuthedRequest, programme: Programme) -> dict[str, Any]:
    allocations = selectors.people(request.user, programme)
    page = Paginator(allocations, PEOPLE_PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "programme": programme,
        "page": page,
        "summary": selectors.summary_of(allocations),
        "pending": list(allocations.filter(state=AllocationState.PENDING)[:PEOPLE_PAGE_SIZE]),
        "published": list(programme.versions.exclude(published_at=None).order_by("-number")),
        "person_form": PersonForm(),
    }


@login_required
def people(request: AuthedRequest, code: str) -> HttpResponse:
    programme = _managed(request, code)
    context = _people_context(request, programme)
    status = 200
    if request.method == "POST":
        form = PersonForm(request.POST)
        if form.is_valid():
            wanted = form.cleaned_data["person"].strip()
            scope = User.objects.all() if is_operator(request.user) else people_for(request.user)
            person = scope.filter(Q(username=wanted) | Q(email__iexact=wanted)).first()
            if person is None:
                form.add_error(
                    "person", _("Nobody you may add is called “%(name)s”.") % {"name": wanted}
                )
            else:
                try:
                    services.allocation_add(actor=request.user, programme=programme, user=person)
                except ValidationError as exc:
                    form.add_error(None, exc)
                except PermissionDenied:
                    raise Http404 from None
                else:
                    messages.success(
                        request,
                        _("%(name)s now follows the programme.")
                        % {"name": person.get_full_name() or person.username},
                    )
                    return redirect("programme-people", code=code)
        context["person_form"] = form
        status = 400
    return render(request, "programmes/staff_people.html", context, status=status)


def _allocation(request: AuthedRequest, pk: int) -> Allocation:
    """An allocation the user may see: a manager's programme's, or an admin's member's."""
    return get_object_or_404(
        selectors.allocations_for(request.user).select_related("completion", "programme__owner"),
        pk=pk,
    )


@login_required
@require_POST
def allocation_decide(request: AuthedRequest, pk: int) -> HttpResponse:
    allocation = _allocation(request, pk)
    if not selectors.can_manage_programme(request.user, allocation.programme):
        raise Http404
    approve = request.POST.get("action") == "approve"
    try:
        services.allocation_decide(actor=request.user, allocation=allocation, approve=approve)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        name = allocation.user.get_full_name() or allocation.user.username
        messages.success(
            request,
            (_("%(name)s now follows the programme.") if approve else _("%(name)s was refused."))
            % {"name": name},
        )
    return redirect("programme-people", code=allocation.programme.code)


@login_required
@require_POST
def allocation_move(request: AuthedRequest, pk: int) -> HttpResponse:
    allocation = _allocation(request, pk)
    if not selectors.can_manage_programme(request.user, allocation.programme):
        raise Http404
    form = MoveForm(request.POST, programme=allocation.programme)
    if not form.is_valid():
        messages.error(request, _("Choose a published version of this programme."))
    else:
        version = form.cleaned_data["version"]
        try:
            services.allocation_move(actor=request.user, allocation=allocation, version=version)
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        else:
            messages.success(
                request,
                _("%(name)s now follows version %(n)s.")
                % {
                    "name": allocation.user.get_full_name() or allocation.user.username,
                    "n": version.number,
                },
            )
    return redirect("programme-people", code=allocation.programme.code)


@login_required
def allocation_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    """One person's progress in a programme, for its managers and their institution's
    admins: the same map the person sees."""
    allocation = _allocation(request, pk)
    if allocation.user_id == request.user.pk and not selectors.can_manage_programme(
        request.user, allocation.programme
    ):
        raise Http404  # one's own progress is on the student pages
    context = {
        "allocation": allocation,
        "map": selectors.programme_map(allocation),
        "may_manage": selectors.can_manage_programme(request.user, allocation.programme),
    }
    return render(request, "programmes/staff_person.html", context)


# --- institution admins: cohorts -----------------------------------------------------------


def _visible_published(request: AuthedRequest, code: str) -> Programme:
    programme = get_object_or_404(
        selectors.programmes_for(request.user).filter(status=ProgrammeStatus.PUBLISHED), code=code
    )
    return programme


@login_required
def cohorts(request: AuthedRequest, code: str) -> HttpResponse:
    """An institution admin puts one of their cohorts on a published programme, and finds the
    cohorts already following it."""
    programme = _visible_published(request, code)
    mine = selectors.allocatable_cohorts(request.user)
    if not mine.exists():
        raise Http404
    form = CohortChoiceForm(cohorts=mine)
    status = 200
    if request.method == "POST":
        form = CohortChoiceForm(request.POST, cohorts=mine)
        if form.is_valid():
            cohort = form.cleaned_data["cohort"]
            try:
                allocated = services.cohort_allocate(
                    actor=request.user, programme=programme, cohort=cohort
                )
            except ValidationError as exc:
                form.add_error("cohort", exc)
            except PermissionDenied:
                raise Http404 from None
            else:
                messages.success(
                    request,
                    _(
                        "Cohort %(cohort)s follows the programme: %(n)s people allocated; "
                        "people who join the cohort later follow it too."
                    )
                    % {"cohort": cohort.name, "n": allocated},
                )
                return redirect("programme-cohort-progress", code=code, cohort=cohort.pk)
        status = 400
    following = (
        ProgrammeCohort.objects.filter(programme=programme, cohort__in=mine)
        .select_related("cohort__institution")
        .order_by("cohort__name")
    )
    return render(
        request,
        "programmes/staff_cohorts.html",
        {"programme": programme, "form": form, "following": following},
        status=status,
    )


@login_required
def cohort_progress(request: AuthedRequest, code: str, cohort: int) -> HttpResponse:
    """A cohort's progress in a programme: per person and summed up.  Admins of the cohort's
    institution see their members; the programme's managers see everyone of the cohort."""
    programme = get_object_or_404(Programme.objects.select_related("owner"), code=code)
    group = get_object_or_404(Cohort.objects.select_related("institution"), pk=cohort)
    manager = selectors.can_manage_programme(request.user, programme)
    if not manager and group.institution_id not in admin_institution_ids(request.user):
        raise Http404
    if not ProgrammeCohort.objects.filter(programme=programme, cohort=group).exists():
        raise Http404
    allocations = (
        selectors.allocations_for(request.user)
        .filter(programme=programme)
        .filter(Q(cohort=group) | Q(user__in=group.members.values("pk")))
        .select_related("completion")
        .order_by("user__last_name", "user__first_name", "user__username")
    )
    page = Paginator(allocations, PEOPLE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "programmes/staff_cohort_progress.html",
        {
            "programme": programme,
            "cohort": group,
            "page": page,
            "summary": selectors.summary_of(allocations),
            "may_manage": manager,
        },
    )


urlpatterns: list[URLPattern] = [
    path("manage/programmes/", manage_list, name="programme-manage-list"),
    path("manage/programmes/<slug:code>/", builder, name="programme-builder"),
    path(
        "manage/programmes/<slug:code>/v<int:number>/",
        builder,
        name="programme-builder-version",
    ),
    path("manage/programmes/<slug:code>/edit/", programme_edit, name="programme-edit"),
    path("manage/programmes/<slug:code>/versions/new/", version_new, name="programme-version-new"),
    path(
        "manage/programmes/<slug:code>/v<int:number>/publish/",
        version_publish,
        name="programme-version-publish",
    ),
    path("manage/programmes/<slug:code>/retire/", programme_retire, name="programme-retire"),
    path("manage/programmes/<slug:code>/people/", people, name="programme-people"),
    path("manage/programmes/<slug:code>/cohorts/", cohorts, name="programme-cohorts"),
    path(
        "manage/programmes/<slug:code>/cohorts/<int:cohort>/",
        cohort_progress,
        name="programme-cohort-progress",
    ),
    path("manage/requirements/<int:pk>/add/", requirement_add, name="requirement-add"),
    path("manage/requirements/<int:pk>/change/", requirement_change, name="requirement-change"),
    path("manage/requirements/<int:pk>/remove/", requirement_remove, name="requirement-remove"),
    path("manage/requirements/<int:pk>/move/", requirement_move, name="requirement-move"),
    path("manage/allocations/<int:pk>/", allocation_detail, name="programme-allocation"),
    path(
        "manage/allocations/<int:pk>/decide/", allocation_decide, name="programme-allocation-decide"
    ),
    path("manage/allocations/<int:pk>/move/", allocation_move, name="programme-allocation-move"),
]
