"""Writes of learning outcomes: each in one transaction with an audit row, refused in words
when the input is wrong (a cell the lab does not grade, another course's category, a parent
from elsewhere, a cycle).  Who may: a programme's managers (``can_manage_programme``) for its
outcomes; operators and the authors of one of a course's runs for the course's."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from academy.audit import audit
from academy.models import User
from courses.models import GradingCategory
from notebooks.models import Lab

from ..models import EscoSkill, LearningOutcome, OutcomeAlignment
from . import esco, selectors

FIELDS = ("code", "title", "title_sr", "method", "mastery_percent", "decay_percent", "n_times")


def _require(condition: bool) -> None:
    if not condition:
        raise PermissionDenied


def _audit(actor: User, action: str, outcome: LearningOutcome, **data: Any) -> None:
    programme = outcome.programme
    audit(
        actor,
        action,
        programme if programme is not None else outcome.course,
        institution=programme.owner if programme is not None else None,
        outcome=str(outcome)[:200],
        **data,
    )


def _check_parent(outcome: LearningOutcome, parent: LearningOutcome | None) -> None:
    if parent is None:
        return
    if (parent.programme_id, parent.course_id) != (outcome.programme_id, outcome.course_id):
        raise ValidationError(_("The parent outcome belongs to another programme or course."))
    if outcome.pk is None:
        return
    node: LearningOutcome | None = parent
    seen: set[int] = set()
    while node is not None and node.pk not in seen:
        if node.pk == outcome.pk:
            raise ValidationError(
                _("An outcome cannot go under itself or under one of its own outcomes.")
            )
        seen.add(node.pk)
        node = node.parent


def _next_position(outcome: LearningOutcome) -> int:
    siblings = LearningOutcome.objects.filter(
        selectors.same_tree(outcome), parent=outcome.parent
    ).exclude(pk=outcome.pk)
    last = siblings.order_by("-position").values_list("position", flat=True).first()
    return (last or 0) + 1


def outcome_create(
    *,
    actor: User,
    title: str,
    programme: Any = None,
    course: Any = None,
    parent: LearningOutcome | None = None,
    esco_skills: Iterable[EscoSkill] = (),
    **fields: Any,
) -> LearningOutcome:
    """A new outcome of ``programme`` or ``course`` (exactly one), last under ``parent``."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValidationError(_("Unknown fields: %(names)s.") % {"names": ", ".join(unknown)})
    if (programme is None) == (course is None):
        raise ValidationError(_("An outcome belongs to a programme or to a course."))
    outcome = LearningOutcome(programme=programme, course=course, parent=parent, title=title)
    for name, value in fields.items():
        setattr(outcome, name, value)
    _require(selectors.can_edit_outcome(actor, outcome))
    _check_parent(outcome, parent)
    outcome.position = _next_position(outcome)
    outcome.full_clean()
    with transaction.atomic():
        outcome.save()
        outcome.esco_skills.set(list(esco_skills))
        _audit(actor, "outcome.create", outcome)
    return outcome


def outcome_update(
    *,
    actor: User,
    outcome: LearningOutcome,
    esco_skills: Iterable[EscoSkill] | None = None,
    **fields: Any,
) -> LearningOutcome:
    """Change an outcome's wording, mastery rule or ESCO skills."""
    _require(selectors.can_edit_outcome(actor, outcome))
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValidationError(
            _("These cannot be changed: %(names)s.") % {"names": ", ".join(unknown)}
        )
    for name, value in fields.items():
        setattr(outcome, name, value)
    outcome.full_clean()
    with transaction.atomic():
        outcome.save()
        if esco_skills is not None:
            outcome.esco_skills.set(list(esco_skills))
        _audit(
            actor,
            "outcome.update",
            outcome,
            **{k: str(v) for k, v in fields.items()},
            **({"esco": len(list(outcome.esco_skills.all()))} if esco_skills is not None else {}),
        )
    return outcome


