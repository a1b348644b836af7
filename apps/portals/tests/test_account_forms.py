"""Every account form before sign-in (reset, verify, resend, accept, sign up): CSRF, and odd input without a 500."""

from __future__ import annotations

from typing import Any

import pytest

from apps.portals.tests.account_support import NEW_PASSWORD, page_text
from apps.portals.tests.conftest import csrf_post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


# --------------------------------------------------------------------------- CSRF and odd input everywhere


FORMS = [
    ("password/reset/", {"email": "x@example.test"}),
    (
        "password/reset/?uid=MQ&token=a-b",
        {"uid": "MQ", "token": "a-b", "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
    ),
    ("email/verify/?key=k", {"key": "k"}),
    ("email/resend/", {"email": "x@example.test"}),
    ("invitations/accept/?token=t", {"token": "t", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}),
    ("signup/", {"email": "x@example.test", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}),
]


@pytest.mark.parametrize(("path", "data"), FORMS)
def test_every_form_refuses_a_post_without_the_csrf_token(web, open_portal, path, data):
    response = web.post(f"/portal/{open_portal.slug}/{path}", data)
    assert response.status_code == 403


ODD_VALUES: list[Any] = [
    "",
    " ",
    "x" * 100_000,
    "\u00fcn\u00ef\u00a9\u00f8d\u00e9 \u2603 \U0001d54f",
    "a\x00b",
    "<script>alert(1)</script>",
    ["a", "b"],
]


@pytest.mark.parametrize(("path", "data"), FORMS)
@pytest.mark.parametrize("odd", range(len(ODD_VALUES) + 1))
def test_every_form_answers_odd_input_without_500(web, open_portal, path, data, odd):
    """Each field in turn gets the odd value (the last case: every field missing); never a 500, no echo."""
    url = f"/portal/{open_portal.slug}/{path}"
    cases = [{}] if odd == len(ODD_VALUES) else [{**data, field: ODD_VALUES[odd]} for field in data]
    web.get(f"/portal/{open_portal.slug}/login/")  # the CSRF cookie, whatever the page below shows
    for body in cases:
        response = csrf_post(web, url, body)
        assert response.status_code in {302, 400, 429}, (body, response.status_code)
        text = page_text(response)
        if response.status_code != 302:
            assert "<script>alert(1)</script>" not in text
            for field in ("password", "password_again", "new_password", "new_password_again"):
                value = body.get(field)
                if isinstance(value, str) and len(value) > 3:
                    assert value not in text, f"{field} echoed back"
