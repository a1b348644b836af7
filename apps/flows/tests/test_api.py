"""The flows and analytics API of docs/api.md: checklist, step completion, runs, tracking."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.flows.models import AnalyticsEvent, FlowRun, StepCompletion
from apps.flows.tests.conftest import CHECKLIST, RUNS, TRACK, complete_url
from apps.identity.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]

STEPS = ["complete_profile", "secure_account", "explore_portal"]


# --------------------------------------------------------------------------- empty data is 200, never 404


def test_new_user_of_a_tenant_without_steps_gets_empty_checklist_and_runs(api_client, member, portal):
    client = api_client(member(), portal)
    checklist = client.get(CHECKLIST)
    assert checklist.status_code == 200, checklist.content
    assert checklist.json() == {"flow": "onboarding", "steps": [], "completed": False}
    runs = client.get(RUNS)
    assert runs.status_code == 200, runs.content
    assert runs.json() == {"results": [], "next": None, "previous": None}


def test_checklist_lists_the_steps_in_order_and_reading_it_writes_nothing(api_client, member, portal, seeded_tenant):
    client = api_client(member(), portal)
    body = client.get(CHECKLIST).json()
    assert [s["code"] for s in body["steps"]] == STEPS
    assert body["steps"][0] == {
        "code": "complete_profile",
        "title": "Complete your profile",
        "done": False,
        "completed_at": None,
    }
    assert body["completed"] is False
    with tenant_context(seeded_tenant):
        assert not FlowRun.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_api_needs_a_bearer_token(method):
    path = CHECKLIST if method == "get" else TRACK
    response = getattr(APIClient(), method)(path, {"event": "page_view"} if method == "post" else None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


# --------------------------------------------------------------------------- completing steps


def test_completing_a_step_is_idempotent(api_client, member, portal, seeded_tenant):
    client = api_client(member(), portal)
    first = client.post(complete_url("secure_account"))
    assert first.status_code == 200, first.content
    done = {s["code"]: s for s in first.json()["steps"]}
    assert done["secure_account"]["done"] is True
    assert done["secure_account"]["completed_at"] is not None
    assert done["complete_profile"]["done"] is False

    again = client.post(complete_url("secure_account"))
    assert again.status_code == 200
    assert again.json() == first.json()
    with tenant_context(seeded_tenant):
        assert StepCompletion.objects.count() == 1
        assert AuditEvent.objects.filter(action="flow.step_completed").count() == 1
        assert AnalyticsEvent.objects.filter(event="onboarding_step_completed").count() == 1
        event = AuditEvent.objects.get(action="flow.step_completed")
        assert event.data == {"flow": "onboarding", "step": "secure_account"}


def test_unknown_step_is_404_problem(api_client, member, portal, seeded_tenant):
    response = api_client(member(), portal).post(complete_url("no_such_step"))
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


def test_a_step_of_a_tenant_without_steps_is_404(api_client, member, portal):
    assert api_client(member(), portal).post(complete_url("complete_profile")).status_code == 404


def test_completing_the_last_step_completes_the_run(api_client, member, portal, seeded_tenant):
    client = api_client(member(), portal)
    for code in STEPS[:-1]:
        assert client.post(complete_url(code)).json()["completed"] is False
    runs = client.get(RUNS).json()["results"]
    assert len(runs) == 1
    assert runs[0]["flow"] == "onboarding"
    assert runs[0]["completed_at"] is None
    final = client.post(complete_url(STEPS[-1])).json()
    assert final["completed"] is True
    assert all(step["done"] for step in final["steps"])
    run = client.get(RUNS).json()["results"][0]
    assert run["completed_at"] is not None
    assert set(run) == {"id", "flow", "started_at", "completed_at"}


def test_each_member_has_their_own_progress(api_client, member, portal, seeded_tenant):
    alice, bob = api_client(member(), portal), api_client(member("admin"), portal)
    alice.post(complete_url("complete_profile"))
    assert not any(step["done"] for step in bob.get(CHECKLIST).json()["steps"])
    assert bob.get(RUNS).json()["results"] == []
    assert len(alice.get(RUNS).json()["results"]) == 1


# --------------------------------------------------------------------------- analytics


def test_tracking_an_allow_listed_event_is_201_and_stored(api_client, member, portal, tenant):
    user = member()
    response = api_client(user, portal).post(TRACK, {"event": "page_view", "properties": {"path": "/home", "n": 2}})
    assert response.status_code == 201, response.content
    assert response.json()["event"] == "page_view"
    with tenant_context(tenant):
        event = AnalyticsEvent.objects.get()
    assert (event.user_id, event.portal, event.properties) == (user.id, portal.slug, {"path": "/home", "n": 2})


def test_an_event_without_properties_is_201(api_client, member, portal):
    assert api_client(member(), portal).post(TRACK, {"event": "feature_used"}).status_code == 201


def test_event_not_allow_listed_is_400(api_client, member, portal, tenant):
    response = api_client(member(), portal).post(TRACK, {"event": "drop_tables"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert "event" in response.json()["errors"]
    with tenant_context(tenant):
        assert not AnalyticsEvent.objects.exists()


def test_the_allow_list_is_the_setting(api_client, member, portal, settings):
    settings.ANALYTICS_EVENTS = ["signup_clicked"]
    client = api_client(member(), portal)
    assert client.post(TRACK, {"event": "signup_clicked"}).status_code == 201
    assert client.post(TRACK, {"event": "page_view"}).status_code == 400


@pytest.mark.parametrize(
    "properties",
    [
        ["not", "an", "object"],
        "text",
        {"nested": {"a": 1}},
        {"list": [1, 2]},
        {"long": "x" * 201},
        {f"k{i}": i for i in range(21)},
        {"bad key!": 1},
        {"k" * 41: 1},
        {f"k{i}": "x" * 200 for i in range(12)},  # > 2048 bytes
    ],
)
def test_properties_must_be_a_small_flat_object(api_client, member, portal, properties):
    response = api_client(member(), portal).post(TRACK, {"event": "page_view", "properties": properties})
    assert response.status_code == 400, response.content
    assert "properties" in response.json()["errors"]


def test_missing_event_is_400(api_client, member, portal):
    response = api_client(member(), portal).post(TRACK, {"properties": {}})
    assert response.status_code == 400
    assert "event" in response.json()["errors"]


def test_tracking_is_throttled_per_user_with_retry_after(api_client, member, portal, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "analytics": "3/min"},
    }
    client, other = api_client(member(), portal), api_client(member(), portal)
    codes = [client.post(TRACK, {"event": "page_view"}).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    throttled = client.post(TRACK, {"event": "page_view"})
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) >= 1
    assert throttled["Content-Type"].startswith("application/problem+json")
    # Another user (same client IP) has their own allowance.
    assert other.post(TRACK, {"event": "page_view"}).status_code == 201
