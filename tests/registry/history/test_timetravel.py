"""`GET models/<name>/stages?at=…`: stages and aliases replayed from the audit log at past moments, including two
moves within one second, a version deleted later, a model renamed later, and refusals."""

from __future__ import annotations

import datetime as dt

import pytest

from registry import services
from registry.models import AuditEvent, Stage
from tenants.models import Tenant
from tests.helpers import client_for, issue

from .conftest import BASE, audit_time, make_run, ready_version

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 20, 12, 0, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def epoch_ms(moment: dt.datetime) -> str:
    return str((moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1))


@pytest.fixture
def history(p_owner, tenant):
    """churn: v1 Staging at +10 s, Production + champion at +20 s; v2 Staging at +30.100 s and Production
    (archiving v1) at +30.600 s, champion → v2 at +30.700 s; champion deleted at +40 s; v1 deleted at +50 s;
    the model renamed to churn-v2 at +60 s."""
    run = make_run(tenant)
    with audit_time(at(0)):
        model = services.registered_model_create(principal=p_owner, name="churn")
        v1 = ready_version(p_owner, model, run)
        v2 = ready_version(p_owner, model, run)
    moves = [
        (10, lambda: services.model_version_transition_stage(principal=p_owner, version=v1, stage="Staging")),
        (
            20,
            lambda: services.model_version_transition_stage(
                principal=p_owner, version=v1, stage="Production"
            ),
        ),
        (20, lambda: services.alias_set(principal=p_owner, model=model, alias="champion", version=1)),
        (
            30.1,
            lambda: services.model_version_transition_stage(principal=p_owner, version=v2, stage="Staging"),
        ),
        (
            30.6,
            lambda: services.model_version_transition_stage(
                principal=p_owner, version=v2, stage="Production", archive_existing_versions=True
            ),
        ),
        (30.7, lambda: services.alias_set(principal=p_owner, model=model, alias="champion", version=2)),
        (40, lambda: services.alias_delete(principal=p_owner, model=model, alias="champion")),
        (50, lambda: services.model_version_delete(principal=p_owner, version=v1)),
        (60, lambda: services.registered_model_rename(principal=p_owner, model=model, new_name="churn-v2")),
    ]
    for seconds, move in moves:
        with audit_time(at(seconds)):
            move()
    return model


def stages(client, at_value: str, name: str = "churn-v2"):
    return client.get(f"{BASE}/models/{name}/stages", {"at": at_value})


@pytest.mark.parametrize(
    ("seconds", "expected_stages", "expected_aliases"),
    [
        (-3600, {}, {}),  # before the model existed
        (5, {}, {}),
        (10, {"Staging": "1"}, {}),  # the very microsecond of the move counts
        (15, {"Staging": "1"}, {}),
        (25, {"Production": "1"}, {"champion": "1"}),
        (30.3, {"Production": "1", "Staging": "2"}, {"champion": "1"}),  # between two moves within one second
        (30.65, {"Production": "2"}, {"champion": "1"}),  # v1 archived by v2's promotion
        (30.8, {"Production": "2"}, {"champion": "2"}),
        (45, {"Production": "2"}, {}),  # champion deleted
        (55, {"Production": "2"}, {}),
    ],
)
def test_it_answers_stages_and_aliases_as_they_were(
    history, owner_api, seconds, expected_stages, expected_aliases
):
    res = stages(owner_api, iso(at(seconds)))
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["stages"] == expected_stages
    assert body["aliases"] == expected_aliases
    assert body["at"] == iso(at(seconds))


def test_a_version_deleted_later_still_holds_its_past_stage(history, owner_api):
    assert not history.versions.filter(version=1).exists()
    assert stages(owner_api, iso(at(25))).json()["stages"] == {"Production": "1"}
    assert stages(owner_api, iso(at(25))).json()["aliases"] == {"champion": "1"}


def test_epoch_milliseconds_compare_at_millisecond_precision(history, owner_api):
    just_before = stages(owner_api, epoch_ms(at(30.599))).json()
    assert just_before["stages"] == {"Production": "1", "Staging": "2"}
    # Every event of the millisecond counts: the promotion at +30.600000 s and the archive it made (same instant,
    # ordered by seq).
    same_ms = stages(owner_api, epoch_ms(at(30.6))).json()
    assert same_ms["stages"] == {"Production": "2"}
    assert same_ms["at"] == iso(at(30.6))


