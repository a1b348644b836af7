"""The two controls every flow of `make bench` is compared with (see the package docstring)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from benchmarks.controls.models import StockAuditRow


def bare(request: HttpRequest) -> JsonResponse:
    """The ceiling: no authentication, no query, a constant JSON body."""
    return JsonResponse({"ok": True})


# --------------------------------------------------------------------------- stock: simplejwt as documented


@lru_cache(maxsize=1)
def _verifying_backend() -> TokenBackend:
    """simplejwt's own TokenBackend with Atrium's SIMPLE_JWT values and one public key.

    A stock team puts its public key PEM in `SIMPLE_JWT["VERIFYING_KEY"]`; Atrium leaves that
    empty (its backend picks keys by `kid`), so the PEM is taken from the newest key file in
    JWT_KEYS_DIR, which the harness fills with exactly one key.
    """
    newest = sorted(Path(settings.JWT_KEYS_DIR).glob("*.pem"))[-1]
    private = serialization.load_pem_private_key(newest.read_bytes(), password=None)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return TokenBackend(
        api_settings.ALGORITHM,
        None,
        public_pem.decode(),
        api_settings.AUDIENCE,
        api_settings.ISSUER,
        None,
        api_settings.LEEWAY,
    )


class StockAccessToken(AccessToken):
    """simplejwt's AccessToken, verified by the backend above.

    The one change: Atrium's access tokens carry no `token_type` claim (docs/api.md, "Tokens"),
    which simplejwt's AccessToken insists on.
    """

    def get_token_backend(self) -> TokenBackend:
        return _verifying_backend()

    def verify_token_type(self) -> None:
        return None


class StockJWTAuthentication(JWTAuthentication):
    """simplejwt's JWTAuthentication unchanged (the user is loaded from the database by `sub`,
    SIMPLE_JWT's USER_ID_CLAIM), but for the token class above."""

    def get_validated_token(self, raw_token: bytes) -> AccessToken:
        try:
            # simplejwt annotates the argument as a Token; it takes the raw one.
            return StockAccessToken(raw_token)  # type: ignore[arg-type]
        except TokenError as exc:
            raise InvalidToken(str(exc)) from exc


class StockPagination(PageNumberPagination):
    page_size = 20


class StockAuditRowSerializer(serializers.ModelSerializer):
    class Meta:
        model = StockAuditRow
        fields = (
            "id",
            "seq",
            "action",
            "actor_id",
            "actor_email",
            "target_type",
            "target_id",
            "ip",
            "created_at",
            "data",
        )


class StockAuditListView(ListAPIView):
    """Newest first in the token's tenant, 20 per page (with DRF's COUNT for the page count)."""

    authentication_classes = [StockJWTAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes: list[Any] = []
    pagination_class = StockPagination
    serializer_class = StockAuditRowSerializer

    def get_queryset(self) -> QuerySet[StockAuditRow]:
        token: Any = self.request.auth  # the StockAccessToken authenticate() returned
        return StockAuditRow.objects.filter(tenant_id=token["tenant_id"]).order_by("-seq")
