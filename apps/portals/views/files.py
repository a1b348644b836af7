"""Files: the tenant's files a page at a time, upload (with a progress bar), download, delete.

Every rule is the files app's and the API's (apps/files/api/views.py): `file_list`
with the API's cursor pagination to read, `services.file_upload` and
`services.file_delete` to write, `file_get` and the storage's signed
`download_url` to hand out the content. The upload body is read exactly as the
API reads it (`UploadParser`: `LimitedUploadHandler` alone, the size limit
enforced while the bytes arrive, the name kept as given), and only once the
member is signed in and may upload: the page declares its handlers through
`PortalPage.upload_handlers`, which also moves the CSRF check after them.

A refusal is shown on the form with the API's status (413 too large or over the
quota, 415 a disallowed type whatever its name, 400 otherwise) and what to do.
The progress bar (static/portals/upload.js) sends the same form with
XMLHttpRequest and `Accept: application/json`; to that the upload answers with
JSON instead of the page: `{"redirect": url}` (200) once stored, the message
waiting on the list, or `{"error": message}` with the status. Without
JavaScript the form posts normally and gets the page or the 303.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect, JsonResponse, QueryDict
from django.utils.cache import add_never_cache_headers
from django.utils.datastructures import MultiValueDict
from rest_framework.exceptions import NotFound as InvalidCursor
from rest_framework.exceptions import ParseError
from rest_framework.request import Request

from apps.common.exceptions import ApplicationError, NotFound
from apps.common.net import client_ip
from apps.common.pagination import NewestFirstCursorPagination
from apps.files import services
from apps.files.content_types import allowed_types
from apps.files.exceptions import FileTooLarge, FileTypeNotAllowed, StorageQuotaExceeded
from apps.files.models import File
from apps.files.permissions import DELETE_FILE, UPLOAD_FILE, VIEW_FILE
from apps.files.selectors import LIST_FIELDS, file_get, file_list
from apps.files.storage import download_url
from apps.files.uploads import FIELD, ReceivedFile, UploadParser, max_upload_bytes
from apps.identity.models import Tenant, User
from apps.identity.rbac.request_checks import request_permissions
from apps.identity.selectors import actor_get
from apps.identity.selectors.tenancy import tenant_get
from apps.portals.base import PortalPage
from apps.portals.views.forms_support import parse_id

FEATURE = "files"
# Statuses a refused upload is shown on the form with; any other refusal gets its own page.
FORM_STATUSES = frozenset({400, 413, 415})
TRY_AGAIN = "Choose a file and try again."


def _advice(exc: ApplicationError) -> str:
    """What to do about a refusal, after the service's reason."""
    if isinstance(exc, FileTooLarge):
        return f"Choose a file of at most {max_upload_bytes() // (1024 * 1024)} MB."
    if isinstance(exc, StorageQuotaExceeded):
        return "Delete files you no longer need, or ask an owner to move to a plan with more storage."
    if isinstance(exc, FileTypeNotAllowed):
        return "Upload a file of an allowed type: renaming a file does not change what it is."
    return TRY_AGAIN


def _see_other(url: str) -> HttpResponseRedirect:
    """303: after a POST, the browser GETs the list (POST-redirect-GET)."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _wants_json(request: HttpRequest) -> bool:
    """The progress bar's XMLHttpRequest asks for JSON; a plain form post asks for the page."""
    return "application/json" in request.headers.get("Accept", "")


class _TenantWrites:
    """What the API's views pass to the services: the tenant row and the acting user."""

    principal: Any

    def writes(self) -> tuple[Tenant, User]:
        return tenant_get(tenant_id=self.principal.tenant_id), actor_get(user_id=self.principal.user_id)


# --------------------------------------------------------------------------- reading the upload


