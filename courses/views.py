"""Pages of the course side.  Thin: objects come through the selectors (scoped to the user),
changes go through the services."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language_info
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from academy import selectors as people
from academy.exports import csv_row
from academy.files import serve_user_file
from academy.models import Cohort, Institution
from academy.typing import AuthedRequest

from . import authoring, bulk, selectors, services
from .forms import (
    AttachmentForm,
    CapacityForm,
    CategoryFormSet,
    CopyContentForm,
    InviteCodeForm,
    LessonForm,
    ModuleForm,
    PassMarkForm,
    category_initial,
)
from .markdown import render_markdown
from .models import (
    Attachment,
    BulkUpload,
    CourseRun,
    Enrolment,
    EnrolmentState,
    InviteCode,
    Lesson,
    LessonCompletion,
    Level,
    Module,
    Sector,
)

PAGE_SIZE = 20
ROSTER_PAGE_SIZE = 50


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# --------------------------------------------------------------------------- dashboard


@login_required
def dashboard(request: AuthedRequest) -> HttpResponse:
    user = request.user
    enrolments = selectors.student_enrolments(user)
    progress = selectors.progress_for(user, [e.run_id for e in enrolments]) if enrolments else {}
    for e in enrolments:
        done, total = progress.get(e.run_id, (0, 0))
        e.progress = (done, total, round(100 * done / total) if total else 0)  # type: ignore[attr-defined]
    teaching = (
        list(selectors.instructor_runs(user))
        if selectors.staff_run_ids(user) or (people.is_operator(user))
        else []
    )
    queue = (
        list(selectors.approval_queue(user)[:20])
        if teaching or people.admin_institution_ids(user)
        else []
    )
    return render(
        request,
        "courses/dashboard.html",
        {
            "enrolments": enrolments,
            "deadlines": selectors.upcoming_deadlines(user, enrolments),
            "teaching": teaching,
            "queue": queue,
            "by_cohort": selectors.institution_enrolments_by_cohort(user),
            "states": EnrolmentState,
        },
    )


# --------------------------------------------------------------------------- catalogue


def _language_name(code: str) -> str:
    """A course language by its name in the reader's language; a code Django does not know
    stays as it is."""
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


@login_required
def catalogue(request: AuthedRequest) -> HttpResponse:
    filters = selectors.CatalogueFilters.from_query(request.GET)
    courses = selectors.catalogue(request.user, **filters.as_kwargs())
    page = Paginator(courses, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "courses/catalogue.html",
        {
            "page": page,
            "filters": filters,
            "sectors": Sector.choices,
            "levels": Level.choices,
            "languages": [(c, _language_name(c)) for c in selectors.course_languages()],
            "query": query.urlencode(),
            "sector_labels": dict(Sector.choices),
        },
    )


@login_required
def course_detail(request: AuthedRequest, code: str) -> HttpResponse:
    course = get_object_or_404(selectors.courses_for(request.user), code=code)
    return render(
        request,
        "courses/course_detail.html",
        {
            "course": course,
            "description": render_markdown(course.description),
            "runs": selectors.course_page(request.user, course),
            "sector_labels": dict(Sector.choices),
        },
    )


def _visible_run(request: AuthedRequest, pk: int) -> CourseRun:
    return get_object_or_404(selectors.runs_for(request.user), pk=pk)


@login_required
@require_POST
def run_enrol(request: AuthedRequest, pk: int) -> HttpResponse:
    run = _visible_run(request, pk)
    try:
        enrolment = services.enrolment_request(
            run=run, user=request.user, invite_code=request.POST.get("invite_code", "")
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        texts: dict[str, str] = {
            EnrolmentState.ACTIVE: _("You are enrolled."),
            EnrolmentState.WAITLISTED: _("The run is full: you are number %(n)s on the waitlist.")
            % {"n": selectors.waitlist_rank(enrolment)},
            EnrolmentState.PENDING: _("Your request is waiting for approval."),
        }
        messages.success(request, texts[enrolment.state])
    return redirect("course-detail", code=run.course.code)


@login_required
@require_POST
def run_withdraw(request: AuthedRequest, pk: int) -> HttpResponse:
    run = _visible_run(request, pk)
    enrolment = get_object_or_404(Enrolment, run=run, user=request.user)
    try:
        services.enrolment_withdraw(enrolment=enrolment, actor=request.user)
        messages.success(request, _("You have left this run."))
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return redirect("course-detail", code=run.course.code)


# --------------------------------------------------------------------------- content


def _content_run(request: AuthedRequest, pk: int) -> CourseRun:
    run = _visible_run(request, pk)
    if not selectors.can_view_content(request.user, run):
        raise PermissionDenied
    return run


@login_required
def run_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    run = _content_run(request, pk)
    modules = selectors.run_content(run)
    done_ids = selectors.completed_lesson_ids(request.user, run)
    total = sum(len(m.lessons.all()) for m in modules)
    return render(
        request,
        "courses/run_detail.html",
        {
            "run": run,
            "modules": modules,
            "done_ids": done_ids,
            "progress": (len(done_ids), total, round(100 * len(done_ids) / total) if total else 0),
            "can_teach": selectors.can_teach_run(request.user, run),
            "can_author": selectors.can_author_run(request.user, run),
        },
    )


def _lesson(request: AuthedRequest, pk: int) -> Lesson:
    lesson = get_object_or_404(Lesson.objects.select_related("module__run__course"), pk=pk)
    _content_run(request, lesson.module.run_id)
    return lesson


@login_required
def lesson_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    lesson = _lesson(request, pk)
    siblings = list(
        Lesson.objects.filter(module__run_id=lesson.module.run_id)
        .order_by("module__position", "module_id", "position", "id")
        .values_list("id", flat=True)
    )
    i = siblings.index(lesson.pk)
    return render(
        request,
        "courses/lesson_detail.html",
        {
            "lesson": lesson,
            "run": lesson.module.run,
            "body": render_markdown(lesson.body),
            "attachments": lesson.attachments.all(),
            "done": lesson.completions.filter(user=request.user).exists(),
            "previous_id": siblings[i - 1] if i > 0 else None,
            "next_id": siblings[i + 1] if i + 1 < len(siblings) else None,
            "can_author": selectors.can_author_run(request.user, lesson.module.run_id),
        },
    )


@login_required
@require_POST
def lesson_complete(request: AuthedRequest, pk: int) -> HttpResponse:
    lesson = _lesson(request, pk)
    done = services.lesson_complete(
        lesson=lesson, user=request.user, done=request.POST.get("done", "1") == "1"
    )
    if request.headers.get("HX-Request"):
        return render(request, "courses/_completion.html", {"lesson": lesson, "done": done})
    return redirect("lesson-detail", pk=lesson.pk)


@login_required
def attachment_download(request: AuthedRequest, pk: int) -> FileResponse:
    attachment = get_object_or_404(Attachment.objects.select_related("lesson__module"), pk=pk)
    _content_run(request, attachment.lesson.module.run_id)
    # The stored bytes decide the type, never the name shown or the uploader's claimed type.
    return serve_user_file(attachment.file, filename=attachment.name)


# --------------------------------------------------------------------------- teaching


def _taught_run(request: AuthedRequest, pk: int) -> CourseRun:
    run = get_object_or_404(CourseRun.objects.select_related("course"), pk=pk)
    if not selectors.can_teach_run(request.user, run):
        raise Http404
    return run


def _authored_run(request: AuthedRequest, pk: int) -> CourseRun:
    """The run, if the user may change its seats, codes, grading policy and content."""
    run = get_object_or_404(CourseRun.objects.select_related("course"), pk=pk)
    if not selectors.can_author_run(request.user, run):
        raise Http404
    return run


@login_required
def teaching(request: AuthedRequest) -> HttpResponse:
    return render(
        request,
        "courses/teaching.html",
        {
            "runs": selectors.instructor_runs(request.user),
        },
    )


@login_required
def roster(request: AuthedRequest, pk: int) -> HttpResponse:
    run = _taught_run(request, pk)
    filters = selectors.RosterFilters.from_query(request.GET)
    page = Paginator(selectors.roster(run, **filters.as_kwargs()), ROSTER_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    cohort_ids = Enrolment.objects.filter(run=run, cohort__isnull=False).values("cohort_id")
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "run": run,
        "page": page,
        "filters": filters,
        "states": EnrolmentState.choices,
        "cohorts": Cohort.objects.filter(id__in=cohort_ids).select_related("institution"),
        "institutions": Institution.objects.filter(cohorts__id__in=cohort_ids).distinct(),
        "counts": selectors.roster_state_counts(run),
        "query": query.urlencode(),
        "next_path": request.get_full_path(),
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "roster-table":
        return render(request, "courses/roster.html#table", context)
    return render(request, "courses/roster.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def roster_rows(run: CourseRun, filters: selectors.RosterFilters) -> Iterator[str]:
    """The roster as CSV lines, read with a server-side cursor in chunks: memory stays flat
    whatever the number of enrolments."""
    writer = csv.writer(_Echo())
    yield writer.writerow(
        [
            _("username"),
            _("first name"),
            _("last name"),
            _("e-mail"),
            _("cohort"),
            _("state"),
            _("waitlist position"),
            _("requested"),
        ]
    )
    rows = selectors.roster(run, **filters.as_kwargs()).values_list(
        "user__username",
        "user__first_name",
        "user__last_name",
        "user__email",
        "cohort__name",
        "state",
        "waitlist_position",
        "requested_at",
    )
    for row in rows.iterator(chunk_size=2000):
        # Names and cohort names are people's text: no cell may start a formula.
        yield writer.writerow(csv_row([*row[:7], row[7].isoformat(timespec="seconds")]))


@login_required
def roster_export(request: AuthedRequest, pk: int) -> StreamingHttpResponse:
    run = _taught_run(request, pk)
    response = StreamingHttpResponse(
        roster_rows(run, selectors.RosterFilters.from_query(request.GET)),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = (
        f'attachment; filename="roster-{run.course.code}-{run.pk}-{stamp}.csv"'
    )
    return response


ENROLMENT_ACTIONS = {
    "approve": lambda e, actor, reason: services.enrolment_approve(enrolment=e, actor=actor),
    "waitlist": lambda e, actor, reason: services.enrolment_waitlist(enrolment=e, actor=actor),
    "reject": lambda e, actor, reason: services.enrolment_reject(
        enrolment=e, actor=actor, reason=reason
    ),
    "remove": lambda e, actor, reason: services.enrolment_remove(
        enrolment=e, actor=actor, reason=reason
    ),
}


@login_required
@require_POST
def enrolment_decide(request: AuthedRequest, pk: int) -> HttpResponse:
    """One form per roster row; the button pressed names the action."""
    return enrolment_action(request, pk, request.POST.get("action", ""))


@login_required
@require_POST
def enrolment_action(request: AuthedRequest, pk: int, action: str) -> HttpResponse:
    if action not in ENROLMENT_ACTIONS:
        raise Http404
    enrolment = get_object_or_404(selectors.enrolments_for(request.user), pk=pk)
    try:
        ENROLMENT_ACTIONS[action](enrolment, request.user, request.POST.get("reason", ""))
        messages.success(
            request,
            _("Done: %(user)s is now %(state)s.")
            % {"user": enrolment.user, "state": Enrolment.objects.get(pk=pk).get_state_display()},
        )
    except PermissionDenied:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    next_url = request.POST.get("next", "")
    if next_url.startswith("/") and not next_url.startswith("//"):
        return redirect(next_url)
    return redirect("home")


# --------------------------------------------------------------------------- bulk enrolment


def _admin_institution(request: AuthedRequest, slug: str) -> Institution:
    institution = get_object_or_404(people.institutions_for(request.user), slug=slug)
    if not people.can_manage_institution(request.user, institution):
        raise Http404
    return institution


@login_required
def bulk_enrol(request: AuthedRequest, slug: str) -> HttpResponse:
    institution = _admin_institution(request, slug)
    runs = selectors.bulk_fill_runs(institution)
    error = ""
    if request.method == "POST":
        run = runs.filter(pk=request.POST.get("run") or 0).first()
        file = request.FILES.get("file")
        if run is None:
            error = _("Choose a run.")
        elif file is None:
            error = _("Choose a CSV file.")
        else:
            try:
                upload = bulk.bulk_upload_store(
                    actor=request.user,
                    institution=institution,
                    run=run,
                    file=file,
                    size=file.size,
                    filename=file.name or "",
                )
            except ValidationError as exc:
                error = _errors(exc)
            else:
                return redirect("bulk-enrol-preview", slug=institution.slug, pk=upload.pk)
    return render(
        request,
        "courses/bulk_enrol.html",
        {
            "institution": institution,
            "runs": runs,
            "error": error,
            "selected_run": request.POST.get("run", ""),
            "max_mb": bulk._max_bytes() // (1024 * 1024),
        },
        status=400 if error else 200,
    )


@login_required
def bulk_enrol_preview(request: AuthedRequest, slug: str, pk: int) -> HttpResponse:
    institution = _admin_institution(request, slug)
    upload = get_object_or_404(
        institution_uploads(institution).select_related("run__course"), pk=pk
    )
    if request.method == "POST":
        counts = bulk.bulk_apply(upload=upload, actor=request.user)
        changed = sum(n for k, n in counts.items() if k in bulk.CHANGES)
        messages.success(
            request, _("Applied: %(n)s change(s); lines with errors were skipped.") % {"n": changed}
        )
        return redirect(reverse("bulk-enrol-preview", args=[institution.slug, upload.pk]))
    lines = bulk.bulk_preview(upload=upload, actor=request.user)
    summary: dict[str, int] = {}
    for line in lines:
        summary[line.label] = summary.get(line.label, 0) + 1
    return render(
        request,
        "courses/bulk_preview.html",
        {
            "institution": institution,
            "upload": upload,
            "lines": lines,
            "summary": summary,
            "n_errors": sum(line.is_error for line in lines),
            "n_changes": sum(line.changes for line in lines),
            "overrides": bulk.bulk_overrides(upload.run),
        },
    )


def institution_uploads(institution: Institution):  # type: ignore[no-untyped-def]
    return BulkUpload.objects.filter(institution=institution)


# --------------------------------------------------------------------------- content authoring


def _authored_module(request: AuthedRequest, pk: int) -> Module:
    module = get_object_or_404(Module.objects.select_related("run__course"), pk=pk)
    if not selectors.can_author_run(request.user, module.run_id):
        raise Http404
    return module


def _authored_lesson(request: AuthedRequest, pk: int) -> Lesson:
    lesson = get_object_or_404(Lesson.objects.select_related("module__run__course"), pk=pk)
    if not selectors.can_author_run(request.user, lesson.module.run_id):
        raise Http404
    return lesson


def _outline(run_id: int, anchor: str = "") -> HttpResponse:
    """Back to the run's content page, scrolled to the module or lesson just changed."""
    return redirect(f"{reverse('run-content', args=[run_id])}{'#' + anchor if anchor else ''}")


