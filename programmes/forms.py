"""Forms of the staff pages of programmes.  They only shape the input: rights, freezing, cycles
and whether a tree can be completed are the services' to decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from academy.models import Cohort, Institution
from courses.models import Course, CourseRun, Sector

from .models import JoinPolicy, Programme, ProgrammeVersion, Rule

PROGRAMME_FORM_FIELDS = [
    "code",
    "title",
    "title_sr",
    "description",
    "description_sr",
    "owner",
    "eqf_level",
    "ects",
    "sectors",
    "join_policy",
    "invite_code",
]


class ProgrammeForm(forms.ModelForm):
    """A programme's description.  ``owners`` are the institutions the user administers; an
    operator may also leave the owner empty (the AI factory itself)."""

    sectors = forms.MultipleChoiceField(
        label=_("Sectors"),
        choices=Sector.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Programme
        fields = PROGRAMME_FORM_FIELDS
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "description_sr": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(
        self, *args: Any, owners: QuerySet[Institution], factory_allowed: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ModelChoiceField)
        owner.queryset = owners
        owner.required = not factory_allowed
        owner.empty_label = _("The AI factory") if factory_allowed else None
        owner.help_text = ""
        if self.instance.pk:
            del self.fields["code"]  # a code is a programme's name in links: fixed once made

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("join_policy") == JoinPolicy.INVITE and not data.get("invite_code"):
            self.add_error("invite_code", _("Joining by invite code needs a code."))
        return data

    def changes(self) -> dict[str, Any]:
        """The cleaned fields, for ``services.programme_update``."""
        return {k: v for k, v in self.cleaned_data.items() if k != "code"}


class SetForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    rule = forms.ChoiceField(label=_("Rule"), choices=Rule.choices)
    count = forms.DecimalField(
        label=_("N or minimum points"),
        min_value=0,
        max_digits=6,
        decimal_places=1,
        initial=0,
        required=False,
        help_text=_("“At least N of”: N. “Minimum points”: the points. Otherwise ignored."),
    )


def course_choices() -> list[tuple[int, str]]:
    """The course picker's options, read once for all the item forms of a page."""
    return [
        (pk, f"{code} · {title}")
        for pk, code, title in Course.objects.order_by("code").values_list("pk", "code", "title")
    ]


class ItemForm(forms.Form):
    course = forms.TypedChoiceField(label=_("Course"), coerce=int)
    points = forms.DecimalField(
        label=_("Points (ECTS)"), min_value=0, max_digits=5, decimal_places=1, initial=0
    )
    min_grade = forms.DecimalField(
        label=_("Minimum grade (%)"),
        min_value=0,
        max_value=100,
        max_digits=5,
        decimal_places=2,
        required=False,
        help_text=_("Empty: any passed run counts."),
    )

    def __init__(
        self, *args: Any, courses: list[tuple[int, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        course = self.fields["course"]
        assert isinstance(course, forms.TypedChoiceField)
        course.choices = [("", "—"), *(course_choices() if courses is None else courses)]

    def clean_course(self) -> Course:
        found = Course.objects.filter(pk=self.cleaned_data["course"]).first()
        if found is None:
            raise forms.ValidationError(_("Choose a course."))
        return found


class ChangeSetForm(SetForm):
    pass


class ChangeItemForm(forms.Form):
    points = ItemForm.base_fields["points"]
    min_grade = ItemForm.base_fields["min_grade"]
    excluded_runs = forms.ModelMultipleChoiceField(
        label=_("Runs that do not count"),
        queryset=CourseRun.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, course: Course, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        runs = self.fields["excluded_runs"]
        assert isinstance(runs, forms.ModelMultipleChoiceField)
        runs.queryset = course.runs.order_by("-starts_at")
        runs.label_from_instance = lambda r: f"{r.title} ({r.starts_at:%Y-%m-%d})"  # type: ignore[method-assign,assignment]


class PersonForm(forms.Form):
    person = forms.CharField(
        label=_("Username or e-mail"), max_length=254, widget=forms.TextInput()
    )


class MoveForm(forms.Form):
    version = forms.ModelChoiceField(label=_("Version"), queryset=ProgrammeVersion.objects.none())

    def __init__(self, *args: Any, programme: Programme, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        version = self.fields["version"]
        assert isinstance(version, forms.ModelChoiceField)
        version.queryset = programme.versions.exclude(published_at=None).order_by("-number")
        version.label_from_instance = lambda v: _("Version %(n)s") % {"n": v.number}  # type: ignore[method-assign,assignment]


class CohortChoiceForm(forms.Form):
    cohort = forms.ModelChoiceField(label=_("Cohort"), queryset=Cohort.objects.none())

    def __init__(self, *args: Any, cohorts: QuerySet[Cohort], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cohort = self.fields["cohort"]
        assert isinstance(cohort, forms.ModelChoiceField)
        cohort.queryset = cohorts
        cohort.label_from_instance = lambda c: f"{c.name} · {c.institution.name}"  # type: ignore[method-assign,assignment]
