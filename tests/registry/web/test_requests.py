"""Transition requests on the web: the inbox, a request's page, and the approve / reject / cancel forms, offered
only to those the service would accept (the URL behind a hidden button refuses too); another tenant gets 404."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import TransitionRequest, TransitionRequestStatus
from tests.registry.web.conftest import principal_of

pytestmark = pytest.mark.django_db

V3 = "/t/acme/models/churn/versions/3/"


@pytest.fixture
def staging_request(tenant, teammate, churn) -> TransitionRequest:
    """Tom (a reader, not in the owning team) asks for Staging for v3."""
    return services.transition_request_create(
        principal=principal_of(teammate, tenant),
        model=churn.model,
        version=3,
        stage="Staging",
        comment="ready",
    )


def test_a_reader_requests_a_stage_with_a_gate_from_the_version_page(browser_for, teammate, churn):
    browser = browser_for(teammate)
    html = browser.get(V3).content.decode()
    assert "Request stage" in html and "Provenance" in html
    assert "/api/v1/models/churn/versions/3/provenance?download=1" in html
    res = browser.post(
        V3 + "request/",
        {
            "stage": "Production",
            "comment": "better",
            "gate_metric": "auc",
            "gate_op": ">=",
            "gate_threshold": "0.5",
        },
        follow=True,
    )
    assert res.status_code == 200
    req = TransitionRequest.objects.get(model=churn.model)
    assert req.stage == "Production" and req.status == TransitionRequestStatus.PENDING
    assert req.gate == {"metric": "auc", "op": ">=", "threshold": 0.5}
    assert f"/t/acme/requests/{req.pk}/" in res.content.decode()


def test_the_provenance_download_works_with_the_session(browser_for, viewer, churn):
    res = browser_for(viewer).get("/t/acme/api/v1/models/churn/versions/1/provenance?download=1")
    assert res.status_code == 200
    assert res.json()["version"]["version"] == "1"


def test_the_inbox_tabs_show_mine_and_to_decide(browser_for, owner, teammate, staging_request):
    link = f"/t/acme/requests/{staging_request.pk}/"
    assert link in browser_for(teammate).get("/t/acme/requests/?tab=mine").content.decode()
    assert link not in browser_for(teammate).get("/t/acme/requests/?tab=decide").content.decode()
    assert link in browser_for(owner).get("/t/acme/requests/?tab=decide").content.decode()
    assert link not in browser_for(owner).get("/t/acme/requests/?tab=mine").content.decode()


def test_an_approver_approves_with_a_comment(browser_for, owner, staging_request):
    browser = browser_for(owner)
    url = f"/t/acme/requests/{staging_request.pk}/"
    assert ">Approve</button>" in browser.get(url).content.decode()
    res = browser.post(url + "approve/", {"comment": "lgtm"})
    assert res.status_code == 303
    staging_request.refresh_from_db()
    assert staging_request.status in (TransitionRequestStatus.APPROVED, TransitionRequestStatus.APPLIED)
    assert staging_request.events.filter(kind="approved", comment="lgtm").exists()


def test_a_viewer_sees_no_approve_button_and_posting_approve_is_403(browser_for, viewer, staging_request):
    browser = browser_for(viewer)
    url = f"/t/acme/requests/{staging_request.pk}/"
    res = browser.get(url)
    html = res.content.decode()
    assert res.status_code == 200 and "Approve</button>" not in html and "Reject</button>" not in html
    assert browser.post(url + "approve/", {"comment": "x"}).status_code == 403
    assert browser.post(url + "reject/", {"comment": "x"}).status_code == 403
    assert browser.post(url + "cancel/", {"comment": "x"}).status_code == 403
    staging_request.refresh_from_db()
    assert staging_request.status == TransitionRequestStatus.PENDING


def test_the_requester_cannot_approve_but_can_cancel(browser_for, teammate, staging_request):
    browser = browser_for(teammate)
    url = f"/t/acme/requests/{staging_request.pk}/"
    html = browser.get(url).content.decode()
    assert "Approve</button>" not in html and "Cancel request</button>" in html
    assert browser.post(url + "approve/").status_code == 403
    assert browser.post(url + "cancel/", {"comment": "not yet"}).status_code == 303
    staging_request.refresh_from_db()
    assert staging_request.status == TransitionRequestStatus.CANCELLED


def test_another_tenants_user_gets_404_everywhere(browser_for, outsider, staging_request):
    browser = browser_for(outsider)
    url = f"/t/acme/requests/{staging_request.pk}/"
    assert browser.get(url).status_code == 404
    assert browser.post(url + "approve/").status_code == 404
    assert browser.post(V3 + "request/", {"stage": "Production"}).status_code == 404
    assert browser.get(f"/t/globex/requests/{staging_request.pk}/").status_code == 404
    assert browser.post(f"/t/globex/requests/{staging_request.pk}/approve/").status_code == 404
    assert (
        f"/requests/{staging_request.pk}/" not in browser.get("/t/globex/requests/?tab=all").content.decode()
    )
    staging_request.refresh_from_db()
    assert staging_request.status == TransitionRequestStatus.PENDING
