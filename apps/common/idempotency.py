"""`Idempotency-Key` for POSTs that create or charge (docs/api.md, "Idempotency-Key").

A client that may retry a create sends `Idempotency-Key: <up to 255 characters>`.
The key is scoped to (tenant, user, endpoint): within 24 hours the same key with
the same request returns the first response again (status and body, plus the
header `Idempotent-Replayed: true`) without running the view; the same key with
another request is 409. Different users, tenants or endpoints never share a key.
Without the header the view runs as usual.

    class InvitationViewSet(TenantViewSet):
        @extend_schema(parameters=[IDEMPOTENCY_KEY_PARAMETER], ...)
        @idempotent()
        def create(self, request): ...

        # multipart: fingerprint the upload yourself (name + content hash)
        @idempotent(fingerprint=lambda request: file_fingerprint(request.FILES["file"]))
        def create(self, request): ...

"The same request" is the SHA-256 of the canonical JSON body (keys sorted, no
whitespace) unless the view passes its own `fingerprint(request) -> str`.

How duplicates are held off: the first request inserts its record (status
NULL) before the view runs; a unique constraint on (tenant, user, endpoint,
key) makes every other insert fail. Under `ATOMIC_REQUESTS` that record is
uncommitted until the view's work commits, so on PostgreSQL a concurrent
duplicate's insert *waits* on the unique index, then fails once the first
commits and replays its stored response (or, if the first rolled back, takes
the key itself). A view running outside a transaction commits the record at
once; a duplicate arriving while it runs sees status NULL and gets 409 ("still
in progress"). Only 2xx responses are kept: a request that failed (an
exception, or a non-2xx response) releases its key, so the client may fix the
request and retry with the same key.

Only for tenant-scoped views with an authenticated user: the record is a
tenant row (`IdempotencyRecord`, with the tenant wall and RLS).
`idempotency_purge()` removes expired records (a periodic job, tenant by tenant:
it needs no escape); an expired record is also replaced in place when its key
comes back.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, TypeVar
from uuid import UUID

from django.core.files.uploadedfile import UploadedFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.exceptions import ApplicationError, Conflict
from apps.common.models import IdempotencyRecord
from apps.common.tenancy import tenant_context

HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
IDEMPOTENCY_TTL: Final = timedelta(hours=24)
MAX_KEY_LENGTH: Final = 255
_ENDPOINT_MAX: Final = 200  # IdempotencyRecord.endpoint's max_length
# Response headers worth replaying (the rest are recomputed by the middleware).
_KEPT_HEADERS: Final = ("Location",)

IDEMPOTENCY_KEY_PARAMETER: Final = OpenApiParameter(
    name=HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Up to 255 characters. The same key with the same request within 24 hours returns the first "
        "response (with `Idempotent-Replayed: true`); the same key with another request is 409."
    ),
)


# --------------------------------------------------------------------------- fingerprints


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value: keys sorted, no whitespace, UUIDs/dates as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)


def file_fingerprint(upload: UploadedFile) -> str:
    """SHA-256 of an upload's name and content (the file is rewound for the view)."""
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return _sha256(canonical_json({"name": upload.name, "sha256": digest.hexdigest()}))


def request_fingerprint(request: Request) -> str:
    """The default fingerprint: the canonical JSON body; form fields and uploads by name and content."""
    data = request.data
    if isinstance(data, QueryDict):
        fields: dict[str, list[Any]] = {}
        for name, values in data.lists():
            fields[name] = [file_fingerprint(v) if isinstance(v, UploadedFile) else v for v in values]
        return _sha256(canonical_json(fields))
    return _sha256(canonical_json(data))


# --------------------------------------------------------------------------- the records


def validate_key(raw: str) -> str:
    """The key as sent, or a 400 problem: 1-255 printable ASCII characters."""
    if not raw or len(raw) > MAX_KEY_LENGTH or not (raw.isascii() and raw.isprintable()):
        raise ApplicationError(
            f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            errors={HEADER: [f"Use 1 to {MAX_KEY_LENGTH} printable ASCII characters."]},
        )
    return raw


def endpoint_of(request: Request) -> str:
    """Method and path: a key used on one endpoint means nothing on another."""
    endpoint = f"{request.method} {request.path}"
    return endpoint if len(endpoint) <= _ENDPOINT_MAX else f"{request.method} sha256:{_sha256(endpoint)}"