def test_iso_compares_to_the_microsecond_and_accepts_offsets(history, owner_api):
    before = at(30.6) - dt.timedelta(microseconds=1)
    assert stages(owner_api, iso(before)).json()["stages"] == {"Production": "1", "Staging": "2"}
    with_offset = at(30.6).astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    assert with_offset.endswith("+02:00")
    assert stages(owner_api, with_offset).json()["stages"] == {"Production": "2"}
    naive = at(25).replace(tzinfo=None).isoformat()  # no offset: UTC
    assert stages(owner_api, naive).json()["stages"] == {"Production": "1"}


def test_two_events_of_the_same_instant_resolve_by_sequence(history, tenant):
    same = AuditEvent.objects.filter(tenant=tenant, created_at=at(30.6)).order_by("seq")
    assert [(e.version, e.after["stage"]) for e in same] == [(1, Stage.ARCHIVED), (2, Stage.PRODUCTION)]


def test_a_future_moment_is_now(history, owner_api):
    res = stages(owner_api, "2999-01-01T00:00:00Z")
    assert res.status_code == 200
    body = res.json()
    assert body["stages"] == {"Production": "2"}
    assert body["aliases"] == {}
    assert dt.datetime.fromisoformat(body["at"]) <= dt.datetime.now(dt.UTC)
    assert stages(owner_api, "").json()["stages"] == {"Production": "2"}


def test_the_renamed_model_is_found_by_its_current_name_only(history, owner_api):
    assert stages(owner_api, iso(at(25)), name="churn-v2").json()["name"] == "churn-v2"
    assert stages(owner_api, iso(at(25)), name="churn").status_code == 404


def test_history_does_not_come_from_current_rows(history, owner_api):
    # Current state says v2 Production, no aliases; the past says otherwise.
    assert history.versions.get(version=2).stage == Stage.PRODUCTION
    assert stages(owner_api, iso(at(15))).json() == {
        "name": "churn-v2",
        "at": iso(at(15)),
        "stages": {"Staging": "1"},
        "aliases": {},
        "stage_versions": {"Staging": ["1"]},
    }


def test_several_versions_in_one_stage_report_the_newest(p_owner, tenant, owner_api):
    run = make_run(tenant)
    model = services.registered_model_create(principal=p_owner, name="churn-v2")
    v1 = ready_version(p_owner, model, run)
    v2 = ready_version(p_owner, model, run)
    for v in (v1, v2):
        services.model_version_transition_stage(principal=p_owner, version=v, stage="Production")
    body = stages(owner_api, "").json()
    assert body["stages"] == {"Production": "2"}
    assert body["stage_versions"] == {"Production": ["1", "2"]}


@pytest.mark.parametrize(
    "bad", ["yesterday", "2026-13-01", "2026-01-01T25:00:00Z", "1.5", "99999999999999999"]
)
def test_a_bad_at_is_a_400(history, owner_api, bad):
    res = stages(owner_api, bad)
    assert res.status_code == 400
    assert res.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_another_tenant_gets_a_404(history, outsider, other_tenant):
    client = client_for(issue(outsider, other_tenant))
    res = client.get("/t/globex/api/v1/models/churn-v2/stages", {"at": iso(at(25))})
    assert res.status_code == 404
    # And with its own token on this tenant's URL: the tenant gatekeeper's 404.
    assert stages(client, iso(at(25))).status_code == 404


def test_a_user_who_cannot_read_the_model_gets_a_404(history, teammate, viewer, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(members_read_all=False)
    for user in (teammate, viewer):
        res = stages(client_for(issue(user, tenant)), iso(at(25)))
        assert res.status_code == 404, user
        assert res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_read_only_viewer_may_read_history(history, viewer, tenant):
    res = stages(client_for(issue(viewer, tenant)), iso(at(25)))
    assert res.status_code == 200
    assert res.json()["stages"] == {"Production": "1"}


def test_it_reads_the_models_events_in_one_query(history, owner_api, django_assert_max_num_queries):
    with django_assert_max_num_queries(15):
        assert stages(owner_api, iso(at(25))).status_code == 200
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert stages(owner_api, iso(at(25))).status_code == 200
    audit_queries = [q for q in captured.captured_queries if "registry_auditevent" in q["sql"]]
    assert len(audit_queries) == 1