def _direction(request: HttpRequest) -> int:
    return -1 if request.POST.get("direction") == "up" else 1


@login_required
def content_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    """The run's outline for its staff: modules and lessons, add, rename, reorder, delete, copy
    from an earlier run."""
    run = _authored_run(request, pk)
    module_form = ModuleForm(prefix="module")
    sources = authoring.content_sources(request.user, run)
    copy_form = CopyContentForm(sources=sources, prefix="copy")
    status = 200
    if request.method == "POST":
        module_form = ModuleForm(request.POST, prefix="module")
        if module_form.is_valid():
            try:
                module = authoring.module_create(
                    actor=request.user, run=run, title=module_form.cleaned_data["title"]
                )
            except ValidationError as exc:
                module_form.add_error(None, exc)
            else:
                messages.success(request, _("Module “%(title)s” added.") % {"title": module.title})
                return _outline(run.pk, f"module-{module.pk}")
        status = 400
    return render(
        request,
        "courses/content_edit.html",
        {
            "run": run,
            "modules": selectors.run_content_outline(run),
            "module_form": module_form,
            "copy_form": copy_form if sources.exists() else None,
        },
        status=status,
    )


@login_required
@require_POST
def content_copy(request: AuthedRequest, pk: int) -> HttpResponse:
    run = _authored_run(request, pk)
    form = CopyContentForm(
        request.POST, sources=authoring.content_sources(request.user, run), prefix="copy"
    )
    if not form.is_valid():
        messages.error(request, _("Choose a run to copy from."))
    else:
        try:
            n = authoring.content_copy(
                actor=request.user, source=form.cleaned_data["source"], target=run
            )
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        else:
            messages.success(request, _("Copied %(n)s lesson(s).") % {"n": n})
    return redirect("run-content", pk=run.pk)


