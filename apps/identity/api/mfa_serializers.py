"""Input and output shapes of `auth/mfa/...`, and the two MFA answers of `auth/login/`."""

from __future__ import annotations

from rest_framework import serializers

from apps.identity.api.serializers import TokensOutputSerializer


class MfaRequiredOutputSerializer(serializers.Serializer):
    """`auth/login/` for a user with MFA: answer `mfa_token` at `auth/mfa/verify/`."""

    mfa_required = serializers.BooleanField()
    mfa_token = serializers.CharField(help_text="Opaque, single use, valid ≤ 10 minutes; not an access token.")


class MfaSetupRequiredOutputSerializer(serializers.Serializer):
    """`auth/login/` to a portal that requires MFA, for a user without it: enrol with `mfa_token` as bearer."""

    mfa_setup_required = serializers.BooleanField()
    mfa_token = serializers.CharField(
        help_text="Opaque enrolment token: send it as `Authorization: Bearer` to auth/mfa/totp/setup/ and confirm/."
    )


class MfaVerifyInputSerializer(serializers.Serializer):
    # Generous: a wrong token of any plausible length is a 401 from the service, not a 400 here.
    mfa_token = serializers.CharField(max_length=4096)
    code = serializers.CharField(max_length=64, help_text="The current TOTP code, or an unused backup code.")


class MfaCodeInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)


class MfaStatusOutputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    methods = serializers.ListField(child=serializers.ChoiceField(choices=["totp"]))
    backup_codes_left = serializers.IntegerField(min_value=0)


class TotpSetupOutputSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The TOTP key in base32 (shown once).")
    otpauth_uri = serializers.CharField(help_text="`otpauth://totp/...` for authenticator apps.")
    qr_svg = serializers.CharField(help_text="The otpauth URI as a QR code, SVG markup.")


class BackupCodesOutputSerializer(serializers.Serializer):
    backup_codes = serializers.ListField(
        child=serializers.CharField(), help_text="Ten single-use codes, shown only now."
    )


class TotpConfirmOutputSerializer(BackupCodesOutputSerializer):
    """The backup codes; after enrolment with an `mfa_token`, also the new session's tokens."""

    access = serializers.CharField(required=False)
    refresh = serializers.CharField(required=False)
    token_type = serializers.CharField(required=False)
    expires_in = serializers.IntegerField(required=False)


LOGIN_RESULT_SERIALIZERS = [TokensOutputSerializer, MfaRequiredOutputSerializer, MfaSetupRequiredOutputSerializer]
