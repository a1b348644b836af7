"""Shared API pieces: the problem+json schema used in every endpoint's documented errors."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, as every Atrium API error is shaped."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()

    def get_fields(self) -> dict[str, serializers.Field]:
        # `errors` would shadow Serializer.errors as a class attribute, so it is added here.
        fields = super().get_fields()
        fields["errors"] = serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Validation errors: {field: [messages]}.",
        )
        return fields


_DESCRIPTIONS = {
    400: "Invalid input",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Unknown, or another tenant's object",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported type",
    429: "Throttled or locked (see Retry-After)",
}

PROBLEM_RESPONSES: dict[int, OpenApiResponse] = {
    status: OpenApiResponse(ProblemSerializer, description=description) for status, description in _DESCRIPTIONS.items()
}


def problems(*statuses: int) -> dict[tuple[int, str], OpenApiResponse]:
    """`responses={200: X, **problems(400, 404)}` in `extend_schema`."""
    return {(status, "application/problem+json"): PROBLEM_RESPONSES[status] for status in statuses}
