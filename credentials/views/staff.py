"""Pages of credentials for staff: the credentials one may see (filtered, counted, exported),
one credential with its audit trail and the forms that revoke, suspend and reinstate it; an
institution's members and what each holds; bulk issuing for a run or a programme, with the
job's progress polled by a static script (``credentials/job.js``).

What a user may not see is not found (404), as elsewhere on the site; the services decide who
may change what, and a refusal with a reason is shown on the page with the input kept.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from academy.exports import csv_row
from academy.models import AuditEvent, Cohort, Institution, Membership, User
from academy.selectors import (
    admin_institution_ids,
    can_manage_institution,
    institutions_for,
    is_operator,
)
from academy.typing import AuthedRequest
from courses.models import CourseRun, Enrolment, EnrolmentState
from courses.selectors import staff_run_ids
from notebooks.selectors import finished_results
from programmes.models import Completion, Programme
from programmes.selectors import managed_programmes

from .. import selectors, services
from ..models import Credential, CredentialKind, IssuanceJob, JobStatus

PAGE_SIZE = 20
PEOPLE_PAGE_SIZE = 50
STATES = [("valid", "Valid"), ("suspended", "Suspended"), ("revoked", "Revoked")]


def _states() -> list[tuple[str, str]]:
    return [("valid", _("Valid")), ("suspended", _("Suspended")), ("revoked", _("Revoked"))]


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**31 else None


def _state_filter(state: str) -> Q:
    if state == "revoked":
        return Q(revoked_at__isnull=False)
    if state == "suspended":
        return Q(revoked_at__isnull=True, suspended_at__isnull=False)
    return Q(revoked_at__isnull=True, suspended_at__isnull=True)


def state_counts(qs: QuerySet[Credential]) -> dict[str, int]:
    """How many valid, suspended and revoked (one query)."""
    counts = qs.order_by().aggregate(
        **{name: Count("pk", filter=_state_filter(name)) for name, _label in STATES}
    )
    return {name: counts[name] or 0 for name, _label in STATES}


# --- the credentials one may see -------------------------------------------------------------


@dataclass
class Filters:
    state: str = ""
    kind: str = ""
    run: int | None = None
    programme: str = ""
    institution: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, query: QueryDict) -> Filters:
        state = query.get("state", "")
        kind = query.get("kind", "")
        return cls(
            state=state if state in dict(STATES) else "",
            kind=kind if kind in CredentialKind.values else "",
            run=_int(query.get("run")),
            programme=query.get("programme", "").strip()[:50],
            institution=query.get("institution", "").strip()[:50],
            q=query.get("q", "").strip()[:100],
        )

    def apply(self, qs: QuerySet[Credential], *, all_states: bool = False) -> QuerySet[Credential]:
        if self.state and not all_states:
            qs = qs.filter(_state_filter(self.state))
        if self.kind:
            qs = qs.filter(kind=self.kind)
        if self.run is not None:
            qs = qs.filter(run_id=self.run)
        if self.programme:
            qs = qs.filter(programme__code=self.programme)
        if self.institution:
            # co-issued by it, or held by one of its members
            members = Membership.objects.filter(institution__slug=self.institution)
            qs = qs.filter(
                Q(institution__slug=self.institution) | Q(user__in=members.values("user_id"))
            )
        if self.q:
            qs = qs.filter(
                Q(user__username__icontains=self.q)
                | Q(user__email__icontains=self.q)
                | Q(user__first_name__icontains=self.q)
                | Q(user__last_name__icontains=self.q)
            )
        return qs


def _may_see_manage_pages(user: User) -> bool:
    """Operators, run staff, programme managers and institution admins; not a student, who
    has the wallet instead."""
    return bool(
        is_operator(user)
        or staff_run_ids(user)
        or admin_institution_ids(user)
        or managed_programmes(user).exists()
    )


@login_required
def manage_list(request: AuthedRequest) -> HttpResponse:
    if not _may_see_manage_pages(request.user):
        raise Http404
    filters = Filters.from_query(request.GET)
    visible = selectors.credentials_for(request.user)
    unfiltered_state = filters.apply(visible, all_states=True)
    credentials = filters.apply(visible).order_by("-issued_at", "-id")
    page = Paginator(credentials, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    operator = is_operator(request.user)
    scope = visible.order_by().values("pk")
    context = {
        "page": page,
        "filters": filters,
        "counts": state_counts(unfiltered_state),
        "states": _states(),
        "kinds": CredentialKind.choices,
        "runs": CourseRun.objects.filter(credentials__in=scope)
        .select_related("course")
        .distinct()
        .order_by("course__code", "title"),
        "programmes": Programme.objects.filter(credentials__in=scope).distinct().order_by("code"),
        "institutions": Institution.objects.order_by("name") if operator else [],
        "query": query.urlencode(),
    }
    return render(request, "credentials/staff_list.html", context)


def export_rows(qs: QuerySet[Credential]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(
        [
            _("credential"),
            _("username"),
            _("first name"),
            _("last name"),
            _("e-mail"),
            _("kind"),
            _("achievement"),
            _("run"),
            _("programme"),
            _("institution"),
            _("issued"),
            _("valid until"),
            _("state"),
            _("reason"),
        ]
    )
    rows = qs.order_by("-issued_at", "-id").values_list(
        "uuid",
        "user__username",
        "user__first_name",
        "user__last_name",
        "user__email",
        "kind",
        "title",
        "run__title",
        "programme__code",
        "institution__name",
        "issued_at",
        "valid_until",
        "revoked_at",
        "suspended_at",
        "revocation_reason",
        "suspension_reason",
    )
    for row in rows.iterator(chunk_size=2000):
        (uuid, *person, kind, title, run, programme, institution, issued, until) = row[:12]
        revoked, suspended, revocation, suspension = row[12:]
        state = "revoked" if revoked else "suspended" if suspended else "valid"
        reason = revocation if revoked else suspension if suspended else ""
        yield writer.writerow(
            csv_row(
                [
                    str(uuid),
                    *person,
                    kind,
                    title,
                    run or "",
                    programme or "",
                    institution or "",
                    issued.isoformat(timespec="seconds"),
                    until.isoformat(timespec="seconds") if until else "",
                    state,
                    reason,
                ]
            )
        )


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def manage_export(request: AuthedRequest) -> StreamingHttpResponse:
    if not _may_see_manage_pages(request.user):
        raise Http404
    qs = Filters.from_query(request.GET).apply(selectors.credentials_for(request.user))
    response = StreamingHttpResponse(export_rows(qs), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="credentials.csv"'
    return response


# --- one credential --------------------------------------------------------------------------


def _credential(request: AuthedRequest, uuid: str) -> Credential:
    qs = selectors.credentials_for(request.user).select_related(
        "revoked_by", "suspended_by", "issued_by", "completion__allocation", "job"
    )
    credential = get_object_or_404(qs, uuid=uuid)
    if credential.user_id == request.user.pk and not selectors.can_manage_credential(
        request.user, credential
    ):
        raise Http404  # one's own credentials are in the wallet
    return credential


def _detail(
    request: AuthedRequest,
    credential: Credential,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    trail = AuditEvent.objects.filter(
        target_type=Credential._meta.label_lower, target_id=str(credential.pk)
    ).order_by("created_at", "id")
    context = {
        "credential": credential,
        "may_manage": selectors.can_manage_credential(request.user, credential),
        "trail": trail,
        "errors": errors or {},
        "posted": request.POST if request.method == "POST" else {},
        "public_url": services.credential_url(credential),
        "status_list_url": reverse(
            "credential-status-list", args=[credential.status_list, "revocation"]
        ),
    }
    return render(request, "credentials/staff_detail.html", context, status=status)


@login_required
def manage_detail(request: AuthedRequest, uuid: str) -> HttpResponse:
    credential = _credential(request, uuid)
    if request.method != "POST":
        return _detail(request, credential)
    if not selectors.can_manage_credential(request.user, credential):
        raise Http404
    action = request.POST.get("action", "")
    reason = request.POST.get("reason", "")
    try:
        if action == "revoke":
            if not request.POST.get("confirm"):
                return _detail(
                    request,
                    credential,
                    errors={"revoke": _("Tick the box to confirm: a revocation is final.")},
                    status=400,
                )
            services.revoke(actor=request.user, credential=credential, reason=reason)
            done = _("The credential is revoked; verifiers now see it revoked.")
        elif action == "suspend":
            services.suspend(actor=request.user, credential=credential, reason=reason)
            done = _("The credential is suspended until it is reinstated.")
        elif action == "reinstate":
            services.reinstate(actor=request.user, credential=credential)
            done = _("The credential is reinstated: it verifies again.")
        else:
            return _detail(request, credential, status=400)
    except PermissionDenied:
        raise Http404 from None
    except ValueError as exc:
        return _detail(request, credential, errors={action: str(exc)}, status=400)
    messages.success(request, done)
    return redirect("credential-manage-detail", uuid=credential.uuid)


# --- an institution's members and what they hold ---------------------------------------------


@login_required
def institution_credentials(request: AuthedRequest, slug: str) -> HttpResponse:
    institution = get_object_or_404(institutions_for(request.user), slug=slug)
    if not can_manage_institution(request.user, institution):
        raise Http404
    cohorts = Cohort.objects.filter(institution=institution).order_by("name")
    cohort = None
    cohort_id = _int(request.GET.get("cohort"))
    if cohort_id is not None:
        cohort = cohorts.filter(pk=cohort_id).first()
    members = User.objects.filter(
        pk__in=Membership.objects.filter(institution=institution).values("user_id")
    )
    if cohort is not None:
        members = members.filter(pk__in=cohort.members.values("pk"))
    q = request.GET.get("q", "").strip()[:100]
    if q:
        members = members.filter(
            Q(username__icontains=q)
            | Q(email__icontains=q)
            | Q(first_name__icontains=q)
            | Q(last_name__icontains=q)
        )
    members = members.order_by("last_name", "first_name", "username")
    page = Paginator(members, PEOPLE_PAGE_SIZE).get_page(request.GET.get("page"))
    held = selectors.credentials_for(request.user).filter(user__in=members.values("pk"))
    by_user: dict[int, list[Credential]] = defaultdict(list)
    for credential in held.filter(user__in=[m.pk for m in page]).order_by("-issued_at"):
        by_user[credential.user_id].append(credential)
    rows = [(member, by_user.get(member.pk, [])) for member in page]
    by_kind = {
        kind: state_counts(held.filter(kind=kind)) for kind, _label in CredentialKind.choices
    }
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "institution": institution,
        "cohorts": cohorts,
        "cohort": cohort,
        "q": q,
        "page": page,
        "rows": rows,
        "kinds": [(label, by_kind[kind]) for kind, label in CredentialKind.choices],
        "states": _states(),
        "holders": held.order_by().values("user_id").distinct().count(),
        "members": page.paginator.count,
        "query": query.urlencode(),
    }
    return render(request, "credentials/staff_institution.html", context)


# --- bulk issuing ----------------------------------------------------------------------------


def _start(
    request: AuthedRequest, *, run: CourseRun | None = None, programme: Programme | None = None
) -> HttpResponse:
    try:
        job = services.start_job(actor=request.user, run=run, programme=programme)
    except PermissionDenied:
        raise Http404 from None
    messages.success(request, _("Issuing started; this page shows its progress."))
    return redirect("credential-job", pk=job.pk)


@login_required
def run_credentials(request: AuthedRequest, pk: int) -> HttpResponse:
    """Who passed the run, who holds its certificate, who is owed one; issue to everyone."""
    run = get_object_or_404(CourseRun.objects.select_related("course"), pk=pk)
    if not selectors.can_issue_for_run(request.user, run):
        raise Http404
    if request.method == "POST":
        return _start(request, run=run)
    enrolments = (
        Enrolment.objects.filter(
            run=run, state__in=[EnrolmentState.ACTIVE, EnrolmentState.COMPLETED]
        )
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user__username")
    )
    user_ids = [e.user_id for e in enrolments]
    results = {r.user_id: r for r in finished_results(user_ids) if r.run_id == run.pk}
    held = {c.user_id: c for c in Credential.objects.filter(run=run)}
    rows = []
    summary = {"enrolled": len(user_ids), "passed": 0, "held": 0, "owed": 0}
    for enrolment in enrolments:
        result = results.get(enrolment.user_id)
        credential = held.get(enrolment.user_id)
        passed = result is not None and result.passed
        summary["passed"] += passed
        summary["held"] += credential is not None
        summary["owed"] += passed and credential is None
        rows.append({"user": enrolment.user, "result": result, "credential": credential})
    page = Paginator(rows, PEOPLE_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "run": run,
        "page": page,
        "summary": summary,
        "jobs": selectors.jobs_for(request.user).filter(run=run)[:10],
        "ended": run.ends_at is not None and run.ends_at < timezone.now(),
    }
    return render(request, "credentials/staff_run.html", context)


@login_required
def programme_credentials(request: AuthedRequest, code: str) -> HttpResponse:
    """A programme's completions: who holds the certificate, who is owed one, who is flagged."""
    programme = get_object_or_404(Programme.objects.select_related("owner"), code=code)
    if not selectors.can_issue_for_programme(request.user, programme):
        raise Http404
    if request.method == "POST":
        return _start(request, programme=programme)
    completions = (
        Completion.objects.filter(allocation__programme=programme)
        .select_related("allocation__user", "version", "credential")
        .order_by("-completed_at", "pk")
    )
    summary = completions.aggregate(
        total=Count("pk"),
        flagged=Count("pk", filter=Q(needs_review=True)),
        held=Count("pk", filter=Q(credential__isnull=False)),
        owed=Count("pk", filter=Q(credential__isnull=True, needs_review=False)),
    )
    page = Paginator(completions, PEOPLE_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "programme": programme,
        "page": page,
        "summary": summary,
        "jobs": selectors.jobs_for(request.user).filter(programme=programme)[:10],
    }
    return render(request, "credentials/staff_programme.html", context)


