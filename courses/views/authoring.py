"""Pages of the course side: content authoring (modules, lessons, files, copying a run)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from academy.typing import AuthedRequest

from .. import authoring, selectors, services
from ..forms import (
    AttachmentForm,
    CopyContentForm,
    LessonForm,
    ModuleForm,
)
from ..markdown import render_markdown
from ..models import (
    Attachment,
    Lesson,
    LessonCompletion,
    Module,
)
from ._common import _errors
from .teaching import _authored_run


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
