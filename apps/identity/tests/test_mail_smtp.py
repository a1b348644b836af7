"""Account mails through a real SMTP server (aiosmtpd, in-process): each mailed link works once."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from apps.common.tests.jobs_fixtures import embedded_queues  # noqa: F401 - fixture
from apps.common.tests.smtp_support import Collector, smtp_server
from apps.identity.models import Portal, User

pytestmark = [pytest.mark.smtp, pytest.mark.django_db(transaction=True)]

REGISTER = "/api/v1/identity/auth/register/"
VERIFY = "/api/v1/identity/auth/email/verify/"
RESET = "/api/v1/identity/auth/password/reset/"
CONFIRM = "/api/v1/identity/auth/password/reset/confirm/"
STRONG = "a sturdy new passphrase 42"


@pytest.fixture
def smtp(embedded_queues) -> Iterator[Collector]:  # noqa: F811 - the imported fixture
    """A live SMTP server on a free local port, with Django's SMTP backend pointed at it."""
    with smtp_server() as collector:
        yield collector


def test_verification_link_from_a_real_mail_works_once(api, portal, smtp):
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save()
    response = api.post(REGISTER, {"email": "smtp.new@example.test", "password": STRONG, "portal": portal.slug})
    assert response.status_code == 202
    texts = smtp.text_to("smtp.new@example.test")
    assert len(texts) == 1
    match = re.search(rf"https?://\S+/portal/{portal.slug}/email/verify/\?key=(\S+)", texts[0])
    assert match, texts[0]
    # The message is multipart: a text part (read above) and an HTML alternative.
    message = smtp.messages[0]
    assert message.get_body(preferencelist=("html",)) is not None
    assert smtp.envelopes[0][1] == ["smtp.new@example.test"]

    assert api.post(VERIFY, {"key": match.group(1)}).status_code == 204
    assert User.objects.get(email="smtp.new@example.test").email_verified
    assert api.post(VERIFY, {"key": match.group(1)}).status_code == 400


def test_reset_link_from_a_real_mail_works_once(api, member, portal, login, smtp):
    user = member()
    assert api.post(RESET, {"email": user.email, "portal": portal.slug}).status_code == 202
    assert api.post(RESET, {"email": "ghost@example.test", "portal": portal.slug}).status_code == 202
    texts = smtp.text_to(user.email)
    assert len(texts) == 1
    assert len(smtp.messages) == 1  # nothing went to the unknown address
    match = re.search(
        rf"https?://\S+/portal/{portal.slug}/password/reset/\?uid=(?P<uid>[\w-]+)&token=(?P<token>[\w-]+)", texts[0]
    )
    assert match, texts[0]
    body = {"uid": match["uid"], "token": match["token"], "new_password": STRONG}
    assert api.post(CONFIRM, body).status_code == 204
    assert login(user, portal, password=STRONG)["access"]
    assert api.post(CONFIRM, {**body, "new_password": "another sturdy passphrase 7"}).status_code == 400
    # The reset also sent a "password changed" notice through the same server.
    assert any("was reset" in text for text in smtp.text_to(user.email))
