"""Transition policies in the Django admin go through the policy services (validated strictly, audited), and
transition requests are shown read-only, to platform admins only."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AuditEvent, TransitionPolicy

pytestmark = pytest.mark.django_db


def policy_form(model, **changes) -> dict:
    data = {
        "model": model.pk,
        "stage": "Production",
        "requires_approval": "on",
        "approvals_required": 2,
        "gate": "",
    }
    data.update(changes)
    return data


def test_adding_a_policy_in_the_admin_goes_through_the_service(admin_client, model):
    gate = '{"metric": "auc", "op": ">=", "compare_to": "Production", "min_delta": 0.005}'
    res = admin_client.post("/admin/registry/transitionpolicy/add/", policy_form(model, gate=gate))
    assert res.status_code == 302, res.content.decode()[-2000:]
    policy = TransitionPolicy.objects.get(model=model, stage="Production")
    assert policy.approvals_required == 2 and policy.gate["min_delta"] == 0.005
    event = AuditEvent.objects.get(action="transition_policy.set", model_id=model.pk)
    assert event.actor_name == "root" and event.after["approvals_required"] == 2

    res = admin_client.post(
        f"/admin/registry/transitionpolicy/{policy.pk}/change/", policy_form(model, approvals_required=3)
    )
    assert res.status_code == 302
    policy.refresh_from_db()
    assert policy.approvals_required == 3
    assert AuditEvent.objects.filter(action="transition_policy.set", model_id=model.pk).count() == 2

    res = admin_client.post(f"/admin/registry/transitionpolicy/{policy.pk}/delete/", {"post": "yes"})
    assert res.status_code == 302
    assert not TransitionPolicy.objects.exists()
    assert AuditEvent.objects.filter(action="transition_policy.deleted", model_id=model.pk).exists()


def test_a_bad_gate_in_the_admin_is_refused_with_the_services_message(admin_client, model):
    gate = '{"metric": "auc", "op": "=>", "threshold": 0.9}'
    res = admin_client.post(
        "/admin/registry/transitionpolicy/add/", policy_form(model, gate=gate), follow=True
    )
    assert not TransitionPolicy.objects.exists()
    assert "op must be one of" in res.content.decode()


def test_the_governance_admin_pages_load_for_platform_admins_only(
    admin_client, client, p_owner, model, v2, owner
):
    policy = services.transition_policy_set(principal=p_owner, model=model, stage="Staging")
    request = services.transition_request_create(principal=p_owner, model=model, version=2, stage="Staging")
    urls = [
        "/admin/registry/transitionpolicy/",
        "/admin/registry/transitionpolicy/add/",
        f"/admin/registry/transitionpolicy/{policy.pk}/change/",
        "/admin/registry/transitionrequest/",
        f"/admin/registry/transitionrequest/{request.pk}/change/",
    ]
    for url in urls:
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/registry/transitionrequest/add/").status_code == 403

    owner.is_staff = True  # staff, but not a platform admin
    owner.save(update_fields=["is_staff"])
    client.force_login(owner)
    for url in urls:
        assert client.get(url).status_code == 403, url
