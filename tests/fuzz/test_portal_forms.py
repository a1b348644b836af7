"""Every portal page that takes a POST gets hostile form data and never answers 5xx.

The pages come from the URL walker (`tests.test_url_walker.ROUTES`), as every portal page is
routed, so a new page is fuzzed without being listed here. Each is posted as a browser would (a
valid CSRF token, the signed-in session of a fresh tenant's owner) with Hypothesis-made values:
text with control characters and NULs, strings up to past Django's 2.5 MB body limit, any Unicode,
lists where one value is expected, the page's own fields missing or doubled, and fields nobody asked
for. The field names are the ones the page's own GET form shows (a page without one gets every name
any portal form uses). Path parameters (`<membership_id>`, `<code>`, ...) are fuzzed too.

In a transactional database, as the API fuzz (see `support`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from apps.portals.base import PortalPage, PublicPortalPage
from tests.fuzz.support import PASSWORD, fresh_owner, fuzz_settings, light_log_records
from tests.test_url_walker import ROUTES, Route

pytestmark = pytest.mark.django_db(transaction=True)

PREFIX = "portal/<slug:slug>/"
# Signing out would end the session the other pages are posted with; that page takes no input anyway.
NOT_FUZZED = {"apps.portals.views.auth.LogoutPage": "takes no input; ends the session the fuzz posts with"}
_PARAM = re.compile(r"<(?:[^>:]+:)?([^>]+)>")
_FIELD = re.compile(r"""<(?:input|select|textarea|button)\b[^>]*\bname=["']([^"']+)["']""", re.IGNORECASE)
_NOT_FORM_FIELDS = {"csrfmiddlewaretoken"}


def _posts(route: Route) -> bool:
    cls = route.view_class
    return (
        cls is not None
        and issubclass(cls, (PortalPage, PublicPortalPage))
        and hasattr(cls, "post")
        and route.label not in NOT_FUZZED
    )


FORM_ROUTES = [r for r in ROUTES if r.route.startswith(PREFIX) and _posts(r)]

# ---------------------------------------------------------------------------- the values

_any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)  # control characters, NUL, any plane
_control = st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1, max_size=20)
_huge = st.sampled_from([5_000, 200_000, 2_700_000]).map(lambda n: "\u00e9x" * (n // 2))
_tricky = st.sampled_from(
    [
        *("", " ", "0", "-1", "1e309", "NaN", "null", "true", "[]", "{}", "../../etc/passwd", "%00", "a" * 256),
        *("<script>alert(1)</script>", "' OR 1=1 --", "\u202e\u0000\ufeff", "owner@fuzz.test", PASSWORD),
    ]
)
_value = st.one_of(_any_text, _control, _tricky, _huge)
_field_value = st.one_of(_value, st.lists(_value, max_size=3))  # a list: the field sent several times


def _form_data(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    known = st.fixed_dictionaries({}, optional=dict.fromkeys(names, _field_value))  # any of them missing
    extra = st.dictionaries(st.text(min_size=1, max_size=20), _field_value, max_size=3)
    return st.builds(lambda a, b: {**b, **a}, known, extra)


_path_value = st.one_of(
    st.uuids().map(str),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=40),
    st.sampled_from(["owner", "admin", "0", "..", "%2F", "x" * 300]),
)

# ---------------------------------------------------------------------------- the session


def _csrf(client: Client) -> str:
    return client.cookies["csrftoken"].value if "csrftoken" in client.cookies else ""


def _signed_in_owner(slug: str) -> Client:
    fresh_owner(slug)
    client = Client(enforce_csrf_checks=True)
    client.get("/portal/fuzz-forms/login/")  # a browser that has a CSRF cookie: the check then reads the form
    assert "csrftoken" in client.cookies
    client.get(f"/portal/{slug}/login/")
    response = client.post(
        f"/portal/{slug}/login/",
        {"email": f"owner@{slug}.test", "password": PASSWORD, "csrfmiddlewaretoken": _csrf(client)},
    )
    assert response.status_code == 302, response.content[:500]
    assert client.get(f"/portal/{slug}/dashboard/").status_code == 200
    return client


# The names portal forms use, for a page whose GET shows no form (an action button posted from elsewhere).
USUAL_FIELDS = ["email", "password", "name", "code", "token", "role", "url", "events", "permissions", "next", "file"]


def _field_names(client: Client, path: str) -> list[str]:
    """The names the page's own form has (its GET), or every usual name when it shows none."""
    response = client.get(path)
    names = sorted(set(_FIELD.findall(response.content.decode(errors="replace"))) - _NOT_FORM_FIELDS)
    return names or USUAL_FIELDS


