"""Pages of the people side.  Every object is fetched through the access layer."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .forms import AcceptInvitationForm, CohortForm, InvitationForm
from .models import Institution, Invitation, Membership, Role, User
from .typing import AuthedRequest


def _managed_institution(request: AuthedRequest, slug: str) -> Institution:
    """The institution named in the URL, if the user may manage it; 404 otherwise (an admin
    of another institution learns nothing, not even that it exists)."""
    institution = get_object_or_404(selectors.institutions_for(request.user), slug=slug)
    if not selectors.can_manage_institution(request.user, institution):
        raise Http404
    return institution


@login_required
def institution_list(request: AuthedRequest) -> HttpResponse:
    institutions = selectors.institutions_for(request.user).annotate(
        n_members=Count("memberships", distinct=True), n_cohorts=Count("cohorts", distinct=True)
    )
    admin_of = selectors.admin_institution_ids(request.user)
    return render(
        request,
        "academy/institution_list.html",
        {
            "institutions": institutions,
            "admin_of": admin_of,
            "operator": selectors.is_operator(request.user),
            "waiting": services.invitations_waiting_for(request.user),
        },
    )


@login_required
def institution_detail(request: AuthedRequest, slug: str) -> HttpResponse:
    institution = _managed_institution(request, slug)
    cohorts = institution.cohorts.annotate(n_members=Count("members"))
    memberships = (
        Membership.objects.filter(institution=institution)
        .select_related("user")
        .order_by("role", "user__last_name", "user__username")
    )
    role = request.GET.get("role")
    if role in Role.values:
        memberships = memberships.filter(role=role)
    q = request.GET.get("q", "").strip()
    if q:
        memberships = memberships.filter(user__email__icontains=q) | memberships.filter(
            user__last_name__icontains=q
        )
    page = Paginator(memberships, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "academy/institution_detail.html",
        {
            "institution": institution,
            "cohorts": cohorts,
            "page": page,
            "roles": Role.choices,
            "role": role,
            "q": q,
            "invitations": selectors.invitations_for(request.user).filter(
                institution=institution, accepted_at__isnull=True
            )[:20],
            "invite_form": InvitationForm(institution=institution),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def cohort_edit(request: AuthedRequest, slug: str, pk: int | None = None) -> HttpResponse:
    institution = _managed_institution(request, slug)
    cohort = get_object_or_404(institution.cohorts, pk=pk) if pk else None
    form = CohortForm(request.POST or None, instance=cohort)
    if request.method == "POST" and form.is_valid():
        try:
            if cohort is None:
                cohort = services.cohort_create(
                    actor=request.user, institution=institution, **form.cleaned_data
                )
            else:
                services.cohort_update(actor=request.user, cohort=cohort, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Cohort saved."))
            return redirect("cohort-detail", slug=institution.slug, pk=cohort.pk)
    return render(
        request,
        "academy/cohort_form.html",
        {"institution": institution, "form": form, "cohort": cohort},
    )


@login_required
def cohort_detail(request: AuthedRequest, slug: str, pk: int) -> HttpResponse:
    institution = _managed_institution(request, slug)
    cohort = get_object_or_404(institution.cohorts, pk=pk)
    members = cohort.members.order_by("last_name", "username")
    page = Paginator(members, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "academy/cohort_detail.html",
        {"institution": institution, "cohort": cohort, "page": page},
    )


@login_required
@require_POST
def invitation_create(request: AuthedRequest, slug: str) -> HttpResponse:
    institution = _managed_institution(request, slug)
    form = InvitationForm(request.POST, institution=institution)
    if form.is_valid():
        try:
            services.membership_invite(
                actor=request.user, institution=institution, **form.cleaned_data
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": form.cleaned_data["email"]}
            )
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(map(str, errors)))
    return redirect("institution-detail", slug=institution.slug)


@login_required
def audit_log(request: AuthedRequest, slug: str) -> HttpResponse:
    institution = _managed_institution(request, slug)
    events = selectors.audit_events_for(request.user).filter(institution=institution)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "academy/audit_log.html", {"institution": institution, "page": page})


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The invited address's owner answers.  A new person chooses a login and password; an
    existing account must be signed in (holding the link is not enough to act for it) and
    accepts or declines."""
    try:
        invitation = services.invitation_from_token(token)
    except ValidationError as exc:
        return render(
            request, "academy/invitation_invalid.html", {"errors": exc.messages}, status=400
        )
    if services.invitation_account_exists(invitation):
        return _answer_as_account(request, token, invitation)
    form = AcceptInvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.invitation_accept(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as exc:
            for field, errors in exc.error_dict.items() if hasattr(exc, "error_dict") else []:
                form.add_error(field if field in form.fields else None, errors)
            if not hasattr(exc, "error_dict"):
                form.add_error("password1", exc)
        else:
            messages.success(request, _("Your account is ready. Please sign in."))
            return redirect("login")
    return render(
        request, "academy/invitation_accept.html", {"invitation": invitation, "form": form}
    )


def _answer_as_account(request: HttpRequest, token: str, invitation: Invitation) -> HttpResponse:
    context: dict[str, object] = {"invitation": invitation, "token": token}
    if not request.user.is_authenticated:
        context["login_url"] = f"{reverse('login')}?{urlencode({'next': request.path})}"
        return render(request, "academy/invitation_answer.html", context, status=200)
    user = cast(User, request.user)
    if user.email.lower() != invitation.email.lower():
        context["wrong_account"] = True
        return render(request, "academy/invitation_answer.html", context, status=403)
    if request.method == "POST":
        try:
            if "decline" in request.POST:
                services.invitation_decline(token=token, user=user)
                messages.success(
                    request,
                    _("You declined the invitation of %(institution)s.")
                    % {"institution": invitation.institution.name},
                )
            else:
                services.invitation_accept_as(token=token, user=user)
                messages.success(
                    request,
                    _("You are now a member of %(institution)s.")
                    % {"institution": invitation.institution.name},
                )
        except ValidationError as exc:
            return render(
                request, "academy/invitation_invalid.html", {"errors": exc.messages}, status=400
            )
        return redirect("institution-list")
    return render(request, "academy/invitation_answer.html", context)
