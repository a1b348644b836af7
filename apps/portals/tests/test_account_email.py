"""E-mail verification: the resend form (the same answer for every address) and bad or missing keys.

The verification link a sign-up mails is followed in test_account_signup. Helpers: `account_support`.
"""

from __future__ import annotations

import pytest
from django.core import mail

from apps.portals.tests.account_support import NEW_PASSWORD, mailed_link, page_text
from apps.portals.tests.conftest import csrf_post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


# --------------------------------------------------------------------------- e-mail verification


def test_resend_mails_a_new_link_only_to_an_unverified_account(web, open_portal, member, committed):
    with committed():
        csrf_post(
            web,
            f"/portal/{open_portal.slug}/signup/",
            {"email": "late@example.test", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        )
    mail.outbox.clear()
    verified = member()
    verified.email_verified = True
    verified.save(update_fields=["email_verified"])
    path = f"/portal/{open_portal.slug}/email/resend/"
    assert web.get(path).status_code == 200
    with committed():
        answers = [
            csrf_post(web, path, {"email": e}) for e in ("late@example.test", verified.email, "none@example.test")
        ]
    assert {(r.status_code, r["Location"]) for r in answers} == {(302, f"/portal/{open_portal.slug}/login/")}
    assert [m.to for m in mail.outbox] == [["late@example.test"]]
    assert mailed_link("late@example.test", "email/verify")


def test_the_verify_page_without_a_key_offers_a_new_link(web, portal):
    page = web.get(f"/portal/{portal.slug}/email/verify/")
    assert page.status_code == 200
    assert f'action="/portal/{portal.slug}/email/resend/"' in page_text(page)


@pytest.mark.parametrize("key", ["", "garbage", "x" * 5000, "ключ:☃", "a\x00b", "eyJ1IjoiMSJ9:1abc:def"])
def test_bad_verification_keys_are_refused_without_500(web, portal, key):
    path = f"/portal/{portal.slug}/email/verify/"
    response = web.get(path, {"key": key})
    assert response.status_code == 400
    posted = csrf_post(web, path, {"key": key})
    assert posted.status_code == 400
    assert "invalid, used or expired" in page_text(posted)
