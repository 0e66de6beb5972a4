"""The admin of credentials: read-only, the signed document pretty-printed, no add, no delete;
revoking is done on the staff page the row links to."""

from __future__ import annotations

import pytest
from django.contrib import admin

from credentials import services
from credentials.models import Credential, IssuanceJob, StatusList
from tests.factories import CourseFactory
from tests.programmes.conftest import passed

pytestmark = pytest.mark.django_db


@pytest.fixture
def credential(people, eager):  # type: ignore[no-untyped-def]
    run = passed(people.student, CourseFactory(code="GPU101"), 85)
    issued, _ = services.issue_for_run(actor=None, user=people.student, run=run)
    services.suspend(actor=people.operator, credential=issued, reason="Inquiry")
    IssuanceJob.objects.create(kind="course", run=run, created_by=people.operator)
    return issued


def test_admin_pages_render_read_only(client, people, credential):
    client.force_login(people.operator)
    changelist = client.get("/admin/credentials/credential/?state=suspended")
    assert changelist.status_code == 200 and credential.title.encode() in changelist.content
    assert (
        client.get("/admin/credentials/credential/?state=revoked").context["cl"].result_count == 0
    )
    change = client.get(f"/admin/credentials/credential/{credential.pk}/change/")
    body = change.content.decode()
    assert change.status_code == 200
    assert "eddsa-rdfc-2022" in body and "&quot;proof&quot;: {" in body  # pretty-printed
    assert f"/credentials/manage/{credential.uuid}/" in body
    assert 'name="_save"' not in body
    status_list = StatusList.objects.first()
    assert status_list is not None
    assert client.get(f"/admin/credentials/statuslist/{status_list.pk}/change/").status_code == 200
    job = IssuanceJob.objects.get()
    assert client.get(f"/admin/credentials/issuancejob/{job.pk}/change/").status_code == 200
    assert client.get("/admin/credentials/issuancejob/").status_code == 200


def test_no_add_no_delete(client, people, credential):
    request = type("R", (), {"user": people.operator})()
    for model in (Credential, StatusList, IssuanceJob):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_delete_permission(request, None)
    client.force_login(people.operator)
    delete = client.get(f"/admin/credentials/credential/{credential.pk}/delete/")
    assert delete.status_code == 403
    assert Credential.objects.filter(pk=credential.pk).exists()
