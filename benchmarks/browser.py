"""Browser sign-ins for the `dashboard` flow: through the portal's login form, over HTTP, as a browser does.

For each user: `GET /portal/<slug>/login/` (the `csrftoken` cookie and the form's
`csrfmiddlewaretoken`), then `POST` e-mail, password and the token with that cookie and the
page's `Origin`. The answer is a redirect to the dashboard that sets the session cookie
(`sessionid`), whose Django session holds that portal's claims (apps/portals/session_store.py,
made by `browser_sessions.browser_session_start`). Each sign-in is a real one: Argon2 check,
admission, a browser session row and its `auth.login` audit event.

Cookies are read from `Set-Cookie` directly: outside debug they are `Secure`, and a cookie
jar would not send them back over the loopback's plain HTTP.

Each session is then checked with one `GET` of its dashboard (200, not a redirect to the login
page), which also warms the workers. wrk counts only answers of 400 and more as errors, so a
signed-out session (a 302) would pass unseen under load: `check` runs again after the passes.
"""

from __future__ import annotations

import http.client
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

SESSION_COOKIE = "sessionid"  # Django's SESSION_COOKIE_NAME, which Atrium keeps
LOGIN = "/portal/{portal}/login/"
DASHBOARD = "/portal/{portal}/dashboard/"
_TOKEN = re.compile(r'name="csrfmiddlewaretoken"\s+value="([^"]+)"')


class SignInFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class BrowserSession:
    """One signed-in browser: the dashboard path of its portal and the `Cookie` header to send."""

    path: str
    cookie: str

    def line(self) -> str:
        """The line flow.lua reads in mode `cookie`: `PATH COOKIE`."""
        return f"{self.path} {self.cookie}"


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    """`name -> value` of every `Set-Cookie`, whatever its attributes (Secure included)."""
    found = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        pair = header.split(";", 1)[0]
        name, sep, value = pair.partition("=")
        if sep:
            found[name.strip()] = value.strip()
    return found


def _request(
    port: int, method: str, path: str, *, cookies: dict[str, str], headers: dict[str, str] | None = None, body: str = ""
) -> tuple[int, dict[str, str], str, str]:
    """One request on a fresh connection: status, cookies set, Location, body text."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        sent = {"User-Agent": "atrium-bench", **(headers or {})}
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        conn.request(method, path, body=body or None, headers=sent)
        response = conn.getresponse()
        text = response.read().decode("utf-8", errors="replace")
        return response.status, _cookies(response), response.headers.get("Location", ""), text
    finally:
        conn.close()


def sign_in(port: int, email: str, password: str, portal: str) -> BrowserSession:
    """Sign `email` in to `portal` through its login form; its session cookie and dashboard path."""
    login, dashboard = LOGIN.format(portal=portal), DASHBOARD.format(portal=portal)
    status, jar, _, page = _request(port, "GET", login, cookies={})
    found = _TOKEN.search(page)
    if status != 200 or found is None or "csrftoken" not in jar:
        raise SignInFailed(f"GET {login} answered {status} without a CSRF cookie and token")
    origin = f"http://127.0.0.1:{port}"
    form = urlencode({"csrfmiddlewaretoken": found.group(1), "email": email, "password": password})
    status, got, location, _ = _request(
        port,
        "POST",
        login,
        cookies=jar,
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin,
            "Referer": origin + login,
        },
    )
    if status != 302 or not location.endswith(dashboard) or SESSION_COOKIE not in got:
        raise SignInFailed(
            f"POST {login} as {email} answered {status} (Location {location!r}, cookies {sorted(got)}), "
            f"not a redirect to {dashboard} with a {SESSION_COOKIE} cookie"
        )
    return BrowserSession(path=dashboard, cookie=f"{SESSION_COOKIE}={got[SESSION_COOKIE]}")


def dashboard_status(port: int, session: BrowserSession) -> int:
    status, _, _, _ = _request(port, "GET", session.path, cookies={}, headers={"Cookie": session.cookie})
    return status


def sign_in_all(port: int, users: list[list[str]], password: str, lanes: int) -> list[BrowserSession]:
    """Every `[email, portal]` signed in, `lanes` at a time (one per worker: Argon2 is CPU-bound); each checked."""
    with ThreadPoolExecutor(max_workers=max(1, lanes)) as pool:
        sessions = list(pool.map(lambda who: sign_in(port, who[0], password, who[1]), users))
        statuses = list(pool.map(lambda s: dashboard_status(port, s), sessions))
    bad = [(s.path, status) for s, status in zip(sessions, statuses, strict=True) if status != 200]
    if bad:
        raise SignInFailed(
            f"{len(bad)} of {len(sessions)} fresh browser sessions were refused their dashboard: {bad[:3]}"
        )
    return sessions


def check(port: int, lines: Path, lanes: int) -> int:
    """How many sessions of a `cookie` lines file no longer get their dashboard (200)."""
    sessions = []
    for line in lines.read_text().splitlines():
        path, _, cookie = line.partition(" ")
        if cookie:
            sessions.append(BrowserSession(path=path, cookie=cookie))
    with ThreadPoolExecutor(max_workers=max(1, lanes)) as pool:
        return sum(1 for status in pool.map(lambda s: dashboard_status(port, s), sessions) if status != 200)