def _job(request: AuthedRequest, pk: int) -> IssuanceJob:
    return get_object_or_404(selectors.jobs_for(request.user), pk=pk)


def job_data(job: IssuanceJob) -> dict[str, Any]:
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": str(JobStatus(job.status).label),
        "done": job.status in (JobStatus.DONE, JobStatus.FAILED),
        "total": job.total,
        "processed": job.processed,
        "issued": job.issued,
        "skipped": job.skipped,
        "ineligible": job.ineligible,
        "percent": job.percent if job.status != JobStatus.QUEUED else 0,
        "error": job.error,
    }


@login_required
def job_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    if job.run is not None:
        back = reverse("run-credentials", args=[job.run.pk])
    else:
        assert job.programme is not None
        back = reverse("programme-credentials", args=[job.programme.code])
    return render(
        request, "credentials/job.html", {"job": job, "data": job_data(job), "back": back}
    )


@login_required
@require_GET
def job_status(request: AuthedRequest, pk: int) -> JsonResponse:
    response = JsonResponse(job_data(_job(request, pk)))
    response["Cache-Control"] = "no-store"
    return response


urlpatterns: list[URLPattern] = [
    path("credentials/manage/", manage_list, name="credential-manage"),
    path("credentials/manage.csv", manage_export, name="credential-manage-export"),
    path("credentials/manage/<uuid:uuid>/", manage_detail, name="credential-manage-detail"),
    path("credentials/jobs/<int:pk>/", job_detail, name="credential-job"),
    path("credentials/jobs/<int:pk>/status", job_status, name="credential-job-status"),
    path(
        "institutions/<slug:slug>/credentials/",
        institution_credentials,
        name="institution-credentials",
    ),
    path("runs/<int:pk>/credentials/", run_credentials, name="run-credentials"),
    path(
        "manage/programmes/<slug:code>/credentials/",
        programme_credentials,
        name="programme-credentials",
    ),
]
