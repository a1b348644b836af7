"""`/api/v1/files/`: upload, list, detail with a signed download link, delete; and the local download link.

Thin views: parse, call one service or selector, render. The upload body is
read only after authentication and the permission check (DRF parses lazily),
and only through `UploadParser`, which enforces the size limit while reading.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import FileResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api import problems
from apps.common.exceptions import ApplicationError, NotFound
from apps.common.idempotency import IDEMPOTENCY_KEY_PARAMETER, canonical_json, idempotent
from apps.common.net import client_ip
from apps.common.pagination import NewestFirstCursorPagination
from apps.common.tenancy import tenant_context
from apps.files import services
from apps.files.api.serializers import (
    FileDetailOutputSerializer,
    FileOutputSerializer,
    FileUploadInputSerializer,
    file_detail,
    file_row,
)
from apps.files.models import File
from apps.files.permissions import DELETE_FILE, UPLOAD_FILE, VIEW_FILE
from apps.files.selectors import LIST_FIELDS, file_get, file_list
from apps.files.storage import download_token_verify, download_ttl, download_url, is_local, object_open
from apps.files.uploads import FIELD, ReceivedFile, UploadParser
from apps.identity.api.base import PublicAPIView, TenantViewSet


def _the_upload(request: Request) -> ReceivedFile:
    upload = request.FILES.get(FIELD)
    if not isinstance(upload, ReceivedFile):
        raise ApplicationError(
            f"No file: send it as multipart/form-data in the field `{FIELD}`.",
            errors={FIELD: ["No file was submitted."]},
        )
    return upload


def upload_fingerprint(request: Request) -> str:
    """`Idempotency-Key`'s "same request": the file name as given and the content's SHA-256."""
    upload = _the_upload(request)
    text = canonical_json({"name": upload.given_name, "sha256": upload.sha256})
    return hashlib.sha256(text.encode()).hexdigest()


class FileViewSet(TenantViewSet):
    """The tenant's files (a plan feature)."""

    required_feature = "files"

    required_permissions = {
        "list": {VIEW_FILE},
        "retrieve": {VIEW_FILE},
        "create": {UPLOAD_FILE},
        "destroy": {DELETE_FILE},
    }
    lean_actions = frozenset({"list", "retrieve"})
    pagination_class = NewestFirstCursorPagination
    parser_classes = [UploadParser]

    def scoped_queryset(self) -> QuerySet[File]:
        return file_list(tenant=self.tenant).only(*LIST_FIELDS)

    @extend_schema(
        operation_id="files_list",
        description="The tenant's files, newest first. Follow `next` for older ones (cursor pagination).",
        responses={200: FileOutputSerializer(many=True), **problems(401, 403, 404)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        return self.get_paginated_response([file_row(f) for f in page])

    @extend_schema(
        operation_id="files_upload",
        description=(
            "Upload one file as `multipart/form-data`, field `file`. 413 `file_too_large` over the size limit "
            "(`FILES_MAX_UPLOAD_MB`, default 10), refused while the body is read; 413 `storage_quota_exceeded` "
            "when the organisation's storage quota has no room; 415 `file_type_not_allowed` when the content "
            "(judged by its bytes) is not an allowed type (`FILES_ALLOWED_TYPES`; default PNG, JPEG, GIF, WebP, "
            "PDF, plain text, CSV). `Idempotency-Key`: the same key with the same file name and content returns "
            "the first response."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request={"multipart/form-data": FileUploadInputSerializer},
        responses={201: FileOutputSerializer, **problems(400, 401, 403, 409, 413, 415)},
    )
    @idempotent(fingerprint=upload_fingerprint)
    def create(self, request: Request) -> Response:
        file = services.file_upload(
            tenant=self.tenant_row, actor=self.actor, upload=_the_upload(request), ip=client_ip(request)
        )
        return Response(FileOutputSerializer(file_row(file)).data, status=201)

    @extend_schema(
        operation_id="files_retrieve",
        description="A file's details and a short-lived signed `download_url` (`FILES_DOWNLOAD_URL_TTL` seconds).",
        responses={200: FileDetailOutputSerializer, **problems(401, 403, 404)},
    )
    def retrieve(self, request: Request, pk: UUID) -> Response:
        file = file_get(tenant=self.tenant, file_id=pk)
        expires_at = timezone.now() + timedelta(seconds=download_ttl())
        url = download_url(
            tenant_id=file.tenant_id,
            file_id=file.id,
            key=file.key,
            filename=file.safe_name,
            content_type=file.content_type,
        )
        return Response(file_detail(file, download_url=url, expires_at=expires_at))

    @extend_schema(operation_id="files_delete", responses={204: None, **problems(401, 403, 404)})
    def destroy(self, request: Request, pk: UUID) -> Response:
        services.file_delete(tenant=self.tenant_row, actor=self.actor, file_id=pk, ip=client_ip(request))
        return Response(status=204)


# --------------------------------------------------------------------------- the local download link


class _AnyAccept(BaseContentNegotiation):
    """The content is a file whatever the client accepts; only errors are rendered (as JSON)."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


@dataclass(frozen=True)
class _Tenant:
    id: UUID


@method_decorator(never_cache, name="dispatch")
class FileDownloadView(PublicAPIView):
    """The signed link `download_url` gives with local storage: the token is the authorisation."""

    content_negotiation_class = _AnyAccept

    @extend_schema(
        operation_id="files_download",
        description=(
            "The file's content as an attachment. Only with local storage (S3 links point at the bucket). "
            "403 `invalid_download_link` when the token is altered or expired; 404 when the file is gone."
        ),
        auth=[],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The content"),
            **problems(403, 404),
        },
    )
    def get(self, request: Request, token: str) -> FileResponse:
        grant = download_token_verify(token)
        if not is_local():
            raise NotFound("No such file.")
        with tenant_context(_Tenant(grant.tenant_id)):
            file: File | None = File.objects.filter(id=grant.file_id).only("key", "safe_name", "content_type").first()
        if file is None:
            raise NotFound("No such file.")
        try:
            handle = object_open(key=file.key)
        except FileNotFoundError as exc:
            raise NotFound("No such file.") from exc
        response = FileResponse(handle, as_attachment=True, filename=file.safe_name, content_type=file.content_type)
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox"
        return response
