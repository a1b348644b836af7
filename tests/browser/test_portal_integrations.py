"""Integrations in Chromium: an owner creates an API key (shown once) and uses it, and a webhook endpoint that gets
a signed test event.

- The key works against the live server's API at once (`Authorization: Bearer atr_…`, a real HTTP request), and
  after it is revoked on the page the same request is 401.
- The endpoint points at a receiver this test starts on 127.0.0.1 (private addresses allowed with pytest-django's
  `settings`: the live server runs in this process); "Send test event" makes it receive a `ping` whose signature
  verifies with the `standardwebhooks` library and the secret the page showed; the delivery log shows it.
- Every new page passes axe-core (lists, forms with errors, the secret pages, the confirmations).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks import Webhook

from apps.billing.services.plans import plan_seed
from apps.billing.services.subscriptions import subscription_change
from apps.common.tenancy import tenant_context
from apps.integrations.tests.receiver import Receiver, receiver_start
from tests.browser.support import assert_accessible, nav_labels, sign_in

pytestmark = pytest.mark.browser

OWNER = "owner@acme.test"
MEMBERS_API = "/api/v1/identity/members/"


def move_to_pro(demo: Any) -> None:
    """acme on `pro` (API keys and webhooks are in it, not in `free`), through billing's service as an owner would."""
    tenant = demo.tenants["acme"]
    plan_seed()
    with tenant_context(tenant):
        subscription_change(tenant=tenant, actor=demo.users[OWNER], plan="pro")


def api_status(base_url: str, key: str) -> int:
    """The status of GET /api/v1/identity/members/ on the live server with the key as bearer."""
    request = urllib.request.Request(base_url + MEMBERS_API, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            json.loads(response.read())
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def open_from_nav(page: Page, label: str) -> None:
    assert label in nav_labels(page)
    with page.expect_navigation():
        page.get_by_role("navigation", name="Main").get_by_role("link", name=label, exact=True).click()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = receiver_start()
    yield server
    server.close()


def test_an_owner_creates_a_key_sees_it_once_uses_it_and_revokes_it(page: Page, demo, live_server):
    move_to_pro(demo)
    sign_in(page, "acme", OWNER, demo.password)
    open_from_nav(page, "API keys")
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    assert_accessible(page)

    # A name is needed: the service's refusal is shown on the field.
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#id_name_error")).to_be_visible()
    assert_accessible(page)

    page.get_by_label("Name", exact=True).fill("Browser robot")
    page.get_by_label("Role", exact=True).select_option("member")
    with page.expect_navigation() as created:
        page.get_by_role("button", name="Create key").click()
    assert "no-store" in (created.value.headers.get("cache-control") or "")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your new API key")
    expect(page.get_by_role("alert")).to_contain_text("it will not be shown again")
    key = page.get_by_test_id("new-api-key").inner_text().strip()
    assert re.fullmatch(r"atr_[A-Za-z0-9]+_\S+", key), key
    assert key not in page.url
    assert_accessible(page)

    assert api_status(live_server.url, key) == 200

    page.get_by_role("link", name="I have stored the key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    assert key not in page.content()
    row = page.get_by_test_id("api-key-row").filter(has_text="Browser robot")
    expect(row).to_have_attribute("data-status", "active")
    row.get_by_role("link", name=re.compile("^Revoke")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke an API key")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Revoke Browser robot").click()
    expect(page.get_by_role("status")).to_contain_text("API key revoked: Browser robot")
    expect(page.get_by_test_id("api-key-row").filter(has_text="Browser robot")).to_have_attribute(
        "data-status", "revoked"
    )

    assert api_status(live_server.url, key) == 401


def wait_for_hooks(receiver: Receiver, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.hooks) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(receiver.hooks) >= count, f"the receiver got {len(receiver.hooks)} of {count} deliveries"


def test_an_owner_adds_an_endpoint_and_its_test_event_arrives_signed(page: Page, demo, settings, receiver, screenshot):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True  # the receiver is on 127.0.0.1
    move_to_pro(demo)
    sign_in(page, "acme", OWNER, demo.password)
    open_from_nav(page, "Webhooks")
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    assert_accessible(page)

    # No URL and no event: the services' refusals are shown on the fields.
    page.get_by_role("checkbox", name="member.added").uncheck()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#id_events_error")).to_be_visible()
    assert_accessible(page)

    page.get_by_label("URL", exact=True).fill(receiver.url)
    page.get_by_role("checkbox", name="member.added").check()
    with page.expect_navigation() as added:
        page.get_by_role("button", name="Add endpoint").click()
    assert "no-store" in (added.value.headers.get("cache-control") or "")
    expect(page.get_by_role("heading", level=1)).to_have_text("Endpoint added")
    secret = page.get_by_test_id("new-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    assert_accessible(page)

    page.get_by_role("link", name="I have stored the secret").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhook endpoint")
    assert secret not in page.content()
    assert_accessible(page)

    with page.expect_navigation():
        page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_role("status")).to_contain_text("Test event sent")
    wait_for_hooks(receiver, 1)
    (hit,) = receiver.hooks
    assert Webhook(secret).verify(hit.body, hit.headers)["type"] == "ping"

    page.reload()
    row = page.get_by_test_id("delivery-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("ping")
    expect(row).to_have_attribute("data-status", "succeeded")
    expect(row.locator("td").nth(3)).to_have_text("200")
    assert_accessible(page)
    screenshot(page, "endpoint-with-test-delivery")

    with page.expect_navigation():
        page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New signing secret")
    expect(page.get_by_test_id("overlap")).to_contain_text("The previous secret stays valid until")
    assert page.get_by_test_id("new-secret").inner_text().strip() not in ("", secret)
    assert_accessible(page)

    page.get_by_role("link", name="I have stored the secret").click()
    page.get_by_role("link", name="Delete this endpoint").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete an endpoint")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Delete endpoint").click()
    expect(page.get_by_role("status")).to_contain_text("Endpoint deleted")
    expect(page.get_by_test_id("webhook-row")).to_have_count(0)