def idempotency_claim(
    *, user_id: UUID | str, endpoint: str, key: str, fingerprint: str
) -> tuple[IdempotencyRecord, bool]:
    """(record, True) when this request now owns the key; (the first request's record, False) otherwise.

    Runs in the current tenant context. On PostgreSQL a concurrent claim of the
    same key waits here until the first request's transaction ends.
    """
    scope = {"user_id": user_id, "endpoint": endpoint, "key": key}
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(**scope, fingerprint=fingerprint), True
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(**scope).first()
        if existing is None:
            continue  # released or purged between the insert and the read: try again
        if existing.created_at <= timezone.now() - IDEMPOTENCY_TTL:
            # Expired: the key is free again. The next loop's insert settles a race for it.
            IdempotencyRecord.objects.filter(id=existing.id, created_at=existing.created_at).delete()
            continue
        return existing, False
    raise Conflict(f"Another request with this {HEADER} is in progress; retry shortly.")


def idempotency_store(*, record: IdempotencyRecord, status_code: int, body: Any, headers: Mapping[str, str]) -> None:
    """Keep the first response for replays."""
    record.status_code = status_code
    record.response_body = json.loads(canonical_json(body)) if body is not None else None
    record.response_headers = {name: headers[name] for name in _KEPT_HEADERS if name in headers}
    record.save(update_fields=["status_code", "response_body", "response_headers", "updated_at"])


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Free the key after a failed request, so the client may retry it (best effort)."""
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.filter(id=record.id).delete()
    except DatabaseError:
        # The request's transaction is already broken: it rolls back, and the record with it.
        pass


def idempotency_replay(*, record: IdempotencyRecord, fingerprint: str) -> Response:
    """The first response again, or 409 when the key came with another request or is still running."""
    if record.fingerprint != fingerprint:
        raise Conflict(f"This {HEADER} was already used with a different request.")
    if record.status_code is None:
        raise Conflict(f"A request with this {HEADER} is still in progress; retry shortly.")
    headers = {**dict(record.response_headers or {}), REPLAYED_HEADER: "true"}
    return Response(record.response_body, status=record.status_code, headers=headers)


def idempotency_purge(*, older_than: timedelta = IDEMPOTENCY_TTL, batch_size: int = 500) -> int:
    """Delete expired records, tenant by tenant (a periodic job: it runs on the worker's database role).

    That role cannot lift row-level security (ADR 0008), so the purge does not
    try: it walks the (global) tenant table and deletes each tenant's expired
    records inside that tenant's context, one short transaction per tenant —
    behind the same wall as every request. Two queries per tenant, hourly.
    """
    cutoff = timezone.now() - older_than
    tenants = IdempotencyRecord._meta.get_field("tenant").related_model._default_manager
    deleted, last_id = 0, None
    while True:
        page = tenants.order_by("pk")
        if last_id is not None:
            page = page.filter(pk__gt=last_id)
        ids = list(page.values_list("pk", flat=True)[:batch_size])
        for tenant_id in ids:
            with tenant_context(_TenantRef(tenant_id)):
                count, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
            deleted += count
        if len(ids) < batch_size:
            return deleted
        last_id = ids[-1]


@dataclass(frozen=True)
class _TenantRef:
    """All a tenant context needs of a tenant: its id."""

    id: UUID


# --------------------------------------------------------------------------- the decorator

_H = TypeVar("_H", bound=Callable[..., Response])


def idempotent(
    *, fingerprint: Callable[[Request], str] | None = None, endpoint: str | None = None
) -> Callable[[_H], _H]:
    """Make a DRF view handler (`def create(self, request, ...)`) honour `Idempotency-Key`.

    `fingerprint(request)`: what makes two requests "the same" (default: the
    canonical JSON body). `endpoint`: the scope name (default: method and path).
    The handler runs in the tenant context the base view entered.
    """

    def decorate(handler: _H) -> _H:
        @functools.wraps(handler)
        def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            raw = request.headers.get(HEADER)
            if raw is None:
                return handler(view, request, *args, **kwargs)
            key = validate_key(raw)
            user_id = getattr(request.user, "pk", None)
            if user_id is None:
                raise RuntimeError("@idempotent needs an authenticated user: keys are scoped to the user.")
            request_print = (fingerprint or request_fingerprint)(request)
            record, owned = idempotency_claim(
                user_id=user_id, endpoint=endpoint or endpoint_of(request), key=key, fingerprint=request_print
            )
            if not owned:
                return idempotency_replay(record=record, fingerprint=request_print)
            try:
                response = handler(view, request, *args, **kwargs)
            except BaseException:
                idempotency_release(record=record)
                raise
            if 200 <= response.status_code < 300:
                idempotency_store(
                    record=record, status_code=response.status_code, body=response.data, headers=response.headers
                )
            else:
                idempotency_release(record=record)
            return response

        return wrapper  # type: ignore[return-value]

    return decorate
