"""Transactional e-mail: promised in the caller's transaction, rendered and sent by a job.

    mail_send(to=user.email, template="common/mail/notice", context={"title": ..., "message": ...})

writes an outbox message for `mail_send_job` (queue `mail`); after commit the
job renders `<template>_subject.txt`, `<template>.txt` and `<template>.html`
(the HTML part extends `mail/base.html`, the text part `mail/base.txt`) and
sends one multipart message through `EMAIL_BACKEND`. The context holds ids and
strings only and is rendered at send time, inside the recorded tenant's
context; the templates also see `tenant` (the loaded tenant, or None).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import Context, engines
from django.template.backends.django import DjangoTemplates
from django.template.loader import render_to_string

from apps.common.jobs import tenant_job
from apps.common.models import OutboxMessage
from apps.common.tenancy import TenantLike

logger = logging.getLogger("atrium.mail")

_UNSET: Any = object()


def mail_send(
    *,
    to: str | Sequence[str],
    template: str,
    context: Mapping[str, Any] | None = None,
    tenant: TenantLike | None = _UNSET,
) -> OutboxMessage:
    """Promise a mail in the caller's transaction; it is sent only if that transaction commits.

    `tenant` defaults to the current tenant context (`tenant=None`: a platform mail).
    Missing templates fail here, in the caller, rather than later in the worker.
    """
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise ValueError("mail_send needs at least one recipient")
    for name in _template_names(template):
        _django_engine().get_template(name)
    kwargs: dict[str, Any] = {"to": recipients, "template": template, "context": dict(context or {})}
    if tenant is not _UNSET:
        kwargs["tenant"] = tenant
    return mail_send_job.defer(**kwargs)


def mail_render(*, template: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) of a mail; only the HTML part is HTML-escaped."""
    subject_name, text_name, html_name = _template_names(template)
    engine = _django_engine()
    # Plain-text parts must not be HTML-escaped ("&" stays "&"); the HTML part is.
    subject = engine.get_template(subject_name).template.render(Context(dict(context), autoescape=False))
    text = engine.get_template(text_name).template.render(Context(dict(context), autoescape=False))
    html = render_to_string(html_name, dict(context))
    # A header holds one line: newlines in a subject template are layout, not content.
    return " ".join(subject.split()), text, html


@tenant_job(queue="mail")
def mail_send_job(*, tenant: TenantLike | None, to: list[str], template: str, context: dict[str, Any]) -> None:
    """Render and send one mail (the job behind `mail_send`)."""
    subject, text, html = mail_render(template=template, context={**context, "tenant": tenant})
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=to)
    message.attach_alternative(html, "text/html")
    message.send()
    # Addresses stay out of the log: they are personal data under the compliance profiles.
    logger.info("mail.sent", extra={"template": template, "recipients": len(to)})


def _template_names(template: str) -> tuple[str, str, str]:
    return f"{template}_subject.txt", f"{template}.txt", f"{template}.html"


def _django_engine() -> DjangoTemplates:
    engine = engines["django"]
    assert isinstance(engine, DjangoTemplates)
    return engine