def outcome_move(
    *, actor: User, outcome: LearningOutcome, parent: LearningOutcome | None
) -> LearningOutcome:
    """Put the outcome (with its own outcomes) last under ``parent`` (None: at the top)."""
    _require(selectors.can_edit_outcome(actor, outcome))
    with transaction.atomic():
        _check_parent(outcome, parent)
        outcome.parent = parent
        outcome.position = _next_position(outcome)
        outcome.save(update_fields=["parent", "position"])
        _audit(actor, "outcome.move", outcome, parent=str(parent) if parent else "")
    return outcome


def outcome_delete(*, actor: User, outcome: LearningOutcome) -> None:
    """Remove the outcome, its own outcomes and their alignments."""
    _require(selectors.can_edit_outcome(actor, outcome))
    with transaction.atomic():
        below = selectors.descendant_count(outcome)
        _audit(actor, "outcome.delete", outcome, removed_below=below)
        outcome.delete()


def alignment_add(
    *,
    actor: User,
    outcome: LearningOutcome,
    lab: Lab | None = None,
    grade_id: str = "",
    category: GradingCategory | None = None,
) -> OutcomeAlignment:
    """Align ``outcome`` to a graded cell of ``lab`` (by its grade id) or to a run's grading
    category.  The lab or category must belong to the outcome's course (a programme's outcome:
    to one of the courses its requirement trees name)."""
    _require(selectors.can_edit_outcome(actor, outcome))
    if (lab is None) == (category is None):
        raise ValidationError(_("Align to a lab's graded cell or to a grading category."))
    courses = selectors.outcome_course_ids(outcome)
    if lab is not None:
        grade_id = grade_id.strip()
        if lab.run.course_id not in courses:
            raise ValidationError(
                _("The lab “%(lab)s” belongs to a course this outcome is not about.")
                % {"lab": lab.title}
            )
        graded = selectors.graded_cell_ids(lab)
        if not graded:
            raise ValidationError(
                _("The lab “%(lab)s” has no uploaded version with graded cells yet.")
                % {"lab": lab.title}
            )
        if grade_id not in graded:
            raise ValidationError(
                _(
                    "The latest version of “%(lab)s” does not grade a cell “%(cell)s”; its "
                    "graded cells are: %(cells)s."
                )
                % {"lab": lab.title, "cell": grade_id, "cells": ", ".join(graded)}
            )
    elif category is not None and category.run.course_id not in courses:
        raise ValidationError(
            _("The grading category “%(name)s” belongs to a course this outcome is not about.")
            % {"name": category.name}
        )
    with transaction.atomic():
        if OutcomeAlignment.objects.filter(
            outcome=outcome, lab=lab, grade_id=grade_id, category=category
        ).exists():
            raise ValidationError(_("The outcome is already aligned to this."))
        alignment = OutcomeAlignment.objects.create(
            outcome=outcome, lab=lab, grade_id=grade_id, category=category
        )
        _audit(
            actor,
            "outcome.align",
            outcome,
            lab=lab.pk if lab else None,
            grade_id=grade_id,
            category=category.pk if category else None,
        )
    return alignment


def alignment_remove(*, actor: User, alignment: OutcomeAlignment) -> None:
    outcome = alignment.outcome
    _require(selectors.can_edit_outcome(actor, outcome))
    with transaction.atomic():
        _audit(
            actor,
            "outcome.unalign",
            outcome,
            lab=alignment.lab_id,
            grade_id=alignment.grade_id,
            category=alignment.category_id,
        )
        alignment.delete()


def esco_skills_load(skills: Iterable[esco.Skill]) -> tuple[int, int]:
    """Insert or update the skills by URI (the system's act: an audit row without actor).
    Returns (added, updated)."""
    by_uri = {s.uri: s for s in skills}  # a URI twice in a file: the last row wins
    with transaction.atomic():
        existing = set(EscoSkill.objects.filter(uri__in=list(by_uri)).values_list("uri", flat=True))
        EscoSkill.objects.bulk_create(
            [
                EscoSkill(uri=s.uri, label=s.label, description=s.description)
                for s in by_uri.values()
            ],
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["uri"],
            update_fields=["label", "description"],
        )
        added = len(by_uri) - len(existing)
        audit(None, "esco.load", None, added=added, updated=len(existing))
    return added, len(existing)
