"""Dashboard and model pages: what each person sees, what they may change, and that nothing crosses tenants."""

from __future__ import annotations

import pytest

from registry import permissions, services
from registry.models import RegisteredModel
from tests.registry.web.conftest import principal_of

pytestmark = pytest.mark.django_db


def test_a_signed_out_visitor_is_sent_to_login_and_back(client, tenant):
    res = client.get("/t/acme/models/?tag=domain%3Dcrm")
    assert res.status_code == 302
    assert res["Location"] == "/accounts/login/?next=/t/acme/models/%3Ftag%3Ddomain%253Dcrm"


def test_the_dashboard_shows_what_is_live_and_recent_activity(browser_for, owner, churn):
    res = browser_for(owner).get("/t/acme/")
    assert res.status_code == 200
    html = res.content.decode()
    assert 'href="/t/acme/models/churn/"' in html
    assert 'href="/t/acme/models/churn/versions/1/">v1</a>' in html  # Production
    assert 'href="/t/acme/models/churn/versions/2/">v2</a>' in html  # Staging
    assert "champion → v1" in html
    assert "model_version_alias.set" in html and "model_version.stage_changed" in html
    assert "/t/acme/go/" in html  # the MLflow fragment forwarder


def test_the_dashboard_nav_offers_no_pages_that_do_not_exist_yet(browser_for, owner, tenant):
    html = browser_for(owner).get("/t/acme/").content.decode()
    for label in ("Dashboard", "Models", "Experiments", "Requests", "Audit", "Tokens"):
        assert f">{label}</a>" in html
    assert "Settings" not in html  # tenant admins only


def test_another_tenants_pages_are_404(browser_for, outsider, churn):
    browser = browser_for(outsider)
    for url in ("/t/acme/", "/t/acme/models/", "/t/acme/models/churn/", "/t/acme/models/churn/versions/1/"):
        res = browser.get(url)
        assert res.status_code == 404, url
        assert "Predicts churn" not in res.content.decode() and "champion" not in res.content.decode()
    assert (
        browser.get("/t/globex/models/churn/").status_code == 404
    )  # not in the outsider's own tenant either


def test_a_model_hidden_from_a_member_is_404_like_a_missing_one(browser_for, teammate, tenant, churn):
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    browser = browser_for(teammate)
    hidden = browser.get("/t/acme/models/churn/")
    missing = browser.get("/t/acme/models/nope/")
    assert hidden.status_code == missing.status_code == 404
    assert "churn" not in browser.get("/t/acme/models/").content.decode()
    assert "churn" not in browser.get("/t/acme/").content.decode()


def test_the_model_list_filters_by_name_tag_team_and_stage(
    browser_for, owner, tenant, team, other_team, churn
):
    principal = principal_of(owner, tenant)
    services.registered_model_create(principal=principal, name="fraud", tags={"domain": "risk"})
    browser = browser_for(owner)

    def names(query: str) -> set[str]:
        html = browser.get(f"/t/acme/models/?{query}").content.decode()
        return {n for n in ("churn", "fraud") if f'href="/t/acme/models/{n}/"' in html}

    assert names("") == {"churn", "fraud"}
    assert names("q=chu") == {"churn"}
    assert names("tag=domain%3Drisk") == {"fraud"}
    assert names("tag=domain%3Dcrm&stage=Production") == {"churn"}
    assert names("stage=Staging") == {"churn"}
    assert names(f"team={team.slug}") == {"churn", "fraud"}
    assert names(f"team={other_team.slug}") == set()


def test_a_bad_tag_filter_is_explained_not_a_500(browser_for, owner, churn):
    res = browser_for(owner).get("/t/acme/models/?tag=no-equals-sign")
    assert res.status_code == 200
    assert "use key=value" in res.content.decode()


def test_the_model_list_paginates(browser_for, owner, tenant):
    principal = principal_of(owner, tenant)
    for index in range(27):
        services.registered_model_create(principal=principal, name=f"m{index:02d}")
    browser = browser_for(owner)
    first = browser.get("/t/acme/models/").content.decode()
    second = browser.get("/t/acme/models/?page=2").content.decode()
    assert "Page 1 of 2" in first and 'href="/t/acme/models/m24/"' in first
    assert 'href="/t/acme/models/m25/"' in second and 'href="/t/acme/models/m00/"' not in second


