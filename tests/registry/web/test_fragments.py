"""MLflow UI links (`/t/<tenant>/#/…`) reach the matching page: the mapping, and the forwarder view."""

from __future__ import annotations

import pytest

from registry.web.fragments import fragment_target

RUN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("fragment", "target"),
    [
        (f"#/experiments/1/runs/{RUN}", f"/t/acme/runs/{RUN}/"),
        (f"#/experiments/12/runs/{RUN}/artifacts", f"/t/acme/runs/{RUN}/"),
        ("#/experiments/7", "/t/acme/experiments/7/"),
        ("#/experiments/7/s?searchFilter=x", "/t/acme/experiments/7/"),
        ("/experiments/7", "/t/acme/experiments/7/"),
        ("#/models/churn/versions/3", "/t/acme/models/churn/versions/3/"),
        ("#/models/my%20model/versions/3", "/t/acme/models/my%20model/versions/3/"),
        ("#/models/churn", "/t/acme/models/churn/"),
        ("#/models", "/t/acme/models/"),
        ("#/experiments", "/t/acme/experiments/"),
        ("#/experiments/x", None),
        ("#/experiments/1/runs/not-a-run-id", "/t/acme/experiments/1/"),
        ("#main", None),
        ("", None),
        ("#/somewhere/else", None),
    ],
)
def test_it_maps_mlflow_ui_fragments_to_modelgate_pages(fragment, target):
    assert fragment_target("acme", fragment) == target


@pytest.mark.django_db
def test_the_forwarder_redirects_to_the_page_or_the_dashboard(browser_for, owner, tenant):
    browser = browser_for(owner)
    res = browser.get("/t/acme/go/", {"to": f"#/experiments/1/runs/{RUN}"})
    assert res.status_code == 302 and res["Location"] == f"/t/acme/runs/{RUN}/"
    assert browser.get("/t/acme/go/", {"to": "#/nowhere"})["Location"] == "/t/acme/"


@pytest.mark.django_db
def test_the_forwarder_of_another_tenant_is_404(browser_for, outsider, tenant):
    assert browser_for(outsider).get("/t/acme/go/", {"to": "#/models"}).status_code == 404
