"""The version page: source run, manifest and downloads, history, and the actions offered only to those allowed
(the URL behind a hidden form refuses too)."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import ModelAlias, ModelVersion, Stage
from tests.registry.web.conftest import MODEL_FILES, principal_of

pytestmark = pytest.mark.django_db

V3 = "/t/acme/models/churn/versions/3/"


def stage_of(churn, number: int) -> str:
    return ModelVersion.objects.get(model=churn.model, version=number).stage


def test_the_version_page_shows_source_run_manifest_downloads_and_history(browser_for, owner, churn):
    html = browser_for(owner).get("/t/acme/models/churn/versions/1/").content.decode()
    assert f'href="/t/acme/runs/{churn.run.run_id}/"' in html
    assert "lr" in html and "0.1" in html and "auc" in html  # params and metrics of the source run
    download = f"/t/acme/api/2.0/mlflow-artifacts/artifacts/_registry/{churn.model.pk}/1/MLmodel"
    assert f'href="{download}"' in html
    assert str(len(MODEL_FILES["model/MLmodel"])) in html
    assert "stage None → Production" in html
    assert "@champion set here" in html


def test_a_manifest_download_link_works_for_the_signed_in_browser(browser_for, viewer, churn):
    browser = browser_for(viewer)
    res = browser.get(f"/t/acme/api/2.0/mlflow-artifacts/artifacts/_registry/{churn.model.pk}/1/model.pkl")
    assert res.status_code == 200
    assert b"".join(res.streaming_content) == MODEL_FILES["model/model.pkl"]


def test_a_viewer_sees_no_actions_and_posting_them_is_refused(browser_for, viewer, churn):
    browser = browser_for(viewer)
    html = browser.get(V3).content.decode()
    assert "Move version" not in html and "Set alias" not in html and "Delete alias" not in html
    assert browser.post(V3 + "transition/", {"stage": "Production"}).status_code == 403
    assert browser.post(V3 + "alias/", {"alias": "candidate"}).status_code == 403
    assert (
        browser.post("/t/acme/models/churn/versions/1/alias/delete/", {"alias": "champion"}).status_code
        == 403
    )
    assert stage_of(churn, 3) == Stage.NONE
    assert ModelAlias.objects.filter(model=churn.model).count() == 1


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (V3 + "transition/", {"stage": "Production"}),
        (V3 + "alias/", {"alias": "candidate"}),
        ("/t/acme/models/churn/versions/1/alias/delete/", {"alias": "champion"}),
        (
            "/t/acme/models/churn/grants/",
            {
                "grants-TOTAL_FORMS": "1",
                "grants-INITIAL_FORMS": "0",
                "grants-0-subject": "",
                "grants-0-level": "read",
            },
        ),
    ],
)
def test_another_tenant_cannot_post_actions_either(browser_for, outsider, churn, url, data):
    browser = browser_for(outsider)
    assert browser.post(url, data).status_code == 404
    assert browser.post(url.replace("/t/acme/", "/t/globex/"), data).status_code == 404
    assert stage_of(churn, 3) == Stage.NONE
    assert sorted(ModelAlias.objects.filter(model=churn.model).values_list("alias", flat=True)) == [
        "champion"
    ]


def test_a_manager_moves_a_version_to_production_archiving_the_current_one(browser_for, owner, churn):
    browser = browser_for(owner)
    html = browser.get(V3).content.decode()
    assert "Move version" in html and 'value="Production"' in html
    res = browser.post(
        V3 + "transition/",
        {
            "stage": "Production",
            "archive_existing_versions": "on",
            "expected_stage": "None",
            "comment": "better",
        },
        follow=True,
    )
    assert res.status_code == 200
    assert "Version 3 is now in Production." in res.content.decode()
    assert stage_of(churn, 3) == Stage.PRODUCTION
    assert stage_of(churn, 1) == Stage.ARCHIVED
    assert "“better”" in res.content.decode()  # the history shows the comment


def test_a_stale_form_is_refused_with_a_message(browser_for, owner, churn):
    res = browser_for(owner).post(
        V3 + "transition/", {"stage": "Staging", "expected_stage": "Archived"}, follow=True
    )
    assert "not the expected &#x27;Archived&#x27;" in res.content.decode()
    assert stage_of(churn, 3) == Stage.NONE


def test_a_staging_manager_is_offered_only_the_stages_they_may_set(
    browser_for, owner, teammate, tenant, churn
):
    services.registered_model_set_grants(
        principal=principal_of(owner, tenant),
        model=churn.model,
        grants=[{"user": "tom", "level": "manage_staging"}],
    )
    browser = browser_for(teammate)
    # The transition form only (the "request a stage" form below it offers every stage: requesting needs read).
    html = browser.get(V3).content.decode().split('id="request-heading"')[0]
    assert 'value="Staging"' in html and 'value="Archived"' in html
    assert 'option value="Production"' not in html
    assert browser.post(V3 + "transition/", {"stage": "Production"}).status_code == 403
    assert stage_of(churn, 3) == Stage.NONE


def test_an_editor_sets_and_moves_aliases_but_not_protected_ones(browser_for, owner, teammate, tenant, churn):
    services.registered_model_set_grants(
        principal=principal_of(owner, tenant), model=churn.model, grants=[{"user": "tom", "level": "edit"}]
    )
    browser = browser_for(teammate)
    html = browser.get(V3).content.decode()
    assert "Set alias" in html and "Move version" not in html
    browser.post(V3 + "alias/", {"alias": "candidate"})
    assert ModelAlias.objects.get(model=churn.model, alias="candidate").version.version == 3
    browser.post("/t/acme/models/churn/versions/2/alias/", {"alias": "candidate"})  # move it
    assert ModelAlias.objects.get(model=churn.model, alias="candidate").version.version == 2
    assert "@candidate moved to v2" in browser.get(V3).content.decode()
    # @champion is protected: the delete button is not offered, and the URLs refuse
    assert "Delete alias @champion" not in browser.get("/t/acme/models/churn/versions/1/").content.decode()
    assert browser.post(V3 + "alias/", {"alias": "champion"}).status_code == 403
    assert (
        browser.post("/t/acme/models/churn/versions/1/alias/delete/", {"alias": "champion"}).status_code
        == 403
    )
    assert ModelAlias.objects.get(model=churn.model, alias="champion").version.version == 1


def test_a_manager_deletes_an_alias(browser_for, owner, churn):
    browser = browser_for(owner)
    assert "Delete alias @champion" in browser.get("/t/acme/models/churn/versions/1/").content.decode()
    res = browser.post("/t/acme/models/churn/versions/1/alias/delete/", {"alias": "champion"}, follow=True)
    assert "@champion deleted." in res.content.decode()
    assert not ModelAlias.objects.filter(model=churn.model).exists()


def test_deleting_an_alias_from_a_page_where_it_no_longer_is_refused(browser_for, owner, churn):
    # The button on v2's page is stale: champion points to v1.
    res = browser_for(owner).post(
        "/t/acme/models/churn/versions/2/alias/delete/", {"alias": "champion"}, follow=True
    )
    assert "not the expected version 2" in res.content.decode()
    assert ModelAlias.objects.filter(model=churn.model, alias="champion").exists()


def test_a_missing_version_is_404(browser_for, owner, churn):
    assert browser_for(owner).get("/t/acme/models/churn/versions/9/").status_code == 404


def test_a_suspended_tenant_is_read_only_even_for_a_platform_admin(browser_for, owner, tenant, churn):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123")
    tenant.status = "suspended"
    tenant.save(update_fields=["status"])
    assert browser_for(owner).get(V3).status_code == 403  # members are locked out
    browser = browser_for(root)
    html = browser.get(V3).content.decode()
    assert "Move version" not in html and "Set alias" not in html
    assert "Save grants" not in browser.get("/t/acme/models/churn/").content.decode()
    assert browser.post(V3 + "transition/", {"stage": "Production"}).status_code == 403
    assert stage_of(churn, 3) == Stage.NONE
