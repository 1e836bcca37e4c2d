"""Experiments, runs and the compare page: search boxes with MLflow's grammar, artifacts, SVG charts."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_the_experiment_list_searches_with_mlflows_grammar(browser_for, viewer, churn):
    browser = browser_for(viewer)
    number = churn.experiment.number
    html = browser.get("/t/acme/experiments/").content.decode()
    assert f'href="/t/acme/experiments/{number}/"' in html
    html = browser.get("/t/acme/experiments/", {"filter": "name LIKE '%nothing%'"}).content.decode()
    assert f'href="/t/acme/experiments/{number}/"' not in html
    bad = browser.get("/t/acme/experiments/", {"filter": "name LIKE"})
    assert bad.status_code == 200 and 'role="alert"' in bad.content.decode()


def test_the_experiment_page_lists_runs_with_compare_checkboxes_and_searches_them(browser_for, viewer, churn):
    browser = browser_for(viewer)
    url = f"/t/acme/experiments/{churn.experiment.number}/"
    html = browser.get(url).content.decode()
    for run in (churn.run, churn.other_run):
        assert f'name="run" value="{run.run_id}"' in html
    assert 'action="/t/acme/runs/compare/"' in html
    html = browser.get(url, {"filter": "params.depth = '8'"}).content.decode()
    assert churn.other_run.run_id in html and churn.run.run_id not in html


def test_the_run_page_shows_params_metric_charts_and_artifacts(browser_for, viewer, churn):
    browser = browser_for(viewer)
    html = browser.get(f"/t/acme/runs/{churn.run.run_id}/").content.decode()
    assert "depth" in html and "0.8" in html
    assert html.count("<polyline") == 2  # auc and loss, one chart each
    assert 'role="img"' in html and "<title" in html
    assert 'href="?path=model#artifacts"' in html
    html = browser.get(f"/t/acme/runs/{churn.run.run_id}/", {"path": "model"}).content.decode()
    root = f"{churn.experiment.number}/{churn.run.run_id}/artifacts"
    assert f'href="/t/acme/api/2.0/mlflow-artifacts/artifacts/{root}/model/MLmodel"' in html
    res = browser.get(f"/t/acme/api/2.0/mlflow-artifacts/artifacts/{root}/model/model.pkl")
    assert res.status_code == 200 and b"".join(res.streaming_content) == b"\x80\x04weights"


def test_a_bad_artifact_path_is_a_400_page(browser_for, viewer, churn):
    assert browser_for(viewer).get(f"/t/acme/runs/{churn.run.run_id}/", {"path": "../x"}).status_code == 400


def test_compare_marks_differences_and_overlays_both_runs(browser_for, viewer, churn):
    html = (
        browser_for(viewer)
        .get("/t/acme/runs/compare/", {"run": [churn.run.run_id, churn.other_run.run_id]})
        .content.decode()
    )
    depth = re.search(r"<tr class=\"differs\"><th scope=\"row\"><code>depth</code>", html)
    lr = re.search(r"<tr><th scope=\"row\"><code>lr</code>", html)
    assert depth and lr  # depth differs (4 vs 8), lr does not (0.1 both)
    auc_chart = html.split("<figcaption>auc</figcaption>", 1)[1].split("</svg>", 1)[0]
    assert auc_chart.count("<polyline") == 2
    assert "baseline" in auc_chart and "deeper" in auc_chart  # the legend names both runs


def test_runs_of_another_tenant_are_404(browser_for, outsider, churn):
    browser = browser_for(outsider)
    assert browser.get(f"/t/acme/runs/{churn.run.run_id}/").status_code == 404
    assert browser.get(f"/t/globex/runs/{churn.run.run_id}/").status_code == 404
    assert browser.get("/t/globex/runs/compare/", {"run": churn.run.run_id}).status_code == 404
    assert browser.get(f"/t/globex/experiments/{churn.experiment.number}/").status_code == 404


def test_an_experiment_hidden_from_a_member_is_404(browser_for, teammate, tenant, churn):
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    browser = browser_for(teammate)
    assert browser.get(f"/t/acme/experiments/{churn.experiment.number}/").status_code == 404
    assert browser.get(f"/t/acme/runs/{churn.run.run_id}/").status_code == 404
    assert churn.experiment.name not in browser.get("/t/acme/experiments/").content.decode()
