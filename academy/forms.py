from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Cohort, Role, cluster_login_validator


class CohortForm(forms.ModelForm):
    class Meta:
        model = Cohort
        fields = ["name", "programme", "intake_year", "starts_on", "ends_on"]
        widgets = {
            "starts_on": forms.DateInput(attrs={"type": "date"}),
            "ends_on": forms.DateInput(attrs={"type": "date"}),
        }


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"))
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.STUDENT)
    cohort = forms.ModelChoiceField(
        label=_("Cohort"), queryset=Cohort.objects.none(), required=False
    )

    def __init__(self, *args, institution=None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if institution is not None:
            cohort = self.fields["cohort"]
            assert isinstance(cohort, forms.ModelChoiceField)
            cohort.queryset = Cohort.objects.filter(institution=institution)


class AcceptInvitationForm(forms.Form):
    username = forms.CharField(
        label=_("Cluster login"),
        max_length=32,
        validators=[cluster_login_validator],
        help_text=_("Your user name on the GPU cluster and in JupyterLab."),
    )
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput)
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput)

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        assert data is not None  # Form.clean() returns cleaned_data
        if data.get("password1") != data.get("password2"):
            raise forms.ValidationError(_("The two passwords differ."))
        return data
