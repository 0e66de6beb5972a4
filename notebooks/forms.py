from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from courses.models import CourseRun, GradingCategory

from .models import Lab, ResourceProfile


class LabForm(forms.ModelForm):
    class Meta:
        model = Lab
        fields = [
            "title",
            "instructions",
            "opens_at",
            "due_at",
            "late_policy",
            "late_penalty_percent",
            "late_penalty_cap_percent",
            "attempt_limit",
            "category",
            "weight",
            "resource_profile",
            "feedback_release",
            "anonymous_grading",
        ]
        widgets = {
            "opens_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
            "due_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
            "instructions": forms.Textarea(attrs={"rows": 5}),
        }

    def __init__(self, *args, run: CourseRun, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        category = self.fields["category"]
        resource_profile = self.fields["resource_profile"]
        assert isinstance(category, forms.ModelChoiceField)
        assert isinstance(resource_profile, forms.ModelChoiceField)
        category.queryset = GradingCategory.objects.filter(run=run)
        resource_profile.queryset = ResourceProfile.objects.all()


class NotebookUploadForm(forms.Form):
    file = forms.FileField(label=_("Notebook (.ipynb)"))

    def clean_file(self):  # type: ignore[no-untyped-def]
        f = self.cleaned_data["file"]
        if not f.name.lower().endswith(".ipynb"):
            raise forms.ValidationError(_("Upload a Jupyter notebook (.ipynb)."))
        return f


class ManualGradeForm(forms.Form):
    score = forms.DecimalField(label=_("Score"), min_value=0, max_digits=8, decimal_places=2)
    comment = forms.CharField(
        label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
