"""Helpers for the invitation tests: the endpoints, and the token as the invitee finds it in the mail."""

from __future__ import annotations

import re

from django.core import mail

LIST = "/api/v1/identity/invitations/"
ACCEPT = "/api/v1/identity/invitations/accept/"
NEW_PASSWORD = "a brand new passphrase 42"
LINK_RE = re.compile(r"(https?://\S+)/portal/(?P<portal>[\w-]+)/invitations/accept/\?token=(?P<token>[\w-]+)")


def token_from_mail(email: str) -> str:
    """The token of the newest invitation link mailed to `email`."""
    messages = [m for m in mail.outbox if m.to == [email]]
    assert messages, f"no mail to {email}"
    match = LINK_RE.search(messages[-1].body)
    assert match, messages[-1].body
    return match["token"]
