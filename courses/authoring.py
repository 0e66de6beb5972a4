"""Writes of a run's content: modules, lessons and their files, by the run's staff.

The same rules as ``services``: each function checks the actor's right (staff of the run or an
operator), changes state in one transaction and writes an audit row.  Order is a dense
``position`` (0, 1, 2, ...) among siblings; every change to it locks the run row first, so two
instructors moving things at once are serialised instead of leaving duplicate positions.
"""

from __future__ import annotations

import os
import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max, prefetch_related_objects
from django.utils.translation import gettext as _

from academy.audit import audit
from academy.files import stored_type
from academy.models import User
from academy.selectors import is_operator

from . import selectors
from .models import Attachment, CourseRun, Lesson, Module
from .services import lock_run

TITLE_MAX = 200
# How a lesson body links one of its files: ``![plot](/attachments/12/)``.
ATTACHMENT_LINK = re.compile(r"(/attachments/)(\d+)/")


def _require_manager(actor: User, run: CourseRun | int) -> None:
    # Content is the instructors' (and TAs' an instructor granted editing to).
    if not selectors.can_author_run(actor, run):
        raise PermissionDenied


def _title(raw: str) -> str:
    title = (raw or "").strip()
    if not title:
        raise ValidationError({"title": _("Give it a title.")})
    if len(title) > TITLE_MAX:
        raise ValidationError({"title": _("At most %(n)s characters.") % {"n": TITLE_MAX}})
    return title


def _next_position(queryset) -> int:  # type: ignore[no-untyped-def]
    top = queryset.aggregate(top=Max("position"))["top"]
    return 0 if top is None else top + 1


def _renumber(items: list) -> None:  # type: ignore[type-arg]
    changed = []
    for position, item in enumerate(items):
        if item.position != position:
            item.position = position
            changed.append(item)
    if changed:
        type(changed[0]).objects.bulk_update(changed, ["position"])


def _move(items: list, item, direction: int) -> bool:  # type: ignore[no-untyped-def, type-arg]
    """Swap ``item`` with its neighbour up (-1) or down (+1) and renumber densely."""
    index = next(i for i, other in enumerate(items) if other.pk == item.pk)
    target = index + (1 if direction > 0 else -1)
    if not 0 <= target < len(items):
        return False
    items[index], items[target] = items[target], items[index]
    _renumber(items)
    return True


# --------------------------------------------------------------------------- modules


def module_create(*, actor: User, run: CourseRun, title: str) -> Module:
    _require_manager(actor, run)
    title = _title(title)
    with transaction.atomic():
        lock_run(run.pk)
        module = Module.objects.create(
            run=run, title=title, position=_next_position(Module.objects.filter(run=run))
        )
        audit(actor, "module.create", module, run=run.pk, title=title)
    return module


def module_update(*, actor: User, module: Module, title: str) -> Module:
    _require_manager(actor, module.run_id)
    title = _title(title)
    with transaction.atomic():
        before = module.title
        module.title = title
        module.save(update_fields=["title"])
        audit(actor, "module.update", module, run=module.run_id, title=title, was=before)
    return module


def module_move(*, actor: User, module: Module, direction: int) -> bool:
    _require_manager(actor, module.run_id)
    with transaction.atomic():
        lock_run(module.run_id)
        siblings = list(Module.objects.filter(run_id=module.run_id).order_by("position", "id"))
        moved = _move(siblings, module, direction)
        if moved:
            audit(actor, "module.move", module, run=module.run_id, direction=direction)
    return moved


def module_delete(*, actor: User, module: Module) -> None:
    """Delete a module with its lessons, their completions and files."""
    _require_manager(actor, module.run_id)
    with transaction.atomic():
        lock_run(module.run_id)
        lessons = list(module.lessons.values_list("title", flat=True))
        files = list(
            Attachment.objects.filter(lesson__module=module).values_list("file", flat=True)
        )
        audit(
            actor, "module.delete", module, run=module.run_id, title=module.title, lessons=lessons
        )
        module.delete()
        _renumber(list(Module.objects.filter(run_id=module.run_id).order_by("position", "id")))
        transaction.on_commit(lambda: _remove_files(files))


# --------------------------------------------------------------------------- lessons


def lesson_create(*, actor: User, module: Module, title: str, body: str = "") -> Lesson:
    _require_manager(actor, module.run_id)
    title = _title(title)
    with transaction.atomic():
        lock_run(module.run_id)
        lesson = Lesson.objects.create(
            module=module,
            title=title,
            body=body,
            position=_next_position(Lesson.objects.filter(module=module)),
        )
        audit(actor, "lesson.create", lesson, run=module.run_id, module=module.pk, title=title)
    return lesson


def lesson_update(
    *, actor: User, lesson: Lesson, title: str, body: str, module: Module | None = None
) -> Lesson:
    """Change title and body; ``module`` moves the lesson to the end of another module of the
    same run."""
    run_id = lesson.module.run_id
    _require_manager(actor, run_id)
    title = _title(title)
    if module is not None and module.run_id != run_id:
        raise ValidationError({"module": _("Choose a module of this run.")})
    with transaction.atomic():
        lock_run(run_id)
        fields = ["title", "body"]
        old_module_id = lesson.module_id
        if module is not None and module.pk != old_module_id:
            lesson.module = module
            lesson.position = _next_position(Lesson.objects.filter(module=module))
            fields += ["module", "position"]
        changed = [
            name for name, new in (("title", title), ("body", body)) if getattr(lesson, name) != new
        ]
        lesson.title, lesson.body = title, body
        lesson.save(update_fields=fields)
        if lesson.module_id != old_module_id:
            _renumber(
                list(Lesson.objects.filter(module_id=old_module_id).order_by("position", "id"))
            )
            changed.append("module")
        audit(actor, "lesson.update", lesson, run=run_id, changed=changed)
    return lesson


