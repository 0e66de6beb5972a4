from __future__ import annotations

import pytest

from academy import services
from academy.models import AuditEvent


@pytest.mark.django_db
def test_services_write_who_what_where(client, people):
    client.force_login(people.admin_a)
    response = client.post(
        "/institutions/uni-a/cohorts/new/",
        {"name": "Night school", "intake_year": 2027},
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="cohort.create")
    assert event.actor == people.admin_a
    assert event.institution == people.inst_a
    assert event.ip_address == "10.1.2.3"
    assert event.target_repr.startswith("Night school")


@pytest.mark.django_db
def test_the_audit_log_cannot_be_changed_or_deleted(people):
    services.cohort_update(actor=people.admin_a, cohort=people.cohort_a, name="Renamed")
    event = AuditEvent.objects.get()
    assert event.data == {"changes": {"name": "Renamed"}}
    event.action = "forged"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.update(action="forged")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()


@pytest.mark.django_db
def test_institution_admins_see_only_their_institutions_events(client, people):
    services.cohort_update(actor=people.admin_a, cohort=people.cohort_a, name="A renamed")
    services.cohort_update(actor=people.admin_b, cohort=people.cohort_b, name="B renamed")
    client.force_login(people.admin_a)
    body = client.get("/institutions/uni-a/audit/").content.decode()
    assert "A renamed" in body and "B renamed" not in body
