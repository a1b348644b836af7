"""Another tenant's files: 404 by id, absent from lists, unreachable by a link; the row wall in the database."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.common.models import OutboxMessage
from apps.common.outbox import outbox_run
from apps.common.tenancy import tenant_context
from apps.files import jobs
from apps.files.models import File
from apps.files.storage import download_token, object_key
from apps.files.tests.support import FILES, TEXT, upload
from apps.identity.tests.factories import PortalFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


@pytest.fixture
def theirs(api_client, member, other_tenant):  # type: ignore[no-untyped-def]
    portal = PortalFactory(tenant=other_tenant, slug="globex-test", is_default=True)
    return api_client(member("owner", of=other_tenant), portal)


def test_member_cannot_read_delete_or_download_another_tenant_s_file(owner_api, theirs, client, other_tenant):
    their_id = upload(theirs, "their.txt", TEXT, content_type="text/plain").json()["id"]
    assert owner_api.get(f"{FILES}{their_id}/").status_code == 404
    assert owner_api.delete(f"{FILES}{their_id}/").status_code == 404
    assert owner_api.get(FILES).json()["results"] == []
    with tenant_context(other_tenant):
        assert File.objects.filter(id=their_id).exists()  # untouched by the refused delete
    # A link names its tenant: re-pointing a genuine one at the file of another tenant finds nothing.
    mine = upload(owner_api, "mine.txt", TEXT, content_type="text/plain").json()["id"]
    with tenant_context(other_tenant):
        assert not File.objects.filter(id=mine).exists()
    assert client.get(f"{FILES}download/{download_token(tenant_id=other_tenant.id, file_id=mine)}/").status_code == 404


@pytest.mark.postgres
def test_row_level_security_hides_file_rows_of_other_tenants(owner_api, theirs, tenant, other_tenant):
    upload(theirs, "their.txt", TEXT, content_type="text/plain")
    upload(owner_api, "mine.txt", TEXT, content_type="text/plain")
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM files_file")  # no tenant filter in the SQL: only RLS
        assert cursor.fetchone()[0] == 1


def test_a_failed_object_removal_stays_in_the_outbox_and_a_rerun_removes_it(
    owner_api, tenant, media_root, monkeypatch, django_capture_on_commit_callbacks
):
    file_id = upload(owner_api, "a.txt", TEXT, content_type="text/plain").json()["id"]
    stored = media_root / object_key(tenant_id=tenant.id, file_id=file_id)
    real_delete = jobs.object_delete

    def storage_down(*, key: str) -> None:
        raise OSError("storage unavailable")

    monkeypatch.setattr(jobs, "object_delete", storage_down)
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_api.delete(f"{FILES}{file_id}/").status_code == 204  # the deletion stands
    assert stored.exists()
    message = OutboxMessage.objects.get(job_path="apps.files.jobs.file_object_delete_job")
    assert message.status == OutboxMessage.Status.FAILED
    assert message.kwargs == {"key": object_key(tenant_id=tenant.id, file_id=file_id)}

    monkeypatch.setattr(jobs, "object_delete", real_delete)
    outbox_run(message_id=str(message.id))  # what RQ's retry or `jobs_retry` does
    assert not stored.exists()
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.DONE
