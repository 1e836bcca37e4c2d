"""Webhook delivery through the real worker to a receiver on loopback: every event once per subscription with a
valid signature, model-scoped subscriptions, retries with backoff, redirects not followed, replay, and no event lost
when a worker is killed mid-delivery."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
from django.db import connection, transaction

from config.celery_app import app
from registry import selectors, services
from registry.models import AuditEvent, DeliveryStatus, VersionStatus, WebhookAttempt, WebhookDelivery
from registry.webhooks import outbox
from registry.webhooks import services as webhook_services
from registry.webhooks.tasks import deliver_webhook, requeue_webhook_deliveries
from tests.helpers import ROOT, Worker, make_logged_model, principal, stop_worker, worker_env

from .conftest import SECRET, expected_signature, settled

pytestmark = pytest.mark.django_db(transaction=True)

ALL_SCOPES = ["read", "write", "promote", "admin"]


@pytest.fixture(autouse=True)
def _private_targets_allowed(settings):
    # The receiver is on loopback; the worker gets the same setting from its environment (`worker_env`).
    settings.MODELGATE_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def p_admin(tenant_admin, tenant):
    return principal(tenant_admin, tenant, ALL_SCOPES)


@pytest.fixture
def p_owner(owner, tenant):
    return principal(owner, tenant, ALL_SCOPES)


def subscribe(p, url: str, events=("*",), model=None):
    return webhook_services.webhook_create(
        principal=p, url=url, events=list(events), secret=SECRET, model=model
    )


def full_flow(p, name: str) -> None:
    """Create a model and a version (registered by the worker), move it to Staging, set and delete an alias."""
    model = services.registered_model_create(principal=p, name=name)
    logged = make_logged_model(p.tenant)
    version = services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")
    version = selectors.wait_until_registered(version, timeout=30)
    assert version.status == VersionStatus.READY, version.status_message
    services.model_version_transition_stage(principal=p, version=version, stage="Staging")
    services.alias_set(principal=p, model=model, alias="candidate", version=version.version)
    services.alias_delete(principal=p, model=model, alias="candidate")


FLOW_EVENTS = [
    "registered_model.created",
    "model_version.created",
    "model_version.ready",
    "model_version.stage_changed",
    "model_version_alias.set",
    "model_version_alias.deleted",
]


def test_a_receiver_gets_each_event_of_a_real_flow_exactly_once_with_a_valid_signature(
    worker, p_admin, p_owner, tenant, receiver
):
    webhook = subscribe(p_admin, receiver.url + "/hook")
    full_flow(p_owner, "churn")
    settled()
    time.sleep(0.3)  # a duplicate would arrive about now
    got = receiver.requests
    assert sorted(r.json["event"] for r in got) == sorted(FLOW_EVENTS)
    deliveries = {str(d.pk): d for d in WebhookDelivery.objects.filter(webhook=webhook)}
    assert len(deliveries) == len(FLOW_EVENTS)
    for request in got:
        payload = request.json
        assert request.path == "/hook"
        assert request.headers["X-Modelgate-Signature"] == expected_signature(request.body)
        assert request.headers["X-Modelgate-Event"] == payload["event"]
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == "Modelgate-Webhooks/1"
        delivery = deliveries[request.headers["X-Modelgate-Delivery"]]
        assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
        assert delivery.payload.encode() == request.body  # exactly the stored bytes were signed and sent
        event = AuditEvent.objects.get(tenant=tenant, seq=payload["audit_seq"])
        assert event.action == payload["event"]
        assert payload["tenant"] == "acme" and payload["model"] == "churn"
        assert payload["actor"] == event.actor_name
        assert payload["data"]["object_type"] == event.object_type
        assert payload["data"]["after"] == event.after
        assert set(payload) >= {"id", "event", "tenant", "created_at", "actor", "model", "data", "audit_seq"}
    by_event = {r.json["event"]: r.json for r in got}
    assert by_event["model_version.stage_changed"]["version"] == 1
    assert by_event["model_version.stage_changed"]["data"]["after"]["stage"] == "Staging"
    assert by_event["model_version_alias.set"]["data"]["after"]["alias"] == "candidate"
    assert len({r.json["id"] for r in got}) == len(FLOW_EVENTS)


def test_a_model_scoped_webhook_gets_only_its_models_events(worker, p_admin, p_owner, receiver):
    mine = services.registered_model_create(principal=p_owner, name="mine")
    scoped = subscribe(p_owner, receiver.url + "/mine", model=mine)
    aliases_only = subscribe(p_admin, receiver.url + "/aliases", events=["model_version_alias.set"])
    full_flow(p_owner, "other")
    logged = make_logged_model(p_owner.tenant)
    version = services.model_version_create(
        principal=p_owner, model=mine, source=f"models:/{logged.model_id}"
    )
    selectors.wait_until_registered(version, timeout=30)
    services.alias_set(principal=p_owner, model=mine, alias="champion", version=1)
    settled()
    time.sleep(0.3)
    to_mine = [r.json for r in receiver.requests if r.path == "/mine"]
    assert sorted(p["event"] for p in to_mine) == [
        "model_version.created",
        "model_version.ready",
        "model_version_alias.set",
    ]
    assert {p["model"] for p in to_mine} == {"mine"}
    to_aliases = [r.json for r in receiver.requests if r.path == "/aliases"]
    assert sorted(p["model"] for p in to_aliases) == ["mine", "other"]
    assert {p["event"] for p in to_aliases} == {"model_version_alias.set"}
    assert WebhookDelivery.objects.filter(webhook=scoped).count() == 3
    assert WebhookDelivery.objects.filter(webhook=aliases_only).count() == 2


def test_a_receiver_failing_twice_gets_a_third_attempt_and_the_delivery_succeeds(
    worker, p_admin, p_owner, receiver
):
    receiver.behaviours = [500, 500]
    webhook = subscribe(p_admin, receiver.url, events=["registered_model.created"])
    services.registered_model_create(principal=p_owner, name="flaky")
    receiver.wait_for(3)
    settled()
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 3 and delivery.last_status_code == 200 and delivery.delivered_at
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status_code) for a in log] == [(1, 500), (2, 500), (3, 200)]
    assert log[0].error == "HTTP 500" and log[2].error == ""
    assert all(a.duration_ms >= 0 for a in log) and log[2].response_excerpt == "ok"
    assert log[1].at - log[0].at >= __import__("datetime").timedelta(seconds=0.2)  # the backoff was waited
    bodies = {r.body for r in receiver.requests}
    assert len(bodies) == 1  # the same signed body each time
    assert {r.headers["X-Modelgate-Delivery"] for r in receiver.requests} == {str(delivery.pk)}


def test_a_redirect_is_not_followed_and_counts_as_a_failure(worker, p_admin, p_owner, make_receiver):
    target, elsewhere = make_receiver(), make_receiver()
    target.default = ("redirect", elsewhere.url + "/stolen")
    webhook = subscribe(p_admin, target.url, events=["registered_model.created"])
    services.registered_model_create(principal=p_owner, name="redirected")
    settled()
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert delivery.status == DeliveryStatus.FAILED  # every attempt redirected, up to the maximum (4 here)
    assert delivery.attempts == 4 and delivery.last_status_code == 302
    assert "redirects are not followed" in delivery.last_error
    assert len(target.requests) == 4
    assert elsewhere.requests == []


def test_a_delivery_replayed_through_the_api_is_sent_again_with_the_same_body(
    worker, p_admin, p_owner, tenant_admin, tenant, receiver, api
):
    webhook = subscribe(p_admin, receiver.url, events=["registered_model.created"])
    services.registered_model_create(principal=p_owner, name="replayed")
    first = receiver.wait_for(1)[0]
    settled()
    original = WebhookDelivery.objects.get(webhook=webhook)
    client = api(tenant_admin, tenant)
    res = client.post(f"/t/acme/api/v1/webhooks/{webhook.pk}/deliveries/{original.pk}/replay")
    assert res.status_code == 202, res.content
    assert res.json()["replay_of"] == str(original.pk)
    second = receiver.wait_for(2)[1]
    settled()
    assert second.body == first.body
    assert second.headers["X-Modelgate-Signature"] == expected_signature(second.body)
    assert second.headers["X-Modelgate-Delivery"] == res.json()["id"] != str(original.pk)
    assert AuditEvent.objects.filter(tenant=tenant, action="webhook.delivery_replayed").count() == 1
    replay = WebhookDelivery.objects.get(pk=res.json()["id"])
    assert replay.status == DeliveryStatus.SUCCEEDED and replay.replay_of_id == original.pk


def test_running_the_delivery_task_again_sends_nothing_more(worker, p_admin, p_owner, receiver):
    webhook = subscribe(p_admin, receiver.url, events=["registered_model.created"])
    services.registered_model_create(principal=p_owner, name="once")
    receiver.wait_for(1)
    settled()
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert (
        deliver_webhook.apply_async(args=[str(delivery.pk)], ignore_result=False).get(timeout=30)
        == "succeeded"
    )
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 1


# --- a worker killed mid-delivery ----------------------------------------------------------------------------------


def start_private_worker(tmp_path, queue: str) -> Worker:
    """A worker on a queue of its own, so the session worker cannot take the delivery we are about to crash."""
    env = worker_env(connection.settings_dict["NAME"])
    name = f"whcrash{uuid.uuid4().hex[:6]}"
    log = tmp_path / f"celery-{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-n", f"{name}@%h"]
        + ["--pool=prefork", "--concurrency=1", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = Worker(proc, env, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{log.read_text()}")
        if app.control.ping(destination=[f"{name}@{os.uname().nodename}"], timeout=0.5):
            return worker
    stop_worker(worker, kill=True)
    raise RuntimeError(f"celery worker did not come up:\n{log.read_text()}")


def test_a_worker_killed_mid_delivery_loses_no_event(worker, p_admin, p_owner, tenant, receiver, tmp_path):
    model = services.registered_model_create(principal=p_owner, name="crashy")
    webhook = subscribe(p_admin, receiver.url, events=["registered_model.created"])
    event = AuditEvent.objects.get(tenant=tenant, action="registered_model.created", model_id=model.pk)
    with transaction.atomic():
        # The outbox rows of that event, written as the subscriber does but without its enqueue: the test sends
        # the task to the worker it is about to kill.
        [delivery_id] = outbox.record_deliveries(event)
    stall = threading.Event()
    receiver.behaviours = [stall]
    queue = f"whcrash-{uuid.uuid4().hex[:8]}"
    doomed = start_private_worker(tmp_path, queue)
    try:
        deliver_webhook.apply_async(args=(delivery_id,), queue=queue)
        receiver.wait_for(1)  # the request is in, and the receiver is not answering
        stop_worker(doomed, kill=True)  # SIGKILL main process and pool, mid-delivery
    finally:
        stall.set()
        stop_worker(doomed, kill=True)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.status == DeliveryStatus.DELIVERING and delivery.attempts == 1
    # The beat sweep finds it stale (the threshold is zero here instead of minutes) and hands it out again.
    assert (
        requeue_webhook_deliveries.apply_async(kwargs={"stale_after_seconds": 0}, ignore_result=False).get(
            timeout=30
        )
        >= 1
    )
    receiver.wait_for(2)
    settled()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 2
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status_code) for a in log] == [(1, None), (2, 200)]
    assert "worker was lost" in log[0].error
    # At least once: the receiver saw the same signed event twice and can deduplicate on the payload id.
    assert receiver.requests[0].body == receiver.requests[1].body
    assert receiver.requests[1].headers["X-Modelgate-Signature"] == expected_signature(
        receiver.requests[1].body
    )
    assert {r.headers["X-Modelgate-Delivery"] for r in receiver.requests} == {delivery_id}
    assert WebhookDelivery.objects.filter(webhook=webhook).count() == 1
