"""The experiment rule of the gatekeeper (`registry.permissions`): the Default experiment is every member's scratch
space, everything else follows the registry's levels; `for_tenant()` starts every tracking query from the tenant."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from accounts import services as account_services
from config.errors import NotFound, PermissionDenied
from registry import permissions
from registry.tracking import services
from registry.tracking.models import Experiment
from tenants.access import principal_for


def principal(user, tenant, scopes=None):
    token, _secret = account_services.token_issue(user=user, tenant=tenant, scopes=scopes)
    return principal_for(SimpleNamespace(tenant_slug=tenant.slug, method="POST"), user, token)


def default_of(tenant) -> Experiment:
    return Experiment.objects.for_tenant(tenant).get(number=0)


@pytest.fixture
def private_tenant(tenant):
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    return tenant


def test_every_member_reads_the_default_experiment_even_when_members_do_not_read_everything(
    owner, teammate, private_tenant
):
    experiment = services.experiment_create(principal=principal(owner, private_tenant), name="private")
    me = principal(teammate, private_tenant)
    assert permissions.can_read_experiment(me, default_of(private_tenant))
    assert not permissions.can_read_experiment(me, experiment)
    readable = permissions.readable_experiments(me, Experiment.objects.for_tenant(private_tenant))
    assert [e.number for e in readable] == [0]


def test_a_viewer_reads_the_default_experiment_but_cannot_log_to_it(viewer, tenant):
    me = principal(viewer, tenant)
    assert permissions.require_experiment(me, default_of(tenant), "read") == "read"
    with pytest.raises(PermissionDenied):
        permissions.require_experiment(me, default_of(tenant), "edit", action="create a run")


def test_a_read_only_token_cannot_log_to_the_default_experiment(teammate, tenant):
    me = principal(teammate, tenant, scopes=["read"])
    with pytest.raises(PermissionDenied):
        permissions.require_experiment(me, default_of(tenant), "edit", action="create a run")
    assert permissions.require_experiment(principal(teammate, tenant), default_of(tenant), "edit") == "edit"


def test_changing_the_default_experiment_itself_needs_the_registry_levels(teammate, private_tenant):
    me = principal(teammate, private_tenant)
    # Visible to everyone, so a refusal, never a 404.
    with pytest.raises(PermissionDenied):
        permissions.require_experiment(me, default_of(private_tenant), "edit", scratch=False)


def test_another_tenants_default_experiment_is_missing_not_forbidden(outsider, tenant, other_tenant):
    me = principal(outsider, other_tenant)
    assert not permissions.can_read_experiment(me, default_of(tenant))
    with pytest.raises(NotFound):
        permissions.require_experiment(me, default_of(tenant), "read")


def test_tracking_queries_start_from_the_tenant(owner, tenant, other_tenant):
    services.experiment_create(principal=principal(owner, tenant), name="mine")
    assert sorted(Experiment.objects.for_tenant(tenant).values_list("name", flat=True)) == ["Default", "mine"]
    assert list(Experiment.objects.for_tenant(other_tenant).values_list("name", flat=True)) == ["Default"]
