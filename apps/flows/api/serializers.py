"""Input and output shapes of the flows and analytics API (docs/api.md, "Flows and analytics")."""

from __future__ import annotations

from rest_framework import serializers


class ChecklistStepOutputSerializer(serializers.Serializer):
    code = serializers.SlugField()
    title = serializers.CharField()
    done = serializers.BooleanField()
    completed_at = serializers.DateTimeField(allow_null=True, help_text="When the caller completed it; null if not.")


class ChecklistOutputSerializer(serializers.Serializer):
    flow = serializers.CharField(help_text='Always `"onboarding"` here.')
    steps = ChecklistStepOutputSerializer(many=True, help_text="In order; `[]` when the tenant has no steps.")
    completed = serializers.BooleanField(help_text="Every step done (false when there are no steps).")


class FlowRunOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    flow = serializers.CharField(source="flow.code", help_text="The flow's code, e.g. `onboarding`.")
    started_at = serializers.DateTimeField(help_text="When the first step was completed.")
    completed_at = serializers.DateTimeField(allow_null=True, help_text="When the last step was completed.")


class AnalyticsTrackInputSerializer(serializers.Serializer):
    event = serializers.CharField(
        max_length=64,
        help_text="An allow-listed event name (setting `ANALYTICS_EVENTS`; by default `page_view`, `feature_used`, "
        "`onboarding_step_viewed`, `onboarding_step_completed`).",
    )
    properties = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="A flat JSON object: at most 20 keys (1-40 characters), values strings (≤ 200 characters), "
        "numbers, booleans or null; at most 2048 bytes.",
    )


class AnalyticsEventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    event = serializers.CharField()
    created_at = serializers.DateTimeField()