def test_the_model_page_shows_versions_tags_aliases_and_grants(browser_for, teammate, churn):
    html = browser_for(teammate).get("/t/acme/models/churn/").content.decode()
    assert "Predicts churn" in html and "domain" in html and "crm" in html
    for version in (1, 2, 3):
        assert f'href="/t/acme/models/churn/versions/{version}/"' in html
    assert f'href="/t/acme/runs/{churn.run.run_id}/"' in html
    assert "champion → v1" in html
    assert "olivia" in html  # created by
    assert "Save grants" not in html  # a reader sees the grants, without the editor


def test_the_grants_form_is_only_for_managers_and_the_url_refuses_others(
    browser_for, owner, teammate, viewer, churn
):
    assert "Save grants" in browser_for(owner).get("/t/acme/models/churn/").content.decode()
    for person in (teammate, viewer):
        res = browser_for(person).post(
            "/t/acme/models/churn/grants/",
            {
                "grants-TOTAL_FORMS": "1",
                "grants-INITIAL_FORMS": "0",
                "grants-0-subject": "user:tom",
                "grants-0-level": "manage",
            },
        )
        assert res.status_code == 403
        assert permissions.grants_of(churn.model) == []


def test_a_manager_replaces_grants_with_the_form(browser_for, owner, teammate, other_team, tenant, churn):
    browser = browser_for(owner)
    res = browser.post(
        "/t/acme/models/churn/grants/",
        {
            "grants-TOTAL_FORMS": "3",
            "grants-INITIAL_FORMS": "0",
            "grants-0-subject": f"team:{other_team.slug}",
            "grants-0-level": "edit",
            "grants-1-subject": "user:tom",
            "grants-1-level": "manage_staging",
            "grants-2-subject": "",
            "grants-2-level": "read",
        },
    )
    assert res.status_code == 303 and res["Location"].endswith("/t/acme/models/churn/#grants")
    assert permissions.grants_of(churn.model) == [
        {"user": "tom", "level": "manage_staging"},
        {"team": other_team.slug, "level": "edit"},
    ]
    model = RegisteredModel.objects.get(pk=churn.model.pk)
    assert permissions.effective_level(principal_of(teammate, tenant), model) == "manage_staging"
    # Ticking "remove" drops a grant.
    browser.post(
        "/t/acme/models/churn/grants/",
        {
            "grants-TOTAL_FORMS": "1",
            "grants-INITIAL_FORMS": "1",
            "grants-0-subject": "user:tom",
            "grants-0-level": "manage_staging",
            "grants-0-remove": "on",
        },
    )
    assert permissions.grants_of(churn.model) == []


def test_a_grant_to_someone_outside_the_tenant_is_refused(browser_for, owner, outsider, churn):
    res = browser_for(owner).post(
        "/t/acme/models/churn/grants/",
        {
            "grants-TOTAL_FORMS": "1",
            "grants-INITIAL_FORMS": "0",
            "grants-0-subject": "user:oscar",
            "grants-0-level": "read",
        },
        follow=True,
    )
    assert "grants form is invalid" in res.content.decode()
    assert permissions.grants_of(churn.model) == []


def test_the_landing_page_links_to_each_tenants_dashboard(browser_for, owner, tenant):
    html = browser_for(owner).get("/").content.decode()
    assert 'href="/t/acme/"' in html


@pytest.mark.parametrize(
    "url",
    [
        "/t/a%00b/",
        "/t/acme/models/a%00b/",
        "/t/acme/models/?q=a%00b",
        "/t/acme/models/?tag=k%3Dv%00",
        "/t/acme/models/?page=99999999999999999999",
        "/t/acme/models/churn/versions/99999999999/",
        "/t/acme/experiments/?filter=name%20%3D%20%27a%00%27",
        "/t/acme/experiments/%00/",
        "/t/acme/experiments/?page_token=junk",
        "/t/acme/runs/%00/",
        "/t/acme/runs/compare/?run=%00",
        "/t/acme/runs/compare/",
        "/t/acme/go/?to=%23/models/%00/versions/1",
    ],
)
def test_junk_in_urls_is_a_4xx_or_a_page_never_a_500(browser_for, owner, churn, url):
    res = browser_for(owner).get(url)
    assert res.status_code < 500, (url, res.status_code)
