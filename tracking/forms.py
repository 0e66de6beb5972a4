"""Forms of the tracking pages: the dashboard's filters and an institution's thresholds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from academy.models import Cohort, Institution
from courses.models import Course, CourseRun
from programmes.models import Programme

from .models import CohortSummary, InstitutionPolicy
from .selectors import Filters

MAX_DAYS = 2 * 366  # the longest period the trends cover


class DashboardFilterForm(forms.Form):
    """Narrows the dashboard to a cohort, programme, course or run, and sets the trends'
    period.  Choices are the institution's own; anything else is refused with a message."""

    cohort = forms.ModelChoiceField(
        label=_("Cohort"), queryset=Cohort.objects.none(), required=False, empty_label=_("All")
    )
    programme = forms.ModelChoiceField(
        label=_("Programme"),
        queryset=Programme.objects.none(),
        required=False,
        empty_label=_("All"),
    )
    course = forms.ModelChoiceField(
        label=_("Course"), queryset=Course.objects.none(), required=False, empty_label=_("All")
    )
    run = forms.ModelChoiceField(
        label=_("Run"), queryset=CourseRun.objects.none(), required=False, empty_label=_("All")
    )
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, institution: Institution, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.institution = institution
        # The runs the institution's people are enrolled in, from the summaries (small rows).
        runs = CohortSummary.objects.filter(institution=institution).values("run")
        fields = self.fields
        fields["cohort"].queryset = Cohort.objects.filter(institution=institution).order_by(  # type: ignore[attr-defined]
            "-intake_year", "name"
        )
        fields["programme"].queryset = (  # type: ignore[attr-defined]
            Programme.objects.filter(cohorts__cohort__institution=institution)
            .distinct()
            .order_by("title")
        )
        fields["course"].queryset = (  # type: ignore[attr-defined]
            Course.objects.filter(runs__in=runs).distinct().order_by("code")
        )
        fields["run"].queryset = (  # type: ignore[attr-defined]
            CourseRun.objects.filter(pk__in=runs)
            .select_related("course")
            .order_by("course__code", "-starts_at")
        )
        fields["run"].label_from_instance = lambda r: f"{r.course.code} · {r.title}"  # type: ignore[attr-defined]
        fields["programme"].label_from_instance = lambda p: p.title  # type: ignore[attr-defined]
        fields["cohort"].label_from_instance = lambda c: c.name  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        default = Filters.default()
        start, end = data.get("start"), data.get("end")
        if "start" in self.errors or "end" in self.errors:
            return data
        end = end or default.end
        start = start or (end - (default.end - default.start))
        if start > end:
            raise forms.ValidationError(_("The period must start before it ends."))
        if (end - start).days > MAX_DAYS:
            raise forms.ValidationError(_("Choose a period of at most two years."))
        if end > timezone.localdate() + timedelta(days=366):
            raise forms.ValidationError(_("The period ends too far in the future."))
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> Filters:
        """The filters asked for; the defaults when the form is not valid."""
        if not self.is_bound or not self.is_valid():
            return Filters.default()
        d = self.cleaned_data
        return Filters(
            start=d["start"],
            end=d["end"],
            cohort=d.get("cohort"),
            programme=d.get("programme"),
            course=d.get("course"),
            run=d.get("run"),
        )


class PolicyForm(forms.ModelForm):
    class Meta:
        model = InstitutionPolicy
        fields = [
            "inactive_days",
            "failing_margin",
            "trend_drop",
            "missed_deadlines",
            "waitlist_days",
        ]
