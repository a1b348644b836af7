"""Transactional mail: promised with the write, rendered and sent by the `mail` job, never lost."""

from __future__ import annotations

import django_rq
import pytest
from django.conf import settings
from django.db import transaction
from django.template import TemplateDoesNotExist
from django.test import override_settings

from apps.common.mail import mail_render, mail_send, mail_send_job
from apps.common.models import OutboxMessage
from apps.common.outbox import outbox_job_id, outbox_relay, outbox_sweep
from apps.common.tenancy import tenant_context
from apps.common.tests.jobs_fixtures import fail_after, make_tenant, run_worker, unreachable_queues

pytest_plugins = ["apps.common.tests.jobs_fixtures"]

NOTICE = "common/mail/notice"
CONTEXT = {"title": "Your report is ready", "message": "It is waiting for you.", "action_url": "https://x.test/r/1"}


def test_render_gives_subject_text_and_html():
    subject, text, html = mail_render(template=NOTICE, context=CONTEXT)

    assert subject == "Your report is ready"
    assert "It is waiting for you." in text
    assert "https://x.test/r/1" in text
    assert "<html" in html  # the layout of templates/mail/base.html
    assert 'href="https://x.test/r/1"' in html


def test_only_the_html_part_is_escaped():
    subject, text, html = mail_render(template=NOTICE, context={"title": "Tom & <b>Jerry</b>", "message": "a < b"})

    assert subject == "Tom & <b>Jerry</b>"
    assert "a < b" in text
    assert "Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;" in html
    assert "<b>Jerry</b>" not in html


def test_subject_is_one_line():
    subject, _, _ = mail_render(template=NOTICE, context={"title": "Line one\nBcc: evil@x.test", "message": ""})
    assert subject == "Line one Bcc: evil@x.test"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("embedded_queues")
class TestEmbedded:
    def test_committed_mail_is_sent_with_text_and_html(self, mailoutbox):
        with transaction.atomic():
            message = mail_send(to="ada@example.test", template=NOTICE, context=CONTEXT)
            assert mailoutbox == []  # not before the commit

        assert len(mailoutbox) == 1
        sent = mailoutbox[0]
        assert sent.to == ["ada@example.test"]
        assert sent.from_email == settings.DEFAULT_FROM_EMAIL
        assert sent.subject == "Your report is ready"
        assert "It is waiting for you." in sent.body
        [(html, mimetype)] = sent.alternatives
        assert mimetype == "text/html"
        assert "It is waiting for you." in html
        message.refresh_from_db()
        assert message.queue == "mail"
        assert message.job_path == mail_send_job.path
        assert message.status == OutboxMessage.Status.DONE

    def test_rolled_back_mail_is_never_sent(self, mailoutbox):
        with pytest.raises(RuntimeError, match="rolled back"):
            fail_after(lambda: mail_send(to=["ada@example.test"], template=NOTICE, context=CONTEXT))

        assert mailoutbox == []
        assert not OutboxMessage.objects.exists()

    def test_mail_renders_in_the_recorded_tenant(self, fake_tenants, mailoutbox):
        acme = make_tenant(fake_tenants, "Acme <Corp>")
        with tenant_context(acme):
            message = mail_send(to="ada@example.test", template=NOTICE, context=CONTEXT)

        assert message.tenant_id == acme.id
        [(html, _)] = mailoutbox[0].alternatives
        assert "Acme &lt;Corp&gt;" in html  # the layout names the tenant, escaped

    def test_platform_mail_inside_a_tenant_context_records_no_tenant(self, fake_tenants, mailoutbox):
        acme = make_tenant(fake_tenants, "Acme")
        with tenant_context(acme):
            message = mail_send(to="ada@example.test", template=NOTICE, context=CONTEXT, tenant=None)

        assert message.tenant_id is None
        assert "Acme" not in mailoutbox[0].alternatives[0][0]

    def test_missing_template_fails_in_the_caller(self, mailoutbox):
        with pytest.raises(TemplateDoesNotExist), transaction.atomic():
            mail_send(to="ada@example.test", template="common/mail/nope", context={})
        assert not OutboxMessage.objects.exists()

    def test_context_must_be_json_serialisable(self):
        with pytest.raises(TypeError, match="JSON-serialisable"):
            mail_send(to="ada@example.test", template=NOTICE, context={"when": object()})

    def test_mail_needs_a_recipient(self):
        with pytest.raises(ValueError, match="recipient"):
            mail_send(to=[], template=NOTICE, context=CONTEXT)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
class TestRedis:
    def test_mail_goes_through_the_real_mail_queue_and_a_worker_sends_it(self, rq_redis, mailoutbox):
        with transaction.atomic():
            message = mail_send(to="ada@example.test", template=NOTICE, context=CONTEXT)

        assert django_rq.get_queue("mail").job_ids == [outbox_job_id(message.id)]
        assert mailoutbox == []

        run_worker("mail")

        assert len(mailoutbox) == 1
        assert mailoutbox[0].alternatives[0][1] == "text/html"

    def test_mail_promised_while_redis_was_down_is_sent_exactly_once(self, rq_redis, mailoutbox):
        with override_settings(RQ_QUEUES=unreachable_queues()), transaction.atomic():
            message = mail_send(to="ada@example.test", template=NOTICE, context=CONTEXT)

        message.refresh_from_db()
        assert message.status == OutboxMessage.Status.PENDING
        run_worker("mail")
        assert mailoutbox == []

        assert outbox_sweep(min_age_seconds=0) == 1  # Redis is back
        run_worker("mail")
        assert len(mailoutbox) == 1

        # A second sweep and a stray relay send nothing more.
        assert outbox_sweep(min_age_seconds=0) == 0
        outbox_relay(message)
        run_worker("mail")
        assert len(mailoutbox) == 1
        message.refresh_from_db()
        assert message.status == OutboxMessage.Status.DONE
        assert message.attempts == 1
