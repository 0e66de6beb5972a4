from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from courses.models import CourseRun, GradingCategory

from .models import LAB_SETTINGS, Lab, ResourceProfile


class LabForm(forms.ModelForm):
    class Meta:
        model = Lab
        fields = list(LAB_SETTINGS)
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


def notebook_too_big(upload: Any) -> str:
    """Why an uploaded notebook is refused for its size ("" when it is not), from the size of
    the spooled upload: a notebook over the limit is never read into memory."""
    limit = int(settings.NOTEBOOK_MAX_BYTES)
    if (upload.size or 0) > limit:
        return gettext("The notebook is larger than %(size)s.") % {"size": filesizeformat(limit)}
    return ""


class NotebookUploadForm(forms.Form):
    file = forms.FileField(label=_("Notebook (.ipynb)"))

    def clean_file(self):  # type: ignore[no-untyped-def]
        f = self.cleaned_data["file"]
        if not f.name.lower().endswith(".ipynb"):
            raise forms.ValidationError(_("Upload a Jupyter notebook (.ipynb)."))
        # Checked on the spooled file's size, before anything reads it whole.
        too_big = notebook_too_big(f)
        if too_big:
            raise forms.ValidationError(too_big)
        return f


class ManualGradeForm(forms.Form):
    score = forms.DecimalField(label=_("Score"), min_value=0, max_digits=8, decimal_places=2)
    comment = forms.CharField(
        label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
