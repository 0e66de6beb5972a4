"""Forms of the credential pages: the public verifier's."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from . import verification


class VerifyForm(forms.Form):
    """One credential to check, given one of three ways, and optionally the e-mail address its
    holder gave the verifier (compared with the credential's salted hash)."""

    document = forms.CharField(
        label=_("Paste the credential's JSON"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}),
    )
    upload = forms.FileField(
        label=_("…or upload its .json file"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
        help_text=_("At most %(kb)d KB.") % {"kb": verification.MAX_BYTES // 1024},
    )
    link = forms.CharField(
        label=_("…or give its link or id"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "url"}),
    )
    email = forms.EmailField(
        label=_("Holder's e-mail address (optional)"),
        required=False,
        max_length=254,
        help_text=_(
            "The address the holder gave you: it is compared with the credential's salted "
            "hash. Nothing is stored."
        ),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        supplied = {
            "document": (data.get("document") or "").strip(),
            "upload": data.get("upload"),
            "link": (data.get("link") or "").strip(),
        }
        given = [name for name, value in supplied.items() if value]
        if not given and not self.errors:
            raise forms.ValidationError(
                _("Nothing to check: paste a credential, upload its file or give its link."),
                code="empty",
            )
        if len(given) > 1:
            raise forms.ValidationError(
                _("Give the credential one way at a time: clear the other fields."),
                code="several",
            )
        data["how"] = given[0] if given else ""
        return data
