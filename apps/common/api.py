"""Shared API pieces: the problem+json schema of every endpoint's documented errors, strict input parsing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import SkipField

from apps.common.errors import flatten_errors


class StrictCharField(serializers.CharField):
    """JSON strings only: DRF's CharField quietly reads 123 or 1.5 as "123" and "1.5"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def parse_fields(
    serializer_class: type[serializers.Serializer], data: Any
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Each field of the serializer parsed on its own: the values that parsed, and why the others did not.

    `is_valid()` gives all or nothing, so a service with rules of its own
    could only report them once the client had fixed every type error: one
    round trip per mistake. With this the service checks the fields that
    parsed and reports its findings together with these (`errors`, flat
    names like `theme.logo_url`). Nested serializers are parsed field by
    field too. A body that is not a JSON object is a 400 at once.
    """
    serializer = serializer_class(data=data)
    if not isinstance(data, Mapping):
        serializer.is_valid(raise_exception=True)  # "expected a dictionary": nothing to parse
    values, errors = _parse_each(serializer, data)
    return values, flatten_errors(errors)


def _parse_each(serializer: serializers.Serializer, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    values: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name, field in serializer.fields.items():
        primitive = field.get_value(data)
        try:
            if isinstance(field, serializers.Serializer) and isinstance(primitive, Mapping):
                inner_values, inner_errors = _parse_each(field, primitive)
                if inner_errors:
                    values[name], errors[name] = inner_values, inner_errors
                    continue
            values[name] = field.run_validation(primitive)
        except SkipField:
            continue
        except ValidationError as exc:
            errors[name] = exc.detail
    return values, errors


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
