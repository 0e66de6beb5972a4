"""Pages of the course side: content."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from academy.files import serve_user_file
from academy.typing import AuthedRequest

from .. import selectors, services
from ..markdown import render_markdown
from ..models import (
    Attachment,
    CourseRun,
    Lesson,
)
from ..signals import learning_event
from .catalogue import _visible_run


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
    if not selectors.can_teach_run(request.user, lesson.module.run_id):
        # A person with a seat read it (staff previews are not learning).
        learning_event.send(
            sender=Lesson,
            user=request.user,
            kind="lesson_viewed",
            run=lesson.module.run,
            object_id=lesson.pk,
        )
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
