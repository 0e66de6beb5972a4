"""Pages of the course side: a run's settings (seats, invite codes, grading policy)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from academy.typing import AuthedRequest

from .. import selectors, services
from ..forms import (
    CapacityForm,
    CategoryFormSet,
    InviteCodeForm,
    PassMarkForm,
    category_initial,
)
from ..models import (
    InviteCode,
)
from .teaching import _authored_run


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
