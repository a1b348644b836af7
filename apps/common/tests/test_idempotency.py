"""`Idempotency-Key` on views that create: replay, conflict, scope, expiry, failures and races.

The views here know no identity app (apps.common imports none): a test
authentication takes the user id from a header and the view enters the tenant
context named by another header. Endpoint-level tests live with the endpoints
(apps/identity/tests/test_api_invitations.py).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.test import Client
from django.urls import include, path
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.exceptions import ApplicationError
from apps.common.idempotency import (
    HEADER,
    REPLAYED_HEADER,
    canonical_json,
    file_fingerprint,
    idempotency_claim,
    idempotency_purge,
    idempotent,
)
from apps.common.models import IdempotencyRecord
from apps.common.tenancy import tenant_context, unscoped

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

CALLS: list[dict[str, Any]] = []
FAIL_NEXT: list[bool] = []


@dataclass(frozen=True)
class _TenantRef:
    id: Any


class _HeaderAuth(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        raw = request.headers.get("X-Test-User")
        if not raw:
            return None
        return SimpleNamespace(pk=uuid.UUID(raw), is_authenticated=True), None


class _TenantView(APIView):
    authentication_classes = [_HeaderAuth]
    permission_classes = [AllowAny]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with tenant_context(_TenantRef(request.headers["X-Test-Tenant"])):
            return super().dispatch(request, *args, **kwargs)


class CreateView(_TenantView):
    delay = 0.0

    @idempotent()
    def post(self, request: Request) -> Response:
        if FAIL_NEXT:
            FAIL_NEXT.pop()
            raise ApplicationError("Refused this time.")
        time.sleep(self.delay)
        CALLS.append({"path": request.path, "data": request.data})
        number = len(CALLS)
        return Response({"number": number, "echo": request.data}, status=201, headers={"Location": f"/things/{number}"})


class SlowCreateView(CreateView):
    delay = 0.5


class UploadView(_TenantView):
    parser_classes = [MultiPartParser]

    @idempotent(fingerprint=lambda request: file_fingerprint(request.FILES["file"]))
    def post(self, request: Request) -> Response:
        content = request.FILES["file"].read()
        CALLS.append({"size": len(content)})
        return Response({"number": len(CALLS), "sha": hashlib.sha256(content).hexdigest()}, status=201)


class NotCreatedView(_TenantView):
    @idempotent()
    def post(self, request: Request) -> Response:
        CALLS.append({})
        return Response({"number": len(CALLS)}, status=202 if request.data.get("ok") else 422)


urlpatterns = [
    path("test/idem/things/", CreateView.as_view()),
    path("test/idem/other/", CreateView.as_view()),
    path("test/idem/slow/", SlowCreateView.as_view()),
    path("test/idem/upload/", UploadView.as_view()),
    path("test/idem/maybe/", NotCreatedView.as_view()),
    path("", include("config.urls")),
]


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()
    FAIL_NEXT.clear()
    yield
    CALLS.clear()
    FAIL_NEXT.clear()


@pytest.fixture
def user_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def post(tenant, user_id):
    client = Client()

    def do(url: str = "/test/idem/things/", body: Any = None, *, key: str | None = "k-1", user=None, of=None, **extra):
        headers = {"X-Test-User": str(user or user_id), "X-Test-Tenant": str((of or tenant).id)}
        if key is not None:
            headers[HEADER] = key
        if "data" in extra:
            return client.post(url, extra.pop("data"), headers=headers, **extra)
        return client.post(
            url, body if body is not None else {"name": "a"}, content_type="application/json", headers=headers
        )

    return do


def test_without_a_key_every_request_runs(post):
    assert post(key=None).status_code == 201
    assert post(key=None).status_code == 201
    assert len(CALLS) == 2


def test_same_key_same_request_replays_the_first_response(post):
    first = post(body={"name": "a", "tags": [1, 2]})
    second = post(body={"tags": [1, 2], "name": "a"})  # key order does not make another request
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() == {"number": 1, "echo": {"name": "a", "tags": [1, 2]}}
    assert second["Location"] == first["Location"] == "/things/1"
    assert second[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first
    assert len(CALLS) == 1


def test_same_key_with_another_request_is_409(post):
    assert post(body={"name": "a"}).status_code == 201
    response = post(body={"name": "b"})
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert HEADER in response.json()["detail"]
    assert len(CALLS) == 1


def test_keys_are_scoped_to_user_tenant_and_endpoint(post, other_tenant):
    assert post().json()["number"] == 1
    assert post(user=uuid.uuid4()).json()["number"] == 2
    assert post(of=other_tenant).json()["number"] == 3
    assert post("/test/idem/other/").json()["number"] == 4
    # ... and each scope replays its own first response.
    assert post(of=other_tenant).json()["number"] == 3
    assert len(CALLS) == 4


def test_key_length_is_limited(post):
    too_long = post(key="x" * 256)
    assert too_long.status_code == 400
    assert HEADER in too_long.json()["errors"]
    assert post(key="").status_code == 400
    assert post(key="x" * 255).status_code == 201
    assert len(CALLS) == 1


def test_a_key_expires_after_24_hours(post, tenant):
    assert post().json()["number"] == 1
    with tenant_context(tenant):
        IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    again = post(body={"name": "another request is fine now"})
    assert again.status_code == 201
    assert again.json()["number"] == 2
    with tenant_context(tenant):
        assert IdempotencyRecord.objects.count() == 1


def test_a_failed_request_releases_its_key(post, tenant):
    FAIL_NEXT.append(True)
    assert post().status_code == 400
    with tenant_context(tenant):
        assert not IdempotencyRecord.objects.exists()
    retry = post()
    assert retry.status_code == 201
    assert REPLAYED_HEADER not in retry


def test_only_successful_responses_are_kept(post):
    assert post("/test/idem/maybe/", {"ok": False}).status_code == 422
    assert post("/test/idem/maybe/", {"ok": False}).status_code == 422
    assert len(CALLS) == 2  # not replayed: the client may retry a refused request
    assert post("/test/idem/maybe/", {"ok": True}).status_code == 202
    assert post("/test/idem/maybe/", {"ok": True})[REPLAYED_HEADER] == "true"
    assert len(CALLS) == 3


def test_a_request_still_running_is_409(post, tenant, user_id):
    # What a duplicate sees while the first request of a non-transactional view still runs.
    same_body = hashlib.sha256(canonical_json({"name": "a"}).encode()).hexdigest()
    with tenant_context(tenant):
        record, owned = idempotency_claim(
            user_id=user_id, endpoint="POST /test/idem/things/", key="k-1", fingerprint=same_body
        )
    assert owned
    assert record.status_code is None
    response = post()
    assert response.status_code == 409
    assert "in progress" in response.json()["detail"]
    assert CALLS == []


def test_uploads_are_fingerprinted_by_name_and_content(post):
    def upload(content: bytes, name: str = "a.txt", note: str = "x"):
        return post("/test/idem/upload/", data={"file": SimpleUploadedFile(name, content), "note": note})

    first = upload(b"hello")
    assert first.status_code == 201
    # The view saw the whole file although the fingerprint read it first.
    assert first.json()["sha"] == hashlib.sha256(b"hello").hexdigest()
    assert upload(b"hello", note="ignored by this view's fingerprint")[REPLAYED_HEADER] == "true"
    assert upload(b"other content").status_code == 409
    assert upload(b"hello", name="b.txt").status_code == 409
    assert len(CALLS) == 1


def test_records_are_tenant_rows_and_purged_when_expired(post, tenant, other_tenant):
    post()
    post(of=other_tenant)
    with tenant_context(tenant):
        assert IdempotencyRecord.objects.count() == 1
        IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert idempotency_purge() == 1
    with unscoped():
        assert [r.tenant_id for r in IdempotencyRecord.all_tenants.all()] == [other_tenant.id]


@pytest.mark.postgres
def test_raw_sql_without_tenant_context_sees_no_records(post):
    post()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM common_idempotencyrecord")
        assert cursor.fetchone()[0] == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_run_once(tenant, user_id):
    """The second request waits on the first's uncommitted record, then replays its response."""
    barrier = threading.Barrier(2)
    responses: list[Any] = []
    errors: list[Exception] = []

    def send() -> None:
        try:
            barrier.wait()
            responses.append(
                Client().post(
                    "/test/idem/slow/",
                    {"name": "a"},
                    content_type="application/json",
                    headers={"X-Test-User": user_id, "X-Test-Tenant": str(tenant.id), HEADER: "race"},
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json() == responses[1].json()
    assert sorted(r.get(REPLAYED_HEADER, "") for r in responses) == ["", "true"]
    assert len(CALLS) == 1
