"""The pages in a real browser (headless Debian Chromium driven by Playwright) against a live server: sign in, find
a model by tag, open a version, compare two runs, create a token and use it with the MLflow client, and follow a
link printed by the MLflow client."""

from __future__ import annotations

import os
import re
import time

import pytest

pytestmark = pytest.mark.django_db(transaction=True)
SCREENSHOTS = os.environ.get(
    "MODELGATE_SCREENSHOTS"
)  # a directory: save what the pages look like (development)


def sign_in(page, user: str = "olivia", password: str = "olivia-pw-123") -> None:
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_member_signs_in_finds_a_model_by_tag_and_opens_a_version(page, churn):
    page.goto("/t/acme/")
    assert "/accounts/login/" in page.url
    sign_in(page)
    page.wait_for_url(re.compile(r"/t/acme/$"))
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "dashboard.png"), full_page=True)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    page.get_by_label("Tag", exact=True).fill("domain=crm")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="churn", exact=True).click()
    page.wait_for_url(re.compile(r"/t/acme/models/churn/$"))
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "model.png"), full_page=True)
    page.get_by_role("link", name="v1", exact=True).first.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("churn")
    assert "version 1" in page.get_by_role("heading", level=1).inner_text()
    assert page.get_by_role("link", name="MLmodel").is_visible()
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "version.png"), full_page=True)
    assert page.get_by_role("button", name="Move version").is_visible()  # the owner may


def test_comparing_two_runs_overlays_both_series(page, churn):
    page.goto(f"/t/acme/experiments/{churn.experiment.number}/")
    sign_in(page)
    page.get_by_label("Compare baseline").check()
    page.get_by_label("Compare deeper").check()
    page.get_by_role("button", name="Compare selected runs").click()
    page.wait_for_url(re.compile(r"/t/acme/runs/compare/"))
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "compare.png"), full_page=True)
    chart = page.locator("figure", has=page.locator("figcaption", has_text="auc")).locator("svg")
    assert chart.locator("polyline").count() == 2
    assert page.locator("tr.differs", has_text="depth").count() == 1


def test_a_personal_token_works_with_the_mlflow_client(page, churn, live_server, monkeypatch):
    import mlflow

    page.goto("/t/acme/tokens/")
    sign_in(page)
    page.get_by_label("Name").fill("notebook")
    page.get_by_label("read", exact=True).check()
    page.get_by_role("button", name="Create token").click()
    lines = page.locator("#token-env").inner_text().splitlines()
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "tokens.png"), full_page=True)
    assert lines[0] == f"MLFLOW_TRACKING_URI={live_server.url}/t/acme"
    secret = lines[1].removeprefix("MLFLOW_TRACKING_TOKEN=")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret)
    client = mlflow.MlflowClient(tracking_uri=f"{live_server.url}/t/acme")
    assert "churn-training" in [e.name for e in client.search_experiments()]
    page.reload()  # the secret is not shown again
    assert secret not in page.content()


def test_a_link_printed_by_the_mlflow_client_lands_on_the_run_page(page, churn):
    link = f"/t/acme/#/experiments/{churn.experiment.number}/runs/{churn.run.run_id}"
    page.goto(link)  # signed out: through the login page, keeping the fragment
    sign_in(page)
    page.wait_for_url(re.compile(rf"/t/acme/runs/{churn.run.run_id}/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Run baseline"
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "run.png"), full_page=True)
    page.goto(link)  # signed in: straight there
    page.wait_for_url(re.compile(rf"/t/acme/runs/{churn.run.run_id}/$"))


def test_production_requested_by_one_user_and_approved_by_another_is_applied_by_the_worker(
    worker, page, chromium, live_server, churn, tenant_admin
):
    # `worker` first: set up before the live server, it is torn down after it, and its teardown then ends every
    # session left on the test database (otherwise dropping the database warns that it is in use).
    from registry.models import ModelVersion

    tenant_admin.set_password("ada-pw-123")
    tenant_admin.save(update_fields=["password"])
    page.goto("/t/acme/models/churn/versions/3/")
    sign_in(page)
    page.get_by_label("Request stage").select_option("Production")
    page.locator("#request_archive_existing_versions").check()
    page.get_by_role("button", name="Request stage").click()
    assert page.get_by_role("status").inner_text().startswith("Requested Production for version 3")

    approver = chromium.new_context(base_url=live_server.url)
    try:
        ada = approver.new_page()
        ada.set_default_timeout(15_000)
        ada.goto("/t/acme/requests/?tab=decide")
        sign_in(ada, "ada", "ada-pw-123")
        ada.get_by_role("link", name="churn", exact=True).wait_for()
        ada.locator("tbody tr").first.get_by_role("link").first.click()
        ada.get_by_label("Comment").first.fill("ship it")
        ada.get_by_role("button", name="Approve").click()
        assert "is now approved" in ada.get_by_role("status").inner_text()
    finally:
        approver.close()

    deadline = time.monotonic() + 60
    while ModelVersion.objects.get(model=churn.model, version=3).stage != "Production":
        assert time.monotonic() < deadline, worker.logs()[-3000:]
        time.sleep(0.3)
    page.reload()
    facts = page.locator("dl.facts").first
    assert "Production" in facts.inner_text()
    assert "applied" in page.locator("section", has=page.locator("#requests-heading")).inner_text()
    assert ModelVersion.objects.get(model=churn.model, version=1).stage == "Archived"


def test_a_member_opens_a_version_and_downloads_its_provenance(page, churn):
    import json

    page.goto("/t/acme/models/churn/versions/1/")
    sign_in(page)
    page.wait_for_url(re.compile(r"/t/acme/models/churn/versions/1/$"))
    assert page.get_by_role("heading", name="Provenance: everything about version 1").is_visible()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download as JSON").click()
    download = info.value
    with open(download.path(), encoding="utf-8") as f:
        provenance = json.load(f)
    assert provenance["version"]["version"] == "1"
    assert provenance["version"]["name"] == "churn"


def test_a_viewer_sees_no_approve_button_and_the_url_behind_it_answers_403(
    page, churn, tenant, teammate, viewer
):
    from registry import services
    from registry.models import TransitionRequest, TransitionRequestStatus
    from tests.registry.web.conftest import principal_of

    viewer.set_password("vera-pw-123")
    viewer.save(update_fields=["password"])
    request = services.transition_request_create(
        principal=principal_of(teammate, tenant),
        model=churn.model,
        version=3,
        stage="Staging",
        comment="ready",
    )
    page.goto(f"/t/acme/requests/{request.pk}/")
    sign_in(page, "vera", "vera-pw-123")
    page.wait_for_url(re.compile(rf"/t/acme/requests/{request.pk}/$"))
    assert page.get_by_role("heading", level=1).is_visible()
    assert page.get_by_role("button", name="Approve").count() == 0
    assert page.get_by_role("button", name="Reject").count() == 0
    # The URL behind the hidden button, posted from the signed-in browser with a valid CSRF token: the 403 is
    # the permission check's, not CSRF's (whose page would not carry Modelgate's "Not allowed").
    token = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    response = page.request.post(
        f"/t/acme/requests/{request.pk}/approve/",
        form={"comment": "sneaky", "csrfmiddlewaretoken": token or ""},
        headers={"Referer": page.url},
    )
    assert response.status == 403
    assert "Not allowed" in response.text()
    request.refresh_from_db()
    assert request.status == TransitionRequestStatus.PENDING
    assert not TransitionRequest.objects.get(pk=request.pk).events.filter(kind="approved").exists()
