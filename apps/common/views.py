"""Service endpoints: liveness, readiness, metrics and the API's front door."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.utils import extend_schema, inline_serializer
from prometheus_client import generate_latest
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import problem_response
from apps.common.health import run_checks
from apps.common.jobs import JOBS_METRICS


# The probes run outside ATOMIC_REQUESTS: opening the request's transaction would need the database,
# and they must answer (healthz: alive; readyz: 503 naming it) when it is down.
@transaction.non_atomic_requests
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@transaction.non_atomic_requests
@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    ok, results = run_checks()
    return JsonResponse({"status": "ok" if ok else "fail", "checks": results}, status=200 if ok else 503)


@transaction.non_atomic_requests
@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text for all workers: bearer `METRICS_TOKEN`, or open only in debug."""
    token = settings.METRICS_TOKEN
    if not token:
        if not settings.DEBUG:
            raise Http404
        return _export(request)
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    # Compare bytes: compare_digest raises TypeError on non-ASCII str, which a client could send.
    if scheme.lower() != "bearer" or not secrets.compare_digest(presented.strip().encode(), token.encode()):
        response = problem_response(401, code="not_authenticated", detail="Send Authorization: Bearer <METRICS_TOKEN>.")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return _export(request)


def _export(request: HttpRequest) -> HttpResponse:
    response: HttpResponse = ExportToDjangoView(request)
    # The job queues' gauges and run counters, read from Redis and the database now (apps.common.jobs).
    response.content = response.content + generate_latest(JOBS_METRICS)
    return response


class ServiceInfoView(APIView):
    """`GET /api/v1/`: what this service is and where its documents are."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="service_info",
        responses=inline_serializer(
            "ServiceInfo",
            fields={
                "name": serializers.CharField(),
                "version": serializers.CharField(),
                "schema": serializers.CharField(),
                "docs": serializers.CharField(),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "name": "atrium",
                "version": settings.SPECTACULAR_SETTINGS["VERSION"],
                "schema": request.build_absolute_uri("/api/v1/schema/"),
                "docs": request.build_absolute_uri("/api/v1/docs/"),
            }
        )
