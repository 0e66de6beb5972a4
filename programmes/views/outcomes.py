"""Pages of learning outcomes and mastery (``/outcomes/…``): staff edit a programme's or a
course's outcome tree (with an ESCO picker fed by ``esco_search``, the mastery rule, and
alignments to lab cells and grading categories); people see their mastery per outcome; staff
see it per person and per outcome.  Thin: reads from ``outcomes.selectors``, writes through
``outcomes.services``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from academy.models import User
from academy.typing import AuthedRequest
from courses.models import Course, CourseRun, Enrolment, GradingCategory
from courses.selectors import runs_for, staff_run_ids
from notebooks.models import Lab
from notebooks.selectors import LEARNING_STATES

from .. import selectors as programme_selectors
from ..models import (
    Allocation,
    EscoSkill,
    LearningOutcome,
    MasteryMethod,
    OutcomeAlignment,
    Programme,
)
from ..outcomes import selectors, services


class OutcomeForm(forms.ModelForm):
    class Meta:
        model = LearningOutcome
        fields = [
            "code",
            "title",
            "title_sr",
            "method",
            "mastery_percent",
            "decay_percent",
            "n_times",
        ]


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _esco_from(request: AuthedRequest) -> list[EscoSkill]:
    ids = [int(v) for v in request.POST.getlist("esco") if v.isdigit()]
    return list(EscoSkill.objects.filter(pk__in=ids))


def _parent_from(request: AuthedRequest, outcome_tree: Any) -> LearningOutcome | None:
    """The parent chosen in the form, among the same tree's outcomes (None: at the top)."""
    raw = request.POST.get("parent", "")
    if not raw.isdigit():
        return None
    parent = LearningOutcome.objects.filter(pk=int(raw)).filter(outcome_tree).first()
    if parent is None:
        raise ValidationError(_("The parent outcome belongs to another programme or course."))
    return parent


# ------------------------------------------------------------------------------ index


@login_required
def index(request: AuthedRequest) -> HttpResponse:
    user = request.user
    following = (
        Allocation.objects.filter(user=user, state__in=selectors.FOLLOWING)
        .select_related("programme")
        .order_by("programme__code")
    )
    seats = (
        Enrolment.objects.filter(user=user, state__in=LEARNING_STATES)
        .select_related("run__course")
        .order_by("run__course__code", "-run__starts_at")
    )
    return render(
        request,
        "programmes/outcome_index.html",
        {
            "programmes": selectors.editable_programmes(user),
            "courses": selectors.editable_courses(user),
            "following": following,
            "seats": seats,
            "teaching": runs_for(user)
            .filter(pk__in=staff_run_ids(user))
            .order_by("course__code", "-starts_at"),
        },
    )


# ----------------------------------------------------------------------------- editing