def _path(route: Route, slug: str, params: dict[str, str]) -> str:
    rest = route.route[len(PREFIX) :]
    return f"/portal/{slug}/" + _PARAM.sub(lambda m: quote(params[m.group(1)], safe=""), rest)


def fuzz_page(client: Client, route: Route, slug: str) -> str | None:
    """POST hostile data to one page; what went wrong (a 5xx, a refused CSRF token), or None."""
    param_names = _PARAM.findall(route.route[len(PREFIX) :])
    names = _field_names(client, _path(route, slug, dict.fromkeys(param_names, "x")))

    @fuzz_settings()
    @given(data=_form_data(names), params=st.fixed_dictionaries(dict.fromkeys(param_names, _path_value)))
    def post(data: dict[str, Any], params: dict[str, str]) -> None:
        path = _path(route, slug, params)
        response = client.post(path, {**data, "csrfmiddlewaretoken": _csrf(client)})
        assert response.status_code < 500, f"POST {path} with {_short(data)}: {response.status_code}"
        assert response.status_code != 403 or b"CSRF" not in response.content, "the CSRF token was refused"

    try:
        post()
    except AssertionError as exc:
        return f"/{route.route}: {exc}"
    return None


def test_no_form_input_gets_a_server_error() -> None:
    """One test for all pages: one fresh tenant and one emptying of the tables, not one per page."""
    slug = "fuzz-forms"
    client = _signed_in_owner(slug)
    with light_log_records():
        failures = [failure for route in FORM_ROUTES if (failure := fuzz_page(client, route, slug))]
    assert failures == [], "\n\n".join(failures)
    assert client.get(f"/portal/{slug}/dashboard/").status_code == 200, "the owner was signed out on the way"


def test_the_walker_found_the_portal_forms() -> None:
    labels = {r.label for r in FORM_ROUTES}
    assert "apps.portals.views.auth.LoginPage" in labels
    assert "apps.portals.views.roles.RoleCreatePage" in labels
    assert "apps.portals.views.portal_settings.SettingsPage" in labels
    assert len(FORM_ROUTES) >= 30


def _short(data: dict[str, Any]) -> str:
    return repr(
        {k: (v[:80] + f"...({len(v)} chars)" if isinstance(v, str) and len(v) > 80 else v) for k, v in data.items()}
    )


TOO_BIG = b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n" + b"x" * 2_700_000 + b"\r\n--x--\r\n"


@pytest.mark.parametrize("path", ["/portal/fuzz-forms/no-such-page/", "/no-such-page/"])
def test_a_body_past_the_limit_to_an_unknown_page_is_a_404(path: str) -> None:
    """Found by this fuzz: Django's 404 page reads the form for its CSRF token, and a body past the
    2.5 MB limit raised there (a 500). `apps.common.errors.handler404` now leaves such a body out."""
    fresh_owner("fuzz-forms")
    # enforce_csrf_checks: as in production (the test client otherwise skips the check that reads the form)
    client = Client(enforce_csrf_checks=True)
    client.get("/portal/fuzz-forms/login/")  # a browser that has a CSRF cookie: the check then reads the form
    assert "csrftoken" in client.cookies
    response = client.generic("POST", path, TOO_BIG, content_type="multipart/form-data; boundary=x")
    assert response.status_code == 404
    assert b"Page not found" in response.content or b"not found" in response.content.lower()
