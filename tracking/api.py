"""REST API of cohort tracking (``/api/v1/tracking/institutions/{slug}/…``): an institution's
own reporting tools read the same figures as its dashboard, cohort and person pages, from the
same selectors (``tracking.selectors``).

Only operators and that institution's admins: anyone else gets a 404, as for an institution
that does not exist.  Every figure is read from rows whose stored ``institution`` is this one
(snapshots, daily activity), and GPU usage, programmes and credentials only where they belong
to the institution's cohorts or to enrolments attributed to it (``tracking.rules.attribute``):
a person in two institutions shows in each only with what they do as its member.

- ``cohorts/``: per cohort, people, enrolments, completion and pass rates (percent), mean
  grade, programme progress, GPU-hours against budgets, last activity (paginated).
- ``at-risk/``: enrolments needing attention, each with its reasons in words (paginated;
  ``reason`` keeps one kind).
- ``trends/``: weekly series (active learners, completions, passes, GPU-hours) from ``since``
  to ``until`` (default: the last 12 weeks).
- ``cohorts/{id}/people/``: one row per member of the cohort (paginated, ``search``,
  ``ordering``).
- ``people/{user_id}/``: one member as the institution sees them.
- ``activity/``: the daily roll-ups (paginated; ``since``, ``until``, ``user``).

The dashboard's filters apply to all but the last two: ``cohort`` (id), ``programme`` and
``course`` (codes), ``run`` (id), ``since``/``until`` (dates).  Bad filters are a 400 naming
the parameter, an unknown cohort or person a 404, never a 500.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import filters, generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from academy.models import Cohort, Institution, User
from academy.typing import authed_user
from courses.models import Course, CourseRun
from programmes.models import Programme

from . import selectors
from .models import DailyActivity

MAX_RANGE_DAYS = 731
RISK_CODES = ["inactive", "failing", "falling", "missed", "waitlisted"]
# The at-risk list is ranked in full before it is paged (an institution has a few thousand).
AT_RISK_MAX = 100_000


# ---- query parameters ---------------------------------------------------------------------


class TrackingQuery(serializers.Serializer):
    """The dashboard's filters; ``context["institution"]`` is the URL's.  Unknown values are
    a 400 naming the parameter."""

    since = serializers.DateField(
        required=False, help_text="First day (default: 12 weeks before ``until``)."
    )
    until = serializers.DateField(required=False, help_text="Last day (default: today).")
    cohort = serializers.IntegerField(
        required=False, min_value=1, help_text="A cohort's id (of this institution)."
    )
    programme = serializers.CharField(
        required=False, max_length=50, help_text="A programme's code."
    )
    course = serializers.CharField(required=False, max_length=50, help_text="A course's code.")
    run = serializers.IntegerField(required=False, min_value=1, help_text="A course run's id.")

    def validate_cohort(self, value: int) -> Cohort:
        found = Cohort.objects.filter(pk=value, institution=self.context["institution"]).first()
        if found is None:
            raise serializers.ValidationError(_("Not a cohort of this institution."))
        return found

    def validate_programme(self, value: str) -> Programme:
        found = Programme.objects.filter(code=value).first()
        if found is None:
            raise serializers.ValidationError(_("No programme has this code."))
        return found

    def validate_course(self, value: str) -> Course:
        found = Course.objects.filter(code=value).first()
        if found is None:
            raise serializers.ValidationError(_("No course has this code."))
        return found

    def validate_run(self, value: int) -> CourseRun:
        found = CourseRun.objects.filter(pk=value).first()
        if found is None:
            raise serializers.ValidationError(_("No course run has this id."))
        return found

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until:
            if since > until:
                raise serializers.ValidationError({"until": [_("Must not be before since.")]})
            if (until - since).days > MAX_RANGE_DAYS:
                raise serializers.ValidationError(
                    {"since": [_("At most %(n)d days at a time.") % {"n": MAX_RANGE_DAYS}]}
                )
        return attrs

    def filters(self) -> selectors.Filters:
        values = self.validated_data
        found = selectors.Filters.default(values.get("until"))
        if values.get("since"):
            found.start = values["since"]
        if values.get("since") and not values.get("until") and found.start > found.end:
            found.end = found.start + timedelta(weeks=selectors.DEFAULT_WEEKS)
        found.cohort = values.get("cohort")
        found.programme = values.get("programme")
        found.course = values.get("course")
        found.run = values.get("run")
        return found


class AtRiskQuery(TrackingQuery):
    reason = serializers.ChoiceField(
        required=False, choices=RISK_CODES, help_text="Only enrolments with this reason."
    )


class ActivityQuery(TrackingQuery):
    since = serializers.DateField(required=False, help_text="First day (default: none).")
    until = serializers.DateField(required=False, help_text="Last day (default: none).")
    user = serializers.IntegerField(required=False, min_value=1, help_text="A person's id.")


class PeopleQuery(serializers.Serializer):
    search = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Every word in the name, the login or the e-mail.",
    )
    ordering = serializers.ChoiceField(
        required=False,
        choices=[*selectors.COHORT_SORTS, *(f"-{key}" for key in selectors.COHORT_SORTS)],
        help_text="A column (``-`` before it: descending); empty values last.",
    )


# ---- output -------------------------------------------------------------------------------


class TrackingCohortSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="cohort.pk")
    name = serializers.CharField(source="cohort.name")
    intake_year = serializers.IntegerField(source="cohort.intake_year")
    people = serializers.IntegerField(help_text="Members of the cohort.")
    enrolments = serializers.IntegerField(help_text="Enrolments attributed to the institution.")
    active = serializers.IntegerField(help_text="Enrolments in state active.")
    completion_rate = serializers.FloatField(
        allow_null=True,
        help_text="Percent completed of the enrolments that took a seat; null: none.",
    )
    pass_rate = serializers.FloatField(
        allow_null=True, help_text="Percent passed of the finished enrolments; null: none."
    )
    average_grade = serializers.DecimalField(
        max_digits=6, decimal_places=1, allow_null=True, help_text="Mean course grade so far (%)."
    )
    programme_progress = serializers.FloatField(
        allow_null=True, help_text="Mean percent of programme items done (cohort allocations)."
    )
    gpu_used = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="GPU-hours used by the cohort's jobs."
    )
    gpu_budget = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="null: no budget set."
    )
    gpu_percent = serializers.FloatField(allow_null=True, help_text="Used / budget, percent.")
    last_activity = serializers.DateTimeField(allow_null=True)


class TrackingPersonBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    email = serializers.EmailField()


class TrackingReasonSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=RISK_CODES)
    text = serializers.CharField(help_text="In the request's language.")


class TrackingAtRiskSerializer(serializers.Serializer):
    enrolment = serializers.IntegerField()
    person = TrackingPersonBriefSerializer()
    cohort = serializers.IntegerField(allow_null=True)
    cohort_name = serializers.CharField(allow_null=True)
    run = serializers.IntegerField()
    course = serializers.CharField(help_text="The course's code.")
    run_title = serializers.CharField()
    enrolment_state = serializers.CharField(help_text="active or waitlisted")
    grade = serializers.DecimalField(max_digits=6, decimal_places=2, allow_null=True)
    last_activity_at = serializers.DateTimeField(allow_null=True)
    reasons = TrackingReasonSerializer(many=True)


class TrackingWeekSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="The week's Monday.")
    active_learners = serializers.IntegerField(help_text="People with any activity.")
    completed = serializers.IntegerField(help_text="Enrolments completed that week.")
    passed = serializers.IntegerField(help_text="Of those, passed.")
    gpu_hours = serializers.FloatField(help_text="GPU-hours of the jobs started that week.")


class TrackingRunReasonSerializer(TrackingReasonSerializer):
    course = serializers.CharField(help_text="The course's code.")


class TrackingProgrammeShareSerializer(serializers.Serializer):
    programme = serializers.CharField(source="code")
    title = serializers.CharField()
    state = serializers.CharField()
    items_done = serializers.IntegerField()
    items_total = serializers.IntegerField()


class TrackingPersonRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    email = serializers.EmailField()
    enrolments = serializers.IntegerField(source="n_enrolments")
    states = serializers.DictField(
        child=serializers.IntegerField(), help_text="Enrolments by state."
    )
    lessons_done = serializers.IntegerField()
    lessons_total = serializers.IntegerField()
    labs_total = serializers.IntegerField()
    labs_submitted = serializers.IntegerField()
    labs_graded = serializers.IntegerField()
    late_submissions = serializers.IntegerField(source="late")
    missed_deadlines = serializers.IntegerField(source="missed")
    grade = serializers.DecimalField(
        max_digits=6, decimal_places=2, allow_null=True, help_text="Mean course grade so far."
    )
    programme_progress = serializers.FloatField(allow_null=True, help_text="Percent.")
    programmes = TrackingProgrammeShareSerializer(many=True)
    gpu_hours = serializers.DecimalField(max_digits=12, decimal_places=2)
    credentials = serializers.IntegerField(source="n_credentials")
    last_activity = serializers.DateTimeField(allow_null=True)
    at_risk = serializers.IntegerField(help_text="Enrolments at risk.")
    reasons = TrackingRunReasonSerializer(many=True)


class TrackingEnrolmentSerializer(serializers.Serializer):
    enrolment = serializers.IntegerField(source="snapshot.enrolment_id")
    run = serializers.IntegerField(source="snapshot.run_id")
    course = serializers.CharField(source="snapshot.run.course.code")
    run_title = serializers.CharField(source="snapshot.run.title")
    cohort = serializers.IntegerField(source="snapshot.cohort_id", allow_null=True)
    state = serializers.CharField(source="snapshot.state")
    lessons_done = serializers.IntegerField(source="snapshot.lessons_done")
    lessons_total = serializers.IntegerField(source="snapshot.lessons_total")
    labs_total = serializers.IntegerField(source="snapshot.labs_total")
    labs_submitted = serializers.IntegerField(source="snapshot.labs_submitted")
    labs_graded = serializers.IntegerField(source="snapshot.labs_graded")
    late_submissions = serializers.IntegerField(source="snapshot.late_submissions")
    missed_deadlines = serializers.IntegerField(source="snapshot.missed_deadlines")
    grade = serializers.DecimalField(
        source="snapshot.grade", max_digits=6, decimal_places=2, allow_null=True
    )
    grade_trend = serializers.DecimalField(
        source="snapshot.grade_trend", max_digits=6, decimal_places=2, allow_null=True
    )
    passed = serializers.BooleanField(source="snapshot.passed", allow_null=True)
    gpu_hours = serializers.DecimalField(
        source="snapshot.gpu_hours", max_digits=10, decimal_places=2
    )
    last_activity_at = serializers.DateTimeField(
        source="snapshot.last_activity_at", allow_null=True
    )
    reasons = TrackingReasonSerializer(source="risks", many=True)


class TrackingCredentialSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    title = serializers.CharField()
    kind = serializers.CharField()
    issued_at = serializers.DateTimeField()
    state = serializers.CharField(help_text="valid, suspended or revoked")


class TrackingAllocationSerializer(serializers.Serializer):
    programme = serializers.CharField(source="programme.code")
    cohort = serializers.IntegerField(source="cohort_id", allow_null=True)
    state = serializers.CharField()
    items_done = serializers.IntegerField()
    items_total = serializers.IntegerField()
    credits_earned = serializers.DecimalField(max_digits=6, decimal_places=1)


class TrackingDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    events = serializers.IntegerField()


class TrackingPersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    email = serializers.EmailField()
    enrolments = TrackingEnrolmentSerializer(many=True)
    programmes = TrackingAllocationSerializer(many=True)
    credentials = TrackingCredentialSerializer(many=True)
    activity = TrackingDaySerializer(many=True, help_text="Events per day, the last 12 weeks.")


class TrackingActivitySerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    course = serializers.CharField(source="run.course.code")

    class Meta:
        model = DailyActivity
        fields = [
            "id",
            "day",
            "user",
            "username",
            "run",
            "course",
            "lessons_viewed",
            "lessons_completed",
            "labs_opened",
            "labs_submitted",
            "sessions_started",
            "events",
            "last_at",
        ]
        read_only_fields = fields


# ---- views --------------------------------------------------------------------------------


def _name(user: User) -> str:
    return user.get_full_name() or user.username


class _TrackingView(generics.GenericAPIView):
    """Resolves the URL's institution (404 unless the user may follow it: operators and its
    admins) and parses the query parameters with ``query_class`` (400 naming the field)."""

    query_class: type[serializers.Serializer] = TrackingQuery
    filter_backends: list[Any] = []

    def institution(self) -> Institution:
        if not hasattr(self, "_institution"):
            self._institution = selectors.tracked_institution(
                authed_user(self.request), self.kwargs["slug"]
            )
        return self._institution

    def query(self) -> Any:
        if not hasattr(self, "_query"):
            query = self.query_class(
                data=self.request.query_params.dict(),
                context={"institution": self.institution()},
            )
            query.is_valid(raise_exception=True)
            self._query = query
        return self._query


class CohortFiguresView(_TrackingView):
    """Per cohort of the institution, the dashboard's figures (the same selector): people,
    enrolments, completion and pass rates, mean grade so far, programme progress, GPU-hours
    against the cohorts' budgets, last activity.  ``programme``, ``course`` and ``run`` narrow
    the enrolments counted; ``cohort`` keeps one cohort."""

    serializer_class = TrackingCohortSerializer

    @extend_schema(parameters=[TrackingQuery], responses=TrackingCohortSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        figures = selectors.dashboard(self.institution(), self.query().filters())
        page = self.paginate_queryset(figures.cohorts)  # type: ignore[arg-type]
        assert page is not None
        return self.get_paginated_response(TrackingCohortSerializer(page, many=True).data)


def _at_risk_row(item: selectors.AtRisk) -> dict[str, Any]:
    s = item.snapshot
    return {
        "enrolment": s.enrolment_id,
        "person": {
            "id": s.user.pk,
            "username": s.user.username,
            "name": _name(s.user),
            "email": s.user.email,
        },
        "cohort": s.cohort_id,
        "cohort_name": s.cohort.name if s.cohort else None,
        "run": s.run_id,
        "course": s.run.course.code,
        "run_title": s.run.title,
        "enrolment_state": s.state,
        "grade": s.grade,
        "last_activity_at": s.last_activity_at,
        "reasons": [{"code": r.code, "text": r.text} for r in item.reasons],
    }


class AtRiskView(_TrackingView):
    """Enrolments needing attention under the institution's thresholds (no activity for N
    days, grade below the pass mark, a falling grade trend, missed deadlines, waitlisted too
    long), each with its reasons in words; the longest silent first (the dashboard's list)."""

    serializer_class = TrackingAtRiskSerializer
    query_class = AtRiskQuery

    @extend_schema(parameters=[AtRiskQuery], responses=TrackingAtRiskSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        query = self.query()
        rows, _total = selectors.at_risk(self.institution(), query.filters(), AT_RISK_MAX)
        reason = query.validated_data.get("reason")
        if reason:
            rows = [r for r in rows if any(risk.code == reason for risk in r.reasons)]
        page = self.paginate_queryset(rows)  # type: ignore[arg-type]
        assert page is not None
        data = TrackingAtRiskSerializer([_at_risk_row(r) for r in page], many=True).data
        return self.get_paginated_response(data)


class TrendsView(_TrackingView):
    """Weekly series of the dashboard's charts, one entry per week (Monday) from ``since`` to
    ``until``, zeros included: active learners (from the daily roll-ups, never raw events),
    enrolments completed and passed, GPU-hours."""

    serializer_class = TrackingWeekSerializer
    pagination_class = None

    @extend_schema(parameters=[TrackingQuery], responses=TrackingWeekSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        trends = selectors.trends(self.institution(), self.query().filters())
        rows = [
            {
                "week": week,
                "active_learners": active,
                "completed": completed,
                "passed": passed,
                "gpu_hours": gpu,
            }
            for week, active, completed, passed, gpu in trends.rows()
        ]
        return Response(TrackingWeekSerializer(rows, many=True).data)


class CohortPeopleView(_TrackingView):
    """One row per member of the cohort, with what they do in the enrolments attributed to
    the institution through this cohort (the cohort page's rows): enrolments by state,
    lessons, labs submitted and graded, late submissions, missed deadlines, mean grade so far,
    programme progress, GPU-hours, credentials earned, last activity, at-risk reasons."""

    serializer_class = TrackingPersonRowSerializer
    query_class = PeopleQuery

    def cohort(self) -> Cohort:
        cohort = Cohort.objects.filter(
            pk=self.kwargs["cohort_id"], institution=self.institution()
        ).first()
        if cohort is None:
            raise Http404
        return cohort

    @extend_schema(parameters=[PeopleQuery], responses=TrackingPersonRowSerializer(many=True))
    def get(self, request: Request, slug: str, cohort_id: int) -> Response:
        institution, cohort = self.institution(), self.cohort()
        values = self.query().validated_data
        people = selectors.cohort_rows(
            institution, cohort, sort=values.get("ordering"), q=values.get("search", "")
        )
        page = self.paginate_queryset(people)
        assert page is not None
        selectors.cohort_extras(institution, cohort, page)
        for person in page:
            person.name = _name(person)  # type: ignore[attr-defined]
            person.reasons = [  # type: ignore[attr-defined]
                {"course": course, "code": risk.code, "text": risk.text}
                for course, risk in person.risks  # type: ignore[attr-defined]
            ]
        return self.get_paginated_response(TrackingPersonRowSerializer(page, many=True).data)


class PersonView(_TrackingView):
    """One member of the institution as it sees them (the person page): the enrolments
    attributed to it, with at-risk reasons; the programmes followed through its cohorts; the
    credentials earned there; events per day.  Nothing done as another institution's member
    or on their own."""

    serializer_class = TrackingPersonSerializer
    pagination_class = None

    def get(self, request: Request, slug: str, user_id: int) -> Response:
        institution = self.institution()
        person = selectors.tracked_person(institution, user_id)  # DoesNotExist: 404
        view = selectors.person_view(institution, person)
        data = {
            "id": person.pk,
            "username": person.username,
            "name": _name(person),
            "email": person.email,
            "enrolments": view.runs,
            "programmes": view.allocations,
            "credentials": view.credentials,
            "activity": [{"day": d, "events": n} for d, n in view.activity_rows],
        }
        return Response(TrackingPersonSerializer(data).data)


class ActivityView(_TrackingView):
    """The daily roll-ups of the institution's people (one row per person, run and day),
    newest first; ``since``/``until`` (dates), ``cohort``, ``programme``, ``course``, ``run``
    and ``user`` narrow them; ``ordering`` by ``day``, ``events`` or ``last_at``."""

    serializer_class = TrackingActivitySerializer
    query_class = ActivityQuery
    filter_backends = [filters.OrderingFilter]
    ordering_fields = ["day", "events", "last_at"]
    ordering = ["-day", "user_id", "run_id", "pk"]

    def get_queryset(self) -> QuerySet[DailyActivity]:
        if getattr(self, "swagger_fake_view", False):
            return DailyActivity.objects.none()
        institution, query = self.institution(), self.query()
        values, narrowed = query.validated_data, query.filters()
        rows = DailyActivity.objects.filter(institution=institution).select_related(
            "user", "run__course"
        )
        if "since" in values:
            rows = rows.filter(day__gte=values["since"])
        if "until" in values:
            rows = rows.filter(day__lte=values["until"])
        if "user" in values:
            rows = rows.filter(user_id=values["user"])
        if narrowed.course is not None:
            rows = rows.filter(run__course=narrowed.course)
        if narrowed.run is not None:
            rows = rows.filter(run=narrowed.run)
        if narrowed.cohort is not None or narrowed.programme is not None:
            rows = rows.filter(
                Exists(
                    selectors.snapshots(institution, narrowed).filter(
                        user=OuterRef("user"), run=OuterRef("run")
                    )
                )
            )
        return rows

    @extend_schema(parameters=[ActivityQuery], responses=TrackingActivitySerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        assert page is not None
        return self.get_paginated_response(TrackingActivitySerializer(page, many=True).data)


PREFIX = "tracking/institutions/<slug:slug>/"

extra_urls: list[URLPattern] = [
    path(f"{PREFIX}cohorts/", CohortFiguresView.as_view(), name="tracking-cohorts"),
    path(f"{PREFIX}at-risk/", AtRiskView.as_view(), name="tracking-at-risk"),
    path(f"{PREFIX}trends/", TrendsView.as_view(), name="tracking-trends"),
    path(
        f"{PREFIX}cohorts/<int:cohort_id>/people/",
        CohortPeopleView.as_view(),
        name="tracking-cohort-people",
    ),
    path(f"{PREFIX}people/<int:user_id>/", PersonView.as_view(), name="tracking-person"),
    path(f"{PREFIX}activity/", ActivityView.as_view(), name="tracking-activity"),
]