def _editor(
    request: AuthedRequest,
    *,
    programme: Programme | None,
    course: Course | None,
    form: OutcomeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    rows = selectors.flatten(selectors.outcome_rows(programme=programme, course=course))
    return render(
        request,
        "programmes/outcome_editor.html",
        {
            "programme": programme,
            "course": course,
            "rows": rows,
            "form": form or OutcomeForm(),
            "add_url": request.path,
            "methods": MasteryMethod.choices,
        },
        status=status,
    )


def _add(
    request: AuthedRequest, *, programme: Programme | None, course: Course | None
) -> HttpResponse:
    form = OutcomeForm(request.POST)
    if form.is_valid():
        try:
            tree = {"programme": programme} if programme else {"course": course}
            parent = _parent_from(request, Q(**tree))
            outcome = services.outcome_create(
                actor=request.user,
                programme=programme,
                course=course,
                parent=parent,
                esco_skills=_esco_from(request),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, _("Outcome “%(title)s” added.") % {"title": outcome.title})
            return redirect(request.path)
    return _editor(request, programme=programme, course=course, form=form, status=400)


@login_required
def programme_editor(request: AuthedRequest, code: str) -> HttpResponse:
    programme = get_object_or_404(programme_selectors.programmes_for(request.user), code=code)
    if not programme_selectors.can_manage_programme(request.user, programme):
        raise Http404
    if request.method == "POST":
        return _add(request, programme=programme, course=None)
    return _editor(request, programme=programme, course=None)


@login_required
def course_editor(request: AuthedRequest, pk: int) -> HttpResponse:
    course = get_object_or_404(Course, pk=pk)
    if not selectors.can_manage_course_outcomes(request.user, course):
        raise Http404
    if request.method == "POST":
        return _add(request, programme=None, course=course)
    return _editor(request, programme=None, course=course)


def _editable(request: AuthedRequest, pk: int) -> LearningOutcome:
    try:
        return selectors.outcome_for_editor(request.user, pk)
    except LearningOutcome.DoesNotExist as exc:
        raise Http404 from exc


def _tree_url(outcome: LearningOutcome) -> str:
    if outcome.programme is not None:
        return reverse("outcome-programme-edit", args=[outcome.programme.code])
    return reverse("outcome-course-edit", args=[outcome.course_id])


def _outcome_page(
    request: AuthedRequest,
    outcome: LearningOutcome,
    form: OutcomeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    tree = selectors.flatten(
        selectors.outcome_rows(programme=outcome.programme, course=outcome.course)
    )
    row = next(r for r in tree if r.outcome.pk == outcome.pk)
    labs = selectors.alignable_labs(outcome)
    cells = selectors.graded_cells_by_lab(labs)
    return render(
        request,
        "programmes/outcome_detail.html",
        {
            "outcome": row.outcome,
            "form": form or OutcomeForm(instance=outcome),
            "parents": [r for r in tree if r.outcome.pk != outcome.pk],
            # a lab without graded cells has nothing to align to
            "labs": [(lab, cells[lab.pk]) for lab in labs if cells.get(lab.pk)],
            "categories": selectors.alignable_categories(outcome),
            "tree_url": _tree_url(outcome),
        },
        status=status,
    )


@login_required
def outcome_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    """One outcome: change it (wording, rule, ESCO skills, parent) and its alignments."""
    outcome = _editable(request, pk)
    if request.method != "POST":
        return _outcome_page(request, outcome)
    form = OutcomeForm(request.POST, instance=LearningOutcome.objects.get(pk=outcome.pk))
    if form.is_valid():
        try:
            parent = _parent_from(request, selectors.same_tree(outcome) & ~Q(pk=outcome.pk))
            # the move first: a refused move (a cycle) then leaves the outcome as it was
            if parent != outcome.parent:
                services.outcome_move(actor=request.user, outcome=outcome, parent=parent)
            services.outcome_update(
                actor=request.user,
                outcome=outcome,
                esco_skills=_esco_from(request),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, _("Outcome saved."))
            return redirect("outcome-detail", pk=outcome.pk)
    outcome.refresh_from_db()
    return _outcome_page(request, outcome, form, status=400)


@login_required
@require_POST
def outcome_remove(request: AuthedRequest, pk: int) -> HttpResponse:
    outcome = _editable(request, pk)
    back = _tree_url(outcome)
    services.outcome_delete(actor=request.user, outcome=outcome)
    messages.success(request, _("Outcome “%(title)s” removed.") % {"title": outcome.title})
    return redirect(back)


@login_required
@require_POST
def alignment_add(request: AuthedRequest, pk: int) -> HttpResponse:
    outcome = _editable(request, pk)
    raw_lab, raw_category = request.POST.get("lab", ""), request.POST.get("category", "")
    try:
        if raw_lab.isdigit():
            lab = Lab.objects.select_related("run").filter(pk=int(raw_lab)).first()
            if lab is None:
                raise ValidationError(_("Choose a lab."))
            services.alignment_add(
                actor=request.user,
                outcome=outcome,
                lab=lab,
                grade_id=request.POST.get("grade_id", ""),
            )
        elif raw_category.isdigit():
            category = (
                GradingCategory.objects.select_related("run").filter(pk=int(raw_category)).first()
            )
            if category is None:
                raise ValidationError(_("Choose a grading category."))
            services.alignment_add(actor=request.user, outcome=outcome, category=category)
        else:
            raise ValidationError(_("Choose a lab and a graded cell, or a grading category."))
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, _("Alignment added."))
    return redirect("outcome-detail", pk=outcome.pk)


@login_required
@require_POST
def alignment_remove(request: AuthedRequest, pk: int) -> HttpResponse:
    alignment = get_object_or_404(OutcomeAlignment.objects.select_related("outcome"), pk=pk)
    outcome = _editable(request, alignment.outcome_id)
    services.alignment_remove(actor=request.user, alignment=alignment)
    messages.success(request, _("Alignment removed."))
    return redirect("outcome-detail", pk=outcome.pk)


@login_required
@require_GET
def esco_search(request: AuthedRequest) -> JsonResponse:
    """The ESCO picker's source: up to 20 skills whose label or description holds ``q``."""
    skills = selectors.esco_search(request.GET.get("q", ""))
    return JsonResponse(
        {
            "results": [
                {"id": s.pk, "uri": s.uri, "label": s.label, "description": s.description[:200]}
                for s in skills
            ]
        }
    )


# ----------------------------------------------------------------------------- mastery


def _mastery_page(
    request: AuthedRequest, *, sections: Any, person: User, title: str, back: str
) -> HttpResponse:
    return render(
        request,
        "programmes/outcome_mastery.html",
        {
            "sections": sections,
            "person": person,
            "is_self": person.pk == request.user.pk,
            "title": title,
            "back": back,
        },
    )


def _person(pk: int | None, request: AuthedRequest) -> User:
    if pk is None:
        return request.user
    return get_object_or_404(User, pk=pk)


@login_required
def programme_mastery(
    request: AuthedRequest, code: str, user_id: int | None = None
) -> HttpResponse:
    programme = get_object_or_404(programme_selectors.programmes_for(request.user), code=code)
    person = _person(user_id, request)
    try:
        sections = selectors.programme_mastery(request.user, programme, person)
    except ObjectDoesNotExist as exc:
        raise Http404 from exc
    return _mastery_page(
        request,
        sections=sections,
        person=person,
        title=programme.display_title,
        back=reverse("programme-detail", args=[programme.code])
        if user_id is None
        else reverse("outcome-programme-summary", args=[programme.code]),
    )


@login_required
def run_mastery(request: AuthedRequest, pk: int, user_id: int | None = None) -> HttpResponse:
    run = get_object_or_404(CourseRun.objects.select_related("course"), pk=pk)
    person = _person(user_id, request)
    try:
        if not Enrolment.objects.filter(run=run, user=person, state__in=LEARNING_STATES).exists():
            raise Enrolment.DoesNotExist
        sections = selectors.course_mastery(request.user, run.course, person)
    except ObjectDoesNotExist as exc:
        raise Http404 from exc
    return _mastery_page(
        request,
        sections=sections,
        person=person,
        title=str(run),
        back=reverse("outcome-index")
        if user_id is None
        else reverse("outcome-run-summary", args=[run.pk]),
    )


def _summary_page(
    request: AuthedRequest, summary: Any, *, title: str, person_url: str, editor_url: str | None
) -> HttpResponse:
    for row in summary.people:  # person_url ends in the placeholder id 0
        row.url = person_url[: -len("0/")] + f"{row.person.pk}/"
    return render(
        request,
        "programmes/outcome_summary.html",
        {"summary": summary, "title": title, "person_url": person_url, "editor_url": editor_url},
    )


@login_required
def programme_summary(request: AuthedRequest, code: str) -> HttpResponse:
    programme = get_object_or_404(programme_selectors.programmes_for(request.user), code=code)
    try:
        summary = selectors.programme_summary(request.user, programme)
    except ObjectDoesNotExist as exc:
        raise Http404 from exc
    can_edit = programme_selectors.can_manage_programme(request.user, programme)
    return _summary_page(
        request,
        summary,
        title=programme.display_title,
        person_url=reverse("outcome-programme-person", args=[programme.code, 0]),
        editor_url=reverse("outcome-programme-edit", args=[programme.code]) if can_edit else None,
    )


@login_required
def run_summary(request: AuthedRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(CourseRun.objects.select_related("course"), pk=pk)
    try:
        summary = selectors.run_summary(request.user, run)
    except ObjectDoesNotExist as exc:
        raise Http404 from exc
    can_edit = selectors.can_manage_course_outcomes(request.user, run.course)
    return _summary_page(
        request,
        summary,
        title=str(run),
        person_url=reverse("outcome-run-person", args=[run.pk, 0]),
        editor_url=reverse("outcome-course-edit", args=[run.course_id]) if can_edit else None,
    )


urlpatterns: list[URLPattern] = [
    path("outcomes/", index, name="outcome-index"),
    path("outcomes/esco/", esco_search, name="outcome-esco-search"),
    path("outcomes/programmes/<slug:code>/", programme_editor, name="outcome-programme-edit"),
    path(
        "outcomes/programmes/<slug:code>/mastery/",
        programme_mastery,
        name="outcome-programme-mastery",
    ),
    path(
        "outcomes/programmes/<slug:code>/mastery/<int:user_id>/",
        programme_mastery,
        name="outcome-programme-person",
    ),
    path(
        "outcomes/programmes/<slug:code>/summary/",
        programme_summary,
        name="outcome-programme-summary",
    ),
    path("outcomes/courses/<int:pk>/", course_editor, name="outcome-course-edit"),
    path("outcomes/runs/<int:pk>/mastery/", run_mastery, name="outcome-run-mastery"),
    path("outcomes/runs/<int:pk>/mastery/<int:user_id>/", run_mastery, name="outcome-run-person"),
    path("outcomes/runs/<int:pk>/summary/", run_summary, name="outcome-run-summary"),
    path("outcomes/<int:pk>/", outcome_detail, name="outcome-detail"),
    path("outcomes/<int:pk>/remove/", outcome_remove, name="outcome-remove"),
    path("outcomes/<int:pk>/align/", alignment_add, name="outcome-align"),
    path("outcomes/alignments/<int:pk>/remove/", alignment_remove, name="outcome-unalign"),
]