@login_required
@require_POST
def module_rename(request: AuthedRequest, pk: int) -> HttpResponse:
    module = _authored_module(request, pk)
    try:
        authoring.module_update(
            actor=request.user, module=module, title=request.POST.get("title", "")
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return _outline(module.run_id, f"module-{module.pk}")


@login_required
@require_POST
def module_move(request: AuthedRequest, pk: int) -> HttpResponse:
    module = _authored_module(request, pk)
    authoring.module_move(actor=request.user, module=module, direction=_direction(request))
    return _outline(module.run_id, f"module-{module.pk}")


@login_required
def module_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    module = _authored_module(request, pk)
    if request.method == "POST":
        authoring.module_delete(actor=request.user, module=module)
        messages.success(request, _("Module “%(title)s” deleted.") % {"title": module.title})
        return redirect("run-content", pk=module.run_id)
    return render(
        request,
        "courses/content_delete.html",
        {
            "run": module.run,
            "object": module,
            "lessons": list(module.lessons.values_list("title", flat=True)),
            "n_done": LessonCompletion.objects.filter(lesson__module=module).count(),
        },
    )


@login_required
@require_POST
def lesson_add(request: AuthedRequest, pk: int) -> HttpResponse:
    module = _authored_module(request, pk)
    try:
        lesson = authoring.lesson_create(
            actor=request.user, module=module, title=request.POST.get("title", "")
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
        return _outline(module.run_id, f"module-{module.pk}")
    return redirect("lesson-edit", pk=lesson.pk)


@login_required
def lesson_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    lesson = _authored_lesson(request, pk)
    form = LessonForm(request.POST or None, instance=lesson, initial={"module": lesson.module})
    attachment_form = AttachmentForm()
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                authoring.lesson_update(
                    actor=request.user,
                    lesson=Lesson.objects.select_related("module").get(pk=lesson.pk),
                    title=data["title"],
                    body=data["body"],
                    module=data["module"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Lesson saved."))
                return redirect("lesson-edit", pk=lesson.pk)
        status = 400
    return _lesson_edit_page(request, lesson, form, attachment_form, status)


def _lesson_edit_page(
    request: HttpRequest,
    lesson: Lesson,
    form: LessonForm,
    attachment_form: AttachmentForm,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "courses/lesson_edit.html",
        {
            "lesson": lesson,
            "run": lesson.module.run,
            "form": form,
            "attachment_form": attachment_form,
            "attachments": lesson.attachments.all(),
        },
        status=status,
    )


@login_required
@require_POST
def lesson_preview(request: AuthedRequest, pk: int) -> HttpResponse:
    """The lesson body as students will see it (htmx swaps it in next to the editor)."""
    _authored_lesson(request, pk)
    return render(
        request,
        "courses/_preview.html",
        {"body": render_markdown(request.POST.get("body", "")[:1_000_000])},
    )


@login_required
@require_POST
def lesson_move(request: AuthedRequest, pk: int) -> HttpResponse:
    lesson = _authored_lesson(request, pk)
    authoring.lesson_move(actor=request.user, lesson=lesson, direction=_direction(request))
    return _outline(lesson.module.run_id, f"lesson-{lesson.pk}")


@login_required
def lesson_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    lesson = _authored_lesson(request, pk)
    if request.method == "POST":
        authoring.lesson_delete(actor=request.user, lesson=lesson)
        messages.success(request, _("Lesson “%(title)s” deleted.") % {"title": lesson.title})
        return redirect("run-content", pk=lesson.module.run_id)
    return render(
        request,
        "courses/content_delete.html",
        {
            "run": lesson.module.run,
            "object": lesson,
            "lessons": [],
            "n_done": lesson.completions.count(),
        },
    )


@login_required
@require_POST
def attachment_upload(request: AuthedRequest, pk: int) -> HttpResponse:
    lesson = _authored_lesson(request, pk)
    attachment_form = AttachmentForm(request.POST, request.FILES)
    if attachment_form.is_valid():
        upload = attachment_form.cleaned_data["file"]
        try:
            attachment = services.attachment_add(
                lesson=lesson,
                actor=request.user,
                file=upload,
                name=attachment_form.cleaned_data["name"].strip(),
            )
        except ValidationError as exc:
            attachment_form.add_error(None, exc)
        else:
            messages.success(request, _("File “%(name)s” added.") % {"name": attachment.name})
            return redirect("lesson-edit", pk=lesson.pk)
    form = LessonForm(instance=lesson, initial={"module": lesson.module})
    return _lesson_edit_page(request, lesson, form, attachment_form, status=400)


@login_required
@require_POST
def attachment_remove(request: AuthedRequest, pk: int) -> HttpResponse:
    attachment = get_object_or_404(Attachment.objects.select_related("lesson__module"), pk=pk)
    if not selectors.can_author_run(request.user, attachment.lesson.module.run_id):
        raise Http404
    authoring.attachment_delete(actor=request.user, attachment=attachment)
    messages.success(request, _("File “%(name)s” removed.") % {"name": attachment.name})
    return redirect("lesson-edit", pk=attachment.lesson_id)


# --------------------------------------------------------------------------- run settings


@login_required
def run_settings(request: AuthedRequest, pk: int) -> HttpResponse:
    """Seats, invite codes and the grading policy of a run, for those who may edit it
    (instructors, and TAs an instructor granted it); instructors also grant TAs editing here.
    Dates and audience are the operators', in Django admin."""
    run = _authored_run(request, pk)
    capacity_form = CapacityForm(initial={"capacity": run.capacity}, prefix="seats")
    invite_form = InviteCodeForm(prefix="invite")
    policy_form = PassMarkForm(initial={"pass_mark": run.pass_mark}, prefix="policy")
    categories = CategoryFormSet(initial=category_initial(run), prefix="cat")
    status = 200
    if request.method == "POST" and request.POST.get("form") == "policy":
        policy_form = PassMarkForm(request.POST, prefix="policy")
        categories = CategoryFormSet(request.POST, initial=category_initial(run), prefix="cat")
        if policy_form.is_valid() and categories.is_valid():
            changes = _category_changes(categories)
            try:
                services.grading_policy_set(
                    run=run,
                    actor=request.user,
                    pass_mark=policy_form.cleaned_data["pass_mark"],
                    categories=changes,
                )
            except ValidationError as exc:
                policy_form.add_error(None, exc)
            else:
                messages.success(request, _("Grading policy saved."))
                return redirect(f"{reverse('run-settings', args=[run.pk])}#grading")
        status = 400
    elif request.method == "POST" and request.POST.get("form") == "seats":
        capacity_form = CapacityForm(request.POST, prefix="seats")
        if capacity_form.is_valid():
            before = run.active_count
            run = services.run_capacity_set(
                run=run, actor=request.user, capacity=capacity_form.cleaned_data["capacity"]
            )
            promoted = run.active_count - before
            messages.success(
                request,
                _("Seats saved.")
                + (
                    " " + _("%(n)s person(s) promoted from the waitlist.") % {"n": promoted}
                    if promoted
                    else ""
                ),
            )
            return redirect("run-settings", pk=run.pk)
        status = 400
    elif request.method == "POST" and request.POST.get("form") == "invite":
        invite_form = InviteCodeForm(request.POST, prefix="invite")
        if invite_form.is_valid():
            data = invite_form.cleaned_data
            try:
                invite = services.invite_code_create(
                    run=run,
                    actor=request.user,
                    code=data["code"],
                    expires_at=data["expires_at"],
                    max_uses=data["max_uses"],
                )
            except ValidationError as exc:
                invite_form.add_error(None, exc)
            else:
                messages.success(
                    request, _("Invite code %(code)s created.") % {"code": invite.code}
                )
                return redirect("run-settings", pk=run.pk)
        status = 400
    elif request.method == "POST" and request.POST.get("form") == "staff":
        row = run.staff.filter(pk=request.POST.get("staff") or 0).first()
        if row is None or not selectors.can_grant_run(request.user, run):
            raise Http404
        try:
            row = services.staff_permission_set(
                actor=request.user, staff=row, can_edit=bool(request.POST.get("can_edit"))
            )
        except PermissionDenied:
            raise Http404 from None
        messages.success(
            request,
            (
                _("%(user)s may now edit this run.")
                if row.can_edit
                else _("%(user)s may no longer edit this run.")
            )
            % {"user": row.user},
        )
        return redirect(f"{reverse('run-settings', args=[run.pk])}#staff")
    return render(
        request,
        "courses/run_settings.html",
        {
            "run": run,
            "staff": run.staff.select_related("user").order_by("role", "user__username"),
            "can_grant": selectors.can_grant_run(request.user, run),
            "capacity_form": capacity_form,
            "invite_form": invite_form,
            "invites": run.invite_codes.select_related("created_by").order_by("-created_at"),
            "counts": selectors.roster_state_counts(run),
            "policy_form": policy_form,
            "categories": categories,
        },
        status=status,
    )


def _category_changes(formset: forms.BaseFormSet) -> list[services.CategoryChange]:
    """The formset's rows as the service wants them: untouched blank extra rows left out."""
    changes: list[services.CategoryChange] = []
    for form in formset.forms:
        data = form.cleaned_data
        if not data or (data.get("id") is None and not form.has_changed()):
            continue
        changes.append(
            {
                "id": data.get("id"),
                "name": data["name"],
                "weight": data["weight"],
                "drop_lowest": data["drop_lowest"],
                "delete": bool(data.get("DELETE")),
            }
        )
    return changes


@login_required
@require_POST
def invite_code_deactivate(request: AuthedRequest, pk: int) -> HttpResponse:
    invite = get_object_or_404(InviteCode.objects.select_related("run"), pk=pk)
    if not selectors.can_author_run(request.user, invite.run_id):
        raise Http404
    services.invite_code_deactivate(invite=invite, actor=request.user)
    messages.success(request, _("Invite code %(code)s no longer works.") % {"code": invite.code})
    return redirect("run-settings", pk=invite.run_id)
