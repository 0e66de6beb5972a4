"""Every Django admin page an operator uses renders (changelists and, where allowed, add forms)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse


@pytest.mark.django_db
def test_every_admin_changelist_and_add_page_renders(client, people):
    client.force_login(people.operator)
    failures = []
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        url = reverse("admin:{}_{}_changelist".format(*info))
        if client.get(url).status_code != 200:
            failures.append(url)
        if model_admin.has_add_permission(type("R", (), {"user": people.operator})()):
            url = reverse("admin:{}_{}_add".format(*info))
            if client.get(url).status_code != 200:
                failures.append(url)
    assert not failures, failures


@pytest.mark.django_db
def test_institution_admins_cannot_use_django_admin(client, people):
    client.force_login(people.admin_a)
    assert client.get("/admin/academy/user/").status_code == 302
