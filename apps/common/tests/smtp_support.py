"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, with Django's SMTP backend pointed at it.

    with smtp_server() as mailbox:          # Django's mail now goes through SMTP to `mailbox`
        ...                                  # something that sends mail
        text = mailbox.wait_for("ann@example.test").text
        link = first_link(text)

Used by `apps/identity/tests/test_mail_smtp.py` (fixture `smtp`) and the browser
tests (`tests/browser/conftest.py`, fixture `mailbox`). The caller decides how
jobs run: mail goes out through the outbox and the `mail` queue, so a test
without a worker uses the `embedded_queues` fixture (`jobs_fixtures.py`) or
`config.settings.rq.embedded_queues()`, which run jobs inline.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from django.test import override_settings

# A URL in a text part: up to the first blank, quote or angle bracket; trailing sentence punctuation is dropped.
_LINK = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}"


@dataclass(frozen=True)
class Mail:
    """One received message, with its envelope."""

    message: EmailMessage
    mail_from: str
    rcpt_tos: list[str]

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def text(self) -> str:
        """The text/plain part (every Atrium mail has one)."""
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, f"mail {self.subject!r} has no text part"
        return str(part.get_content())

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return None if part is None else str(part.get_content())

    def is_to(self, address: str) -> bool:
        wanted = address.lower()
        return wanted in (r.lower() for r in self.rcpt_tos) or wanted in str(self.message["To"] or "").lower()


class Collector:
    """An aiosmtpd handler that keeps every message it is given (thread-safe: the server runs in its own thread)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._changed:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    @property
    def mails(self) -> list[Mail]:
        with self._changed:
            return [
                Mail(message=m, mail_from=frm, rcpt_tos=to)
                for m, (frm, to) in zip(self.messages, self.envelopes, strict=True)
            ]

    def mails_to(self, address: str, *, subject: str | None = None) -> list[Mail]:
        """Every mail received so far for `address` (and, if given, whose subject contains `subject`)."""
        return [m for m in self.mails if m.is_to(address) and (subject is None or subject in m.subject)]

    def text_to(self, address: str) -> list[str]:
        """The text parts of the mails to `address`, oldest first."""
        return [m.text for m in self.mails_to(address)]

    def wait_for(self, address: str, *, subject: str | None = None, timeout: float = 10.0, after: int = 0) -> Mail:
        """The first mail to `address` (skipping `after` earlier ones), waiting up to `timeout` seconds for it.

        Mail sent by a request the test made is usually here already (jobs run
        inline); waiting covers a server that delivers from another thread.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.mails_to(address, subject=subject)
                if len(found) > after:
                    return found[after]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [f"{m.rcpt_tos} {m.subject!r}" for m in self.mails] or ["none"]
                    what = f"to {address}" + (f" with {subject!r} in the subject" if subject else "")
                    raise AssertionError(f"no mail {what} within {timeout:g}s; received: {'; '.join(seen)}")
                self._changed.wait(left)


def first_link(text: str) -> str:
    """The first http(s) URL in `text` (an AssertionError naming the text if there is none)."""
    match = _LINK.search(text)
    assert match, f"no http(s) link in the mail:\n{text}"
    return match.group(0).rstrip(_TRAILING)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[Collector]:
    """A live SMTP server on a free local port, with Django's SMTP backend pointed at it meanwhile."""
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=controller.port,
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
        ):
            yield collector
    finally:
        controller.stop()