def lesson_move(*, actor: User, lesson: Lesson, direction: int) -> bool:
    run_id = lesson.module.run_id
    _require_manager(actor, run_id)
    with transaction.atomic():
        lock_run(run_id)
        siblings = list(
            Lesson.objects.filter(module_id=lesson.module_id).order_by("position", "id")
        )
        moved = _move(siblings, lesson, direction)
        if moved:
            audit(actor, "lesson.move", lesson, run=run_id, direction=direction)
    return moved


def lesson_delete(*, actor: User, lesson: Lesson) -> None:
    run_id = lesson.module.run_id
    _require_manager(actor, run_id)
    with transaction.atomic():
        lock_run(run_id)
        files = list(lesson.attachments.values_list("file", flat=True))
        audit(actor, "lesson.delete", lesson, run=run_id, title=lesson.title)
        module_id = lesson.module_id
        lesson.delete()
        _renumber(list(Lesson.objects.filter(module_id=module_id).order_by("position", "id")))
        transaction.on_commit(lambda: _remove_files(files))


# --------------------------------------------------------------------------- files


def attachment_delete(*, actor: User, attachment: Attachment) -> None:
    run_id = attachment.lesson.module.run_id
    _require_manager(actor, run_id)
    with transaction.atomic():
        name = attachment.file.name or ""
        audit(
            actor,
            "lesson.attachment_delete",
            attachment,
            run=run_id,
            lesson=attachment.lesson_id,
            name=attachment.name,
        )
        attachment.delete()
        transaction.on_commit(lambda: _remove_files([name]))


def _relink(body: str, renamed: dict[str, str]) -> str:
    return ATTACHMENT_LINK.sub(lambda m: f"{m[1]}{renamed.get(m[2], m[2])}/", body)


def _remove_files(names: list[str]) -> None:
    storage = Attachment._meta.get_field("file").storage  # type: ignore[attr-defined]
    for name in names:
        if name and not Attachment.objects.filter(file=name).exists():
            storage.delete(name)


# --------------------------------------------------------------------------- copy from a run


def content_sources(actor: User, run: CourseRun):  # type: ignore[no-untyped-def]
    """Other runs of the same course that the actor manages and that have content."""
    runs = CourseRun.objects.filter(course_id=run.course_id, modules__isnull=False).exclude(
        pk=run.pk
    )
    if not selectors.can_author_run(actor, run):
        return runs.none()
    if not is_operator(actor):
        runs = runs.filter(pk__in=selectors.staff_run_ids(actor))
    return runs.distinct().order_by("-starts_at")


def content_copy(*, actor: User, source: CourseRun, target: CourseRun) -> int:
    """Append a copy of ``source``'s modules, lessons and files to ``target`` (a rerun of the same
    course).  Files are copied, not shared, so deleting one in either run leaves the other intact.
    Returns the number of lessons copied."""
    _require_manager(actor, target)
    if not selectors.can_teach_run(actor, source):  # reading the source is enough
        raise PermissionDenied
    if source.pk == target.pk or source.course_id != target.course_id:
        raise ValidationError(_("Copy content only from another run of the same course."))
    n_lessons = 0
    with transaction.atomic():
        lock_run(target.pk)
        start = _next_position(Module.objects.filter(run=target))
        modules = selectors.run_content(source)
        prefetch_related_objects(modules, "lessons__attachments")
        for offset, module in enumerate(modules):
            copy = Module.objects.create(run=target, title=module.title, position=start + offset)
            for lesson in module.lessons.all():
                new = Lesson.objects.create(
                    module=copy, title=lesson.title, body=lesson.body, position=lesson.position
                )
                n_lessons += 1
                renamed: dict[str, str] = {}
                for attachment in lesson.attachments.all():
                    try:
                        with attachment.file.open("rb") as fh:
                            content = ContentFile(
                                fh.read(), name=os.path.basename(attachment.file.name or "file")
                            )
                    except OSError:
                        raise ValidationError(
                            _(
                                "The file “%(name)s” of the lesson “%(lesson)s” is missing "
                                "from storage: upload it again there, then copy."
                            )
                            % {"name": attachment.name, "lesson": lesson.title}
                        ) from None
                    new_attachment = Attachment.objects.create(
                        lesson=new,
                        file=content,
                        name=attachment.name,
                        size=attachment.size,
                        content_type=stored_type(content),
                    )
                    renamed[str(attachment.pk)] = str(new_attachment.pk)
                if renamed:
                    # The body links its own files by id: point them at the copies.
                    new.body = _relink(new.body, renamed)
                    new.save(update_fields=["body"])
        audit(actor, "run.content_copy", target, source=source.pk, lessons=n_lessons)
    return n_lessons
