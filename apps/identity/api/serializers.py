"""Identity API serializers: separate input and output shapes."""

from __future__ import annotations

from rest_framework import serializers

from apps.common.api import StrictCharField


class TenantSummaryOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class ThemeOutputSerializer(serializers.Serializer):
    primary_color = serializers.CharField()
    logo_url = serializers.CharField(allow_blank=True)


class PortalPublicOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    tenant = TenantSummaryOutputSerializer()
    theme = ThemeOutputSerializer()
    features = serializers.DictField(child=serializers.BooleanField())
    login_methods = serializers.ListField(child=serializers.CharField())
    signup_policy = serializers.ChoiceField(choices=["closed", "invite", "open"])
    mfa_required = serializers.BooleanField()


class LoginInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=1024, trim_whitespace=False)
    portal = serializers.SlugField(max_length=63)


class TokensOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class RefreshInputSerializer(serializers.Serializer):
    """`auth/refresh/` and `auth/logout/`: a refresh token is a JSON string (123 or [] is a 400, not a 401)."""

    # Long enough that an access token sent here is refused as a token (401), not as input.
    refresh = StrictCharField(max_length=4096)


class SwitchInputSerializer(serializers.Serializer):
    portal = serializers.SlugField(max_length=63)


class MeTenantOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()


class MePortalOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class MeOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()
    email_verified = serializers.BooleanField()
    mfa_enabled = serializers.BooleanField()
    tenant = MeTenantOutputSerializer()
    portal = MePortalOutputSerializer()
    roles = serializers.ListField(child=serializers.CharField())
    permissions = serializers.ListField(child=serializers.CharField())
