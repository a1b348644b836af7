"""The SSRF guard: private addresses refused when an endpoint is saved and again at each attempt, unless allowed."""

from __future__ import annotations

import ipaddress

import pytest

from apps.integrations.addresses import UnsafeUrl, address_is_public, target_resolve
from apps.integrations.tests.conftest import WEBHOOKS, detail


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "100.64.0.1",  # shared address space (CGNAT)
        "0.0.0.0",  # noqa: S104 - the address under test, not a bind
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    ],
)
def test_private_and_special_addresses_are_not_public(address):
    assert not address_is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_global_addresses_are_public(address):
    assert address_is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://localhost/hook", "https://[::1]/x", "http://169.254.169.254/latest/"]
)
def test_a_url_resolving_to_a_private_address_is_refused_unless_allowed(url):
    with pytest.raises(UnsafeUrl, match="resolves to a private address"):
        target_resolve(url, allow_private=False)
    target = target_resolve(url, allow_private=True)
    assert target.addresses


def test_the_target_keeps_the_name_for_the_host_header():
    target = target_resolve("http://127.0.0.1:8080/in?x=1", allow_private=True)
    assert (target.host_header, target.path, target.addresses) == ("127.0.0.1:8080", "/in?x=1", ("127.0.0.1",))
    assert target_resolve("https://[::1]/", allow_private=True).host_header == "[::1]"


@pytest.mark.django_db
def test_an_endpoint_on_a_private_address_is_a_400_unless_allowed(owner_api, receiver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    response = owner_api.post(WEBHOOKS, {"url": receiver.url, "events": ["member.added"]}, format="json")
    assert response.status_code == 400
    assert "resolves to a private address" in response.json()["detail"]
    assert "url" in response.json()["errors"]

    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True  # on-premises
    made = owner_api.post(WEBHOOKS, {"url": receiver.url, "events": ["member.added"]}, format="json")
    assert made.status_code == 201

    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    moved = owner_api.patch(detail(made.json()["id"]), {"url": "http://10.0.0.1/hook"}, format="json")
    assert moved.status_code == 400


@pytest.mark.django_db
def test_the_address_is_checked_again_at_delivery_time(owner_api, make_endpoint, receiver, run_jobs, settings, client):
    settings.WEBHOOKS_RETRY_SCHEDULE = []
    endpoint = make_endpoint()  # saved while allowed (or while the name still resolved elsewhere)
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    with run_jobs():
        assert owner_api.post(f"{detail(endpoint['id'])}test/").status_code == 202

    assert receiver.requests == []  # nothing was sent
    [logged] = owner_api.get(f"{detail(endpoint['id'])}deliveries/").json()["results"]
    assert (logged["status"], logged["response_code"]) == ("failed", None)
    assert "resolves to a private address" in logged["error"]
    settings.METRICS_TOKEN, settings.DEBUG = "", True
    assert 'atrium_webhook_deliveries_total{outcome="refused"} 1.0' in client.get("/metrics").content.decode()
