"""Forms of the content authoring pages.  Validation that depends on the run (which module a
lesson may move to) and on rights lives in ``authoring``; these only shape the input."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import (
    ATTACHMENT_EXTENSIONS,
    CourseRun,
    Lesson,
    Module,
    attachment_max_bytes,
)


class ModuleForm(forms.ModelForm):
    class Meta:
        model = Module
        fields = ["title"]


class LessonForm(forms.ModelForm):
    module = forms.ModelChoiceField(label=_("Module"), queryset=Module.objects.none())

    class Meta:
        model = Lesson
        fields = ["title", "module", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 22, "class": "markdown-source"})}

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        module = self.fields["module"]
        assert isinstance(module, forms.ModelChoiceField)
        module.queryset = Module.objects.filter(run_id=self.instance.module.run_id)
        self.fields["body"].help_text = _(
            "Markdown: **bold**, `code`, ```python fenced code```, tables, links. "
            "Files below can be linked or shown inline with the snippet next to each."
        )


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("File"))
    name = forms.CharField(label=_("Name shown"), max_length=200, required=False)

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _("Allowed: %(types)s; at most %(mb)s MB.") % {
            "types": ", ".join(ATTACHMENT_EXTENSIONS),
            "mb": attachment_max_bytes() // (1024 * 1024),
        }


class CopyContentForm(forms.Form):
    source = forms.ModelChoiceField(label=_("Copy from run"), queryset=Module.objects.none())

    def __init__(self, *args, sources, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        source = self.fields["source"]
        assert isinstance(source, forms.ModelChoiceField)
        source.queryset = sources


class CapacityForm(forms.Form):
    capacity = forms.IntegerField(
        label=_("Seats"),
        min_value=0,
        required=False,
        help_text=_("Empty: no limit. More seats promote people from the waitlist at once."),
    )


class InviteCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=40,
        required=False,
        help_text=_("Empty: a random code."),
    )
    expires_at = forms.DateTimeField(
        label=_("Expires"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    max_uses = forms.IntegerField(
        label=_("Maximum uses"), min_value=1, required=False, help_text=_("Empty: no limit.")
    )


class PassMarkForm(forms.Form):
    pass_mark = forms.DecimalField(
        label=_("Pass mark (%)"), min_value=0, max_value=100, max_digits=5, decimal_places=2
    )


class CategoryForm(forms.Form):
    """One row of a run's grading policy.  Names are checked across the whole policy by
    ``grading_policy_set`` (so two names can be swapped in one save)."""

    id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(label=_("Category"), max_length=100)
    weight = forms.DecimalField(
        label=_("Weight"), min_value=0, max_value=100, max_digits=5, decimal_places=2
    )
    drop_lowest = forms.IntegerField(label=_("Drop lowest"), min_value=0, initial=0)


CategoryFormSet = forms.formset_factory(CategoryForm, extra=1, can_delete=True)


def category_initial(run: CourseRun) -> list[dict]:
    return [
        {"id": c.pk, "name": c.name, "weight": c.weight, "drop_lowest": c.drop_lowest}
        for c in run.categories.order_by("name")
    ]
