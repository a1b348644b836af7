"""Helpers for the account-page tests (test_account_*.py): the links mailed, what a page says, who is signed in.

The pages mailed links open (password reset and set-password, e-mail verification, invitations) and sign-up. Each
link is followed from a real mail (Django's outbox, delivered as after a commit). The fixtures these tests share
(`committed`, `open_portal`) are in conftest.py.
"""

from __future__ import annotations

import re
from typing import Any

from django.core import mail
from django.test import Client

from apps.common.tenancy import tenant_context
from apps.identity.models import Membership, Portal, User

NEW_PASSWORD = "a fresh passphrase for the portal 31"
LINK_RE = re.compile(r"/portal/[\w-]+/(?:password/reset|email/verify|invitations/accept)/\?[^\s\"'<>]+")


def mailed_link(email: str, kind: str) -> str:
    """The path of the newest link of `kind` ("password/reset", "email/verify", ...) mailed to `email`."""
    for message in reversed(mail.outbox):
        if [to.lower() for to in message.to] == [email.lower()]:
            match = LINK_RE.search(message.body)
            if match and f"/{kind}/" in match.group(0):
                return match.group(0)
    raise AssertionError(f"no {kind} link mailed to {email}: {[m.subject for m in mail.outbox]}")


def page_text(response: Any) -> str:
    return response.content.decode()


def signed_in_as(client: Client, portal: Portal) -> str | None:
    """The e-mail the dashboard shows, or None when the client is sent to the login page."""
    response = client.get(f"/portal/{portal.slug}/dashboard/")
    if response.status_code == 302:
        assert "/login/" in response["Location"]
        return None
    assert response.status_code == 200
    match = re.search(r"[\w.+-]+@[\w.-]+\.test", page_text(response))
    return match.group(0) if match else ""


def messages_on(client: Client, path: str) -> str:
    return page_text(client.get(path))


def verified(user: User) -> User:
    user.email_verified = True
    user.save(update_fields=["email_verified"])
    return user


def is_member(user: User, tenant: Any) -> bool:
    with tenant_context(tenant):
        return Membership.objects.filter(user=user).exists()


def _link_fields(link: str) -> dict[str, str]:
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(link).query)
    return {name: values[0] for name, values in query.items()}
