"""Helpers for the browser tests: sign-in through the login form, TOTP codes, axe-core, screenshots, mail links.

The fixtures that go with them are in `conftest.py` (this package). The login
form is used as docs/api.md ("Portal UI") specifies it: at
`/portal/<slug>/login/` fields labelled **Email** and **Password** and a
button **Sign in**; the MFA step has a field labelled **Code**.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from axe_playwright_python.sync_playwright import Axe
from django_otp.oath import TOTP
from playwright.sync_api import Page

from config.env import BASE_DIR

# Where screenshots go: the checkout's var/ (git-ignored), kept by CI as artefacts.
SCREENSHOT_DIR = BASE_DIR / "var" / "screenshots"
# What `assert_accessible` fails on (axe-core impacts: minor, moderate, serious, critical).
BLOCKING_IMPACTS = ("serious", "critical")

_axe = Axe()


# --------------------------------------------------------------------------- sign-in


def login_path(portal_slug: str) -> str:
    return f"/portal/{portal_slug}/login/"


def sign_in(
    page: Page,
    portal_slug: str,
    email: str,
    password: str,
    *,
    code: str | None = None,
    next_path: str | None = None,
) -> Page:
    """Sign in through the portal's login form; with `code`, also through the MFA step.

    Relative to the context's base URL (the live server, see `browser_context_args`).
    Returns `page`, on whatever page the form led to: the test asserts what it
    expects there (the dashboard, an error next to a field, the MFA step when
    no `code` was given, a 403 page, ...). `next_path` adds `?next=...`.
    """
    url = login_path(portal_slug) + (f"?next={next_path}" if next_path else "")
    page.goto(url)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    if code is not None:
        enter_code(page, code)
    return page


def enter_code(page: Page, code: str) -> Page:
    """Submit the MFA step: the field labelled **Code** (a TOTP or a backup code), sent with Enter.

    Enter submits the form through its default (first) submit button, whatever
    the page calls it, as a keyboard user would.
    """
    field = page.get_by_label("Code", exact=True)
    field.fill(code)
    with page.expect_navigation():
        field.press("Enter")
    return page


# --------------------------------------------------------------------------- TOTP


def totp_code(secret: str, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for the base32 `secret` (as shown at enrolment).

    "Now" is the MFA service's clock (`apps.identity.services.mfa.clock.now`),
    so a test that froze or moved it gets the code of that moment. A code is
    accepted once per 30-second step: to sign in again right after enrolling,
    use `steps_ahead=1` (the server accepts the next step too) instead of waiting.
    """
    from apps.identity.services.mfa import clock

    cleaned = re.sub(r"[\s-]", "", secret).upper()
    key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    totp = TOTP(key)
    totp.time = clock.now() + steps_ahead * totp.step
    return f"{totp.token():06d}"


# --------------------------------------------------------------------------- accessibility


def accessibility_violations(page: Page, *, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[dict]:
    """axe-core's violations on the page as it is now, of the given impacts."""
    results = _axe.run(page)
    return [v for v in results.response["violations"] if v.get("impact") in impacts]


def format_violations(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"][:5]:
            target = " ".join(str(t) for t in node["target"])
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    at {target}: {summary}")
        if len(violation["nodes"]) > 5:
            lines.append(f"    ... and {len(violation['nodes']) - 5} more elements")
    return "\n".join(lines)


def assert_accessible(page: Page, *, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> None:
    """Fail with a readable list if axe-core finds a serious or critical violation on the page."""
    found = accessibility_violations(page, impacts=impacts)
    assert not found, f"axe-core: {len(found)} {'/'.join(impacts)} violation(s) on {page.url}:\n" + format_violations(
        found
    )


# --------------------------------------------------------------------------- screenshots


def screenshot_path(test_name: str, name: str = "") -> Path:
    """`var/screenshots/<test>[--<name>].png`, the characters a file name should not hold replaced."""
    stem = f"{test_name}--{name}" if name else test_name
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("_")[:150]
    return SCREENSHOT_DIR / f"{stem}.png"


def save_screenshot(page: Page, test_name: str, name: str = "", *, full_page: bool = True) -> Path:
    path = screenshot_path(test_name, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


# --------------------------------------------------------------------------- links


def on_server(link: str, base_url: str) -> str:
    """`link` with its scheme and host:port replaced by `base_url`'s (path, query and fragment kept).

    Mails build absolute links from `PUBLIC_BASE_URL`; the browser fixtures set
    it to the live server, so this changes nothing unless a mail was built with
    another base.
    """
    target, base = urlsplit(link), urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, target.path, target.query, target.fragment))


# --------------------------------------------------------------------------- portal pages


def nav_labels(page: Page) -> list[str]:
    """The labels of the portal's main navigation, in order (empty when there is none)."""
    return [text.strip() for text in page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()]


def sign_out(page: Page) -> Page:
    """The header's **Sign out** button (a POST); lands on the portal's login page."""
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    return page


def goto_status(page: Page, url: str) -> int:
    """Open `url` and give the status of the page's answer (after redirects)."""
    response = page.goto(url)
    assert response is not None, f"no answer for {url}"
    return response.status
