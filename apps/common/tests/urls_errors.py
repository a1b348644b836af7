"""Test-only routes: the real URLconf plus views that fail in every way an API can.

Used with `@pytest.mark.urls("apps.common.tests.urls_errors")`; Django looks the
error handlers up on the root URLconf, so they are re-exported from `config.urls`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common import exceptions as app_errors
from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as base_urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

echo_log = logging.getLogger("atrium.test.echo")


class BearerChallenge(BaseAuthentication):
    """Authenticates nobody but names the scheme, as the JWT layer will."""

    def authenticate(self, request: Request) -> None:
        return None

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class OpenView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]


class Boom(OpenView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("cannot reach billing: password: hunter2 (config /srv/secret.py)")


class AddressInput(serializers.Serializer):
    city = serializers.CharField()


class SignupInput(serializers.Serializer):
    email = serializers.EmailField()
    age = serializers.IntegerField(min_value=18)
    address = AddressInput()
    previous_addresses = AddressInput(many=True, required=False)


class Validate(OpenView):
    def post(self, request: Request) -> Response:
        SignupInput(data=request.data).is_valid(raise_exception=True)
        return Response({"ok": True})


class NeedsBearer(APIView):
    authentication_classes = [BearerChallenge]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"never": "reached"})


class DrfNotFound(OpenView):
    def get(self, request: Request) -> Response:
        raise exceptions.NotFound("No invoice with that id.")


class DjangoNotFound(OpenView):
    def get(self, request: Request) -> Response:
        raise Http404("no such thing")


class DjangoDenied(OpenView):
    def get(self, request: Request) -> Response:
        raise PermissionDenied


class Throttled(OpenView):
    def get(self, request: Request) -> Response:
        raise exceptions.Throttled(wait=42)


APPLICATION_ERRORS: dict[str, Callable[[], app_errors.ApplicationError]] = {
    "invalid": lambda: app_errors.ApplicationError("Seats exceed the plan.", errors={"seats": ["At most 5."]}),
    "not-found": lambda: app_errors.NotFound("No such member."),
    "denied": lambda: app_errors.PermissionDenied("Only an owner can grant owner."),
    "conflict": lambda: app_errors.Conflict("Slug taken.", slug="acme", status=200),
    "locked": lambda: app_errors.TooManyRequests("Too many attempts.", retry_after=30),
    "unavailable": lambda: app_errors.ServiceUnavailable(),
}


class RaiseApplicationError(OpenView):
    def get(self, request: Request, kind: str) -> Response:
        raise APPLICATION_ERRORS[kind]()


class WriteThenRefuse(OpenView):
    def post(self, request: Request) -> Response:
        Group.objects.create(name="written-before-refusal")
        raise app_errors.Conflict("Refused after a write.")


class WriteThenCrash(OpenView):
    def post(self, request: Request) -> Response:
        Group.objects.create(name="written-before-crash")
        raise RuntimeError("crash after a write")


class EchoLog(OpenView):
    """Logs what a careless developer might: the request's headers and body."""

    def post(self, request: Request) -> Response:
        raw = request.body  # before `data`, which consumes the stream
        echo_log.info("echo", extra={"headers": dict(request.headers), "body": request.data})
        echo_log.info("raw body %s", raw)
        return Response({"ok": True})


def django_boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("plain Django view failed with token=abc123")


def django_denied(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def django_bad(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("tampered")


urlpatterns = [
    *base_urlpatterns,
    path("api/v1/test/boom/", Boom.as_view()),
    path("api/v1/test/validate/", Validate.as_view()),
    path("api/v1/test/bearer/", NeedsBearer.as_view()),
    path("api/v1/test/drf-404/", DrfNotFound.as_view()),
    path("api/v1/test/django-404/", DjangoNotFound.as_view()),
    path("api/v1/test/django-403/", DjangoDenied.as_view()),
    path("api/v1/test/throttled/", Throttled.as_view()),
    path("api/v1/test/app-error/<str:kind>/", RaiseApplicationError.as_view()),
    path("api/v1/test/write-then-refuse/", WriteThenRefuse.as_view()),
    path("api/v1/test/write-then-crash/", WriteThenCrash.as_view()),
    path("api/v1/test/echo-log/", EchoLog.as_view()),
    path("api/v1/test/plain-boom/", django_boom),
    path("api/v1/test/plain-denied/", django_denied),
    path("api/v1/test/plain-bad/", django_bad),
    path("test/plain-boom/", django_boom),
    path("test/plain-denied/", django_denied),
    path("test/plain-bad/", django_bad),
]
