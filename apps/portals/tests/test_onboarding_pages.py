"""Onboarding pages and the portal's analytics route: the API's selector, service and throttle behind a browser.

Checklist and progress, "Mark done" (idempotent, 404 for a step the flow lacks, CSRF), the feature gate,
the dashboard's progress card and its queries; `analytics/` (204, 400, 429 shared with the API, CSRF).
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.billing.services.plans import plan_seed
from apps.common.tenancy import tenant_context
from apps.flows.models import AnalyticsEvent, FlowDefinition, Step, StepCompletion
from apps.flows.services import onboarding_seed
from apps.portals.tests.conftest import csrf_post

pytestmark = pytest.mark.django_db

STEPS = ["complete_profile", "secure_account", "explore_portal"]


@pytest.fixture(autouse=True)
def _plans(db) -> None:
    plan_seed()


@pytest.fixture
def seeded(tenant):
    """`tenant` with the default onboarding steps, as a new tenant gets them."""
    with tenant_context(tenant):
        onboarding_seed(tenant=tenant)
    return tenant


def url(portal, tail: str = "") -> str:
    return f"/portal/{portal.slug}/{tail}"


def onboarding(portal) -> str:
    return url(portal, "onboarding/")


def complete(portal, code: str) -> str:
    return url(portal, f"onboarding/steps/{code}/complete/")


def analytics(portal) -> str:
    return url(portal, "analytics/")


def completions(tenant, user) -> set[str]:
    with tenant_context(tenant):
        return set(StepCompletion.objects.filter(run__user=user).values_list("step__code", flat=True))


def events(tenant, name: str | None = None) -> list[AnalyticsEvent]:
    with tenant_context(tenant):
        rows = AnalyticsEvent.objects.order_by("created_at")
        return list(rows.filter(event=name) if name else rows)


def nav(content: bytes) -> str:
    text = content.decode()
    return text[text.index('<nav aria-label="Main">') : text.index("</nav>")]


# --------------------------------------------------------------------------- the checklist


def test_the_checklist_shows_each_step_with_the_progress_and_a_mark_done_button(web, portal, seeded, signed_in):
    signed_in("member")
    page = web.get(onboarding(portal))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-testid="step"') == 3
    assert "Complete your profile" in html
    assert "0 of 3 done" in html
    assert '<progress class="progress" max="3" value="0"' in html
    assert html.count(">Mark done</button>") == 3
    assert 'aria-label="Mark done: Complete your profile"' in html
    for code in STEPS:
        assert f'action="{complete(portal, code)}"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert ">Onboarding</a>" in nav(page.content)


def test_marking_a_step_done_moves_the_progress_and_twice_is_harmless(web, portal, seeded, signed_in):
    me = signed_in("member")
    response = csrf_post(web, complete(portal, "secure_account"))
    assert response.status_code == 302
    assert response["Location"] == onboarding(portal)
    assert completions(seeded, me) == {"secure_account"}
    page = web.get(onboarding(portal)).content.decode()
    assert "1 of 3 done" in page
    assert "Done: Turn on two-factor authentication. 1 of 3 steps done." in page
    assert page.count(">Mark done</button>") == 2

    again = csrf_post(web, complete(portal, "secure_account"))
    assert again.status_code == 302
    assert completions(seeded, me) == {"secure_account"}
    with tenant_context(seeded):
        assert StepCompletion.objects.count() == 1


def test_the_last_step_says_all_set(web, portal, seeded, signed_in):
    signed_in("member")
    for code in STEPS:
        assert csrf_post(web, complete(portal, code)).status_code == 302
    page = web.get(onboarding(portal)).content.decode()
    assert "3 of 3 done" in page
    assert "That was the last step" in page
    assert 'data-testid="onboarding-complete"' in page
    assert "Mark done" not in page


def test_one_users_progress_is_not_anothers(web, portal, seeded, signed_in):
    signed_in("member")
    assert csrf_post(web, complete(portal, "explore_portal")).status_code == 302
    other = Client(enforce_csrf_checks=True)
    signed_in("admin", client=other)
    assert "0 of 3 done" in other.get(onboarding(portal)).content.decode()


@pytest.mark.parametrize("code", ["no_such_step", "a" * 300, "..", "secure account", "%00", "step.x", "-"])
def test_a_step_the_flow_lacks_is_the_404_page(web, portal, seeded, signed_in, code):
    me = signed_in("member")
    response = csrf_post(web, complete(portal, code))
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert completions(seeded, me) == set()


def test_another_tenants_step_is_the_404_page(web, portal, seeded, other_tenant, signed_in):
    with tenant_context(other_tenant):
        flow = FlowDefinition.objects.create(tenant=other_tenant, code="onboarding", name="Onboarding")
        Step.objects.create(tenant=other_tenant, flow=flow, code="globex_only", title="Globex only")
    me = signed_in("member")
    assert csrf_post(web, complete(portal, "globex_only")).status_code == 404
    assert completions(seeded, me) == set()
    assert b"Globex only" not in web.get(onboarding(portal)).content


def test_a_tenant_without_steps_gets_a_friendly_empty_state(web, portal, signed_in):
    signed_in("member")
    page = web.get(onboarding(portal))
    assert page.status_code == 200
    assert b'data-testid="onboarding-empty"' in page.content
    assert b"<progress" not in page.content
    assert b"Getting started" not in web.get(url(portal, "dashboard/")).content


def test_mark_done_needs_the_csrf_token(web, portal, seeded, signed_in):
    me = signed_in("member")
    web.get(onboarding(portal))
    assert web.post(complete(portal, "secure_account")).status_code == 403
    assert completions(seeded, me) == set()


def test_anonymous_visitors_go_to_the_login_page(portal, seeded):
    browser = Client()
    for response in (
        browser.get(onboarding(portal)),
        browser.post(complete(portal, "secure_account")),
        browser.post(analytics(portal), {"event": "page_view"}),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(url(portal, "login/"))


def test_completing_is_post_only(web, portal, seeded, signed_in):
    signed_in("member")
    assert web.get(complete(portal, "secure_account")).status_code == 405
    assert web.get(analytics(portal)).status_code == 405


def test_with_the_feature_switched_off_the_pages_are_403_and_out_of_the_navigation(web, portal, seeded, signed_in):
    me = signed_in("member")
    portal.features = {**portal.features, "onboarding": False}
    portal.save(update_fields=["features"])
    assert web.get(onboarding(portal)).status_code == 403
    assert csrf_post(web, complete(portal, "secure_account")).status_code == 403
    assert completions(seeded, me) == set()
    dashboard = web.get(url(portal, "dashboard/"))
    assert ">Onboarding</a>" not in nav(dashboard.content)
    assert b'data-testid="dashboard-onboarding"' not in dashboard.content


# --------------------------------------------------------------------------- the dashboard


def test_the_dashboard_shows_the_progress_and_links_to_the_checklist(web, portal, seeded, signed_in):
    signed_in("member")
    assert csrf_post(web, complete(portal, "complete_profile")).status_code == 302
    page = web.get(url(portal, "dashboard/")).content.decode()
    assert 'data-testid="dashboard-onboarding"' in page
    assert "1 of 3 done" in page
    assert f'<a href="{onboarding(portal)}">Continue with your onboarding checklist</a>' in page


def test_the_dashboards_queries_do_not_grow_with_the_checklist(web, portal, seeded, signed_in):
    signed_in("member")
    dashboard = url(portal, "dashboard/")
    web.get(dashboard)
    with CaptureQueriesContext(connection) as before:
        assert web.get(dashboard).status_code == 200
    with tenant_context(seeded):
        flow = FlowDefinition.objects.get()
        Step.objects.bulk_create(
            Step(tenant=seeded, flow=flow, code=f"extra_{n}", title=f"Extra {n}", order=100 + n) for n in range(20)
        )
    for code in STEPS:
        assert csrf_post(web, complete(portal, code)).status_code == 302
    web.get(dashboard)
    with CaptureQueriesContext(connection) as after:
        page = web.get(dashboard)
    assert "3 of 23 done" in page.content.decode()
    assert len(after) == len(before), [q["sql"] for q in after.captured_queries]


# --------------------------------------------------------------------------- analytics


def token(client: Client, portal) -> str:
    client.get(onboarding(portal))
    return client.cookies["csrftoken"].value


def track(client: Client, portal, body, *, csrf: str | None = None):
    return client.post(
        analytics(portal),
        data=json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf if csrf is not None else token(client, portal),
    )


def test_the_pages_load_the_analytics_script_with_the_csrf_meta(web, portal, seeded, signed_in):
    signed_in("member")
    page = web.get(onboarding(portal)).content.decode()
    assert '<meta name="csrf-token" content="' in page
    assert 'src="/static/portals/analytics.js"' in page
    assert f'data-analytics-url="{analytics(portal)}"' in page
    assert 'data-event="onboarding_step_viewed" data-event-step="complete_profile"' in page
    assert "<script>" not in page
    assert " onclick=" not in page


def test_an_event_is_recorded_for_the_user_in_this_portal(web, portal, seeded, signed_in):
    me = signed_in("member")
    response = track(web, portal, {"event": "onboarding_step_viewed", "properties": {"step": "secure_account"}})
    assert response.status_code == 204, response.content
    (event,) = events(seeded, "onboarding_step_viewed")
    assert (event.user_id, event.portal, event.properties) == (me.id, portal.slug, {"step": "secure_account"})


def test_a_form_body_works_too(web, portal, seeded, signed_in):
    signed_in("member")
    response = csrf_post(web, analytics(portal), {"event": "page_view", "properties": '{"path": "/x/"}'})
    assert response.status_code == 204
    assert [e.properties for e in events(seeded, "page_view")] == [{"path": "/x/"}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event": "made_up"}, "event"),
        ({"event": ["page_view"]}, "event"),
        ({}, "event"),
        ({"event": "page_view", "properties": {"k": "v" * 500}}, "properties"),
        ({"event": "page_view", "properties": {"nested": {"a": 1}}}, "properties"),
        ({"event": "page_view", "properties": [1, 2]}, "properties"),
        ([1, 2, 3], "body"),
        ("not json{", "body"),
    ],
)
def test_a_bad_event_is_a_short_400_and_records_nothing(web, portal, seeded, signed_in, body, field):
    signed_in("member")
    response = track(web, portal, body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert field in response.json()["errors"]
    assert events(seeded) == []


def test_analytics_needs_the_csrf_token(web, portal, seeded, signed_in):
    signed_in("member")
    assert track(web, portal, {"event": "page_view"}, csrf="wrong" * 8).status_code == 403
    assert events(seeded) == []


def test_the_portal_and_the_api_share_one_per_user_allowance(web, portal, seeded, signed_in, api_client, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "analytics": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    me = signed_in("member")
    api = api_client(me, portal)
    assert api.post("/api/v1/analytics/track/", {"event": "page_view"}).status_code == 201
    csrf = token(web, portal)
    assert track(web, portal, {"event": "page_view"}, csrf=csrf).status_code == 204
    assert track(web, portal, {"event": "page_view"}, csrf=csrf).status_code == 204
    throttled = track(web, portal, {"event": "page_view"}, csrf=csrf)
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) >= 1
    assert throttled.json()["retry_after"] >= 1
    assert api.post("/api/v1/analytics/track/", {"event": "page_view"}).status_code == 429
    assert len(events(seeded)) == 3
    # Per user: someone else in the same office still has their allowance.
    other = Client(enforce_csrf_checks=True)
    signed_in("admin", client=other)
    assert track(other, portal, {"event": "page_view"}).status_code == 204
