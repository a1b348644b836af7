"""RQ entry points of the files app."""

from __future__ import annotations

from rq import Retry

from apps.common.jobs import tenant_job
from apps.files.storage import object_delete


@tenant_job(queue="default", retry=Retry(max=5, interval=[10, 60, 300, 900, 3600]))
def file_object_delete_job(*, key: str) -> None:
    """Remove a deleted file's object. Promised in the transaction that deletes the row, run after it commits.

    Idempotent (deleting a missing object is no error), so the outbox's
    at-least-once delivery and RQ's retries are safe.
    """
    object_delete(key=key)
