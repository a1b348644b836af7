"""The browser harness itself, end to end on what the app serves today (the portal pages come on top of it).

Chromium reaches the live server; static files are served; the demo data is
committed where the server sees it; a mail sent by the app arrives over SMTP
and its link works; TOTP codes match the server's; the axe-core check and the
sign-in helper do what the portal tests will rely on.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from playwright.sync_api import Page, Route

from config.env import BASE_DIR
from tests.browser.support import SCREENSHOT_DIR, assert_accessible, sign_in, totp_code

pytestmark = pytest.mark.browser

API = "/api/v1/identity"
NEW_PASSWORD = "a fresh browser passphrase 42"
SIDECAR_CSS = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"  # a static file of an installed package


def api_login(page: Page, email: str, password: str, portal: str) -> dict:
    response = page.request.post(f"{API}/auth/login/", data={"email": email, "password": password, "portal": portal})
    assert response.status == 200, response.text()
    return response.json()


def test_chromium_opens_the_live_server_and_a_screenshot_is_saved(page, live_server, screenshot):
    response = page.goto("/healthz")
    assert response is not None
    assert response.status == 200, response.text()
    assert page.url == f"{live_server.url}/healthz"
    assert page.evaluate("navigator.userAgent").find("Chrome") >= 0

    path = screenshot(page, "healthz")
    assert path.parent == SCREENSHOT_DIR
    assert path.name == "test_harness.test_chromium_opens_the_live_server_and_a_screenshot_is_saved--healthz.png"
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def own_static_files() -> list[str]:
    """Every static file Atrium itself ships (static/, apps/*/static/), as the finders name them."""
    found = []
    for finder in finders.get_finders():
        for name, storage in finder.list([]):
            location = Path(storage.path(name)).resolve()
            if BASE_DIR in location.parents and ".venv" not in location.parts and not location.name.startswith("."):
                found.append(name)
    return sorted(found)


def test_static_files_are_served_by_the_live_server(page):
    # The portal stylesheet, the local htmx, ...: whatever Atrium ships, plus one file of an installed package.
    sidecar = SIDECAR_CSS
    assert finders.find(sidecar), "the sidecar's stylesheet moved: pick another static file of an installed app"
    for name in [*own_static_files(), sidecar]:
        response = page.request.get(static(name))
        assert response.status == 200, f"{static(name)} answered {response.status}"
        assert response.body() == Path(finders.find(name)).read_bytes()


def test_demo_data_is_committed_for_the_live_server(page, demo):
    assert set(demo.portals) == {"acme", "acme-admin", "globex"}
    for slug in demo.portals:
        response = page.request.get(f"{API}/portals/{slug}/")
        assert response.status == 200, response.text()
    # Each demo user signs in (through the API, on the server) with the demo password, in their tenant.
    for email, portal in [("owner@acme.test", "acme"), ("member@acme.test", "acme"), ("owner@globex.test", "globex")]:
        body = api_login(page, email, demo.password, portal)
        me = page.request.get(f"{API}/auth/me/", headers={"Authorization": f"Bearer {body['access']}"})
        assert me.status == 200, me.text()
        assert me.json()["email"] == email


def test_the_live_server_answers_requests_in_parallel(demo, live_server):
    # A page loads its stylesheets, scripts and htmx partials at once: no request may fail for another's sake
    # (on in-memory SQLite the live server takes them one at a time, see the `live_server` fixture).
    paths = [f"{API}/portals/acme/", f"{API}/portals/globex/", "/healthz", static(SIDECAR_CSS)]

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(live_server.url + path, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(status, paths * 12))
    assert answers == [200] * len(answers), Counter(answers)


def test_a_mailed_link_arrives_over_smtp_and_points_at_the_live_server(page, demo, mailbox, live_server):
    response = page.request.post(f"{API}/auth/password/reset/", data={"email": "admin@acme.test", "portal": "acme"})
    assert response.status == 202, response.text()

    mail = mailbox.wait_for("admin@acme.test")
    assert mail.rcpt_tos == ["admin@acme.test"]
    link = mailbox.link_to("admin@acme.test")
    assert link.startswith(f"{live_server.url}/portal/acme/password/reset/?uid="), link

    # The link's token is the real one: it resets the password once, on the server.
    query = {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
    confirm = {"uid": query["uid"], "token": query["token"], "new_password": NEW_PASSWORD}
    assert page.request.post(f"{API}/auth/password/reset/confirm/", data=confirm).status == 204
    assert api_login(page, "admin@acme.test", NEW_PASSWORD, "acme")["access"]
    assert any("was reset" in m.text for m in mailbox.mails_to("admin@acme.test"))


def test_totp_codes_match_the_server(page, demo):
    access = api_login(page, "owner@acme.test", demo.password, "acme")["access"]
    bearer = {"Authorization": f"Bearer {access}"}
    setup = page.request.post(f"{API}/auth/mfa/totp/setup/", headers=bearer)
    assert setup.status == 200, setup.text()
    secret = setup.json()["secret"]

    confirmed = page.request.post(f"{API}/auth/mfa/totp/confirm/", headers=bearer, data={"code": totp_code(secret)})
    assert confirmed.status == 200, confirmed.text()
    assert len(confirmed.json()["backup_codes"]) == 10
    # The code of the next step signs in right away (the current one was just used).
    login = page.request.post(
        f"{API}/auth/login/", data={"email": "owner@acme.test", "password": demo.password, "portal": "acme"}
    )
    assert login.status == 200, login.text()
    verify = page.request.post(
        f"{API}/auth/mfa/verify/",
        data={"mfa_token": login.json()["mfa_token"], "code": totp_code(secret, steps_ahead=1)},
    )
    assert verify.status == 200, verify.text()


ACCESSIBLE = """<!doctype html><html lang="en"><head><title>Fine</title></head><body><main>
<h1>Sign in</h1><form><label for="e">Email</label><input id="e" type="email" name="email">
<button type="submit">Sign in</button></form></main></body></html>"""
INACCESSIBLE = """<!doctype html><html lang="en"><head><title>Broken</title></head><body><main>
<h1>Sign in</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="email" name="email">
</main></body></html>"""


def test_assert_accessible_passes_a_clean_page_and_lists_what_is_wrong(page):
    page.set_content(ACCESSIBLE)
    assert_accessible(page)

    page.set_content(INACCESSIBLE)
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page)
    report = str(failure.value)
    assert "[critical] image-alt" in report
    assert "[critical] label" in report
    assert "dequeuniversity.com" in report  # each rule with its explanation


LOGIN_FORM = """<!doctype html><html lang="en"><head><title>Sign in</title></head><body><main>
<form method="post" action="/portal/acme/login/">
<label for="email">Email</label><input id="email" name="email" type="email">
<label for="password">Password</label><input id="password" name="password" type="password">
<button type="submit">Sign in</button></form></main></body></html>"""
MFA_FORM = """<!doctype html><html lang="en"><head><title>Code</title></head><body><main>
<form method="post" action="/portal/acme/login/mfa/">
<label for="code">Code</label><input id="code" name="code" inputmode="numeric">
<button type="submit">Verify</button><button type="submit" name="other">Use a backup code</button>
</form></main></body></html>"""


def test_sign_in_fills_the_login_form_and_the_mfa_step(page, live_server):
    # A stand-in for the portal's login pages with the labels docs/api.md promises (not the app's pages).
    posted: list[dict[str, list[str]]] = []

    def serve(route: Route) -> None:
        request = route.request
        if request.method == "GET":
            route.fulfill(status=200, content_type="text/html", body=LOGIN_FORM)
            return
        posted.append(parse_qs(request.post_data or ""))
        if request.url.endswith("/login/"):
            route.fulfill(status=200, content_type="text/html", body=MFA_FORM)
        else:
            route.fulfill(status=200, content_type="text/html", body="<title>Dashboard</title><h1>Dashboard</h1>")

    page.route(f"{live_server.url}/portal/acme/login/**", serve)
    sign_in(page, "acme", "owner@acme.test", "pass phrase", code="123456")

    assert posted == [{"email": ["owner@acme.test"], "password": ["pass phrase"]}, {"code": ["123456"]}]
    assert page.title() == "Dashboard"