class ReadAsTheApiDoes(FileUploadHandler):
    """Hands the whole multipart body to the files API's own parser (`UploadParser`).

    So the page enforces the size limit while reading, with the same handler, and keeps the name as
    given, exactly as POST /api/v1/files/ does (Django's parser would cut and unescape the name).
    """

    def handle_raw_input(
        self,
        input_data: IO[bytes],
        META: dict[str, str],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> tuple[QueryDict, MultiValueDict[str, Any]]:
        context = {"request": self.request, "encoding": encoding}
        try:
            parsed = UploadParser().parse(input_data, META.get("CONTENT_TYPE", ""), context)
        except ParseError as exc:
            raise ApplicationError("The upload could not be read.") from exc
        return parsed.data, parsed.files

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:  # pragma: no cover
        raise AssertionError("handle_raw_input reads the whole body")

    def file_complete(self, file_size: int) -> None:  # pragma: no cover
        raise AssertionError("handle_raw_input reads the whole body")


# --------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class Listing:
    rows: list[File]
    next_url: str | None
    previous_url: str | None


def _pager_link(base: str, link: str | None) -> str | None:
    """DRF's absolute link to another page, as a link to the list page with the same query."""
    if link is None:
        return None
    query = urlsplit(link).query
    return f"{base}?{query}" if query else base


def file_listing(request: HttpRequest, *, tenant: Any, base: str) -> Listing:
    """One page of `file_list`, with the API's cursor rules; a cursor it did not mint is the 404 page."""
    paginator = NewestFirstCursorPagination()
    try:
        rows = paginator.paginate_queryset(file_list(tenant=tenant).only(*LIST_FIELDS), Request(request)) or []
    except InvalidCursor as exc:
        raise NotFound("There is no such page of the list: the link is broken or out of date.") from exc
    return Listing(
        rows=rows,
        next_url=_pager_link(base, paginator.get_next_link()),
        previous_url=_pager_link(base, paginator.get_previous_link()),
    )


class FilesPage(PortalPage):
    """The tenant's files, newest first, with download links; the upload form and delete links for those who may."""

    permission = VIEW_FILE
    feature = FEATURE
    template_name = "portals/files.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render(self.files_context(request))

    def files_context(self, request: HttpRequest, *, upload_error: str = "") -> dict[str, Any]:
        held = request_permissions(request)
        listing = file_listing(request, tenant=self.principal.tenant, base=self.url("files"))
        return {
            "listing": listing,
            "may_upload": UPLOAD_FILE in held,
            "may_delete": DELETE_FILE in held,
            "upload_error": upload_error,
            "max_upload_mb": max_upload_bytes() // (1024 * 1024),
            "allowed_types": sorted(allowed_types()),
        }


# --------------------------------------------------------------------------- upload


class FileUploadPage(FilesPage, _TenantWrites):
    """POST: one file through `services.file_upload`; 303 to the list, or the list with the refusal on the form."""

    permission = UPLOAD_FILE

    def upload_handlers(self, request: HttpRequest) -> list[FileUploadHandler]:
        return [ReadAsTheApiDoes(request)]

    def upload_refused(self, exc: ApplicationError) -> HttpResponseBase:
        return self.refused(exc)

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return HttpResponseRedirect(self.url("files"))  # the form lives on the list

    def post(self, request: HttpRequest) -> HttpResponseBase:
        upload = request.FILES.get(FIELD)
        if not isinstance(upload, ReceivedFile):
            return self.refused(ApplicationError("No file was chosen."))
        tenant, actor = self.writes()
        try:
            file = services.file_upload(tenant=tenant, actor=actor, upload=upload, ip=client_ip(request))
        except ApplicationError as exc:
            if exc.status not in FORM_STATUSES:
                raise
            return self.refused(exc)
        messages.success(request, f"Uploaded {file.name}.")
        if _wants_json(request):
            return JsonResponse({"redirect": self.url("files")})
        return _see_other(self.url("files"))

    def refused(self, exc: ApplicationError) -> HttpResponseBase:
        """The refusal on the form (or as JSON for the progress bar), with the API's status."""
        if exc.status not in FORM_STATUSES:
            raise exc
        message = f"{exc.detail} {_advice(exc)}"
        if _wants_json(self.request):
            return JsonResponse({"error": message}, status=exc.status)
        return self.render(self.files_context(self.request, upload_error=message), status=exc.status)


# --------------------------------------------------------------------------- download and delete


class FileDownloadPage(PortalPage):
    """GET: to the file's short-lived signed link, the one GET /api/v1/files/{id}/ gives as `download_url`."""

    permission = VIEW_FILE
    feature = FEATURE

    def get(self, request: HttpRequest, file_id: str) -> HttpResponseBase:
        file = file_get(tenant=self.principal.tenant, file_id=parse_id(file_id, what="file"))
        url = download_url(
            tenant_id=file.tenant_id,
            file_id=file.id,
            key=file.key,
            filename=file.safe_name,
            content_type=file.content_type,
        )
        response = HttpResponseRedirect(url)
        add_never_cache_headers(response)  # the link expires: never replay an old one from a cache
        return response


class FileDeletePage(PortalPage, _TenantWrites):
    """GET asks "delete this file?"; POST deletes it through `services.file_delete`, as DELETE /api/v1/files/{id}/."""

    permission = DELETE_FILE
    feature = FEATURE
    template_name = "portals/files_delete.html"

    def target(self, file_id: str) -> File:
        return file_get(tenant=self.principal.tenant, file_id=parse_id(file_id, what="file"))

    def get(self, request: HttpRequest, file_id: str) -> HttpResponseBase:
        return self.render({"file": self.target(file_id)})

    def post(self, request: HttpRequest, file_id: str) -> HttpResponseBase:
        file = self.target(file_id)
        tenant, actor = self.writes()
        services.file_delete(tenant=tenant, actor=actor, file_id=file.id, ip=client_ip(request))
        messages.success(request, f"Deleted {file.name}.")
        return _see_other(self.url("files"))
